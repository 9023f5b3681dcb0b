#pragma once
// MLA geometry and the kernels' tile shape, mirrored from
// kernels_spirv/common/mla_shape.clh (a kernel test checks they agree by
// running the kernels, and the planner's tile rounding depends on kTile).

namespace zemla::mla {

inline constexpr int kLatentDim = 512;                 // kv_lora_rank: c_kv, and V
inline constexpr int kRopeDim = 64;                    // qk_rope_head_dim
inline constexpr int kRowDim = kLatentDim + kRopeDim;  // one cached token: 576 values
inline constexpr int kHeadBlock = 16;                  // heads per work-group
inline constexpr int kTile = 16;                       // tokens per tile; divides every page size

}  // namespace zemla::mla
