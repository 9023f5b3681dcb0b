// kv_append's arguments, in order (kernels_spirv/common/kernel_args.h): the kernel in
// kv_append.cl and the host's binder in ops/kv_append/kv_append.cpp both come
// from this list.
#ifndef ZEMLA_KV_APPEND_ARGS_H
#define ZEMLA_KV_APPEND_ARGS_H

#include "kernels_spirv/common/kernel_args.h"

#define KV_APPEND_ARGS(ARG, LAST)                                      \
  ARG(OUT, kv_elem, kv_cache) /* [num_pages, page_size, row_values] */ \
  ARG(SCALAR, long, kv_stride_page)                                    \
  ARG(SCALAR, long, kv_stride_token)                                   \
  ARG(SCALAR, int, page_size)                                          \
  ARG(SCALAR, long, num_slots) /* num_pages * page_size */             \
  ARG(IN, ushort, rows)        /* [num_rows, rows_stride] */           \
  ARG(SCALAR, long, rows_stride)                                       \
  ARG(IN, int, slots) /* [num_rows]: page * page_size + offset */      \
  ARG(SCALAR, int, num_rows)                                           \
  ARG(SCALAR, int, row_values)                                         \
  LAST(SCALAR, float, inv_scale) /* 1 / an FP8 cache's scale; 1 otherwise */

#endif
