#pragma once
// Building blocks of the pre-launch checks every decode op makes (MLA, GQA):
// strides in a sane range, buffers large enough for a strided view. They run
// on every launch, so each message is built only on failure.

#include <cstdint>
#include <string>

#include "host/decode_planner.hpp"
#include "zemla/error.hpp"

namespace zemla::launch_checks {

// The size a check is given for a null buffer.
inline constexpr std::int64_t kNoBuffer = -1;
// Strides beyond this could overflow the byte arithmetic; no real tensor has them.
inline constexpr std::int64_t kMaxStride = std::int64_t{1} << 40;

// Bytes a strided [d0, d1, inner] view reaches: the last element's end.
// Inputs are bounded first, so this cannot overflow.
inline std::int64_t span_bytes(std::int64_t d0, std::int64_t stride0, std::int64_t d1, std::int64_t stride1,
                               std::int64_t inner, std::int64_t elem) {
  return ((d0 - 1) * stride0 + (d1 - 1) * stride1 + inner) * elem;
}

inline void require_buffer(const char* call, std::int64_t bytes, const char* name, std::int64_t need) {
  require(bytes != kNoBuffer, call, [&] { return std::string(name) + " is null; a device buffer is required"; });
  require(bytes >= need, call, [&] {
    return std::string(name) + " holds " + std::to_string(bytes) + " bytes; its shape and strides need " +
           std::to_string(need);
  });
}

inline void require_stride(const char* call, std::int64_t v, const char* name, std::int64_t minimum) {
  require(v >= minimum && v <= kMaxStride, call, [&] {
    return std::string(name) + " " + std::to_string(v) + " must be in [" + std::to_string(minimum) + ", 2^40]";
  });
}

// Values read 8 at a time (and block-read by the intel_sg variants): 16-byte aligned rows.
inline void require_multiple_of(const char* call, std::int64_t v, const char* name, std::int64_t m) {
  require(v % m == 0, call,
          [&] { return std::string(name) + " " + std::to_string(v) + " must be a multiple of " + std::to_string(m); });
}
inline void require_multiple_of_8(const char* call, std::int64_t v, const char* name) {
  require_multiple_of(call, v, name, 8);
}

// Every request of the plan fits its page-table row of max_pages pages.
inline void require_lengths_fit(const char* call, const DecodePlan& plan, int max_pages, int page_size) {
  const std::int64_t capacity = std::int64_t{max_pages} * page_size;
  for (int r = 0; r < plan.batch(); ++r) {
    require(plan.length(r) <= capacity, call, [&] {
      return "cache_seqlens[" + std::to_string(r) + "] = " + std::to_string(plan.length(r)) +
             " exceeds max_pages * page_size = " + std::to_string(capacity);
    });
  }
}

}  // namespace zemla::launch_checks
