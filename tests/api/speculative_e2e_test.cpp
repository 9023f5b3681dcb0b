// Speculative decoding through the public API (issue 20), on a tiny MLA
// model with real W_UK / W_UV absorption: each step verifies q_len = 4
// tokens per request (the last accepted one and 3 drafts) with
// MlaCache::begin_step(..., q_len), appends their latent rows, decodes, then
// keeps a random accepted prefix with truncate(); requests come and go.
// Every output, un-absorbed with W_UV, is checked in fp64, every step one
// head of each (request, token) against the non-absorbed naive reference
// and the rest against the absorbed one: query token i of a request of length L attends to
// its first L - (q_len - 1 - i) cached rows. Plain launches, and layers
// recorded once (an MlaCapacity with q_len 4) and replayed. At the end the
// pool holds no page.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>
#include <random>
#include <vector>

#include "dtype.hpp"
#include "harness/reference.hpp"
#include "zemla/zemla.hpp"

namespace {

constexpr int kLayers = 2, kHeads = 4, kRow = 576, kLatent = 512, kRope = 64, kQLen = 4;
constexpr int kPageSize = 16, kPages = 64, kSteps = 100;

std::vector<std::uint16_t> random_bf16(std::mt19937_64& rng, std::size_t n) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::uint16_t> v(n);
  for (auto& x : v) x = zemla::float_to_bf16(static_cast<float>(normal(rng)));
  return v;
}

zemla::Tensor upload(zemla::Runtime& rt, const std::vector<std::uint16_t>& v) {
  auto t = rt.allocate(v.size() * 2);
  t.upload(v.data(), v.size() * 2);
  return t;
}

class SpeculativeDecoding : public ::testing::TestWithParam<bool> {};

constexpr int kHeadDim = 16, kMaxBatch = 3, kMaxContext = 512;

TEST_P(SpeculativeDecoding, HundredVerifyStepsWithTruncationMatchTheNaiveReference) {
  const bool recorded = GetParam();
  zemla::Runtime runtime({"opencl", 0});
  std::optional<zemla::MlaCapacity> capacity;
  if (recorded) capacity = zemla::MlaCapacity{kMaxBatch, kMaxContext, kHeads, kQLen};
  zemla::MlaCache cache(runtime,
                        {{"--page-size", "16", "--speculative-algorithm", "NEXTN", "--speculative-num-draft-tokens",
                          "4", "--speculative-eagle-topk", "1"},
                         kLayers,
                         kPages},
                        capacity);
  std::mt19937_64 rng(20);
  std::normal_distribution<double> normal(0.0, 1.0);
  const float sm_scale = 1.0f / std::sqrt(float(kHeadDim + kRope));
  std::vector<std::vector<double>> w_uk(kLayers), w_uv(kLayers);  // [head][kHeadDim][512]
  for (int layer = 0; layer < kLayers; ++layer) {
    for (auto* m : {&w_uk[layer], &w_uv[layer]}) {
      m->resize(std::size_t(kHeads) * kHeadDim * kLatent);
      for (auto& x : *m) x = normal(rng) / std::sqrt(double(kLatent));
    }
  }
  const std::size_t rows_cap = std::size_t(kMaxBatch) * kQLen;
  auto rows_fixed = runtime.allocate(rows_cap * kRow * 2), qn_fixed = runtime.allocate(rows_cap * kHeads * kLatent * 2),
       qr_fixed = runtime.allocate(rows_cap * kHeads * kRope * 2),
       out_fixed = runtime.allocate(rows_cap * kHeads * kLatent * 2),
       lse_fixed = runtime.allocate(rows_cap * kHeads * 4);
  std::vector<zemla::MlaRecordedLayer> layers;
  for (int layer = 0; recorded && layer < kLayers; ++layer) {
    layers.push_back(cache.record_layer(layer, {&rows_fixed, &qn_fixed, &qr_fixed, &out_fixed, &lse_fixed}, sm_scale));
  }

  // Host shadow of each request's cached rows, per layer, as bf16 bits.
  std::map<std::int64_t, std::vector<std::vector<std::uint16_t>>> rows_of;
  std::int64_t next_id = 1;
  std::vector<std::int64_t> live;
  auto add = [&](int prompt) {
    const std::int64_t id = next_id++;
    cache.add_request(id);
    rows_of[id].assign(kLayers, {});
    auto prefill = cache.begin_prefill(id, prompt);
    for (int layer = 0; layer < kLayers; ++layer) {
      const auto rows = random_bf16(rng, std::size_t(prompt) * kRow);
      prefill.append(layer, upload(runtime, rows));
      rows_of[id][layer] = rows;
    }
    live.push_back(id);
  };
  for (int prompt : {1, 30, 17}) add(prompt);

  int checked = 0, naive_checked = 0, truncated_tokens = 0;
  double worst_ratio = 0;
  std::uniform_int_distribution<int> accepted_dist(1, kQLen);
  for (int step = 0; step < kSteps; ++step) {
    if (step % 25 == 24) {  // one request finishes, another arrives
      cache.release_request(live.front());
      rows_of.erase(live.front());
      live.erase(live.begin());
      add(3 + step % 40);
    }
    const int batch = static_cast<int>(live.size());
    auto zstep = cache.begin_step(live, kHeads, -1, kQLen);
    ASSERT_EQ(zstep.plan().q_len, kQLen);
    for (int layer = 0; layer < kLayers; ++layer) {
      const auto rows = random_bf16(rng, std::size_t(batch) * kQLen * kRow);
      for (int b = 0; b < batch; ++b) {
        auto& h = rows_of[live[b]][layer];
        h.insert(h.end(), rows.begin() + std::ptrdiff_t(b) * kQLen * kRow,
                 rows.begin() + std::ptrdiff_t(b + 1) * kQLen * kRow);
      }
      // Exact per-head queries of the model, absorbed with W_UK on the host
      // and rounded to bf16: [batch, q_len, heads, ...].
      const int query_rows = batch * kQLen * kHeads;
      std::vector<std::vector<double>> q_nope(query_rows), q_rope(query_rows);
      std::vector<std::uint16_t> qn(std::size_t(query_rows) * kLatent), qr(std::size_t(query_rows) * kRope);
      for (int r = 0; r < query_rows; ++r) {
        const int head = r % kHeads;
        q_nope[r].resize(kHeadDim);
        for (auto& x : q_nope[r]) x = normal(rng);
        const std::span<const double> uk(w_uk[layer].data() + std::size_t(head) * kHeadDim * kLatent,
                                         std::size_t(kHeadDim) * kLatent);
        const auto absorbed = zemla::reference::absorb_query(uk, kHeadDim, q_nope[r]);
        for (int c = 0; c < kLatent; ++c) qn[std::size_t(r) * kLatent + c] = zemla::float_to_bf16(float(absorbed[c]));
        q_rope[r].resize(kRope);
        for (int c = 0; c < kRope; ++c) {
          qr[std::size_t(r) * kRope + c] = zemla::float_to_bf16(float(normal(rng)));
          q_rope[r][c] = zemla::bf16_to_float(qr[std::size_t(r) * kRope + c]);
        }
      }
      std::vector<std::uint16_t> out(qn.size());
      if (recorded) {
        rows_fixed.upload(rows.data(), rows.size() * 2);
        qn_fixed.upload(qn.data(), qn.size() * 2);
        qr_fixed.upload(qr.data(), qr.size() * 2);
        zstep.replay(layers[layer]);
        out_fixed.download(out.data(), out.size() * 2);
      } else {
        auto rows_t = upload(runtime, rows), qn_t = upload(runtime, qn), qr_t = upload(runtime, qr);
        auto out_t = runtime.allocate(qn.size() * 2), lse_t = runtime.allocate(std::size_t(query_rows) * 4);
        if (layer == 0) {
          zstep.append(layer, rows_t);
          zstep.decode(layer, qn_t, qr_t, out_t, &lse_t, sm_scale);
        } else {
          zstep.append_decode(layer, rows_t, qn_t, qr_t, out_t, &lse_t, sm_scale);
        }
        out_t.download(out.data(), out.size() * 2);
      }
      for (int b = 0; b < batch; ++b) {
        const auto& h = rows_of[live[b]][layer];
        const int len = static_cast<int>(h.size() / kRow);
        ASSERT_EQ(len, cache.length(live[b]));
        std::vector<double> latent(h.size());
        for (std::size_t k = 0; k < h.size(); ++k) latent[k] = zemla::bf16_to_float(h[k]);
        for (int i = 0; i < kQLen; ++i) {
          for (int head = 0; head < kHeads; ++head) {
            const std::size_t r = (std::size_t(b) * kQLen + i) * kHeads + head;
            const std::span<const double> uk(w_uk[layer].data() + std::size_t(head) * kHeadDim * kLatent,
                                             std::size_t(kHeadDim) * kLatent);
            const std::span<const double> uv(w_uv[layer].data() + std::size_t(head) * kHeadDim * kLatent,
                                             std::size_t(kHeadDim) * kLatent);
            // Each step holds one head per (request, token) to the naive
            // reference (rotating), the others to the absorbed fp64 one on
            // the bf16 query zemla got: the naive one costs 15x more.
            const int visible = len - (kQLen - 1 - i);
            std::vector<double> ref;
            if (head == step % kHeads) {
              ref = zemla::reference::mla_naive_head(uk, uv, kHeadDim, q_nope[r], q_rope[r], latent, visible, sm_scale);
              ++naive_checked;
            } else {
              std::vector<double> q(kRow);
              for (int d = 0; d < kLatent; ++d) q[d] = zemla::bf16_to_float(qn[r * kLatent + d]);
              for (int d = 0; d < kRope; ++d) q[kLatent + d] = q_rope[r][d];
              ref = zemla::reference::unabsorb_output(
                  uv, kHeadDim, zemla::reference::mla_absorbed_head(q, latent, visible, sm_scale, nullptr));
            }
            std::vector<double> got_latent(kLatent);
            for (int c = 0; c < kLatent; ++c) got_latent[c] = zemla::bf16_to_float(out[r * kLatent + c]);
            const auto got = zemla::reference::unabsorb_output(uv, kHeadDim, got_latent);
            double err = 0, scale = 0;
            for (int d = 0; d < kHeadDim; ++d) {
              err = std::max(err, std::abs(got[d] - ref[d]));
              scale = std::max(scale, std::abs(ref[d]));
            }
            worst_ratio = std::max(worst_ratio, err / (0.01 * scale));
            // 1 % of max |ref|, as api.ServingEndToEnd (its header says why).
            ASSERT_LE(err, 0.01 * scale) << "step " << step << " layer " << layer << " request " << live[b] << " token "
                                         << i << " head " << head << " (length " << len << ")";
            ++checked;
          }
        }
      }
    }
    // Verification accepts a prefix of each request's 4 tokens.
    for (const auto id : live) {
      const int keep = accepted_dist(rng);
      const std::int64_t new_length = cache.length(id) - (kQLen - keep);
      cache.truncate(id, new_length);
      for (auto& h : rows_of[id]) h.resize(std::size_t(new_length) * kRow);
      truncated_tokens += kQLen - keep;
    }
    // Truncation ended the step: its handle is refused from now on.
    if (step == 0) {
      auto t = runtime.allocate(std::size_t(batch) * kQLen * kHeads * kLatent * 2);
      EXPECT_THROW(zstep.decode(0, t, t, t, nullptr, sm_scale), zemla::Error);
    }
  }
  for (const auto id : live) cache.release_request(id);
  EXPECT_EQ(cache.free_pages(), kPages) << "pages leaked";
  EXPECT_GT(truncated_tokens, kSteps);
  EXPECT_EQ(naive_checked * kHeads, checked);
  std::printf(
      "%s: checked %d head outputs (%d against the naive reference) over %d verify steps, %d draft tokens "
      "given back, worst err / (1%% max|ref|) = %.3f\n",
      recorded ? "recorded" : "plain", checked, naive_checked, kSteps, truncated_tokens, worst_ratio);
}

INSTANTIATE_TEST_SUITE_P(Launches, SpeculativeDecoding, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Recorded" : "Plain"; });

// A step beyond 8 tokens, or a truncate past the request's length, is
// refused by name and changes nothing.
TEST(SpeculativeDecodingLimits, RefusesBadTokenCountsAndLengths) {
  zemla::Runtime runtime({"opencl", 0});
  zemla::MlaCache cache(runtime, {{"--page-size", "16"}, 1, 8});
  cache.add_request(1);
  cache.begin_prefill(1, 5).append(0, upload(runtime, std::vector<std::uint16_t>(5 * kRow)));
  const std::int64_t ids[] = {1};
  try {
    cache.begin_step(ids, kHeads, -1, 9);
    ADD_FAILURE() << "q_len 9 accepted";
  } catch (const zemla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("q_len 9 must be 1 to 8"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.length(1), 5);
  try {
    cache.truncate(1, 6);
    ADD_FAILURE() << "a truncate past the length accepted";
  } catch (const zemla::Error& e) {
    EXPECT_NE(std::string(e.what()).find("new_length 6 of request 1 is outside [0, 5]"), std::string::npos) << e.what();
  }
  EXPECT_EQ(cache.length(1), 5);
  EXPECT_EQ(cache.free_pages(), 7);
}

}  // namespace
