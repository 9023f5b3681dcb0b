#pragma once
// One MLA decode numerics case and the check every kernel suite applies:
// run on the test device, compare with the fp64 reference under the
// tolerances of harness/compare.hpp, and require exact zeros / -inf for empty requests.

#include <gtest/gtest.h>

#include <cmath>
#include <ostream>
#include <string>
#include <vector>

#include "harness/compare.hpp"
#include "harness/mla_runner.hpp"
#include "harness/reference.hpp"
#include "kernels/device_fixture.hpp"

namespace zemla {

struct Case {
  std::string name;
  DType dtype;
  int heads;
  int page_size;
  int splits;
  std::vector<std::int32_t> seqlens;
  bool fused_append = false;            // the last token of each request appended by the decode
  KvFormat kv_format = KvFormat::same;  // FP8: the cache quantized (quantize_kv), one scale
  int q_len = 1;                        // query tokens per request (multi-token decode)
};

inline void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

// 0, 1, page-1, page, page+1 and a few pages: the page-boundary edges.
inline std::vector<std::int32_t> edge_lengths(int ps) { return {0, 1, ps - 1, ps, ps + 1, 3 * ps + 5}; }

// The variant and binary format the suite's environment says must run
// (ZEMLA_EXPECT_VARIANT / ZEMLA_EXPECT_FORMAT), so a silent fallback fails.
inline void expect_the_suites_binary(const ops::RunOutcome& outcome) {
  if (const auto v = testing::expected("ZEMLA_EXPECT_VARIANT"); !v.empty()) {
    ASSERT_EQ(rt::variant_name(outcome.variant), v);
  }
  if (const auto f = testing::expected("ZEMLA_EXPECT_FORMAT"); !f.empty()) {
    ASSERT_EQ(outcome.binary, f);
  }
}

// An empty request gives exact zeros and LSE -inf, whatever the op.
inline void expect_empty_requests_zero(const DecodeResult& result, const std::vector<std::int32_t>& seqlens, int heads,
                                       int dim) {
  for (std::size_t b = 0; b < seqlens.size(); ++b) {
    if (seqlens[b] != 0) continue;
    for (int h = 0; h < heads; ++h) {
      const std::size_t bh = b * heads + h;
      EXPECT_TRUE(std::isinf(result.lse[bh]) && result.lse[bh] < 0) << "b " << b << " h " << h;
      for (int d = 0; d < dim; ++d) ASSERT_EQ(result.out[bh * dim + d], 0.0f);
    }
  }
}

inline void expect_matches_reference(const Case& c) {
  RandomMlaSpec spec;
  spec.dtype = c.dtype;
  spec.heads = c.heads;
  spec.page_size = c.page_size;
  spec.seqlens = c.seqlens;
  spec.seed = std::hash<std::string>{}(c.name);
  spec.kv_format = c.kv_format;
  spec.q_len = c.q_len;
  const MlaProblem problem = make_random_problem(spec);

  ops::RunOptions options;
  options.num_kv_splits = c.splits;
  options.fused_append = c.fused_append;
  const auto outcome = ops::run_mla_problem(testing::test_device(), problem, options);
  expect_the_suites_binary(outcome);
  EXPECT_EQ(outcome.appended_values_wrong, 0u) << "cache values the fused append left wrong";
  const auto ref = reference::mla_decode(problem);
  const auto cmp = compare_with_reference(outcome.result, ref, c.dtype, mla::kLatentDim, true);
  EXPECT_TRUE(cmp.pass) << cmp.failure << " (max abs err " << cmp.max_abs_error << ", 1-cos " << cmp.cosine_distance
                        << ", splits " << outcome.plan.total_splits() << ")";
  expect_empty_requests_zero(outcome.result, problem.seqlens, problem.rows(), mla::kLatentDim);
}

}  // namespace zemla
