#pragma once
// The references every kernel is checked against: plain loops, fp64
// accumulation over the same 16-bit-rounded inputs the kernels see.

#include <cstdint>
#include <span>
#include <vector>

#include "mla_problem.hpp"

namespace zemla::reference {

// Weight-absorbed MLA decode (what the kernels compute): scores over the 576
// values of each cached row, V = its first 512, natural-log LSE.
DecodeResult mla_decode(const MlaProblem& problem);

// Non-absorbed MLA for one request and one head, from the definition: per-head
// K = [W_UK c_kv ; k_rope], V = W_UV c_kv, then standard attention.
// w_uk, w_uv: [head_dim, 512] row-major; q_nope: [head_dim]; q_rope: [64];
// latent: [len, 576] (c_kv then k_rope). Returns [head_dim] output, head_dim = w_uv rows.
std::vector<double> mla_naive_head(std::span<const double> w_uk, std::span<const double> w_uv, int head_dim,
                                   std::span<const double> q_nope, std::span<const double> q_rope,
                                   std::span<const double> latent, int len, double sm_scale);

// The absorption identities the fast path rests on:
//   q_absorbed = W_UK^T q_nope      ([512])
//   out        = W_UV latent_out    ([head_dim])
std::vector<double> absorb_query(std::span<const double> w_uk, int head_dim, std::span<const double> q_nope);
std::vector<double> unabsorb_output(std::span<const double> w_uv, int head_dim, std::span<const double> latent_out);

// Absorbed attention in fp64 for one head: q [576] against latent [len, 576].
// Returns the 512-wide latent output; `lse` receives the natural-log LSE.
std::vector<double> mla_absorbed_head(std::span<const double> q, std::span<const double> latent, int len,
                                      double sm_scale, double* lse);

// Standard paged GQA decode (non-MLA): q [B, Hq, D]; k/v cache
// [pages, page_size, Hkv, D]; query head h reads KV head h / (Hq / Hkv).
// softcap > 0: s = softcap * tanh(s * sm_scale / softcap); window_left >= 0:
// the last token attends to keys [len - 1 - window_left, len - 1] (flash-attn).
struct GqaProblem {
  DType dtype = DType::bf16;
  int batch = 0, q_heads = 0, kv_heads = 0, head_dim = 0, page_size = 0, num_pages = 0, max_pages = 0;
  float sm_scale = 0;
  float softcap = 0;
  int window_left = -1;
  std::vector<std::uint16_t> q, k_cache, v_cache;
  std::vector<std::int32_t> page_table, seqlens;
};
DecodeResult gqa_decode(const GqaProblem& problem);  // out [B, Hq, D], lse [B, Hq]

}  // namespace zemla::reference
