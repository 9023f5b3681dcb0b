#pragma once
// GQA decode geometry; kernels_spirv/common/gqa_shape.clh holds the same numbers.

#include "decode_planner.hpp"

namespace zemla::gqa {

inline constexpr int kWorkGroup = 64;
inline constexpr int kTile = 64;     // tokens per tile; page sizes must be multiples of it
inline constexpr int kMaxGroup = 8;  // query heads per KV head
inline constexpr int kMaxDim = 256;

// One work-group per (split, KV head) serving the KV head's query group.
inline SplitGeometry split_geometry(int q_heads, int kv_heads, int head_dim) {
  return {kv_heads > 0 ? q_heads / kv_heads : 1, kTile, head_dim};
}

}  // namespace zemla::gqa
