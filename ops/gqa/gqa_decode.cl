// Paged GQA / MQA / MHA decode (sglang's flash_attn_with_kvcache for non-MLA
// models), split-KV in two stages on the same planner and combine as MLA.
//
// Stage 1, gqa_decode_split: one work-group per (split, KV head) serves the
// KV head's whole query group (num_q_heads / num_kv_heads heads, at most 8),
// so each K and V row is read once per group, not once per query head. Tiles
// of 64 tokens: item t scores token t against every head of the group over
// head_dim values, the softmax is online in fp32 (log2 domain), and for
// P.V item i owns columns i + 64k of the output. A request with one split
// writes out/lse directly; otherwise partials go to the workspace.
// Stage 2 is split_kv_combine (ops/split_kv/split_combine.clh).
//
// Options, as flash-attn defines them: logit soft-capping (softcap > 0:
// s = softcap * tanh(s * sm_scale / softcap)) and a sliding window
// (window_left >= 0: the last token attends to keys [len - 1 - window_left,
// len - 1]; -1: no window).
//
// The request's length, which places the window, is where its last split
// ends in the plan's work table (split_begin gives the last split's row), so
// the plan is the only record of the lengths.
//
// Caches: k_cache / v_cache [pages, page_size, kv_heads, head_dim] at the
// given strides (elements). Bounds as in MLA: a page id outside the pool or
// a page index past the table width reads nothing.

#include "kernels_spirv/common/dtype.clh"
#include "gqa_variant.clh"
#include "ops/split_kv/split_combine.clh"
#include "gqa_decode_args.h"

#define LOG2E 1.4426950408889634f
#define LN2 0.6931471805599453f

GQA_KERNEL_ATTRS
__kernel void gqa_decode_split(ZEMLA_KERNEL_PARAMS(GQA_DECODE_SPLIT_ARGS)) {
  __local float q_loc[GQA_MAX_GROUP * GQA_MAX_DIM];
  __local float p_loc[GQA_MAX_GROUP * GQA_TILE];
  __local float partial[GQA_MAX_GROUP * GQA_WG];

  const int lid = get_local_id(0);
  const int2 split_hb = split_and_head_block(num_kv_heads);
  const int split = split_hb.x;
  const int kv_head = split_hb.y;
  const int group = num_q_heads / num_kv_heads;
  const int head0 = kv_head * group;
  __global const int4* work = (__global const int4*)(workspace + ws_work_offset);
  __global const int* split_begin = (__global const int*)(workspace + ws_split_begin_offset);
  const int4 job = work[split];
  const int req = job.x, token_end = job.z, num_splits = job.w;
  const int length = work[split_begin[req + 1] - 1].z;
  const int window_start = window_left >= 0 ? max(0, length - 1 - window_left) : 0;
  __global const int* pages = page_table + req * page_table_stride;

  for (int i = lid; i < group * head_dim; i += GQA_WG) {
    const int h = i / head_dim, d = i % head_dim;
    q_loc[h * GQA_MAX_DIM + d] = elem_to_float(q[req * q_stride_b + (head0 + h) * q_stride_h + d]);
  }
  barrier(CLK_LOCAL_MEM_FENCE);

  float m_run[GQA_MAX_GROUP], l_part[GQA_MAX_GROUP], acc[GQA_MAX_GROUP][GQA_COLS];
#pragma unroll
  for (int h = 0; h < GQA_MAX_GROUP; ++h) {
    m_run[h] = -INFINITY;
    l_part[h] = 0.0f;
#pragma unroll
    for (int k = 0; k < GQA_COLS; ++k) acc[h][k] = 0.0f;
  }

  // Tiles wholly before the window are skipped; splits start on tile boundaries.
  const int first_tile = max(job.y, (window_start / GQA_TILE) * GQA_TILE);
  for (int t0 = first_tile; t0 < token_end; t0 += GQA_TILE) {
    const int page_index = t0 / page_size;
    const int page = page_index < max_pages ? pages[page_index] : -1;
    const int rows = (page >= 0 && page < num_pages) ? min(GQA_TILE, token_end - t0) : 0;
    const long row0 = (long)page * kv_stride_page + (long)(t0 % page_size) * kv_stride_token + kv_head * kv_stride_head;
    const bool valid = lid < rows && t0 + lid >= window_start;

    // s[h] holds the raw dot product, then the scaled log2-domain score.
    float s[GQA_MAX_GROUP];
#pragma unroll
    for (int h = 0; h < GQA_MAX_GROUP; ++h) s[h] = 0.0f;
    if (valid) {
      __global const ushort* krow = k_cache + row0 + lid * kv_stride_token;
      for (int d = 0; d < head_dim; d += 8) {
        const ushort8 kb = vload8(0, krow + d);
        const float8 kf = (float8)(elem_to_float(kb.s0), elem_to_float(kb.s1), elem_to_float(kb.s2),
                                   elem_to_float(kb.s3), elem_to_float(kb.s4), elem_to_float(kb.s5),
                                   elem_to_float(kb.s6), elem_to_float(kb.s7));
#pragma unroll
        for (int h = 0; h < GQA_MAX_GROUP; ++h) {
          if (h < group) {
            __local const float* qh = q_loc + h * GQA_MAX_DIM + d;
            float a = s[h];
            a = fma(qh[0], kf.s0, a);
            a = fma(qh[1], kf.s1, a);
            a = fma(qh[2], kf.s2, a);
            a = fma(qh[3], kf.s3, a);
            a = fma(qh[4], kf.s4, a);
            a = fma(qh[5], kf.s5, a);
            a = fma(qh[6], kf.s6, a);
            s[h] = fma(qh[7], kf.s7, a);
          }
        }
      }
    }
#pragma unroll
    for (int h = 0; h < GQA_MAX_GROUP; ++h) {
      float x = s[h] * sm_scale;
      if (softcap > 0.0f) x = softcap * tanh(x / softcap);
      s[h] = valid ? x * LOG2E : -INFINITY;
    }

    float m_tile[GQA_MAX_GROUP];
    reduce_heads(s, group, GQA_REDUCE_MAX, partial, m_tile);
#pragma unroll
    for (int h = 0; h < GQA_MAX_GROUP; ++h) {
      if (h < group) {
        const float m_new = fmax(m_run[h], m_tile[h]);
        // Nothing accumulated yet (m_run = -inf): nothing to rescale.
        const float alpha = m_run[h] == -INFINITY ? 0.0f : exp2(m_run[h] - m_new);
        const float p = valid ? exp2(s[h] - m_new) : 0.0f;
        l_part[h] = l_part[h] * alpha + p;
#pragma unroll
        for (int k = 0; k < GQA_COLS; ++k) acc[h][k] *= alpha;
        p_loc[h * GQA_TILE + lid] = p;
        m_run[h] = m_new;
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);

    for (int t = 0; t < rows; ++t) {
      __global const ushort* vrow = v_cache + row0 + t * kv_stride_token;
#pragma unroll
      for (int k = 0; k < GQA_COLS; ++k) {
        if (k * GQA_WG < head_dim) {
          const float v = load_v(vrow, k);
#pragma unroll
          for (int h = 0; h < GQA_MAX_GROUP; ++h) {
            if (h < group) acc[h][k] = fma(p_loc[h * GQA_TILE + t], v, acc[h][k]);
          }
        }
      }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
  }

  float l[GQA_MAX_GROUP];
  reduce_heads(l_part, group, GQA_REDUCE_SUM, partial, l);
  __global float* ws_out = workspace;
  __global float* ws_lse = workspace + ws_lse_offset;
#pragma unroll
  for (int h = 0; h < GQA_MAX_GROUP; ++h) {
    if (h < group) {
      const int head = head0 + h;
      // An empty split (length 0, all masked, or invalid pages) yields zeros,
      // LSE -inf; l is 0 only then. A NaN input makes l NaN, which is passed
      // on rather than turned into an empty request's zeros.
      const float inv_l = l[h] != 0.0f ? 1.0f / l[h] : 0.0f;
      const float lse_h = l[h] != 0.0f ? (m_run[h] + log2(l[h])) * LN2 : -INFINITY;
#pragma unroll
      for (int k = 0; k < GQA_COLS; ++k) {
        const int c = lid + k * GQA_WG;
        if (c < head_dim) {
          const float o = acc[h][k] * inv_l;
          if (num_splits == 1) {
            out[req * out_stride_b + head * out_stride_h + c] = float_to_elem(o);
          } else {
            ws_out[((long)split * num_q_heads + head) * head_dim + c] = o;
          }
        }
      }
      if (lid == 0) {
        if (num_splits == 1) {
          if (write_lse) lse[req * lse_stride_b + head] = lse_h;
        } else {
          ws_lse[(long)split * num_q_heads + head] = lse_h;
        }
      }
    }
  }
}
