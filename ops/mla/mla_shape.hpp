#pragma once
// MLA geometry and the kernels' tile shape, read from the header the kernels
// are built with (ops/mla/mla_shape.clh), so host and kernels
// cannot disagree; the planner's tile rounding depends on kTile. The
// header's macros are undefined again: TILE and WG_SIZE are too generic a
// name to leave in every C++ file that includes this one.

#include "mla_shape.clh"

namespace zemla::mla {

inline constexpr int kLatentDim = MLA_DC;        // kv_lora_rank: c_kv, and V
inline constexpr int kRopeDim = MLA_DR;          // qk_rope_head_dim
inline constexpr int kRowDim = MLA_DQK;          // one cached token: 576 values
inline constexpr int kHeadBlock = HEAD_BLOCK;    // query rows per work-group, tile schedule
inline constexpr int kStreamRows = STREAM_ROWS;  // query rows per work-group, stream schedule (nv_mma)
inline constexpr int kTile = TILE;               // tokens per tile; divides every page size
static_assert(kRowDim == kLatentDim + kRopeDim);
// fp8_ds_mla rows (host/fp8.hpp), in bytes.
inline constexpr int kDsBlock = MLA_DS_BLOCK;
inline constexpr int kDsScaleOffset = MLA_DS_SCALE_OFFSET;
inline constexpr int kDsRopeOffset = MLA_DS_ROPE_OFFSET;
inline constexpr int kDsRowBytes = MLA_DS_ROW_BYTES;
static_assert(kDsRowBytes == 656 && kDsRowBytes % 16 == 0);

}  // namespace zemla::mla

#undef MLA_DC
#undef MLA_DR
#undef MLA_DQK
#undef MLA_VEC8_PER_ROW
#undef MLA_NOPE_VEC8
#undef MLA_DS_BLOCK
#undef MLA_DS_SCALE_OFFSET
#undef MLA_DS_ROPE_OFFSET
#undef MLA_DS_ROW_BYTES
#undef HEAD_BLOCK
#undef TILE
#undef WG_SIZE
#undef COLS_PER_ITEM
#undef STREAM_ROWS
#undef SCORE_HEADS
#undef SCORE_TOKENS
#undef SCORE_CHUNKS
#undef SCORE_CHUNK_DIMS
#undef KV_PITCH
