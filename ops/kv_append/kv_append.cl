// Writes one step's new cache rows into their paged-cache slots: MLA's latent
// rows (c_kv then k_rope, 576 values) or a GQA K or V row (kv_heads x
// head_dim values). Into a 16-bit cache the copy is bit-exact, so one binary
// serves bf16 and fp16. Into an FP8 cache (the builds with ZEMLA_KV_FP8_*
// and the rows' dtype) each value is quantized: times 1 / the cache's
// scale, rounded to nearest even, saturated (fp8_quantize). Rows are whole
// 8-value vectors (the host checks row_values % 8 == 0). A slot outside
// [0, num_slots) is skipped: the host validates slots, and the kernel still
// never writes outside the cache when it is not asked to.

#if defined(ZEMLA_KV_FP8_E4M3) || defined(ZEMLA_KV_FP8_E5M2)
#include "kernels_spirv/common/fp8.clh"
#else
typedef ushort kv_elem;
#define ZEMLA_KV_FP8 0
#endif

#include "kv_append_args.h"

__kernel void kv_append(ZEMLA_KERNEL_PARAMS(KV_APPEND_ARGS)) {
  const int row = get_group_id(1);
  if (row >= num_rows) return;
  const long slot = slots[row];
  if (slot < 0 || slot >= num_slots) return;
  __global kv_elem* dst =
      kv_cache + (slot / page_size) * kv_stride_page + (slot % page_size) * kv_stride_token;
  __global const ushort* src = rows + row * rows_stride;
#if ZEMLA_KV_FP8
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
