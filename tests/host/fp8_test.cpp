// The host's FP8 codec: the expected bytes of kv_append's quantization and
// the decode the kernels must match. Every code is checked, not samples.

#include "host/fp8.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "zemla/error.hpp"

namespace zemla {
namespace {

class Fp8 : public ::testing::TestWithParam<KvFormat> {};

// Every finite code decodes and encodes back to itself.
TEST_P(Fp8, EveryFiniteCodeRoundTrips) {
  const KvFormat f = GetParam();
  int finite = 0;
  for (int c = 0; c < 256; ++c) {
    const float v = fp8_to_float(f, static_cast<std::uint8_t>(c));
    if (!std::isfinite(v)) continue;
    ++finite;
    EXPECT_EQ(float_to_fp8(f, v), c) << "code " << c << " value " << v;
  }
  EXPECT_EQ(finite, f == KvFormat::fp8_e4m3 ? 254 : 248);  // e4m3: 2 NaNs; e5m2: 2 infinities, 6 NaNs
}

// A value halfway between two neighbours goes to the one with an even code;
// anything nearer goes to the nearer one.
TEST_P(Fp8, RoundsToNearestEven) {
  const KvFormat f = GetParam();
  for (int c = 0; c < 0x7f; ++c) {
    const float lo = fp8_to_float(f, static_cast<std::uint8_t>(c));
    const float hi = fp8_to_float(f, static_cast<std::uint8_t>(c + 1));
    if (!std::isfinite(hi)) break;
    const float mid = (lo + hi) / 2;
    EXPECT_EQ(float_to_fp8(f, mid), (c % 2 == 0) ? c : c + 1) << lo << " .. " << hi;
    EXPECT_EQ(float_to_fp8(f, std::nextafter(mid, lo)), c);
    EXPECT_EQ(float_to_fp8(f, std::nextafter(mid, hi)), c + 1);
    EXPECT_EQ(float_to_fp8(f, -std::nextafter(mid, hi)), 0x80 | (c + 1)) << "negative values mirror";
  }
}

TEST_P(Fp8, SaturatesAndKeepsNaN) {
  const KvFormat f = GetParam();
  const std::uint8_t max_code = f == KvFormat::fp8_e4m3 ? 0x7e : 0x7b;
  EXPECT_EQ(fp8_to_float(f, max_code), fp8_max(f));
  EXPECT_EQ(float_to_fp8(f, 1e9f), max_code);
  EXPECT_EQ(float_to_fp8(f, -INFINITY), 0x80 | max_code);
  EXPECT_TRUE(std::isnan(fp8_to_float(f, float_to_fp8(f, NAN))));
  EXPECT_EQ(float_to_fp8(f, 1e-30f), 0) << "below half the smallest subnormal: zero";
}

INSTANTIATE_TEST_SUITE_P(Formats, Fp8, ::testing::Values(KvFormat::fp8_e4m3, KvFormat::fp8_e5m2),
                         [](const auto& info) { return std::string(kv_format_name(info.param)); });

// kv_append's rule: the value times the reciprocal scale, the sign from the
// value itself (a NaN's and a zero's too).
TEST_P(Fp8, QuantizeScalesAndKeepsTheSign) {
  const KvFormat f = GetParam();
  EXPECT_EQ(quantize_fp8(f, 3.0f, 0.5f), float_to_fp8(f, 1.5f));
  EXPECT_EQ(quantize_fp8(f, -0.0f, 0.5f), 0x80);
  EXPECT_EQ(quantize_fp8(f, -NAN, 2.0f), 0xff);
  EXPECT_EQ(quantize_fp8(f, NAN, 2.0f), 0x7f);
  EXPECT_EQ(quantize_fp8(f, -1e30f, 1.0f), 0x80 | float_to_fp8(f, fp8_max(f)));
  EXPECT_EQ(kernel_build_dtype(DType::f16, f), "f16_" + std::string(kv_format_name(f)));
}

TEST(Fp8Formats, KnownValues) {
  EXPECT_EQ(fp8_to_float(KvFormat::fp8_e4m3, 0x38), 1.0f);
  EXPECT_EQ(fp8_to_float(KvFormat::fp8_e4m3, 0x01), std::ldexp(1.0f, -9)) << "smallest e4m3 subnormal";
  EXPECT_EQ(fp8_to_float(KvFormat::fp8_e5m2, 0x3c), 1.0f);
  EXPECT_EQ(fp8_to_float(KvFormat::fp8_e5m2, 0x01), std::ldexp(1.0f, -16)) << "smallest e5m2 subnormal";
  EXPECT_TRUE(std::isinf(fp8_to_float(KvFormat::fp8_e5m2, 0x7c)));
  EXPECT_EQ(parse_kv_format("auto"), KvFormat::same);
  EXPECT_EQ(parse_kv_format("fp8_e5m2"), KvFormat::fp8_e5m2);
  EXPECT_THROW(parse_kv_format("fp8"), Error);
  EXPECT_EQ(kernel_build_dtype(DType::bf16, KvFormat::same), "bf16");
}

}  // namespace
}  // namespace zemla
