// split_kv_combine's arguments, in order (kernel_args.h): the kernel in
// split_combine.clh and the host's binder in ops/split_kv/split_combine.cpp
// both come from this list. Offsets count 4-byte units of the workspace.
#ifndef ZEMLA_SPLIT_COMBINE_ARGS_H
#define ZEMLA_SPLIT_COMBINE_ARGS_H

#include "kernels_spirv/common/kernel_args.h"

#define SPLIT_KV_COMBINE_ARGS(ARG, LAST)                                     \
  ARG(IN, float, workspace) /* host/decode_planner's WorkspaceLayout */      \
  ARG(SCALAR, long, ws_lse_offset)                                           \
  ARG(SCALAR, long, ws_split_begin_offset)                                   \
  ARG(SCALAR, int, num_heads)                                                \
  ARG(SCALAR, int, value_dim)                                                \
  ARG(OUT, ushort, out) /* [batch, heads, value_dim] */                      \
  ARG(SCALAR, long, out_stride_b)                                            \
  ARG(SCALAR, long, out_stride_h)                                            \
  ARG(OUT, float, lse) /* [batch, heads], may be null when write_lse is 0 */ \
  ARG(SCALAR, long, lse_stride_b)                                            \
  LAST(SCALAR, int, write_lse)

#endif
