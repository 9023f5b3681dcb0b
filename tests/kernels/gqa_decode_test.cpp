// GQA / MQA / MHA paged decode against the fp64 reference (host/reference
// gqa_decode) under the tolerances of harness/compare.hpp, on every CPU runtime suite:
// head_dim 64/128/256, query heads per KV head 1/4/8, bf16/fp16, page sizes
// 64/128, soft-capping and sliding windows, forced splits (stage 2), empty
// requests, page edges and shuffled pages.

#include "ops/gqa/gqa_decode.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/gqa_problem.hpp"
#include "harness/gqa_runner.hpp"
#include "kernels/device_fixture.hpp"
#include "kernels/mla_cases.hpp"
#include "runtime/recording.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

struct GqaCase {
  std::string name;
  DType dtype;
  int q_heads, kv_heads, head_dim, page_size, splits;
  std::vector<std::int32_t> seqlens;
  float softcap = 0;
  int window_left = -1;
};

void PrintTo(const GqaCase& c, std::ostream* os) { *os << c.name; }

// bf16 takes the full dims x groups cross; fp16, whose conversions are the
// only other difference, a diagonal of it (each dim and group once), so the
// suite stays within CI's time on three runtimes.
std::vector<GqaCase> matrix() {
  std::vector<GqaCase> cases;
  const auto name = [](DType dt, int dim, int hq, int hkv) {
    return std::string(dtype_name(dt)) + "_d" + std::to_string(dim) + "_q" + std::to_string(hq) + "kv" +
           std::to_string(hkv);
  };
  for (int dim : {64, 128, 256}) {
    for (auto [hq, hkv] : {std::pair{8, 8}, std::pair{8, 2}, std::pair{8, 1}}) {
      const std::string n = name(DType::bf16, dim, hq, hkv);
      cases.push_back({n + "_edges_p64", DType::bf16, hq, hkv, dim, 64, -1, {0, 1, 63, 64, 65, 200}});
      cases.push_back({n + "_split_p128", DType::bf16, hq, hkv, dim, 128, 5, {700, 129, 3}});
    }
  }
  cases.push_back({name(DType::f16, 64, 8, 2) + "_edges_p64", DType::f16, 8, 2, 64, 64, -1, {0, 1, 63, 64, 65, 200}});
  cases.push_back({name(DType::f16, 128, 8, 1) + "_split_p128", DType::f16, 8, 1, 128, 128, 5, {700, 129, 3}});
  cases.push_back({name(DType::f16, 256, 8, 8) + "_edges_p64", DType::f16, 8, 8, 256, 64, -1, {1, 64, 65}});
  for (DType dt : {DType::bf16, DType::f16}) {
    const std::string d(dtype_name(dt));
    cases.push_back({d + "_softcap", dt, 8, 2, 128, 64, -1, {500, 37}, 5.0f});
    cases.push_back({d + "_window", dt, 4, 1, 128, 64, 3, {1000, 40, 200}, 0.0f, 99});
    cases.push_back({d + "_window0_softcap", dt, 4, 4, 64, 128, -1, {300, 1}, 30.0f, 0});
  }
  cases.push_back({"bf16_long_mixed", DType::bf16, 8, 1, 128, 128, -1, {20000, 5, 130}});
  cases.push_back({"bf16_all_empty", DType::bf16, 4, 2, 64, 64, -1, {0, 0}});
  return cases;
}

class GqaDecodeNumerics : public ::testing::TestWithParam<GqaCase> {};

TEST_P(GqaDecodeNumerics, MatchesReferenceWithinTolerance) {
  const GqaCase& c = GetParam();
  RandomGqaSpec spec;
  spec.dtype = c.dtype;
  spec.q_heads = c.q_heads;
  spec.kv_heads = c.kv_heads;
  spec.head_dim = c.head_dim;
  spec.page_size = c.page_size;
  spec.seqlens = c.seqlens;
  spec.softcap = c.softcap;
  spec.window_left = c.window_left;
  spec.seed = std::hash<std::string>{}(c.name);
  const auto problem = make_random_gqa_problem(spec);
  const auto outcome = ops::run_gqa_problem(testing::test_device(), problem, {c.splits, 0, 0, true});
  expect_the_suites_binary(outcome);
  if (c.splits > 1) {
    ASSERT_TRUE(outcome.plan.needs_combine) << "the case must exercise stage 2";
  }
  const auto cmp = compare_with_reference(outcome.result, reference::gqa_decode(problem), c.dtype, c.head_dim, true);
  EXPECT_TRUE(cmp.pass) << cmp.failure << " (max abs err " << cmp.max_abs_error << ", 1-cos " << cmp.cosine_distance
                        << ", splits " << outcome.plan.total_splits() << ")";
  expect_empty_requests_zero(outcome.result, problem.seqlens, problem.q_heads, problem.head_dim);
}

INSTANTIATE_TEST_SUITE_P(Matrix, GqaDecodeNumerics, ::testing::ValuesIn(matrix()),
                         [](const auto& info) { return info.param.name; });

// The check can fail: the window and the soft cap change the answer, so a
// kernel that ignored either would be caught.
TEST(GqaDecodeNumericsSelfCheck, IgnoringTheWindowOrTheCapWouldBeCaught) {
  RandomGqaSpec spec;
  spec.q_heads = 4;
  spec.kv_heads = 1;
  spec.seqlens = {400};
  spec.window_left = 50;
  spec.softcap = 2.0f;
  auto problem = make_random_gqa_problem(spec);
  const auto outcome = ops::run_gqa_problem(testing::test_device(), problem, {-1, 0, 0, true});
  EXPECT_TRUE(compare_with_reference(outcome.result, reference::gqa_decode(problem), DType::bf16, 128, true).pass);
  auto no_window = problem;
  no_window.window_left = -1;
  EXPECT_FALSE(compare_with_reference(outcome.result, reference::gqa_decode(no_window), DType::bf16, 128, true).pass);
  auto no_cap = problem;
  no_cap.softcap = 0;
  EXPECT_FALSE(compare_with_reference(outcome.result, reference::gqa_decode(no_cap), DType::bf16, 128, true).pass);
}

// Non-finite inputs (issue 22, item 2), as for MLA: a NaN query row, or
// a NaN or infinity in a request's V or K, makes that request's output
// non-finite and its LSE never -inf (an empty request's signature), one
// split or several; the other request is untouched.
TEST(GqaDecodeSpecials, ANonFiniteInputMakesItsRequestNonFiniteAndNoOther) {
  enum Where { query, k_cache, v_cache };
  for (const Where where : {query, k_cache, v_cache}) {
    for (const float value : {NAN, INFINITY}) {
      SCOPED_TRACE(std::to_string(int(where)) + " " + std::to_string(value));
      RandomGqaSpec spec;
      spec.q_heads = 4;
      spec.kv_heads = 2;
      spec.head_dim = 64;
      spec.seqlens = {300, 70};
      auto p = make_random_gqa_problem(spec);
      const auto ref = reference::gqa_decode(p);
      const std::size_t row = std::size_t(p.page_table[0]) * p.page_size + 5;  // request 0, token 5
      const std::uint16_t bits = from_float(p.dtype, value);
      if (where == query) p.q[0 * p.head_dim + 9] = bits;                         // request 0, head 0
      if (where == k_cache) p.k_cache[row * p.kv_heads * p.head_dim + 9] = bits;  // kv head 0
      if (where == v_cache) p.v_cache[row * p.kv_heads * p.head_dim + 9] = bits;
      for (int splits : {1, 5}) {
        SCOPED_TRACE("splits " + std::to_string(splits));
        const auto outcome = ops::run_gqa_problem(testing::test_device(), p, {splits, 0, 0, true});
        const std::size_t per_request = std::size_t(p.q_heads) * p.head_dim;
        int non_finite = 0;
        for (std::size_t i = 0; i < per_request; ++i) non_finite += !std::isfinite(outcome.result.out[i]);
        EXPECT_GT(non_finite, 0) << "request 0's output is all finite";
        EXPECT_NE(outcome.result.lse[0], -INFINITY) << "request 0, head 0 reads as an empty request";
        for (std::size_t i = per_request; i < 2 * per_request; ++i) {
          ASSERT_TRUE(std::isfinite(outcome.result.out[i])) << i;
          EXPECT_NEAR(outcome.result.out[i], ref.out[i], 0.05) << i;
        }
      }
    }
  }
}

TEST(GqaDecodeChecks, BadArgumentsAreRefusedNamingTheValue) {
  RandomGqaSpec spec;
  spec.seqlens = {10};
  auto expect_error = [](reference::GqaProblem p, const std::string& needle) {
    try {
      ops::run_gqa_problem(testing::test_device(), p, {-1, 0, 0, true});
      ADD_FAILURE() << "no error; expected " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  spec.page_size = 32;
  expect_error(make_random_gqa_problem(spec), "page_size 32 is not a non-MLA decode page size");
  spec.page_size = 64;
  spec.head_dim = 96;
  expect_error(make_random_gqa_problem(spec), "head_dim 96 must be 64, 128 or 256");
  spec.head_dim = 128;
  spec.q_heads = 16;
  expect_error(make_random_gqa_problem(spec), "q_heads / kv_heads = 16 exceeds 8");
  spec.q_heads = 6;
  spec.kv_heads = 4;
  expect_error(make_random_gqa_problem(spec), "q_heads 6 must be a positive multiple of kv_heads 4");
  spec.q_heads = 8;
  spec.kv_heads = 1;
  auto p = make_random_gqa_problem(spec);
  p.window_left = -2;
  expect_error(p, "window_left -2");
  p.window_left = -1;
  p.softcap = -1;
  expect_error(p, "softcap");
}

// GQA layers record and replay like MLA's (SplitKvDecoder): one recording,
// bound for the largest step, replayed over steps whose batch, lengths and
// split plan change, each giving exactly the plain launches' bits. Plain
// runs on other buffers sit between the replays, so a recording that
// followed the kernel's current arguments would fail.
TEST(GqaRecordedDecode, ReplaysGiveThePlainLaunchesBitsAsStepsChange) {
  rt::Device& device = testing::test_device();
  constexpr int kMaxBatch = 3, kQ = 8, kKv = 2, kDim = 128, kPage = 64, kMaxPages = 8;  // 512 tokens
  constexpr int kPool = kMaxBatch * kMaxPages + 2;                                      // the problems' 2 spare pages
  constexpr std::size_t kTokenValues = std::size_t(kKv) * kDim;
  ops::GqaDecoder decoder(device, DType::bf16);
  const auto capacity = decoder.capacity(kMaxBatch, kMaxPages * kPage, kQ, kKv, kDim);
  auto q = device.allocate(std::size_t(kMaxBatch) * kQ * kDim * 2);
  auto k = device.allocate(std::size_t(kPool) * kPage * kTokenValues * 2);
  auto v = device.allocate(std::size_t(kPool) * kPage * kTokenValues * 2);
  auto table = device.allocate(std::size_t(kMaxBatch) * kMaxPages * 4);
  auto out = device.allocate(std::size_t(kMaxBatch) * kQ * kDim * 2);
  auto lse = device.allocate(std::size_t(kMaxBatch) * kQ * 4);
  auto workspace = device.allocate(capacity.largest.layout.total);
  rt::LaunchCounts counts(device, ops::SplitKvDecoder::kCountSlots);

  ops::GqaDecodeArgs a;
  a.batch = kMaxBatch;
  a.q_heads = kQ;
  a.kv_heads = kKv;
  a.head_dim = kDim;
  a.sm_scale = 1.0f / std::sqrt(float(kDim));
  a.num_pages = kPool;
  a.page_size = kPage;
  a.max_pages = kMaxPages;
  a.set_contiguous_strides();
  a.q = q.get();
  a.k_cache = k.get();
  a.v_cache = v.get();
  a.page_table = table.get();
  a.out = out.get();
  a.lse = lse.get();
  auto recorder = device.record();
  decoder.record(*recorder, counts, a, capacity, *workspace);
  const auto recording = recorder->close();

  bool some_combined = false, some_single = false;
  const std::vector<std::vector<std::int32_t>> steps = {{500, 17, 1}, {5}, {512, 400, 64}, {63, 64, 65}};
  for (std::size_t s = 0; s < steps.size(); ++s) {
    SCOPED_TRACE("step " + std::to_string(s));
    RandomGqaSpec spec;
    spec.q_heads = kQ;
    spec.kv_heads = kKv;
    spec.head_dim = kDim;
    spec.page_size = kPage;
    spec.seqlens = steps[s];
    spec.seed = 300 + s;
    const auto p = make_random_gqa_problem(spec);
    ASSERT_TRUE(p.num_pages <= kPool && p.max_pages <= kMaxPages);
    std::vector<std::int32_t> fixed_table(std::size_t(p.batch) * kMaxPages, -1);
    for (int b = 0; b < p.batch; ++b) {
      std::copy_n(p.page_table.begin() + std::size_t(b) * p.max_pages, p.max_pages,
                  fixed_table.begin() + std::size_t(b) * kMaxPages);
    }
    device.write_vector(*q, p.q);
    device.write_vector(*k, p.k_cache);
    device.write_vector(*v, p.v_cache);
    device.write_vector(*table, fixed_table);
    const DecodePlan plan = decoder.plan(p.seqlens, kQ, kKv, kDim, -1, capacity);
    decoder.upload_plan(plan, *workspace);
    ops::SplitKvDecoder::set_counts(counts, plan);
    counts.upload();
    recording->replay();
    const auto plain = ops::run_gqa_problem(device, p, {-1, 0, 0, true});
    device.finish();
    some_combined = some_combined || plan.needs_combine;
    some_single = some_single || !plan.needs_combine;

    std::vector<std::uint16_t> out_bits(p.q.size());
    std::vector<float> lse_values(std::size_t(p.batch) * kQ);
    device.read(*out, out_bits.data(), out_bits.size() * 2);
    device.read(*lse, lse_values.data(), lse_values.size() * 4);
    std::size_t differ = 0;
    for (std::size_t i = 0; i < out_bits.size(); ++i)
      differ += to_float(DType::bf16, out_bits[i]) != plain.result.out[i];
    for (std::size_t i = 0; i < lse_values.size(); ++i) differ += lse_values[i] != plain.result.lse[i];
    EXPECT_EQ(differ, 0u) << "values that differ from the plain launches', " << plan.total_splits() << " splits";
    const auto cmp = compare_with_reference(plain.result, reference::gqa_decode(p), DType::bf16, kDim, true);
    EXPECT_TRUE(cmp.pass) << cmp.failure;
  }
  EXPECT_TRUE(some_combined && some_single) << "the steps must cover both a combine and none";
}

}  // namespace
}  // namespace zemla
