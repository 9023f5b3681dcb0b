// Speculative decoding through the public API (issue 20): each step verifies
// q_len = 4 tokens per request (the last accepted one and 3 drafts) with
// MlaCache::begin_step(..., q_len), appends their latent rows, decodes, then
// keeps a random accepted prefix with truncate(); requests come and go. Every
// output row is checked against the fp64 reference of the definition: query
// token i of a request of length L attends to its first L - (q_len - 1 - i)
// cached rows. At the end the pool holds no page.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <vector>

#include "dtype.hpp"
#include "harness/reference.hpp"
#include "zemla/zemla.hpp"

namespace {

constexpr int kLayers = 2, kHeads = 8, kRow = 576, kLatent = 512, kRope = 64, kQLen = 4;
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

TEST(SpeculativeDecoding, HundredVerifyStepsWithTruncationMatchTheCausalReference) {
  zemla::Runtime runtime({"opencl", 0});
  zemla::MlaCache cache(runtime, {{"--page-size", "16", "--speculative-algorithm", "NEXTN",
                                   "--speculative-num-draft-tokens", "4", "--speculative-eagle-topk", "1"},
                                  kLayers,
                                  kPages});
  std::mt19937_64 rng(20);
  const float sm_scale = 0.0721687836f;
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

  int checked = 0, truncated_tokens = 0;
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
      const auto qn = random_bf16(rng, std::size_t(batch) * kQLen * kHeads * kLatent);
      const auto qr = random_bf16(rng, std::size_t(batch) * kQLen * kHeads * kRope);
      auto rows_t = upload(runtime, rows), qn_t = upload(runtime, qn), qr_t = upload(runtime, qr);
      auto out_t = runtime.allocate(qn.size() * 2), lse_t = runtime.allocate(std::size_t(batch) * kQLen * kHeads * 4);
      if (layer == 0) {
        zstep.append(layer, rows_t);
        zstep.decode(layer, qn_t, qr_t, out_t, &lse_t, sm_scale);
      } else {
        zstep.append_decode(layer, rows_t, qn_t, qr_t, out_t, &lse_t, sm_scale);
      }
      std::vector<std::uint16_t> out(qn.size());
      std::vector<float> lse(std::size_t(batch) * kQLen * kHeads);
      out_t.download(out.data(), out.size() * 2);
      lse_t.download(lse.data(), lse.size() * 4);
      for (int b = 0; b < batch; ++b) {
        const auto& h = rows_of[live[b]][layer];
        const int len = static_cast<int>(h.size() / kRow);
        ASSERT_EQ(len, cache.length(live[b]));
        std::vector<double> latent(h.size());
        for (std::size_t k = 0; k < h.size(); ++k) latent[k] = zemla::bf16_to_float(h[k]);
        for (int i = 0; i < kQLen; ++i) {
          for (int head = 0; head < kHeads; ++head) {
            const std::size_t row = (std::size_t(b) * kQLen + i) * kHeads + head;
            std::vector<double> q(kRow);
            for (int d = 0; d < kLatent; ++d) q[d] = zemla::bf16_to_float(qn[row * kLatent + d]);
            for (int d = 0; d < kRope; ++d) q[kLatent + d] = zemla::bf16_to_float(qr[row * kRope + d]);
            double ref_lse = 0;
            const auto ref = zemla::reference::mla_absorbed_head(q, latent, len - (kQLen - 1 - i), sm_scale, &ref_lse);
            double err = 0, scale = 0;
            for (int c = 0; c < kLatent; ++c) {
              err = std::max(err, std::abs(zemla::bf16_to_float(out[row * kLatent + c]) - ref[c]));
              scale = std::max(scale, std::abs(ref[c]));
            }
            ASSERT_LE(err, 0.01 * scale) << "step " << step << " layer " << layer << " request " << live[b] << " token "
                                         << i << " head " << head << " (length " << len << ")";
            ASSERT_NEAR(lse[row], ref_lse, 1e-3) << "step " << step << " token " << i;
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
      std::vector<std::uint16_t> q(std::size_t(batch) * kQLen * kHeads * kLatent);
      auto t = upload(runtime, q);
      EXPECT_THROW(zstep.decode(0, t, t, t, nullptr, sm_scale), zemla::Error);
    }
  }
  for (const auto id : live) cache.release_request(id);
  EXPECT_EQ(cache.free_pages(), kPages) << "pages leaked";
  EXPECT_GT(truncated_tokens, kSteps);
  std::printf("checked %d rows over %d verify steps; %d draft tokens given back\n", checked, kSteps, truncated_tokens);
}

// A step beyond 8 tokens, or a truncate past the request's length, is
// refused by name and changes nothing.
TEST(SpeculativeDecoding, RefusesBadTokenCountsAndLengths) {
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
