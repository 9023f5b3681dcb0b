#include "harness/reference.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "harness/compare.hpp"

namespace zemla {
namespace {

// The identity everything rests on: attention with per-head K = W_UK c_kv,
// V = W_UV c_kv equals attention over the latent rows with the absorbed query
// W_UK^T q, followed by W_UV on the latent output.
TEST(MlaReference, AbsorbedDecodeEqualsNaiveNonAbsorbedAttention) {
  std::mt19937 rng(11);
  std::normal_distribution<double> n01(0.0, 1.0);
  const int head_dim = 128, len = 37;
  std::vector<double> w_uk(head_dim * mla::kLatentDim), w_uv(head_dim * mla::kLatentDim);
  for (auto& w : w_uk) w = n01(rng) / std::sqrt(double(mla::kLatentDim));
  for (auto& w : w_uv) w = n01(rng) / std::sqrt(double(mla::kLatentDim));
  std::vector<double> latent(len * mla::kRowDim), q_nope(head_dim), q_rope(mla::kRopeDim);
  for (auto& x : latent) x = n01(rng);
  for (auto& x : q_nope) x = n01(rng);
  for (auto& x : q_rope) x = n01(rng);
  const double scale = 1.0 / std::sqrt(192.0);

  const auto naive = reference::mla_naive_head(w_uk, w_uv, head_dim, q_nope, q_rope, latent, len, scale);
  auto q = reference::absorb_query(w_uk, head_dim, q_nope);
  q.insert(q.end(), q_rope.begin(), q_rope.end());
  double lse = 0;
  const auto latent_out = reference::mla_absorbed_head(q, latent, len, scale, &lse);
  const auto absorbed = reference::unabsorb_output(w_uv, head_dim, latent_out);
  ASSERT_EQ(naive.size(), absorbed.size());
  for (int i = 0; i < head_dim; ++i) EXPECT_NEAR(naive[i], absorbed[i], 1e-11 * (1 + std::fabs(naive[i])));
  EXPECT_TRUE(std::isfinite(lse));
}

TEST(MlaReference, EmptyRequestGivesZerosAndMinusInfinityLse) {
  RandomMlaSpec spec;
  spec.seqlens = {0, 3};
  spec.heads = 2;
  const auto problem = make_random_problem(spec);
  const auto r = reference::mla_decode(problem);
  for (int c = 0; c < 2 * mla::kLatentDim; ++c) EXPECT_EQ(r.out[c], 0.0f);
  EXPECT_TRUE(std::isinf(r.lse[0]) && r.lse[0] < 0);
  EXPECT_TRUE(std::isfinite(r.lse[2]));
}

TEST(MlaReference, SingleTokenOutputIsThatTokensLatentRow) {
  RandomMlaSpec spec;
  spec.seqlens = {1};
  spec.heads = 1;
  const auto p = make_random_problem(spec);
  const auto r = reference::mla_decode(p);
  const int page = p.page_table[0];
  for (int c = 0; c < mla::kLatentDim; ++c) {
    EXPECT_FLOAT_EQ(r.out[c], bf16_to_float(p.kv_cache[std::size_t(page) * p.page_size * mla::kRowDim + c]));
  }
}

TEST(Comparison, FailsOnAnErrorAboveTheRowToleranceAndOnNan) {
  DecodeResult ref{std::vector<float>(512, 1.0f), {0.5f}};
  DecodeResult got = ref;
  EXPECT_TRUE(compare_with_reference(got, ref, DType::bf16, 512, true).pass);
  got.out[3] = 1.0f + 4.5f / 256;  // just over 4 u max|ref|
  EXPECT_FALSE(compare_with_reference(got, ref, DType::bf16, 512, true).pass);
  got = ref;
  got.out[0] = std::nanf("");
  EXPECT_FALSE(compare_with_reference(got, ref, DType::bf16, 512, true).pass);
  got = ref;
  got.lse[0] = 0.502f;
  EXPECT_FALSE(compare_with_reference(got, ref, DType::bf16, 512, true).pass);
}

TEST(GqaReference, GroupedHeadsShareTheirKvHead) {
  reference::GqaProblem p;
  p.batch = 1, p.q_heads = 4, p.kv_heads = 2, p.head_dim = 64, p.page_size = 64, p.num_pages = 1, p.max_pages = 1;
  p.sm_scale = 0.125f;
  std::mt19937 rng(5);
  std::normal_distribution<float> n01;
  auto fill = [&](std::vector<std::uint16_t>& v, std::size_t n) {
    v.resize(n);
    for (auto& x : v) x = float_to_bf16(n01(rng));
  };
  fill(p.q, 4 * 64);
  fill(p.k_cache, 64 * 2 * 64);
  fill(p.v_cache, 64 * 2 * 64);
  p.page_table = {0};
  p.seqlens = {10};
  // Heads 0 and 1 read KV head 0: with equal queries their outputs match.
  std::copy(p.q.begin(), p.q.begin() + 64, p.q.begin() + 64);
  const auto r = reference::gqa_decode(p);
  for (int d = 0; d < 64; ++d) EXPECT_EQ(r.out[d], r.out[64 + d]);
  // Head 2 (KV head 1) with the same query differs.
  std::copy(p.q.begin(), p.q.begin() + 64, p.q.begin() + 128);
  const auto r2 = reference::gqa_decode(p);
  EXPECT_NE(r2.out[0], r2.out[128]);
}

}  // namespace
}  // namespace zemla
