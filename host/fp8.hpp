#pragma once
// FP8 KV cache values, as sglang stores MLA caches with --kv-cache-dtype
// fp8_e4m3 / fp8_e5m2: one byte per value and one fp32 scale per layer
// (value = fp8 * scale). e4m3 is OCP's "fn" form (bias 7, max 448, no
// infinities, S.1111.111 its only NaN); e5m2 is IEEE-like (bias 15, max
// 57344, infinities and NaNs). Every FP8 value is exact in bf16 and fp16,
// which is what lets the kernels widen a tile without rounding
// (kernels_spirv/common/fp8.clh decodes the same way as fp8_to_float here).

#include <cstdint>
#include <string>
#include <string_view>

#include "dtype.hpp"

namespace zemla {

// How an MLA cache stores its values: in the queries' dtype, or in FP8.
enum class KvFormat { same, fp8_e4m3, fp8_e5m2 };

// "same", "fp8_e4m3", "fp8_e5m2".
std::string_view kv_format_name(KvFormat format);
// sglang's --kv-cache-dtype spellings: auto (the queries' dtype), fp8_e4m3,
// fp8_e5m2; throws zemla::Error naming anything else.
KvFormat parse_kv_format(std::string_view name);
inline bool is_fp8(KvFormat f) { return f != KvFormat::same; }
// The kernel build for queries of `dtype` and a cache of `kv_format`: "bf16",
// or "bf16_fp8_e4m3" and the like (the build table, kernels_spirv/CMakeLists.txt).
std::string kernel_build_dtype(DType dtype, KvFormat kv_format);
// Bytes one cached value takes: 1 for FP8, 2 otherwise.
inline int kv_value_bytes(KvFormat f) { return is_fp8(f) ? 1 : 2; }

// The largest finite value of an FP8 format (448 or 57344).
float fp8_max(KvFormat format);
// Exact decode of one FP8 byte.
float fp8_to_float(KvFormat format, std::uint8_t bits);
// Round to nearest even; beyond the largest finite value saturates to it
// (sign kept), as sglang's quantization clamps; NaN becomes the format's NaN.
std::uint8_t float_to_fp8(KvFormat format, float x);
// How a cache value is stored (kv_append's rule, the same bytes as
// fp8_quantize in kernels_spirv/common/fp8.clh): |x| times inv_scale (1 / the
// cache's scale) in fp32, rounded by float_to_fp8, with x's sign, NaN's too.
std::uint8_t quantize_fp8(KvFormat format, float x, float inv_scale);

}  // namespace zemla
