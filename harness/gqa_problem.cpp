#include "gqa_problem.hpp"

#include <cmath>
#include <random>
#include <string>

#include "mla_problem.hpp"
#include "zemla/error.hpp"

namespace zemla {

reference::GqaProblem make_random_gqa_problem(const RandomGqaSpec& spec) {
  constexpr const char* call = "make_random_gqa_problem";
  require(spec.q_heads > 0 && spec.kv_heads > 0 && spec.head_dim > 0 && spec.page_size > 0, call,
          "heads, head_dim and page_size must be positive");
  require(!spec.seqlens.empty(), call, "seqlens must name at least one request");
  reference::GqaProblem p;
  p.dtype = spec.dtype;
  p.batch = static_cast<int>(spec.seqlens.size());
  p.q_heads = spec.q_heads;
  p.kv_heads = spec.kv_heads;
  p.head_dim = spec.head_dim;
  p.page_size = spec.page_size;
  p.sm_scale = 1.0f / std::sqrt(static_cast<float>(spec.head_dim));
  p.softcap = spec.softcap;
  p.window_left = spec.window_left;
  p.seqlens = spec.seqlens;
  std::mt19937_64 rng(spec.seed);
  auto paging = random_paging(spec.seqlens, spec.page_size, spec.spare_pages, rng, call);
  p.max_pages = paging.max_pages;
  p.num_pages = paging.num_pages;
  p.page_table = std::move(paging.page_table);
  require_host_bytes(std::int64_t{p.batch} * p.q_heads * p.head_dim * (2 + 4) +
                         std::int64_t{p.num_pages} * p.page_size * p.kv_heads * p.head_dim * 2 * 2,
                     call, "the step's queries, outputs and caches");
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto fill = [&](std::vector<std::uint16_t>& v, std::size_t n) {
    v.resize(n);
    for (auto& x : v) x = from_float(p.dtype, normal(rng));
  };
  fill(p.q, std::size_t(p.batch) * p.q_heads * p.head_dim);
  const std::size_t kv = std::size_t(p.num_pages) * p.page_size * p.kv_heads * p.head_dim;
  fill(p.k_cache, kv);
  fill(p.v_cache, kv);
  return p;
}

}  // namespace zemla
