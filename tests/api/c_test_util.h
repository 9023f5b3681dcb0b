/* What the C API tests share: failure counting, a fixed random stream and
 * bf16 rounding, in plain C11. */
#ifndef ZEMLA_TESTS_C_TEST_UTIL_H
#define ZEMLA_TESTS_C_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zemla/zemla.h"

static int failures = 0;
#define CHECK(cond, ...)                                   \
  do {                                                     \
    if (!(cond)) {                                         \
      fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
      fprintf(stderr, __VA_ARGS__);                        \
      fprintf(stderr, "\n");                               \
      ++failures;                                          \
    }                                                      \
  } while (0)
#define OK(call)                                                                                \
  do {                                                                                          \
    zemla_status s_ = (call);                                                                   \
    if (s_ != ZEMLA_STATUS_SUCCESS) {                                                           \
      fprintf(stderr, "FAIL %s: %s: %s\n", #call, zemla_status_string(s_), zemla_last_error()); \
      exit(1);                                                                                  \
    }                                                                                           \
  } while (0)

static uint64_t rng_state = 88172645463325252ull; /* each test binary has its own */
static float uniform(void) {                      /* xorshift64 -> [-1, 1) */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (float)(rng_state >> 40) * 0x1p-23f - 1.0f;
}
static uint16_t to_bf16(float x) { /* round to nearest even; inputs are finite */
  uint32_t u;
  memcpy(&u, &x, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}
static double from_bf16(uint16_t b) {
  uint32_t u = (uint32_t)b << 16;
  float f;
  memcpy(&f, &u, 4);
  return f;
}

#endif
