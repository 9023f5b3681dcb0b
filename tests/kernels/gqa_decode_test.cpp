// GQA / MQA / MHA paged decode against the fp64 reference (host/reference
// gqa_decode) under the tolerances of host/compare.hpp, on every CPU runtime suite:
// head_dim 64/128/256, query heads per KV head 1/4/8, bf16/fp16, page sizes
// 64/128, soft-capping and sliding windows, forced splits (stage 2), empty
// requests, page edges and shuffled pages.

#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "host/compare.hpp"
#include "host/gqa_problem.hpp"
#include "kernels/device_fixture.hpp"
#include "kernels/mla_cases.hpp"
#include "runtime/ops/gqa_runner.hpp"
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

}  // namespace
}  // namespace zemla
