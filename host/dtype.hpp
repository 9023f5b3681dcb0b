#pragma once
// The two 16-bit storage types zemla decodes in, and exact conversions to and
// from fp32 with round-to-nearest-even, matching the kernels bit for bit.

#include <bit>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "zemla/types.hpp"

namespace zemla {

std::string_view dtype_name(DType dtype);
// Accepts bf16/bfloat16 and f16/fp16/float16/half; throws zemla::Error otherwise.
DType parse_dtype(std::string_view name);

inline float bf16_to_float(std::uint16_t bits) { return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16); }

inline std::uint16_t float_to_bf16(float x) {
  std::uint32_t u = std::bit_cast<std::uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((u >> 16) | 0x40u);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}

float f16_to_float(std::uint16_t bits);
std::uint16_t float_to_f16(float x);

inline float to_float(DType dtype, std::uint16_t bits) {
  return dtype == DType::bf16 ? bf16_to_float(bits) : f16_to_float(bits);
}
inline std::uint16_t from_float(DType dtype, float x) {
  return dtype == DType::bf16 ? float_to_bf16(x) : float_to_f16(x);
}

// Unit roundoff of the type: 2^-8 for bf16, 2^-11 for fp16 (the tolerances of harness/compare.hpp).
inline double unit_roundoff(DType dtype) { return dtype == DType::bf16 ? 0x1p-8 : 0x1p-11; }

}  // namespace zemla
