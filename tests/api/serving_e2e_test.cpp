// End to end through the public API (zemla.hpp only, plus the host reference):
// a tiny random MLA model with real W_UK / W_UV absorption prefills prompts
// and runs 240 decode steps for requests that start and finish at different
// steps and cross page boundaries. Every step's output, after un-absorbing with W_UV, is checked
// against the non-absorbed naive reference computed from the definition.
//
// Tolerance per (request, head) output: max |err| <= 1% of max |ref|, and
// cos-sim over the step >= 0.9995. The inputs zemla sees are bf16 (the
// absorbed query W_UK^T q_nope and the cached latents are rounded once), the
// reference uses the exact query: bf16 rounding of 2^-9 relative on two
// inputs and the output bounds the error near 1%; a wrong token, page or
// softmax term gives errors of order 100%.

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dtype.hpp"
#include "fp8.hpp"
#include "harness/reference.hpp"
#include "staggered_requests.hpp"
#include "zemla/zemla.hpp"

namespace {

constexpr int kLayers = 2, kHeads = 4, kHeadDim = 32, kLatent = 512, kRope = 64, kRow = 576;
constexpr int kPageSize = 16, kPages = 96, kSteps = 240;
constexpr double kTolerance = 0.01;  // of max |ref| per head output (see the top)
const std::vector<std::string> kFlags = {
    "--decode-attention-backend", "intel_xpu", "--prefill-attention-backend", "triton", "--page-size", "16"};

using zemla::testing::StaggeredRequest;

struct LayerWeights {
  std::vector<double> w_uk, w_uv;  // [head][kHeadDim][512]
};

// Plain launches every step, or each layer recorded once and replayed
// (MlaCache::record_layer): the same requests, the same checks; with the
// model's bf16 cache, or an FP8 one (--kv-cache-dtype) with its own scale
// per layer, where the reference reads the values the cache holds (each row
// quantized as host/fp8.hpp's quantize_fp8, times the layer's scale).
struct ServingCase {
  bool recorded;
  std::string kv_cache_dtype;  // sglang's spelling
};

void PrintTo(const ServingCase& c, std::ostream* os) {
  *os << (c.recorded ? "recorded, " : "plain, ") << c.kv_cache_dtype;
}

class ServingEndToEnd : public ::testing::TestWithParam<ServingCase> {};

constexpr int kMaxBatch = 14, kMaxContext = 256;

TEST_P(ServingEndToEnd, PrefillAnd240DecodeStepsMatchTheNaiveMlaReference) {
  const bool recorded = GetParam().recorded;
  zemla::Runtime runtime({"opencl", 0});
  std::optional<zemla::MlaCapacity> capacity;
  if (recorded) capacity = zemla::MlaCapacity{kMaxBatch, kMaxContext, kHeads};
  auto flags = kFlags;
  flags.insert(flags.end(), {"--kv-cache-dtype", GetParam().kv_cache_dtype});
  zemla::MlaCache cache(runtime, {flags, kLayers, kPages}, capacity);
  ASSERT_EQ(cache.page_size(), kPageSize);
  const zemla::KvFormat kv_format = zemla::parse_kv_format(GetParam().kv_cache_dtype);
  ASSERT_EQ(cache.kv_cache_dtype(), zemla::is_fp8(kv_format) ? GetParam().kv_cache_dtype : "bf16");
  // Scales chosen so the rows' normal values use the format's range, one per layer.
  const std::vector<float> kv_scales = {kv_format == zemla::KvFormat::fp8_e4m3 ? 0.02f : 1.0f / 1024, 0.5f};
  for (int layer = 0; zemla::has_layer_scale(kv_format) && layer < kLayers; ++layer) {
    cache.set_kv_scale(layer, kv_scales[std::size_t(layer)]);
    ASSERT_EQ(cache.kv_scale(layer), kv_scales[std::size_t(layer)]);
  }
  if (kv_format == zemla::KvFormat::fp8_ds_mla) {
    try {
      cache.set_kv_scale(0, 0.5f);
      ADD_FAILURE() << "a layer scale for an fp8_ds_mla cache was accepted";
    } catch (const zemla::Error& e) {
      EXPECT_NE(std::string(e.what()).find("whose scales kv_append computes into each row"), std::string::npos)
          << e.what();
    }
  }
  // The value the cache holds for a bf16 input.
  const auto cached = [&](int layer, std::uint16_t x) -> double {
    if (!zemla::is_fp8(kv_format)) return zemla::bf16_to_float(x);
    const float scale = kv_scales[std::size_t(layer)];
    return double(
               zemla::fp8_to_float(kv_format, zemla::quantize_fp8(kv_format, zemla::bf16_to_float(x), 1.0f / scale))) *
           scale;
  };
  // The recorded layers' static tensors, shared by both layers: each replay
  // reads what was written just before it.
  auto rows_fixed = runtime.allocate(std::size_t(kMaxBatch) * kRow * 2);
  auto qn_fixed = runtime.allocate(std::size_t(kMaxBatch) * kHeads * kLatent * 2);
  auto qr_fixed = runtime.allocate(std::size_t(kMaxBatch) * kHeads * kRope * 2);
  auto out_fixed = runtime.allocate(std::size_t(kMaxBatch) * kHeads * kLatent * 2);
  auto lse_fixed = runtime.allocate(std::size_t(kMaxBatch) * kHeads * 4);
  const float sm_scale = 1.0f / std::sqrt(float(kHeadDim + kRope));
  std::vector<zemla::MlaRecordedLayer> layers;
  for (int layer = 0; recorded && layer < kLayers; ++layer) {
    layers.push_back(cache.record_layer(layer, {&rows_fixed, &qn_fixed, &qr_fixed, &out_fixed, &lse_fixed}, sm_scale));
  }

  std::mt19937_64 rng(11);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<LayerWeights> weights(kLayers);
  for (auto& w : weights) {
    for (auto* m : {&w.w_uk, &w.w_uv}) {
      m->resize(std::size_t(kHeads) * kHeadDim * kLatent);
      for (auto& x : *m) x = normal(rng) / std::sqrt(double(kLatent));
    }
  }
  // Staggered requests; lengths cross several 16-token pages, and some
  // requests run alone, some 8 at a time.
  std::vector<StaggeredRequest> requests;
  for (int i = 0; i < 14; ++i) requests.push_back({100 + i, (i * 17) % 150, (i * 23) % 41, 20 + (i * 37) % 90});

  // Host shadow of every cached row: [layer][request] -> rows as exact doubles.
  std::vector<std::map<std::int64_t, std::vector<double>>> history(kLayers);
  // Random bf16 latent rows for `count` tokens of `id`, recorded in the history.
  // An fp8_ds_mla row is quantized as a whole (a scale per 128 values):
  // the history holds what the kernels read back from it.
  auto new_rows = [&](int layer, std::int64_t id, int count) {
    std::vector<std::uint16_t> rows(std::size_t(count) * kRow);
    auto& h = history[layer][id];
    for (auto& x : rows) {
      x = zemla::float_to_bf16(static_cast<float>(normal(rng)));
      if (kv_format != zemla::KvFormat::fp8_ds_mla) h.push_back(cached(layer, x));
    }
    for (int t = 0; kv_format == zemla::KvFormat::fp8_ds_mla && t < count; ++t) {
      std::vector<std::uint8_t> stored(656);
      std::vector<std::uint16_t> read(kRow);
      zemla::quantize_ds_mla_row(&rows[std::size_t(t) * kRow], stored.data());
      zemla::dequantize_ds_mla_row(stored.data(), read.data());
      for (const auto v : read) h.push_back(zemla::bf16_to_float(v));
    }
    auto t = runtime.allocate(rows.size() * 2);
    t.upload(rows.data(), rows.size() * 2);
    return t;
  };
  int checked = 0, max_batch = 0;
  double worst_ratio = 0;

  for (int step = 0; step < kSteps; ++step) {
    const auto active = zemla::testing::requests_at_step(
        requests, step,
        [&](const StaggeredRequest& r) {
          cache.add_request(r.id);
          if (r.prompt > 0) {
            auto prefill = cache.begin_prefill(r.id, r.prompt);
            for (int layer = 0; layer < kLayers; ++layer) prefill.append(layer, new_rows(layer, r.id, r.prompt));
          }
        },
        [&](const StaggeredRequest& r) {
          cache.release_request(r.id);
          for (auto& h : history) h.erase(r.id);
        });
    if (active.empty()) continue;
    const int batch = static_cast<int>(active.size());
    max_batch = std::max(max_batch, batch);
    auto zstep = cache.begin_step(active, kHeads);
    ASSERT_EQ(zstep.plan().batch, batch);

    for (int layer = 0; layer < kLayers; ++layer) {
      const auto& w = weights[layer];
      // New latent row per request, bf16-exact so the reference sees what zemla stores.
      std::vector<std::uint16_t> rows(std::size_t(batch) * kRow);
      for (int b = 0; b < batch; ++b) {
        auto one = new_rows(layer, active[b], 1);
        one.download(rows.data() + std::size_t(b) * kRow, kRow * 2);
      }
      auto rows_t = runtime.allocate(rows.size() * 2);
      rows_t.upload(rows.data(), rows.size() * 2);
      // Plain launches: layer 0 appends then decodes, layer 1 uses the fused
      // append_decode (below); each reads rows the other form wrote earlier.
      const bool fused = layer % 2 == 1;
      if (recorded) {
        rows_fixed.upload(rows.data(), rows.size() * 2);
      } else if (!fused) {
        zstep.append(layer, rows_t);
      }

      // Queries: exact q_nope per head, absorbed on the host, rounded to bf16.
      std::vector<std::vector<double>> q_nope(std::size_t(batch) * kHeads), q_rope(q_nope.size());
      std::vector<std::uint16_t> qn(std::size_t(batch) * kHeads * kLatent), qr(std::size_t(batch) * kHeads * kRope);
      for (int bh = 0; bh < batch * kHeads; ++bh) {
        const int head = bh % kHeads;
        q_nope[bh].resize(kHeadDim);
        for (auto& x : q_nope[bh]) x = normal(rng);
        const std::span<const double> w_uk(w.w_uk.data() + std::size_t(head) * kHeadDim * kLatent,
                                           std::size_t(kHeadDim) * kLatent);
        const auto absorbed = zemla::reference::absorb_query(w_uk, kHeadDim, q_nope[bh]);
        for (int c = 0; c < kLatent; ++c) qn[bh * kLatent + c] = zemla::float_to_bf16(float(absorbed[c]));
        q_rope[bh].resize(kRope);
        for (int c = 0; c < kRope; ++c) {
          qr[bh * kRope + c] = zemla::float_to_bf16(float(normal(rng)));
          q_rope[bh][c] = zemla::bf16_to_float(qr[bh * kRope + c]);
        }
      }
      auto qn_t = runtime.allocate(qn.size() * 2), qr_t = runtime.allocate(qr.size() * 2);
      auto out_t = runtime.allocate(qn.size() * 2), lse_t = runtime.allocate(std::size_t(batch) * kHeads * 4);
      std::vector<std::uint16_t> out(qn.size());
      if (recorded) {
        qn_fixed.upload(qn.data(), qn.size() * 2);
        qr_fixed.upload(qr.data(), qr.size() * 2);
        zstep.replay(layers[layer]);
        out_fixed.download(out.data(), out.size() * 2);
      } else {
        qn_t.upload(qn.data(), qn.size() * 2);
        qr_t.upload(qr.data(), qr.size() * 2);
        if (fused) {
          zstep.append_decode(layer, rows_t, qn_t, qr_t, out_t, &lse_t, sm_scale);
        } else {
          zstep.decode(layer, qn_t, qr_t, out_t, &lse_t, sm_scale);
        }
        out_t.download(out.data(), out.size() * 2);
      }

      double dot = 0, n_got = 0, n_ref = 0;
      for (int bh = 0; bh < batch * kHeads; ++bh) {
        const int b = bh / kHeads, head = bh % kHeads;
        const auto& rows_hist = history[layer][active[b]];
        const int len = static_cast<int>(rows_hist.size() / kRow);
        ASSERT_EQ(len, cache.length(active[b]));
        const std::span<const double> w_uk(w.w_uk.data() + std::size_t(head) * kHeadDim * kLatent,
                                           std::size_t(kHeadDim) * kLatent);
        const std::span<const double> w_uv(w.w_uv.data() + std::size_t(head) * kHeadDim * kLatent,
                                           std::size_t(kHeadDim) * kLatent);
        const auto ref =
            zemla::reference::mla_naive_head(w_uk, w_uv, kHeadDim, q_nope[bh], q_rope[bh], rows_hist, len, sm_scale);
        std::vector<double> latent(kLatent);
        for (int c = 0; c < kLatent; ++c) latent[c] = zemla::bf16_to_float(out[bh * kLatent + c]);
        const auto got = zemla::reference::unabsorb_output(w_uv, kHeadDim, latent);
        double err = 0, scale = 0;
        for (int d = 0; d < kHeadDim; ++d) {
          err = std::max(err, std::abs(got[d] - ref[d]));
          scale = std::max(scale, std::abs(ref[d]));
          dot += got[d] * ref[d];
          n_got += got[d] * got[d];
          n_ref += ref[d] * ref[d];
        }
        worst_ratio = std::max(worst_ratio, err / (kTolerance * scale));
        ASSERT_LE(err, kTolerance * scale) << "step " << step << " layer " << layer << " request " << active[b]
                                           << " head " << head << " (length " << len << ")";
        ++checked;
      }
      ASSERT_GE(dot / std::sqrt(n_got * n_ref), 0.9995) << "step " << step << " layer " << layer;
    }
  }
  EXPECT_EQ(cache.free_pages(), kPages) << "every finished request returned its pages";
  EXPECT_GE(max_batch, 6);
  RecordProperty("checked_head_outputs", checked);
  std::printf("%s: checked %d head outputs over %d steps, max batch %d, worst err / (1%% max|ref|) = %.3f\n",
              recorded ? "recorded" : "plain", checked, kSteps, max_batch, worst_ratio);
}

INSTANTIATE_TEST_SUITE_P(Launches, ServingEndToEnd,
                         ::testing::Values(ServingCase{false, "auto"}, ServingCase{true, "auto"},
                                           ServingCase{false, "fp8_e4m3"}, ServingCase{true, "fp8_e5m2"},
                                           ServingCase{true, "fp8_ds_mla"}),
                         [](const auto& info) {
                           return std::string(info.param.recorded ? "Recorded" : "Plain") +
                                  (info.param.kv_cache_dtype == "auto" ? "" : "_" + info.param.kv_cache_dtype);
                         });

// A fixed capacity refuses a step beyond it before the pool changes, and
// recording needs one.
TEST(ServingEndToEndCapacity, RefusesAStepBeyondTheCapacityAndLeavesThePoolUnchanged) {
  zemla::Runtime runtime({"opencl", 0});
  zemla::MlaCache cache(runtime, {kFlags, 1, 16}, zemla::MlaCapacity{2, 40, kHeads});
  for (std::int64_t id : {1, 2, 3}) cache.add_request(id);
  const std::vector<std::int64_t> three{1, 2, 3}, one{1};
  auto expect_error = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one naming: " << needle;
    } catch (const zemla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([&] { cache.begin_step(three, kHeads); },
               "the step has 3 requests; the cache's capacity.max_batch is 2");
  expect_error([&] { cache.begin_step(one, 8); }, "heads 8 differs from the cache's capacity.heads 4");
  expect_error([&] { cache.begin_prefill(1, 41); },
               "request 1 would hold 41 tokens; the cache's capacity.max_context_len is 40");
  EXPECT_EQ(cache.length(1), 0);
  EXPECT_EQ(cache.free_pages(), 16);
  cache.begin_prefill(1, 40);
  expect_error([&] { cache.begin_step(std::vector<std::int64_t>{2, 1}, kHeads); }, "request 1 would hold 41 tokens");
  EXPECT_EQ(cache.length(2), 0) << "a refused step reserves nothing";

  zemla::MlaCache growing(runtime, {kFlags, 1, 16});
  auto t = runtime.allocate(64);
  expect_error(
      [&] {
        growing.record_layer(0, {&t, &t, &t, &t, nullptr}, 0.1f);
      },
      "recording needs a cache made with an MlaCapacity");
  // Tensors are checked against the largest step when recorded.
  auto rows = runtime.allocate(2 * kRow * 2);
  auto q_nope = runtime.allocate(2 * kHeads * kLatent * 2), q_rope = runtime.allocate(2 * kHeads * kRope * 2);
  auto out = runtime.allocate(2 * kHeads * kLatent * 2);
  auto t2 = runtime.allocate(64), t3 = runtime.allocate(64);
  expect_error([&] { cache.record_layer(0, {&rows, &t, &t2, &t3, nullptr}, 0.1f); }, "q_nope holds 64 bytes");
  expect_error(
      [&] {
        cache.record_layer(0, {&t, &q_nope, &q_rope, &out, nullptr}, 0.1f);
      },
      "new_rows holds 64 bytes; its shape and strides need " + std::to_string(2 * kRow * 2));
  cache.record_layer(0, {&rows, &q_nope, &q_rope, &out, nullptr}, 0.1f);
}

// One step (and one prompt) at a time per cache: a handle that a later
// begin_step or begin_prefill replaced is refused, because its slots now
// belong to the newer one (it used to write request 1's row into request
// 2's slot and report success).
TEST(ServingEndToEndCapacity, StaleStepsAndPrefillsAreRefused) {
  zemla::Runtime runtime({"opencl", 0});
  zemla::MlaCache cache(runtime, {kFlags, 1, 16});
  for (std::int64_t id : {1, 2}) cache.add_request(id);
  auto rows = runtime.allocate(8 * kRow * 2);
  auto q_nope = runtime.allocate(kHeads * kLatent * 2), q_rope = runtime.allocate(kHeads * kRope * 2);
  auto out = runtime.allocate(kHeads * kLatent * 2);
  const auto expect_stale = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one naming: " << needle;
    } catch (const zemla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto first_prompt = cache.begin_prefill(1, 5);
  auto second_prompt = cache.begin_prefill(2, 5);
  expect_stale([&] { first_prompt.append(0, rows); }, "this prefill is stale");
  second_prompt.append(0, rows);

  const std::vector<std::int64_t> one{1}, two{2};
  auto first = cache.begin_step(one, kHeads);
  auto second = cache.begin_step(two, kHeads);
  expect_stale([&] { first.append(0, rows); },
               "MlaStep::append failed: ZEMLA_ERROR_INVALID_ARGUMENT: this step is stale");
  expect_stale([&] { first.decode(0, q_nope, q_rope, out, nullptr, 0.1f); }, "this step is stale");
  expect_stale([&] { first.append_decode(0, rows, q_nope, q_rope, out, nullptr, 0.1f); }, "this step is stale");
  second.append_decode(0, rows, q_nope, q_rope, out, nullptr, 0.1f);
  // A refused begin_step changes nothing, so the live step stays live.
  expect_stale([&] { cache.begin_step(one, 0); }, "heads");
  second.decode(0, q_nope, q_rope, out, nullptr, 0.1f);
}

// Outputs that alias each other or an input, and tensors of another
// Runtime, are refused before anything runs (issue 22, item 5): lse = out
// used to be accepted and corrupted both. A refused call changes nothing:
// the step then runs and its request grows by one token only.
TEST(ServingEndToEndCapacity, AliasedOrForeignTensorsAreRefused) {
  zemla::Runtime runtime({"opencl", 0});
  zemla::Runtime other({"opencl", 0});
  zemla::MlaCache cache(runtime, {kFlags, 1, 16}, zemla::MlaCapacity{1, 40, kHeads});
  cache.add_request(1);
  auto rows = runtime.allocate(kRow * 2);
  auto q_nope = runtime.allocate(kHeads * kLatent * 2), q_rope = runtime.allocate(kHeads * kRope * 2);
  auto out = runtime.allocate(kHeads * kLatent * 2), lse = runtime.allocate(kHeads * 4);
  auto foreign = other.allocate(kHeads * kLatent * 2);
  const auto expect_refused = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error; expected one naming: " << needle;
    } catch (const zemla::Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  const std::vector<std::int64_t> one{1};
  auto step = cache.begin_step(one, kHeads);
  expect_refused([&] { step.decode(0, q_nope, q_rope, out, &out, 0.1f); }, "out and lse are the same tensor");
  expect_refused([&] { step.decode(0, q_nope, q_rope, q_nope, &lse, 0.1f); }, "out and q_nope are the same tensor");
  expect_refused([&] { step.append_decode(0, out, q_nope, q_rope, out, &lse, 0.1f); },
                 "out and rows are the same tensor");
  expect_refused([&] { step.decode(0, foreign, q_rope, out, &lse, 0.1f); },
                 "q_nope was allocated by another zemla::Runtime");
  expect_refused([&] { step.append(0, foreign); }, "rows was allocated by another zemla::Runtime");
  expect_refused(
      [&] {
        cache.record_layer(0, {&rows, &q_nope, &q_rope, &lse, &lse}, 0.1f);
      },
      "out and lse are the same tensor");
  expect_refused(
      [&] {
        cache.record_layer(0, {&rows, &q_nope, &foreign, &out, &lse}, 0.1f);
      },
      "q_rope was allocated by another zemla::Runtime");
  step.append_decode(0, rows, q_nope, q_rope, out, &lse, 0.1f);
  EXPECT_EQ(cache.length(1), 1);
}

// A begin_step that fails after its checks, here on the workspace
// allocation for an absurd head count (a forced device failure), leaves
// every request as it was: it used to grow the request by a token each time.
TEST(ServingEndToEndCapacity, AFailedBeginStepLeavesTheRequestsUnchanged) {
  zemla::Runtime runtime({"opencl", 0});
  zemla::MlaCache cache(runtime, {kFlags, 1, 16});
  cache.add_request(3);
  cache.begin_prefill(3, 20);
  const std::vector<std::int64_t> three{3};
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      cache.begin_step(three, 1 << 30);
      ADD_FAILURE() << "a 2^30-head workspace was allocated";
    } catch (const zemla::Error& e) {
      EXPECT_NE(std::string(e.what()).find("clCreateBuffer"), std::string::npos) << e.what();
      // Memory the device cannot give: ZEMLA_STATUS_OUT_OF_RESOURCES in C (issue 22, item 13).
      EXPECT_EQ(e.kind(), zemla::ErrorKind::out_of_resources) << e.what();
    }
  }
  EXPECT_EQ(cache.length(3), 20);
  EXPECT_EQ(cache.free_pages(), 14);  // 20 tokens on pages of 16
  auto step = cache.begin_step(three, kHeads);
  EXPECT_EQ(step.plan().seqlens, std::vector<std::int32_t>{21});
}

// sglang's --enable-deterministic-inference on the cache (issue 18): a
// request decodes to the same bits alone and among seven neighbours, with a
// growing cache and with a fixed capacity, because its splits depend on its
// own length only. Without the switch the planner's splits follow the batch
// and the bits change, so the test can fail.
std::vector<std::uint16_t> decode_request_one(zemla::Runtime& runtime, const std::vector<std::string>& flags,
                                              bool fixed, const std::vector<int>& neighbour_lengths) {
  constexpr int kPool = 640, kLength = 2999;  // pages of 16 for about 8000 tokens
  std::optional<zemla::MlaCapacity> capacity;
  if (fixed) capacity = zemla::MlaCapacity{8, kLength + 1, kHeads};
  zemla::MlaCache cache(runtime, {flags, 1, kPool}, capacity);
  std::vector<std::int64_t> ids{1};
  std::vector<int> lengths{kLength};
  for (std::size_t i = 0; i < neighbour_lengths.size(); ++i) {
    ids.push_back(static_cast<std::int64_t>(i) + 2);
    lengths.push_back(neighbour_lengths[i]);
  }
  for (std::size_t r = 0; r < ids.size(); ++r) {
    cache.add_request(ids[r]);
    auto prompt = runtime.allocate(std::size_t(lengths[r]) * kRow * 2);
    const auto rows = zemla::testing::seeded_bf16(ids[r], std::size_t(lengths[r]) * kRow, 1);
    prompt.upload(rows.data(), rows.size() * 2);
    cache.begin_prefill(ids[r], lengths[r]).append(0, prompt);
  }
  std::vector<std::uint16_t> new_rows, q_nope, q_rope;
  for (const auto id : ids) {
    const auto row = zemla::testing::seeded_bf16(id, kRow, 2),
               qn = zemla::testing::seeded_bf16(id, kHeads * kLatent, 3),
               qr = zemla::testing::seeded_bf16(id, kHeads * kRope, 4);
    new_rows.insert(new_rows.end(), row.begin(), row.end());
    q_nope.insert(q_nope.end(), qn.begin(), qn.end());
    q_rope.insert(q_rope.end(), qr.begin(), qr.end());
  }
  const auto upload = [&](const std::vector<std::uint16_t>& v) {
    auto t = runtime.allocate(v.size() * 2);
    t.upload(v.data(), v.size() * 2);
    return t;
  };
  auto rows_t = upload(new_rows), qn_t = upload(q_nope), qr_t = upload(q_rope);
  auto out = runtime.allocate(ids.size() * kHeads * kLatent * 2);
  auto step = cache.begin_step(ids, kHeads);
  step.append_decode(0, rows_t, qn_t, qr_t, out, nullptr, 0.0625f);
  std::vector<std::uint16_t> first(kHeads * kLatent);
  out.download(first.data(), first.size() * 2);
  return first;
}

TEST(ServingDeterministic, ARequestGivesTheSameBitsWhateverTheBatch) {
  zemla::Runtime runtime({"opencl", 0});
  auto deterministic = kFlags;
  deterministic.push_back("--enable-deterministic-inference");
  const std::vector<int> neighbours{40, 1500, 7, 900, 2200, 64, 333};
  const auto alone = decode_request_one(runtime, deterministic, false, {});
  EXPECT_EQ(decode_request_one(runtime, deterministic, false, neighbours), alone) << "among neighbours";
  EXPECT_EQ(decode_request_one(runtime, deterministic, true, neighbours), alone) << "with a fixed capacity";
  // The planner's own splits follow the batch: the same request differs.
  EXPECT_NE(decode_request_one(runtime, kFlags, false, neighbours), decode_request_one(runtime, kFlags, false, {}))
      << "without the switch the batch should change the bits (the test could not fail)";
}

// Distinct Runtimes may be made from different threads (the header's
// rule). PoCL's own device discovery races when two threads enter it at
// once, which zemla reported as "0 devices found"; zemla serialises it.
TEST(RuntimeThreads, TwoRuntimesMadeAtOnceBothOpenTheDevice) {
  for (int round = 0; round < 20; ++round) {
    std::string errors[2];
    std::thread threads[2];
    for (int t = 0; t < 2; ++t) {
      threads[t] = std::thread([&errors, t] {
        try {
          zemla::Runtime runtime({"opencl", 0});
          if (runtime.device().name.empty()) errors[t] = "no device name";
        } catch (const std::exception& e) {
          errors[t] = e.what();
        }
      });
    }
    for (auto& th : threads) th.join();
    ASSERT_EQ(errors[0] + errors[1], "") << "round " << round;
  }
}

}  // namespace
