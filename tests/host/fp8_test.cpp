// The host's FP8 codec: the expected bytes of kv_append's quantization and
// the decode the kernels must match. Every code is checked, not samples.

#include "host/fp8.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "ops/mla/mla_shape.hpp"
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

// ---- fp8_ds_mla ---------------------------------------------------------

float scale_of(const std::vector<std::uint8_t>& row, int block) {
  float scale;
  std::memcpy(&scale, row.data() + mla::kDsScaleOffset + 4 * block, 4);
  return scale;
}

TEST(Fp8DsMla, NamesAndRowSize) {
  EXPECT_EQ(parse_kv_format("fp8_ds_mla"), KvFormat::fp8_ds_mla);
  EXPECT_EQ(kv_format_name(KvFormat::fp8_ds_mla), "fp8_ds_mla");
  EXPECT_EQ(mla_row_elements(KvFormat::fp8_ds_mla), 656);
  EXPECT_EQ(mla_row_elements(KvFormat::fp8_e4m3), 576);
  EXPECT_FALSE(has_layer_scale(KvFormat::fp8_ds_mla));
  EXPECT_EQ(kernel_build_dtype(DType::bf16, KvFormat::fp8_ds_mla), "bf16_fp8_ds_mla");
  try {
    kernel_build_dtype(DType::f16, KvFormat::fp8_ds_mla);
    ADD_FAILURE() << "f16 queries with an fp8_ds_mla cache were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bf16"), std::string::npos) << e.what();
  }
}

TEST(Fp8DsMla, BlockScaleIsAmaxOver448AtLeastFltMin) {
  EXPECT_EQ(ds_mla_block_scale(448.0f), 1.0f);
  EXPECT_EQ(ds_mla_block_scale(7.0f), 1.0f / 64);
  EXPECT_EQ(ds_mla_block_scale(1.0f), 1.0f / 448.0f);
  EXPECT_EQ(ds_mla_block_scale(0.0f), FLT_MIN) << "a block of zeros";
  EXPECT_EQ(ds_mla_block_scale(1e-37f), FLT_MIN) << "below 448 FLT_MIN";
}

// A row built by hand: block 0 at scale 1, block 1 all zeros, block 2 at
// scale 1/64, block 3 with a NaN and infinities beside finite values.
TEST(Fp8DsMla, ARowByHand) {
  std::vector<std::uint16_t> row(mla::kRowDim, 0);
  for (int i = 0; i < 128; ++i) row[i] = float_to_bf16(i % 2 == 0 ? 1.5f : -0.25f);
  row[7] = float_to_bf16(448.0f);
  for (int i = 256; i < 384; ++i) row[i] = float_to_bf16(0.125f);
  row[300] = float_to_bf16(-7.0f);
  for (int i = 384; i < 512; ++i) row[i] = float_to_bf16(0.5f);
  row[390] = float_to_bf16(3.5f);
  row[391] = float_to_bf16(NAN);
  row[392] = float_to_bf16(INFINITY);
  row[393] = float_to_bf16(-INFINITY);
  for (int i = 0; i < mla::kRopeDim; ++i) row[mla::kLatentDim + i] = static_cast<std::uint16_t>(0x3f00 + 3 * i);
  std::vector<std::uint8_t> out(mla::kDsRowBytes, 0xee);
  quantize_ds_mla_row(row.data(), out.data());

  EXPECT_EQ(scale_of(out, 0), 1.0f);
  EXPECT_EQ(out[0], 0x3c) << "1.5 in e4m3";
  EXPECT_EQ(out[1], 0xa8) << "-0.25 in e4m3";
  EXPECT_EQ(out[7], 0x7e) << "448, e4m3's largest";
  EXPECT_EQ(scale_of(out, 1), FLT_MIN);
  for (int i = 128; i < 256; ++i) ASSERT_EQ(out[i], 0) << i;
  EXPECT_EQ(scale_of(out, 2), 1.0f / 64);
  EXPECT_EQ(out[256], 0x50) << "0.125 * 64 = 8";
  EXPECT_EQ(out[300], 0xfe) << "-7 * 64 = -448";
  EXPECT_EQ(scale_of(out, 3), 3.5f / 448.0f) << "the finite values' largest";
  EXPECT_EQ(out[390], 0x7e);
  EXPECT_EQ(out[391], 0x7f) << "NaN";
  EXPECT_EQ(out[392], 0x7e) << "+inf saturates";
  EXPECT_EQ(out[393], 0xfe) << "-inf saturates";
  EXPECT_EQ(out[384], float_to_fp8(KvFormat::fp8_e4m3, 0.5f / (3.5f / 448.0f)));
  for (int i = 0; i < 2 * mla::kRopeDim; ++i) {
    ASSERT_EQ(out[mla::kDsRopeOffset + i], reinterpret_cast<const std::uint8_t*>(row.data() + mla::kLatentDim)[i]);
  }

  std::vector<std::uint16_t> back(mla::kRowDim);
  dequantize_ds_mla_row(out.data(), back.data());
  EXPECT_EQ(bf16_to_float(back[0]), 1.5f);
  EXPECT_EQ(bf16_to_float(back[7]), 448.0f);
  EXPECT_EQ(bf16_to_float(back[200]), 0.0f);
  EXPECT_EQ(bf16_to_float(back[300]), -7.0f);
  EXPECT_EQ(bf16_to_float(back[390]), 3.5f);
  EXPECT_TRUE(std::isnan(bf16_to_float(back[391])));
  EXPECT_EQ(bf16_to_float(back[393]), -3.5f) << "-inf came back as the block's -448 x scale";
  for (int i = 0; i < mla::kRopeDim; ++i) ASSERT_EQ(back[mla::kLatentDim + i], row[mla::kLatentDim + i]);
}

// Random rows come back within e4m3's rounding of their block: a scale
// read from the wrong block, or a value scaled twice, is far outside it.
TEST(Fp8DsMla, RandomRowsRoundTripWithinE4m3Rounding) {
  std::mt19937 rng(3);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::uint16_t> row(mla::kRowDim), back(mla::kRowDim);
  std::vector<std::uint8_t> bytes(mla::kDsRowBytes);
  for (int r = 0; r < 200; ++r) {
    const float block_size[4] = {1.0f, 1e-3f, 300.0f, 1e-20f};
    for (int i = 0; i < mla::kRowDim; ++i) row[i] = float_to_bf16(normal(rng) * block_size[(i / 128) % 4]);
    quantize_ds_mla_row(row.data(), bytes.data());
    dequantize_ds_mla_row(bytes.data(), back.data());
    for (int i = 0; i < mla::kLatentDim; ++i) {
      const float x = bf16_to_float(row[i]);
      const float scale = scale_of(bytes, i / 128);
      // Half an e4m3 step (2^-4 relative; 2^-10 x scale among the
      // subnormals), then bf16's rounding of the product.
      const float bound = (std::fabs(x) * 0x1p-4f + scale * 0x1p-10f) * (1 + 0x1p-7f) + std::fabs(x) * 0x1p-8f;
      ASSERT_LE(std::fabs(bf16_to_float(back[i]) - x), bound) << "row " << r << " value " << i << " x " << x;
    }
  }
}

// The kernels divide with div_rn (kernels_spirv/common/fp8.clh): OpenCL C's
// `/` may be 2.5 ulp off, so they divide the significands, refine 1 / b
// twice, correct the quotient by its exact remainder and put the exponents
// back. Here is that sequence, started from reciprocals up to 3 ulp off,
// against IEEE division over the divisions kv_append makes: the scale,
// amax / 448 at least FLT_MIN, for every positive bf16 amax, and x / scale for every bf16 x within 2^-20 of
// the block's amax (smaller quotients round to e4m3 zero either way), amax
// over every mantissa at exponents from FLT_MIN's (the scale's floor) to
// bf16's largest. Dividing the values themselves failed here: a remainder
// below FLT_MIN (x near 1e-35) lost the bits of the correction.
float div_rn_from(float a, float b, int reciprocal_ulps_off) {
  int ea, eb;
  const float ma = std::frexp(a, &ea);
  const float mb = std::frexp(b, &eb);
  float y = 1.0f / mb;
  for (int k = 0; k < std::abs(reciprocal_ulps_off); ++k)
    y = std::nextafter(y, reciprocal_ulps_off > 0 ? INFINITY : 0.0f);
  y = std::fma(std::fma(-mb, y, 1.0f), y, y);
  y = std::fma(std::fma(-mb, y, 1.0f), y, y);
  const float q = ma * y;
  return std::ldexp(std::fma(std::fma(-q, mb, ma), y, q), ea - eb);
}

TEST(Fp8DsMla, TheKernelsDivisionSequenceIsIeeeDivision) {
  long checked = 0;
  for (std::uint32_t bits = 0x0080; bits < 0x7f80; ++bits) {  // every positive normal bf16
    const float amax = bf16_to_float(static_cast<std::uint16_t>(bits));
    for (int off = -3; off <= 3; ++off) {
      // The scale's floor takes the quotients below FLT_MIN, where div_rn may round otherwise.
      ASSERT_EQ(std::max(div_rn_from(amax, 448.0f, off), FLT_MIN), ds_mla_block_scale(amax)) << amax << " " << off;
    }
  }
  for (int exponent : {-126, -119, -100, -40, -1, 0, 1, 40, 100, 127}) {
    for (int m = 0; m < 128; ++m) {
      const float amax = std::ldexp(1.0f + m / 128.0f, exponent);
      const float scale = ds_mla_block_scale(amax);
      const std::uint32_t top = std::bit_cast<std::uint32_t>(amax) >> 16;
      for (std::uint32_t xb = top; xb > 0x0080 && xb + 20 * 128 > top; --xb) {
        const float x = bf16_to_float(static_cast<std::uint16_t>(xb));
        for (int off = -3; off <= 3; ++off) {
          ASSERT_EQ(div_rn_from(x, scale, off), x / scale)
              << x << " / " << scale << ", reciprocal " << off << " ulp off";
          ++checked;
        }
      }
    }
  }
  EXPECT_GT(checked, 10'000'000);
}

}  // namespace
}  // namespace zemla
