#include "host/dtype.hpp"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "zemla/error.hpp"

namespace zemla {
namespace {

// GCC 12 has _Float16 on x86-64: the compiler's own conversions are the oracle.
TEST(Fp16Conversion, WidensEveryBitPatternLikeTheCompiler) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    _Float16 h;
    const auto b16 = static_cast<std::uint16_t>(bits);
    std::memcpy(&h, &b16, 2);
    const float expected = static_cast<float>(h);
    const float got = f16_to_float(b16);
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << bits;
    } else {
      EXPECT_EQ(std::bit_cast<std::uint32_t>(got), std::bit_cast<std::uint32_t>(expected)) << "bits " << bits;
    }
  }
}

TEST(Fp16Conversion, NarrowsWithRoundToNearestEvenLikeTheCompiler) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::uint32_t> any;
  for (int i = 0; i < 2'000'000; ++i) {
    // Bias exponents toward fp16's range (including subnormals and overflow).
    std::uint32_t u = any(rng);
    if (i % 2 == 0) u = (u & 0x807fffffu) | ((100u + (u >> 23) % 50u) << 23);
    const float x = std::bit_cast<float>(u);
    const _Float16 h = static_cast<_Float16>(x);
    std::uint16_t expected;
    std::memcpy(&expected, &h, 2);
    const std::uint16_t got = float_to_f16(x);
    if (std::isnan(x)) {
      EXPECT_EQ(got & 0x7c00u, 0x7c00u);
      EXPECT_NE(got & 0x3ffu, 0u);
    } else {
      ASSERT_EQ(got, expected) << "x = " << x << " bits 0x" << std::hex << u;
    }
  }
}

TEST(Bf16Conversion, RoundsToNearestEvenAndKeepsSpecials) {
  EXPECT_EQ(float_to_bf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between bf16 1.0 and 1.0078125: ties go to even (1.0).
  EXPECT_EQ(float_to_bf16(1.00390625f), 0x3f80);
  // Just above halfway rounds up.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f808001u)), 0x3f81);
  // Halfway with an odd lower bit rounds up to even.
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(float_to_bf16(-std::numeric_limits<float>::infinity()), 0xff80);
  EXPECT_EQ(float_to_bf16(std::numeric_limits<float>::max()), 0x7f80);         // overflows to Inf
  const std::uint16_t nan = float_to_bf16(std::bit_cast<float>(0x7f800001u));  // signalling NaN payload in low bits
  EXPECT_TRUE(std::isnan(bf16_to_float(nan)));
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x00000001u)), 0x0000);  // tiny subnormal rounds to zero
  EXPECT_EQ(float_to_bf16(std::bit_cast<float>(0x00010000u)), 0x0001);  // bf16 subnormal kept exactly
  EXPECT_EQ(bf16_to_float(0x0001), std::bit_cast<float>(0x00010000u));
  EXPECT_EQ(float_to_bf16(-0.0f), 0x8000);
}

TEST(Bf16Conversion, RoundTripsEveryNonNanPattern) {
  for (std::uint32_t bits = 0; bits <= 0xffff; ++bits) {
    const float x = bf16_to_float(static_cast<std::uint16_t>(bits));
    if (!std::isnan(x)) {
      EXPECT_EQ(float_to_bf16(x), bits);
    }
  }
}

TEST(DtypeNames, ParsesAliasesAndRejectsOthersWithTheAllowedList) {
  EXPECT_EQ(parse_dtype("bfloat16"), DType::bf16);
  EXPECT_EQ(parse_dtype("fp16"), DType::f16);
  try {
    parse_dtype("fp8");
    FAIL() << "fp8 accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'fp8'"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("bf16 or fp16"), std::string::npos);
  }
}

}  // namespace
}  // namespace zemla
