// gqa_decode_split's arguments, in order (kernels_spirv/common/kernel_args.h): the kernel's
// signature in gqa_decode.cl and the host's binder in
// ops/gqa/gqa_decode.cpp both come from this list. Strides count
// elements; workspace offsets count 4-byte units.
#ifndef ZEMLA_GQA_DECODE_ARGS_H
#define ZEMLA_GQA_DECODE_ARGS_H

#include "ops/split_kv/split_kv_args.h"

#define GQA_DECODE_SPLIT_ARGS(ARG, LAST)                                    \
  ARG(IN, ushort, q) /* [batch, q_heads, head_dim] */                       \
  ARG(SCALAR, long, q_stride_b)                                             \
  ARG(SCALAR, long, q_stride_h)                                             \
  ARG(IN, ushort, k_cache) /* [num_pages, page_size, kv_heads, head_dim] */ \
  ARG(IN, ushort, v_cache)                                                  \
  ARG(SCALAR, long, kv_stride_page)                                         \
  ARG(SCALAR, long, kv_stride_token)                                        \
  ARG(SCALAR, long, kv_stride_head)                                         \
  SPLIT_KV_PAGING_ARGS(ARG)                                                 \
  ARG(SCALAR, int, num_q_heads)                                             \
  ARG(SCALAR, int, num_kv_heads)                                            \
  ARG(SCALAR, int, head_dim)                                                \
  ARG(SCALAR, float, sm_scale)                                              \
  ARG(SCALAR, float, softcap) /* 0: none */                                 \
  SPLIT_KV_OUTPUT_ARGS(ARG)                                                 \
  LAST(SCALAR, int, window_left) /* -1: none */

#endif
