// Writes one step's new cache rows into their paged-cache slots: MLA's latent
// rows (c_kv then k_rope, 576 values) or a GQA K or V row (kv_heads x
// head_dim values). Into a 16-bit cache the copy is bit-exact, so one binary
// serves bf16 and fp16. Into an FP8 cache (the builds with ZEMLA_KV_FP8_*
// and the rows' dtype) each value is quantized: times 1 / the cache's
// scale, rounded to nearest even, saturated (fp8_quantize); into an
// fp8_ds_mla cache, with a scale per 128 values computed here. Rows are whole
// 8-value vectors (the host checks row_values % 8 == 0). A slot outside
// [0, num_slots) is skipped: the host validates slots, and the kernel still
// never writes outside the cache when it is not asked to.

#if defined(ZEMLA_KV_FP8_E4M3) || defined(ZEMLA_KV_FP8_E5M2) || defined(ZEMLA_KV_FP8_DS_MLA)
#include "kernels_spirv/common/fp8.clh"
#else
typedef ushort kv_elem;
#define ZEMLA_KV_FP8 0
#define ZEMLA_KV_DS_MLA 0
#endif

#include "kv_append_args.h"

#if ZEMLA_KV_DS_MLA
#include "ops/mla/mla_shape.clh"
// fp8_ds_mla: one work-group of 64 items per MLA row (576 bf16 values in,
// 656 bytes out). Item i quantizes latent values 8i .. 8i+7, in block i / 16:
// the block's largest finite magnitude comes through local memory, its
// scale is that over 448 (ds_block_scale), and each value is x / scale in
// e4m3 (ds_quantize); items 0..7 copy the rope's 128 bytes. The host's
// quantize_ds_mla_row gives the same bytes.
#define DS_ITEMS (MLA_DC / 8)
#define DS_ITEMS_PER_BLOCK (MLA_DS_BLOCK / 8)
// Values 8i .. 8i+7 of a bf16 row, widened.
inline float8 vload_bf16x8(int i, __global const ushort* p) { return as_float8(convert_uint8(vload8(i, p)) << 16); }
__attribute__((reqd_work_group_size(DS_ITEMS, 1, 1)))
#endif
__kernel void kv_append(ZEMLA_KERNEL_PARAMS(KV_APPEND_ARGS)) {
  const int row = get_group_id(1);
  if (row >= num_rows) return;
  const long slot = slots[row];
  if (slot < 0 || slot >= num_slots) return;
  __global kv_elem* dst =
      kv_cache + (slot / page_size) * kv_stride_page + (slot % page_size) * kv_stride_token;
  __global const ushort* src = rows + row * rows_stride;
#if ZEMLA_KV_DS_MLA
  __local float item_amax[DS_ITEMS];
  const int lid = get_local_id(0);
  // vload8: the rows need only 2-byte alignment (rows_stride is any count).
  const float8 v = vload_bf16x8(lid, src);
  float amax = 0.0f;
  const float values[8] = {v.s0, v.s1, v.s2, v.s3, v.s4, v.s5, v.s6, v.s7};
  __attribute__((opencl_unroll_hint)) for (int k = 0; k < 8; ++k) {
    if (isfinite(values[k])) amax = fmax(amax, fabs(values[k]));
  }
  item_amax[lid] = amax;
  barrier(CLK_LOCAL_MEM_FENCE);
  const int first = lid - lid % DS_ITEMS_PER_BLOCK;
  for (int k = 0; k < DS_ITEMS_PER_BLOCK; ++k) amax = fmax(amax, item_amax[first + k]);
  const float scale = ds_block_scale(amax);
  uint2 codes = (uint2)(0);
  __attribute__((opencl_unroll_hint)) for (int k = 0; k < 8; ++k) {
    const uint c = ds_quantize(values[k], scale);
    if (k < 4) {
      codes.x |= c << (8 * k);
    } else {
      codes.y |= c << (8 * (k - 4));
    }
  }
  ((__global uint2*)dst)[lid] = codes;
  if (lid % DS_ITEMS_PER_BLOCK == 0) ((__global float*)(dst + MLA_DS_SCALE_OFFSET))[lid / DS_ITEMS_PER_BLOCK] = scale;
  if (lid < MLA_DR / 8) vstore8(vload8(lid, src + MLA_DC), lid, (__global ushort*)(dst + MLA_DS_ROPE_OFFSET));
#elif ZEMLA_KV_FP8
  // One byte per value: the store of a work-group is still one contiguous run.
  for (int i = get_local_id(0); i < row_values; i += get_local_size(0)) {
    dst[i] = fp8_quantize(elem_to_float(src[i]), inv_scale);
  }
#else
  const int vectors = row_values / 8;
  for (int i = get_local_id(0); i < vectors; i += get_local_size(0)) {
    vstore8(vload8(i, src), i, dst);
  }
#endif
}
