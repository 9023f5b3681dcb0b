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
// Stage 2, mla_decode_combine: one work-group per (head, request) with more
// than one split merges the partials with LSE weights.
//
// Workspace (layout from host/decode_planner's WorkspaceLayout; offsets in
// 4-byte units): partial outputs [splits][heads][512] at 0, partial LSE
// [splits][heads], the work table int4 (request, token_begin, token_end,
// splits_of_request) per split, and split_begin [batch + 1]: request r owns
// splits split_begin[r] .. split_begin[r + 1] - 1.
//
// Bounds: a page id outside [0, num_pages) or a page index past the table
// width reads nothing (its tokens count as masked), so a corrupt page table
// cannot move any read or write outside its buffer.

#include "common/dtype.clh"
#include "common/variant.clh"

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

// Eight 16-bit values from local memory, widened to fp32.
inline float8 load8_as_float(__local const ushort* p) {
#if defined(ZEMLA_DTYPE_BF16)
  return as_float8(convert_uint8(vload8(0, p)) << 16);
#else
  return vload_half8(0, (__local const half*)p);
#endif
}

inline float2 load2_as_float(__local const ushort* p) {
#if defined(ZEMLA_DTYPE_BF16)
  return as_float2(convert_uint2(vload2(0, p)) << 16);
#else
  return vload_half2(0, (__local const half*)p);
#endif
}

inline float dot_row(__local const ushort* q, __local const ushort* k) {
  float8 acc = (float8)(0.0f);
  for (int v = 0; v < MLA_VEC8_PER_ROW; ++v) {
    acc = fma(load8_as_float(q + v * 8), load8_as_float(k + v * 8), acc);
  }
  float4 a = acc.lo + acc.hi;
  float2 b = a.lo + a.hi;
  return b.x + b.y;
}

ZEMLA_KERNEL_ATTRS
__kernel void mla_decode_split(
    __global const ushort* q_nope, long q_nope_stride_b, long q_nope_stride_h,
    __global const ushort* q_rope, long q_rope_stride_b, long q_rope_stride_h,
    __global const ushort* kv_cache, long kv_stride_page, long kv_stride_token, int num_pages,
    int page_size, __global const int* page_table, long page_table_stride, int max_pages,
    __global float* workspace, long ws_lse_offset, long ws_work_offset, int num_heads,
    float scale_log2, __global ushort* out, long out_stride_b, long out_stride_h,
    __global float* lse, long lse_stride_b, int write_lse) {
  __local ushort q_tile[HEAD_BLOCK * MLA_DQK];
  __local ushort kv_tile[TILE * KV_PITCH];
  __local float p_tile[HEAD_BLOCK * TILE];
  __local float alpha_tile[HEAD_BLOCK];
  __local float scratch[WG_SIZE];

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

  // Query rows of this head block; heads past num_heads are zeros.
  for (int i = lid; i < HEAD_BLOCK * MLA_VEC8_PER_ROW; i += WG_SIZE) {
    const int h = i / MLA_VEC8_PER_ROW;
    const int vec = i % MLA_VEC8_PER_ROW;
    const int head = head0 + h;
    ushort8 v = (ushort8)(0);
    if (head < num_heads) {
      v = vec < MLA_NOPE_VEC8
              ? vload8(vec, q_nope + req * q_nope_stride_b + head * q_nope_stride_h)
              : vload8(vec - MLA_NOPE_VEC8, q_rope + req * q_rope_stride_b + head * q_rope_stride_h);
    }
    vstore8(v, vec, q_tile + h * MLA_DQK);
  }

  // Score role: this item owns (score_head, score_token) of each tile.
  const int score_head = lid / TILE;
  const int score_token = lid % TILE;
  float m_run = -INFINITY;  // running max (log2 domain) of score_head
  float l_run = 0.0f;       // running sum of exp2(s - m_run)

  // Output role: this item owns columns [col0, col0 + COLS_PER_ITEM) of V for
  // every head of the block.
  const int col0 = lid * COLS_PER_ITEM;
  float2 acc[HEAD_BLOCK];
  for (int h = 0; h < HEAD_BLOCK; ++h) acc[h] = (float2)(0.0f);

  __global const int* pages = page_table + req * page_table_stride;
  for (int t0 = token_begin; t0 < token_end; t0 += TILE) {
    const int page_index = t0 / page_size;
    const int page = page_index < max_pages ? pages[page_index] : -1;
    const int valid_rows = (page >= 0 && page < num_pages) ? min(TILE, token_end - t0) : 0;
    __global const ushort* rows =
        kv_cache + (long)max(page, 0) * kv_stride_page + (long)(t0 % page_size) * kv_stride_token;

    barrier(CLK_LOCAL_MEM_FENCE);  // previous tile fully consumed (and q_tile written)
    load_kv_tile(kv_tile, rows, kv_stride_token, valid_rows);
    barrier(CLK_LOCAL_MEM_FENCE);

    float s = -INFINITY;
    if (score_token < valid_rows) {
      s = dot_row(q_tile + score_head * MLA_DQK, kv_tile + score_token * KV_PITCH) * scale_log2;
    }
    const float m_new = fmax(m_run, tile_row_max(s, scratch));
    // All-masked so far: keep alpha = 1 and p = 0 instead of exp2(-inf + inf).
    const float alpha = m_new == -INFINITY ? 1.0f : exp2(m_run - m_new);
    const float p = s == -INFINITY ? 0.0f : exp2(s - m_new);
    l_run = l_run * alpha + tile_row_sum(p, scratch);
    m_run = m_new;
    p_tile[lid] = p;
    if (score_token == 0) alpha_tile[score_head] = alpha;
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int h = 0; h < HEAD_BLOCK; ++h) acc[h] *= alpha_tile[h];
    for (int t = 0; t < TILE; t += 4) {
      const float2 v0 = load2_as_float(kv_tile + (t + 0) * KV_PITCH + col0);
      const float2 v1 = load2_as_float(kv_tile + (t + 1) * KV_PITCH + col0);
      const float2 v2 = load2_as_float(kv_tile + (t + 2) * KV_PITCH + col0);
      const float2 v3 = load2_as_float(kv_tile + (t + 3) * KV_PITCH + col0);
      for (int h = 0; h < HEAD_BLOCK; ++h) {
        const float4 ph = vload4(0, p_tile + h * TILE + t);
        acc[h] = fma(ph.x, v0, acc[h]);
        acc[h] = fma(ph.y, v1, acc[h]);
        acc[h] = fma(ph.z, v2, acc[h]);
        acc[h] = fma(ph.w, v3, acc[h]);
      }
    }
  }

  // Hand each head's softmax state from its score items to the output items.
  __local float l_final[HEAD_BLOCK];
  __local float m_final[HEAD_BLOCK];
  if (score_token == 0) {
    l_final[score_head] = l_run;
    m_final[score_head] = m_run;
  }
  barrier(CLK_LOCAL_MEM_FENCE);

  const int heads_here = min(HEAD_BLOCK, num_heads - head0);
  for (int h = 0; h < heads_here; ++h) {
    const int head = head0 + h;
    const float l = l_final[h];
    // An empty split (length 0, or every page invalid) yields zeros, LSE -inf.
    const float inv_l = l > 0.0f ? 1.0f / l : 0.0f;
    const float2 o = acc[h] * inv_l;
    const float lse_h = l > 0.0f ? (m_final[h] + log2(l)) * LN2 : -INFINITY;
    if (num_splits == 1) {
      __global ushort* dst = out + req * out_stride_b + head * out_stride_h + col0;
      dst[0] = float_to_elem(o.x);
      dst[1] = float_to_elem(o.y);
      if (write_lse && lid == 0) lse[req * lse_stride_b + head] = lse_h;
    } else {
      vstore2(o, 0, ws_out + ((long)split * num_heads + head) * MLA_DC + col0);
      if (lid == 0) ws_lse[(long)split * num_heads + head] = lse_h;
    }
  }
}

#define COMBINE_WG 128
#define COMBINE_COLS (MLA_DC / COMBINE_WG)

__attribute__((reqd_work_group_size(COMBINE_WG, 1, 1)))
__kernel void mla_decode_combine(__global const float* workspace, long ws_lse_offset,
                                 long ws_split_begin_offset, int num_heads, __global ushort* out,
                                 long out_stride_b, long out_stride_h, __global float* lse,
                                 long lse_stride_b, int write_lse) {
  __global const float* ws_out = workspace;
  __global const float* ws_lse = workspace + ws_lse_offset;
  __global const int* split_begin = (__global const int*)(workspace + ws_split_begin_offset);
  const int head = get_group_id(0);
  const int req = get_group_id(1);
  const int first = split_begin[req];
  const int count = split_begin[req + 1] - first;
  if (count <= 1) return;  // stage 1 wrote this request directly

  float m = -INFINITY;
  for (int j = 0; j < count; ++j) m = fmax(m, ws_lse[(long)(first + j) * num_heads + head]);

  const int col0 = get_local_id(0) * COMBINE_COLS;
  float4 o = (float4)(0.0f);
  float weight_sum = 0.0f;
  if (m != -INFINITY) {
    for (int j = 0; j < count; ++j) {
      const long row = (long)(first + j) * num_heads + head;
      const float w = exp(ws_lse[row] - m);
      weight_sum += w;
      o = fma((float4)(w), vload4(0, ws_out + row * MLA_DC + col0), o);
    }
    o /= weight_sum;
  }
  __global ushort* dst = out + req * out_stride_b + head * out_stride_h + col0;
  for (int c = 0; c < COMBINE_COLS; ++c) dst[c] = float_to_elem(o[c]);
  if (write_lse && get_local_id(0) == 0) {
    lse[req * lse_stride_b + head] = m == -INFINITY ? -INFINITY : m + log(weight_sum);
  }
}
