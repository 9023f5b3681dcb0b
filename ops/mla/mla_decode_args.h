// mla_decode_split's arguments, in order (kernels_spirv/common/kernel_args.h): the kernel's
// signature in mla_decode.cl and the host's binder in
// ops/mla/mla_decode.cpp both come from this list. Strides and offsets
// count elements; workspace offsets count 4-byte units.
#ifndef ZEMLA_MLA_DECODE_ARGS_H
#define ZEMLA_MLA_DECODE_ARGS_H

#include "ops/split_kv/split_kv_args.h"

#define MLA_DECODE_SPLIT_ARGS(ARG, LAST)                                                    \
  ARG(IN, ushort, q_nope) /* [batch, heads, 512] */                                         \
  ARG(SCALAR, long, q_nope_stride_b)                                                        \
  ARG(SCALAR, long, q_nope_stride_h)                                                        \
  ARG(IN, ushort, q_rope) /* [batch, heads, 64] */                                          \
  ARG(SCALAR, long, q_rope_stride_b)                                                        \
  ARG(SCALAR, long, q_rope_stride_h)                                                        \
  ARG(OUT, kv_elem, kv_cache) /* [num_pages, page_size, 576]; the fused append writes it */ \
  ARG(SCALAR, long, kv_stride_page)                                                         \
  ARG(SCALAR, long, kv_stride_token)                                                        \
  SPLIT_KV_PAGING_ARGS(ARG)                                                                 \
  ARG(SCALAR, int, num_heads) /* query rows per request: q_len tokens x heads */            \
  ARG(SCALAR, int, q_len)     /* query tokens per request, 1 to 8 (multi-token decode) */    \
  ARG(SCALAR, float, scale_log2) /* sm_scale * log2(e), times an FP8 cache's scale */       \
  ARG(SCALAR, float, v_scale)    /* an FP8 cache's scale, 1 otherwise */                    \
  SPLIT_KV_OUTPUT_ARGS(ARG)                                                                 \
  ARG(IN, ushort, new_rows) /* [batch, 576], may be null when append_new_rows is 0 */       \
  ARG(SCALAR, long, new_rows_stride)                                                        \
  LAST(SCALAR, int, append_new_rows)

#endif
