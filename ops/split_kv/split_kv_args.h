// The stage-1 arguments every split-KV op's kernel takes, in the vocabulary
// of kernels_spirv/common/kernel_args.h: each op's list
// (ops/<op>/<op>_args.h) splices these in, and bind_shared_args
// (ops/split_kv/split_kv_decoder.hpp) sets them.
#ifndef ZEMLA_SPLIT_KV_ARGS_H
#define ZEMLA_SPLIT_KV_ARGS_H

#include "kernels_spirv/common/kernel_args.h"

// The paged cache's geometry, the page table and the workspace of the plan.
#define SPLIT_KV_PAGING_ARGS(ARG)                                            \
  ARG(SCALAR, int, num_pages)                                                \
  ARG(SCALAR, int, page_size)                                                \
  ARG(IN, int, page_table) /* [batch, page_table_stride] */                  \
  ARG(SCALAR, long, page_table_stride)                                       \
  ARG(SCALAR, int, max_pages)                                                \
  ARG(OUT, float, workspace) /* host/decode_planner's WorkspaceLayout */     \
  ARG(SCALAR, long, ws_lse_offset)                                           \
  ARG(SCALAR, long, ws_work_offset)                                          \
  ARG(SCALAR, long, ws_split_begin_offset)

// Where a request with one split writes its result directly.
#define SPLIT_KV_OUTPUT_ARGS(ARG)                                            \
  ARG(OUT, ushort, out) /* [batch, heads, head_dim] */                       \
  ARG(SCALAR, long, out_stride_b)                                            \
  ARG(SCALAR, long, out_stride_h)                                            \
  ARG(OUT, float, lse) /* [batch, heads], may be null when write_lse is 0 */ \
  ARG(SCALAR, long, lse_stride_b)                                            \
  ARG(SCALAR, int, write_lse)

#endif
