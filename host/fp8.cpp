#include "fp8.hpp"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <string>

#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

struct Fp8Shape {
  int mantissa_bits;
  int bias;
  bool ieee_specials;  // e5m2: the all-ones exponent holds infinities and NaNs
};

Fp8Shape shape(KvFormat f) { return f == KvFormat::fp8_e5m2 ? Fp8Shape{2, 15, true} : Fp8Shape{3, 7, false}; }

}  // namespace

std::string_view kv_format_name(KvFormat format) {
  switch (format) {
    case KvFormat::same:
      return "same";
    case KvFormat::fp8_e4m3:
      return "fp8_e4m3";
    case KvFormat::fp8_e5m2:
      return "fp8_e5m2";
    case KvFormat::fp8_ds_mla:
      return "fp8_ds_mla";
  }
  return "same";
}

KvFormat parse_kv_format(std::string_view name) {
  if (name == "auto" || name == "same") return KvFormat::same;
  if (name == "fp8_e4m3") return KvFormat::fp8_e4m3;
  if (name == "fp8_e5m2") return KvFormat::fp8_e5m2;
  if (name == "fp8_ds_mla") return KvFormat::fp8_ds_mla;
  throw Error(
      "parse_kv_format", kInvalidArgument,
      "KV cache dtype '" + std::string(name) + "' is not supported; expected auto, fp8_e4m3, fp8_e5m2 or fp8_ds_mla");
}

std::string kv_cache_name(KvFormat kv_format, DType dtype) {
  return std::string(is_fp8(kv_format) ? kv_format_name(kv_format) : dtype_name(dtype));
}

std::string kernel_build_dtype(DType dtype, KvFormat kv_format) {
  require(kv_format != KvFormat::fp8_ds_mla || dtype == DType::bf16, "kv_cache_dtype", [&] {
    return "fp8_ds_mla keeps its rope values in bf16 and is served with bf16 queries, not " +
           std::string(dtype_name(dtype));
  });
  std::string name(dtype_name(dtype));
  if (is_fp8(kv_format)) name += "_" + std::string(kv_format_name(kv_format));
  return name;
}

int mla_row_elements(KvFormat f) { return f == KvFormat::fp8_ds_mla ? mla::kDsRowBytes : mla::kRowDim; }

float fp8_max(KvFormat format) { return format == KvFormat::fp8_e5m2 ? 57344.0f : 448.0f; }

float fp8_to_float(KvFormat format, std::uint8_t bits) {
  const Fp8Shape s = shape(format);
  const int mag = bits & 0x7f;
  const int exponent = mag >> s.mantissa_bits;
  const int mantissa = mag & ((1 << s.mantissa_bits) - 1);
  const int max_exponent = (1 << (7 - s.mantissa_bits)) - 1;
  float v;
  if (s.ieee_specials && exponent == max_exponent) {
    v = mantissa == 0 ? INFINITY : NAN;
  } else if (!s.ieee_specials && mag == 0x7f) {
    v = NAN;
  } else if (exponent == 0) {
    v = std::ldexp(static_cast<float>(mantissa), 1 - s.bias - s.mantissa_bits);
  } else {
    v = std::ldexp(static_cast<float>(mantissa + (1 << s.mantissa_bits)), exponent - s.bias - s.mantissa_bits);
  }
  return (bits & 0x80) ? -v : v;
}

std::uint8_t float_to_fp8(KvFormat format, float x) {
  const Fp8Shape s = shape(format);
  const std::uint8_t sign = std::signbit(x) ? 0x80 : 0;
  if (std::isnan(x)) return sign | 0x7f;  // the NaN of both formats
  const float a = std::fabs(x);
  const float max = fp8_max(format);
  if (a >= max) return sign | (s.ieee_specials ? 0x7b : 0x7e);  // saturate (infinities too)
  // The step between representable values at a's binade: subnormals share
  // the smallest normal binade's step.
  const int min_exponent = 1 - s.bias;
  const int e = std::max(std::ilogb(a), min_exponent);  // a > 0 here, or 0 (ilogb(0) is very negative)
  const float step = std::ldexp(1.0f, e - s.mantissa_bits);
  // Round a / step to the nearest integer, ties to even: nearbyint in the
  // default rounding mode does exactly that, and a / step is exact.
  const float units = std::nearbyint(a / step);
  // units counts steps of this binade; it may carry into the next one.
  const float rounded = units * step;
  if (rounded >= max) return sign | (s.ieee_specials ? 0x7b : 0x7e);
  if (rounded == 0.0f) return sign;
  const int re = std::max(std::ilogb(rounded), min_exponent);
  const bool subnormal = std::ilogb(rounded) < min_exponent;
  const int biased = subnormal ? 0 : re + s.bias;
  const int mantissa =
      static_cast<int>(std::ldexp(rounded, s.mantissa_bits - re)) - (subnormal ? 0 : 1 << s.mantissa_bits);
  return sign | static_cast<std::uint8_t>((biased << s.mantissa_bits) | mantissa);
}

std::uint8_t quantize_fp8(KvFormat format, float x, float inv_scale) {
  return float_to_fp8(format, std::copysign(std::fabs(x) * inv_scale, x));
}

float ds_mla_block_scale(float amax) { return std::max(amax / 448.0f, FLT_MIN); }

void quantize_ds_mla_row(const std::uint16_t* bf16_row, std::uint8_t* out) {
  constexpr KvFormat e4m3 = KvFormat::fp8_e4m3;
  for (int b = 0; b < mla::kLatentDim / mla::kDsBlock; ++b) {
    const std::uint16_t* block = bf16_row + b * mla::kDsBlock;
    float amax = 0.0f;
    for (int i = 0; i < mla::kDsBlock; ++i) {
      const float a = std::fabs(bf16_to_float(block[i]));
      if (std::isfinite(a)) amax = std::max(amax, a);
    }
    const float scale = ds_mla_block_scale(amax);
    for (int i = 0; i < mla::kDsBlock; ++i) {
      const float x = bf16_to_float(block[i]);
      out[b * mla::kDsBlock + i] = float_to_fp8(e4m3, x / scale);
    }
    std::memcpy(out + mla::kDsScaleOffset + 4 * b, &scale, 4);
  }
  std::memcpy(out + mla::kDsRopeOffset, bf16_row + mla::kLatentDim, 2 * mla::kRopeDim);
}

void dequantize_ds_mla_row(const std::uint8_t* row, std::uint16_t* bf16_out) {
  float scales[mla::kLatentDim / mla::kDsBlock];
  std::memcpy(scales, row + mla::kDsScaleOffset, sizeof scales);
  for (int i = 0; i < mla::kLatentDim; ++i) {
    bf16_out[i] = float_to_bf16(fp8_to_float(KvFormat::fp8_e4m3, row[i]) * scales[i / mla::kDsBlock]);
  }
  std::memcpy(bf16_out + mla::kLatentDim, row + mla::kDsRopeOffset, 2 * mla::kRopeDim);
}

}  // namespace zemla
