#pragma once
// GQA decode geometry, read from the header the kernels are built with
// (ops/gqa/gqa_shape.clh), so host and kernels cannot disagree.

#include "gqa_shape.clh"
#include "host/decode_planner.hpp"

namespace zemla::gqa {

inline constexpr int kWorkGroup = GQA_WG;
inline constexpr int kTile = GQA_TILE;           // tokens per tile; page sizes must be multiples of it
inline constexpr int kMaxGroup = GQA_MAX_GROUP;  // query heads per KV head
inline constexpr int kMaxDim = GQA_MAX_DIM;

// One work-group per (split, KV head) serving the KV head's query group.
inline SplitGeometry split_geometry(int q_heads, int kv_heads, int head_dim) {
  return {kv_heads > 0 ? q_heads / kv_heads : 1, kTile, head_dim};
}

}  // namespace zemla::gqa

#undef GQA_WG
#undef GQA_TILE
#undef GQA_MAX_GROUP
#undef GQA_MAX_DIM
#undef GQA_COLS
