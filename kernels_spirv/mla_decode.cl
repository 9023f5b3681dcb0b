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
// Stage 2, split_kv_combine (common/split_combine.clh, shared with GQA): one
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
// common/scalar_tiles.clh (portable, intel_sg: fp32 FMAs),
// common/xmx_tiles.clh (intel_xmx: DPAS) or common/mma_tiles.clh (nv_mma:
// NVIDIA tensor cores); the softmax is the same for all.
//
// Fused kv_append (append_new_rows = 1): a decode step's new token is the
// last of its request, so only the request's last split reads it. That
// split reads the row from new_rows instead of the cache, and its first
// head block writes it into the cache slot; no other work-group of the
// launch reads that slot, so the write needs no ordering. Same results as a
// kv_append launch followed by the decode, one launch fewer per layer.
//
// Bounds: a page id outside [0, num_pages) or a page index past the table
// width reads nothing (its tokens count as masked), so a corrupt page table
// cannot move any read or write outside its buffer.

#include "common/dtype.clh"
#include "mla_decode_args.h"
#include "common/split_combine.clh"
#include "common/variant.clh"
#if defined(ZEMLA_VARIANT_INTEL_XMX)
#include "common/xmx_tiles.clh"
#elif defined(ZEMLA_VARIANT_NV_MMA)
#include "common/mma_tiles.clh"
#else
#include "common/scalar_tiles.clh"
#endif

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// Where one tile of a request's tokens lives: a page id outside the pool or
// a page index past the table's width gives zero valid rows, never a read.
// new_row, when not null, is the request's new token (the last row of its
// last tile), read from the step's input rows.
typedef struct {
  __global const ushort* rows;
  __global const ushort* new_row;
  int valid_rows;
} TileSource;

inline TileSource tile_source(__global const ushort* kv_cache, long kv_stride_page, long kv_stride_token, int num_pages,
                              int page_size, __global const int* pages, int max_pages, int t0, int token_end,
                              __global const ushort* new_row) {
  const int page_index = t0 / page_size;
  const int page = page_index < max_pages ? pages[page_index] : -1;
  TileSource src;
  src.valid_rows = (page >= 0 && page < num_pages) ? min(TILE, token_end - t0) : 0;
  src.rows = kv_cache + (long)max(page, 0) * kv_stride_page + (long)(t0 % page_size) * kv_stride_token;
  src.new_row = t0 + TILE >= token_end ? new_row : 0;
  return src;
}

// Fused kv_append's write: the new row into the cache slot of the request's
// last token, skipped when the table gives that token no valid page.
inline void write_new_row(__global ushort* kv_cache, long kv_stride_page, long kv_stride_token, int num_pages,
                          int page_size, __global const int* pages, int max_pages, int token,
                          __global const ushort* new_row) {
  const int page_index = token / page_size;
  const int page = page_index < max_pages ? pages[page_index] : -1;
  if (page < 0 || page >= num_pages) return;
  __global uint4* dst =
      (__global uint4*)(kv_cache + (long)page * kv_stride_page + (long)(token % page_size) * kv_stride_token);
  for (int i = get_local_id(0); i < MLA_VEC8_PER_ROW; i += WG_SIZE) dst[i] = ((__global const uint4*)new_row)[i];
}

ZEMLA_KERNEL_ATTRS
__kernel void mla_decode_split(ZEMLA_KERNEL_PARAMS(MLA_DECODE_SPLIT_ARGS)) {
  // 47.7 KB in all: under the 48 KB many OpenCL GPUs allow a work-group.
  // uint4 arrays so every row (KV_PITCH values, a multiple of 8) starts
  // 16-byte aligned for the helpers' vector loads.
  __local uint4 q_tile4[HEAD_BLOCK * KV_PITCH / 8];
  __local uint4 kv_tile4[TILE * KV_PITCH / 8];
  __local ushort* q_tile = (__local ushort*)q_tile4;
  __local ushort* kv_tile = (__local ushort*)kv_tile4;
  __local float partial[PARTIAL_CHUNKS * WG_SIZE];  // [chunk][head][token]
  // float4 arrays so float4 reads are aligned. The P tile's layout is the
  // tile helpers' own (store_p / acc_pv).
  __local float4 p_tile[P_TILE_BYTES / 16];
  __local float4 scratch4[WG_SIZE / 4];
  __local float alpha_tile[HEAD_BLOCK];
  __local float* scratch = (__local float*)scratch4;

  const int lid = get_local_id(0);
  const int split = get_group_id(0);
  const int head0 = get_group_id(1) * HEAD_BLOCK;
  __global float* ws_out = workspace;
  __global float* ws_lse = workspace + ws_lse_offset;
  const int4 job = ((__global const int4*)(workspace + ws_work_offset))[split];
  const int req = job.x;
  const int token_begin = job.y;
  const int token_end = job.z;
  const int num_splits = job.w;
  __global const int* pages = page_table + req * page_table_stride;
  __global const ushort* new_row = 0;
  if (append_new_rows) {
    __global const int* split_begin = (__global const int*)(workspace + ws_split_begin_offset);
    if (split == split_begin[req + 1] - 1 && token_end > 0) {
      new_row = new_rows + req * new_rows_stride;
      if (get_group_id(1) == 0) {
        write_new_row(kv_cache, kv_stride_page, kv_stride_token, num_pages, page_size, pages, max_pages, token_end - 1,
                      new_row);
      }
    }
  }

  // Query rows of this head block; heads past num_heads are zeros.
  for (int i = lid; i < HEAD_BLOCK * MLA_VEC8_PER_ROW; i += WG_SIZE) {
    const int h = i / MLA_VEC8_PER_ROW;
    const int vec = i % MLA_VEC8_PER_ROW;
    const int head = head0 + h;
    ushort8 v = (ushort8)(0);
    if (head < num_heads) {
      v = vec < MLA_NOPE_VEC8 ? vload8(vec, q_nope + req * q_nope_stride_b + head * q_nope_stride_h)
                              : vload8(vec - MLA_NOPE_VEC8, q_rope + req * q_rope_stride_b + head * q_rope_stride_h);
    }
    vstore8(v, vec, q_tile + h * KV_PITCH);
  }

  // Softmax role: this item owns score (score_head, score_token). Every item
  // of a head row sees the same running max, so the running sum can stay
  // per item (scaled by the same alphas) and be added up once at the end.
  const int score_head = lid / TILE;
  const int score_token = lid % TILE;
  float m_run = -INFINITY;  // running max (log2 domain) of score_head
  float l_part = 0.0f;      // this item's share of the running sum of exp2(s - m_run)

  // Output role: the (head, column) accumulators acc_head / acc_col name.
  float acc[ACC_VALUES];
  for (int i = 0; i < ACC_VALUES; ++i) acc[i] = 0.0f;

  // The tile computed next sits in registers: its global loads were issued
  // one tile earlier, so they overlap that tile's arithmetic.
  KvRegs kv_next;
  TileSource src = tile_source(kv_cache, kv_stride_page, kv_stride_token, num_pages, page_size, pages, max_pages,
                               token_begin, token_end, new_row);
  if (token_begin < token_end) kv_fetch(&kv_next, src.rows, kv_stride_token, src.valid_rows, src.new_row);
  for (int t0 = token_begin; t0 < token_end; t0 += TILE) {
    const int valid_rows = src.valid_rows;
    barrier(CLK_LOCAL_MEM_FENCE);  // the previous tile is fully consumed (and q_tile written)
    kv_stage(kv_tile, &kv_next);
    if (t0 + TILE < token_end) {
      src = tile_source(kv_cache, kv_stride_page, kv_stride_token, num_pages, page_size, pages, max_pages, t0 + TILE,
                        token_end, new_row);
      kv_fetch(&kv_next, src.rows, kv_stride_token, src.valid_rows, src.new_row);
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    tile_scores(q_tile, kv_tile, partial);
    barrier(CLK_LOCAL_MEM_FENCE);

    float s = -INFINITY;
    if (score_token < valid_rows) {
      float sum = 0.0f;
      for (int c = 0; c < PARTIAL_CHUNKS; ++c) sum += partial[c * WG_SIZE + lid];
      s = sum * scale_log2;
    }
    const float m_new = fmax(m_run, tile_row_max(s, scratch));
    // All-masked so far: keep alpha = 1 and p = 0 instead of exp2(-inf + inf).
    const float alpha = m_new == -INFINITY ? 1.0f : exp2(m_run - m_new);
    const float p = s == -INFINITY ? 0.0f : exp2(s - m_new);
    l_part = l_part * alpha + p;
    m_run = m_new;
    store_p(p_tile, score_head, score_token, p);
    if (score_token == 0) alpha_tile[score_head] = alpha;
    barrier(CLK_LOCAL_MEM_FENCE);

    acc_rescale(acc, alpha_tile);
    acc_pv(acc, kv_tile, p_tile);
  }

  // Hand each head's softmax state to the output items: the row's sum is the
  // sum of its items' shares.
  __local float l_final[HEAD_BLOCK];
  __local float m_final[HEAD_BLOCK];
  barrier(CLK_LOCAL_MEM_FENCE);
  scratch[lid] = l_part;
  barrier(CLK_LOCAL_MEM_FENCE);
  if (score_token == 0) {
    float l = 0.0f;
    for (int t = 0; t < TILE; ++t) l += scratch[lid + t];
    l_final[score_head] = l;
    m_final[score_head] = m_run;
  }
  barrier(CLK_LOCAL_MEM_FENCE);

  const int heads_here = min(HEAD_BLOCK, num_heads - head0);
  // An empty split (length 0, or every page invalid) yields zeros, LSE -inf.
  for (int i = 0; i < ACC_VALUES; ++i) {
    const int h = acc_head(i);
    if (h >= heads_here) continue;
    const int head = head0 + h;
    const float l = l_final[h];
    const float o = l > 0.0f ? acc[i] / l : 0.0f;
    const int col = acc_col(i);
    if (num_splits == 1) {
      out[req * out_stride_b + head * out_stride_h + col] = float_to_elem(o);
    } else {
      ws_out[((long)split * num_heads + head) * MLA_DC + col] = o;
    }
  }
  if (lid < heads_here) {
    const int head = head0 + lid;
    const float l = l_final[lid];
    const float lse_h = l > 0.0f ? (m_final[lid] + log2(l)) * LN2 : -INFINITY;
    if (num_splits == 1) {
      if (write_lse) lse[req * lse_stride_b + head] = lse_h;
    } else {
      ws_lse[(long)split * num_heads + head] = lse_h;
    }
  }
}
