// gqa_decode_split's arguments, in order (kernels_spirv/common/kernel_args.h): the kernel's
// signature in gqa_decode.cl and the host's binder in
// ops/gqa/gqa_decode.cpp both come from this list. Strides count
// elements; workspace offsets count 4-byte units.
#ifndef ZEMLA_GQA_DECODE_ARGS_H
#define ZEMLA_GQA_DECODE_ARGS_H

#include "kernels_spirv/common/kernel_args.h"

#define GQA_DECODE_SPLIT_ARGS(ARG, LAST)                                       \
  ARG(IN, ushort, q) /* [batch, q_heads, head_dim] */                          \
  ARG(SCALAR, long, q_stride_b)                                                \
  ARG(SCALAR, long, q_stride_h)                                                \
  ARG(IN, ushort, k_cache) /* [num_pages, page_size, kv_heads, head_dim] */    \
  ARG(IN, ushort, v_cache)                                                     \
  ARG(SCALAR, long, kv_stride_page)                                            \
  ARG(SCALAR, long, kv_stride_token)                                           \
  ARG(SCALAR, long, kv_stride_head)                                            \
  ARG(SCALAR, int, num_pages)                                                  \
  ARG(SCALAR, int, page_size)                                                  \
  ARG(IN, int, page_table) /* [batch, page_table_stride] */                    \
  ARG(SCALAR, long, page_table_stride)                                         \
  ARG(SCALAR, int, max_pages)                                                  \
  ARG(OUT, float, workspace) /* host/decode_planner's WorkspaceLayout */       \
  ARG(SCALAR, long, ws_lse_offset)                                             \
  ARG(SCALAR, long, ws_work_offset)                                            \
  ARG(SCALAR, long, ws_split_begin_offset)                                     \
  ARG(SCALAR, int, num_q_heads)                                                \
  ARG(SCALAR, int, num_kv_heads)                                               \
  ARG(SCALAR, int, head_dim)                                                   \
  ARG(SCALAR, float, sm_scale)                                                 \
  ARG(SCALAR, float, softcap)   /* 0: none */                                  \
  ARG(SCALAR, int, window_left) /* -1: none */                                 \
  ARG(OUT, ushort, out)         /* [batch, q_heads, head_dim] */               \
  ARG(SCALAR, long, out_stride_b)                                              \
  ARG(SCALAR, long, out_stride_h)                                              \
  ARG(OUT, float, lse) /* [batch, q_heads], may be null when write_lse is 0 */ \
  ARG(SCALAR, long, lse_stride_b)                                              \
  LAST(SCALAR, int, write_lse)

#endif
