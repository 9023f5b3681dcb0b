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

// How an MLA cache stores its values: in the queries' dtype, in FP8 with
// one scale per layer, or as DeepSeek's fp8_ds_mla rows: 656 bytes, the 512
// latent values in e4m3 with one fp32 scale per 128 of them in the row, the
// 64 rope values in bf16 (ops/mla/mla_shape.clh gives the offsets). That is
// the layout FlashMLA and vLLM keep; it is MLA's alone, and bf16's.
enum class KvFormat { same, fp8_e4m3, fp8_e5m2, fp8_ds_mla };

// "same", "fp8_e4m3", "fp8_e5m2", "fp8_ds_mla".
std::string_view kv_format_name(KvFormat format);
// sglang's --kv-cache-dtype spellings: auto (the queries' dtype), fp8_e4m3,
// fp8_e5m2; and vLLM's fp8_ds_mla. Throws zemla::Error naming anything else.
KvFormat parse_kv_format(std::string_view name);
inline bool is_fp8(KvFormat f) { return f != KvFormat::same; }
// Whether the cache has one scale per layer (fp8_e4m3, fp8_e5m2); a 16-bit
// cache has none (1) and fp8_ds_mla keeps its scales in its rows.
inline bool has_layer_scale(KvFormat f) { return f == KvFormat::fp8_e4m3 || f == KvFormat::fp8_e5m2; }
// The kernel build for queries of `dtype` and a cache of `kv_format`: "bf16",
// or "bf16_fp8_e4m3" and the like (the build table, kernels_spirv/CMakeLists.txt).
std::string kernel_build_dtype(DType dtype, KvFormat kv_format);
// What a cache stores, by name: the FP8 format, else the dtype (bf16, f16).
std::string kv_cache_name(KvFormat kv_format, DType dtype);
// Bytes of the cache's element: 1 for FP8 (fp8_ds_mla counts bytes), 2 otherwise.
inline int kv_value_bytes(KvFormat f) { return is_fp8(f) ? 1 : 2; }
// Elements one MLA cache row spans: its 576 values, or fp8_ds_mla's 656 bytes.
int mla_row_elements(KvFormat f);
// Bytes of one MLA cache row: 1152 (16-bit), 576 (FP8), 656 (fp8_ds_mla).
inline int mla_row_bytes(KvFormat f) { return mla_row_elements(f) * kv_value_bytes(f); }

// The largest finite value of an FP8 format (448 or 57344; fp8_ds_mla's
// values are e4m3).
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

// fp8_ds_mla. The scale of a 128-value block: its largest finite magnitude
// over 448 (e4m3's largest value), IEEE division in fp32, at least FLT_MIN
// so that a block of zeros gets a positive normal scale. NaNs and
// infinities take no part in it: they are stored as e4m3's NaN and the
// saturated 448 (sign kept), and leave the block's other values intact.
float ds_mla_block_scale(float amax);
// One bf16 row (c_kv's 512 values, then k_rope's 64) into 656 bytes, as
// kv_append writes it (ops/kv_append/kv_append.cl): each latent value
// x / its block's scale (IEEE division in fp32) rounded by float_to_fp8,
// the scales little-endian, the rope values' bits unchanged.
void quantize_ds_mla_row(const std::uint16_t* bf16_row, std::uint8_t* out);
// The 576 bf16 values the decode kernels read from a 656-byte row, as they
// stage it (ops/mla/mla_variant.clh): each latent code decoded, times its
// block's scale in fp32, rounded to bf16; the rope values as stored. The
// reference computes from exactly these values.
void dequantize_ds_mla_row(const std::uint8_t* row, std::uint16_t* bf16_out);

}  // namespace zemla
