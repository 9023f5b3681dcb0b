// MLA paged decode, split-KV (flash-decoding) in two stages.
//
// Stage 1, mla_decode_split: one work-group per (split, head block). It walks
// its split's tokens in tiles of TILE rows; each row is read from global
// memory once for all HEAD_BLOCK heads of the block, scores use all 576
// values, and the first 512 of the same row serve as V. Softmax is online in
// fp32, in the log2 domain (scale_log2 = sm_scale * log2 e) so exp2 is the
// only transcendental. A request with one split writes `out` (and `lse`)
// directly; otherwise the split writes its normalised partial output and LSE
// to the workspace.
//
// Stage 2, split_kv_combine (ops/split_kv/split_combine.clh, shared with GQA): one
// work-group per (head, request) with more than one split merges the
// partials with LSE weights.
//
// Workspace (layout from host/decode_planner's WorkspaceLayout; offsets in
// 4-byte units): partial outputs [splits][heads][512] at 0, partial LSE
// [splits][heads], the work table int4 (request, token_begin, token_end,
// splits_of_request) per split, and split_begin [batch + 1]: request r owns
// splits split_begin[r] .. split_begin[r + 1] - 1.
//
// The two products of each tile (scores, then P.V) come from
// ops/mla/scalar_tiles.clh (portable, intel_sg: fp32 FMAs),
// ops/mla/xmx_tiles.clh (intel_xmx: DPAS) or ops/mla/mma_tiles.clh (nv_mma:
// NVIDIA tensor cores); the softmax is the same for all.
//
// Fused kv_append (append_new_rows = 1): a decode step's new token is the
// last of its request, so only the request's last split reads it. That
// split takes the row from new_rows into its local tile instead of reading
// the cache, and its first head block writes it into the cache slot; no
// work-group of the launch reads that slot, so the write needs no ordering.
// Same results as a kv_append launch followed by the decode, one launch
// fewer per layer. It is its own kernel, mla_decode_split_append, from the
// same source (mla_decode_split.clh), so the plain kernel carries none of
// it; the host binds append_new_rows = 1 exactly when it launches that one.
//
// Bounds: a page id outside [0, num_pages) or a page index past the table
// width reads nothing (its tokens count as masked), so a corrupt page table
// cannot move any read or write outside its buffer.

#include "kernels_spirv/common/dtype.clh"
#include "mla_decode_args.h"
#include "ops/split_kv/split_combine.clh"
#include "mla_variant.clh"
#if defined(ZEMLA_VARIANT_INTEL_XMX)
#include "xmx_tiles.clh"
#elif defined(ZEMLA_VARIANT_NV_MMA)
#include "mma_tiles.clh"
#if ZEMLA_STREAM_SCHEDULE
#include "stream_rows.clh"
#endif
#else
#include "scalar_tiles.clh"
#endif

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// A token's page index and its row in that page. page_size is 16, 32, 64
// or 128 (the host refuses any other), so these are a shift and a mask:
// an integer division by a run-time value is some twenty instructions on
// the GPUs here, and the stream schedule finds several pages per 64 tokens.
// With any other page_size the row would still lie inside its page, and
// page_of still checks the index against the table.
inline int page_index_of(int tok, int page_size) { return tok >> (31 - clz(page_size)); }
inline int row_in_page(int tok, int page_size) { return tok & (page_size - 1); }

// The pool page holding token `tok` of a request, or -1 when the table's
// entry is outside the pool or the token's page index past its width.
inline int page_of(__global const int* pages, int max_pages, int num_pages, int page_size, int tok) {
  const int page_index = page_index_of(tok, page_size);
  const int page = page_index < max_pages ? pages[page_index] : -1;
  return page >= 0 && page < num_pages ? page : -1;
}

// Token `tok`'s cache row, or null when it is past token_end or its page is
// not valid (page_of): nothing of it is read.
inline __global const kv_elem* token_row(__global const kv_elem* kv_cache, long kv_stride_page, long kv_stride_token,
                                         int num_pages, int page_size, __global const int* pages, int max_pages,
                                         int tok, int token_end) {
  const int page = tok < token_end ? page_of(pages, max_pages, num_pages, page_size, tok) : -1;
  return page < 0 ? 0 : kv_cache + (long)page * kv_stride_page + (long)row_in_page(tok, page_size) * kv_stride_token;
}

// Where one tile of a request's tokens lives: a page id outside the pool or
// a page index past the table's width gives zero valid rows, never a read.
typedef struct {
  __global const kv_elem* rows;
  int valid_rows;
} TileSource;

inline TileSource tile_source(__global const kv_elem* kv_cache, long kv_stride_page, long kv_stride_token, int num_pages,
                              int page_size, __global const int* pages, int max_pages, int t0, int token_end) {
  const int page = page_of(pages, max_pages, num_pages, page_size, t0);
  TileSource src;
  src.valid_rows = page >= 0 ? min(TILE, token_end - t0) : 0;
  src.rows = kv_cache + (long)max(page, 0) * kv_stride_page + (long)row_in_page(t0, page_size) * kv_stride_token;
  return src;
}

// The rows kv_fetch reads of a tile: all valid ones, but the new token's row
// when this tile holds it (`appends`: this split takes the step's new row,
// which is its last token). That row comes from new_rows into local memory
// instead (stage_new_row), so no work-group reads the cache slot that the
// fused append writes.
inline int fetched_rows(TileSource src, bool appends, int t0, int token_end) {
  return appends && t0 + TILE >= token_end && src.valid_rows > 0 ? src.valid_rows - 1 : src.valid_rows;
}

// The new row into its place in the local tile, row valid_rows - 1, which
// kv_fetch left zero. Only in the split's last tile; every item takes part
// in the barrier that follows.
inline void stage_new_row(__local ushort* kv_tile, int valid_rows, __global const ushort* new_row) {
  __local uint4* dst = (__local uint4*)(kv_tile + (valid_rows - 1) * KV_PITCH);
  for (int i = get_local_id(0); i < MLA_VEC8_PER_ROW; i += WG_SIZE) dst[i] = ((__global const uint4*)new_row)[i];
}

// Fused kv_append's write: the new row into the cache slot of the request's
// last token, skipped when the table gives that token no valid page.
inline void write_new_row(__global ushort* kv_cache, long kv_stride_page, long kv_stride_token, int num_pages,
                          int page_size, __global const int* pages, int max_pages, int token,
                          __global const ushort* new_row) {
  const int page = page_of(pages, max_pages, num_pages, page_size, token);
  if (page < 0) return;
  __global uint4* dst =
      (__global uint4*)(kv_cache + (long)page * kv_stride_page + (long)row_in_page(token, page_size) * kv_stride_token);
  for (int i = get_local_id(0); i < MLA_VEC8_PER_ROW; i += WG_SIZE) dst[i] = ((__global const uint4*)new_row)[i];
}

// Multi-token decode (q_len > 1): a request's num_heads rows are q_len
// query tokens of num_heads / q_len heads each, token-major, and the
// tokens are the request's last q_len: row r is token i = r / (heads per
// token), which sees the request's tokens before L - (q_len - 1 - i), L
// being the request's length (the end of its last split). INT_MAX (no
// limit) for single-token decode.
inline int causal_row_limit(__global const float* workspace, long ws_work_offset, long ws_split_begin_offset, int req,
                            int q_len, int num_heads, int row) {
  if (q_len <= 1) return INT_MAX;
  __global const int* split_begin = (__global const int*)(workspace + ws_split_begin_offset);
  const int request_len = ((__global const int4*)(workspace + ws_work_offset))[split_begin[req + 1] - 1].z;
  return request_len - (q_len - 1 - row / (num_heads / q_len));
}

// Stage 1 twice: plain, and with the fused kv_append. nv_mma over an FP8
// cache runs the stream schedule (mla_decode_stream.clh), every other build
// the tile schedule (mla_decode_split.clh); mla_variant.clh says why.
#define ZEMLA_SPLIT_KERNEL mla_decode_split
#define ZEMLA_FUSED_APPEND 0
#if ZEMLA_STREAM_SCHEDULE
#include "mla_decode_stream.clh"
#else
#include "mla_decode_split.clh"
#endif
#undef ZEMLA_SPLIT_KERNEL
#undef ZEMLA_FUSED_APPEND
// An FP8 cache has no fused append: its rows need quantizing first.
#if !ZEMLA_KV_FP8
#define ZEMLA_SPLIT_KERNEL mla_decode_split_append
#define ZEMLA_FUSED_APPEND 1
#include "mla_decode_split.clh"
#undef ZEMLA_SPLIT_KERNEL
#undef ZEMLA_FUSED_APPEND
#endif
