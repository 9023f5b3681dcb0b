#include "host/decode_planner.hpp"

#include <gtest/gtest.h>

#include <random>

#include "host/grow_only.hpp"
#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

// Every token of every request is covered exactly once, in tile-aligned splits.
void expect_well_formed(const DecodePlan& plan, const std::vector<std::int32_t>& seqlens) {
  ASSERT_EQ(plan.batch(), static_cast<int>(seqlens.size()));
  for (int b = 0; b < plan.batch(); ++b) {
    const int n = plan.splits_of(b);
    ASSERT_GE(n, 1);
    std::int32_t next = 0;
    for (int j = 0; j < n; ++j) {
      const auto& w = plan.work[plan.split_begin[b] + j];
      EXPECT_EQ(w.request, b);
      EXPECT_EQ(w.splits_of_request, n);
      EXPECT_EQ(w.token_begin, next);
      EXPECT_EQ(w.token_begin % mla::kTile, 0);
      EXPECT_TRUE(w.token_end > w.token_begin || seqlens[b] == 0);
      next = w.token_end;
    }
    EXPECT_EQ(next, seqlens[b]);
  }
}

TEST(DecodePlanner, SplitsLongRequestAcrossComputeUnits) {
  const std::vector<std::int32_t> lens{131072};
  const auto plan = plan_decode({lens, 16, 64, -1});
  expect_well_formed(plan, lens);
  EXPECT_GE(plan.total_splits(), 32) << "batch 1 x 128K must spread over a 64-CU device";
  EXPECT_LE(plan.total_splits(), planner::kMaxSplitsPerRequest);
  EXPECT_TRUE(plan.needs_combine);
}

TEST(DecodePlanner, KeepsLargeShortBatchSingleSplitAndSkipsCombine) {
  const std::vector<std::int32_t> lens(256, 100);
  const auto plan = plan_decode({lens, 16, 64, -1});
  expect_well_formed(plan, lens);
  EXPECT_EQ(plan.total_splits(), 256);
  EXPECT_FALSE(plan.needs_combine);
}

TEST(DecodePlanner, SplitsOnlyTheLongRequestInAMixedBatch) {
  std::vector<std::int32_t> lens{32768, 5, 100, 200};
  const auto plan = plan_decode({lens, 16, 132, -1});
  expect_well_formed(plan, lens);
  EXPECT_GT(plan.splits_of(0), 8);
  EXPECT_EQ(plan.splits_of(1), 1);
  EXPECT_EQ(plan.splits_of(2), 1);
}

// Work-groups run in whole waves (kResidentWorkGroupsPerComputeUnit per
// compute unit): 32 requests of 16K on 132 units cut at the floor chunk
// give 544 groups, 16 past two waves of 264, and so a third wave. A chunk a
// few tiles longer fits two.
TEST(DecodePlanner, FillsWholeWavesInsteadOfSpillingIntoAnother) {
  const std::vector<std::int32_t> lens(32, 16384);
  const int cus = 132;
  const auto plan = plan_decode({lens, 8, cus, -1});
  expect_well_formed(plan, lens);
  const int wave = planner::kResidentWorkGroupsPerComputeUnit * cus;
  EXPECT_LE(plan.total_splits() * plan.head_blocks, 2 * wave);
  EXPECT_GE(plan.total_splits() * plan.head_blocks * 10, wave * 9) << "still enough groups to fill the device";
  // The same for 128 requests of 4K at 16 heads (640 groups before).
  const std::vector<std::int32_t> lens4k(128, 4096);
  const auto p4 = plan_decode({lens4k, 16, cus, -1});
  EXPECT_LE(p4.total_splits() * p4.head_blocks, 2 * wave);
}

// Stage 2 walks a request's splits one after another, so one long request
// takes fewer, longer splits once it fills the device: on the H100 (132
// units) 128 splits of 64K beat 256 (87 against 110 us).
// With the portable main loop's slower tokens the merge weighs less, and
// 256 splits won there (0.159 against 0.209 ms).
TEST(DecodePlanner, WeighsTheMergeAgainstMoreSplits) {
  const std::vector<std::int32_t> lens{65536};
  const auto matrix = plan_decode({lens, 16, 132, -1, {}, planner::kMergeTokensPerSplitMatrix});
  expect_well_formed(matrix, lens);
  EXPECT_LT(matrix.total_splits(), planner::kMaxSplitsPerRequest);
  EXPECT_GE(matrix.total_splits(), 100) << "still about one work-group per compute unit";
  const auto simt = plan_decode({lens, 16, 132, -1, {}, planner::kMergeTokensPerSplit});
  EXPECT_EQ(simt.total_splits(), planner::kMaxSplitsPerRequest);
}

TEST(DecodePlanner, HandlesAllZeroLengths) {
  const std::vector<std::int32_t> lens(8, 0);
  const auto plan = plan_decode({lens, 128, 64, -1});
  expect_well_formed(plan, lens);
  EXPECT_EQ(plan.total_splits(), 8);
  EXPECT_FALSE(plan.needs_combine);
  EXPECT_EQ(plan.head_blocks, 8);
}

TEST(DecodePlanner, HonoursExplicitSplitsUpToOnePerTile) {
  const std::vector<std::int32_t> lens{1000, 20, 0};
  const auto plan = plan_decode({lens, 24, 8, 7});
  expect_well_formed(plan, lens);
  EXPECT_EQ(plan.splits_of(0), 7);
  EXPECT_EQ(plan.splits_of(1), 2);  // 20 tokens = 2 tiles
  EXPECT_EQ(plan.splits_of(2), 1);
  EXPECT_EQ(plan.head_blocks, 2);  // 24 heads: one full block and one partial
}

TEST(DecodePlanner, RejectsBadInputsNamingTheValue) {
  const std::vector<std::int32_t> bad{10, -3};
  try {
    plan_decode({bad, 16, 8, -1});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cache_seqlens[1] = -3"), std::string::npos);
  }
  const std::vector<std::int32_t> ok{10};
  EXPECT_THROW(plan_decode({ok, 16, 8, 0}), Error);
  EXPECT_THROW(plan_decode({ok, 16, 0, -1}), Error);
  EXPECT_THROW(plan_decode({ok, 0, 8, -1}), Error);
  EXPECT_THROW(plan_decode({{}, 16, 8, -1}), Error);
}

// Batch-invariant splits: a request's splits are the same whatever its
// neighbours (alone, or in a batch that fills the device), and the bound of
// the mode covers every batch within it.
TEST(DecodePlanner, BatchInvariantSplitsDependOnlyOnTheRequestsLength) {
  const auto splits_of_first = [](std::vector<std::int32_t> lens, int split_tokens) {
    PlannerInputs in{lens, 16, 8, -1};
    in.split_tokens = split_tokens;
    const auto plan = plan_decode(in);
    std::vector<std::pair<int, int>> bounds;
    for (int s = plan.split_begin[0]; s < plan.split_begin[1]; ++s)
      bounds.push_back({plan.work[s].token_begin, plan.work[s].token_end});
    return bounds;
  };
  const std::vector<std::pair<int, int>> expected = {{0, 512}, {512, 1024}, {1024, 1100}};
  EXPECT_EQ(splits_of_first({1100}, 512), expected);
  EXPECT_EQ(splits_of_first({1100, 5, 70000, 3}, 512), expected);
  EXPECT_EQ(splits_of_first(std::vector<std::int32_t>(200, 1100), 512), expected) << "a batch that fills the device";
  // Without the mode, the same request splits differently alone and in a crowd.
  EXPECT_NE(splits_of_first({1100}, 0), splits_of_first(std::vector<std::int32_t>(200, 1100), 0));
  std::mt19937 rng(9);
  for (int trial = 0; trial < 500; ++trial) {
    const int batch = 1 + int(rng() % 40), max_len = int(rng() % 20000), t = 16 * (1 + int(rng() % 64));
    std::vector<std::int32_t> lens(static_cast<std::size_t>(batch));
    for (auto& l : lens) l = std::int32_t(rng() % (max_len + 1));
    PlannerInputs in{lens, 16, 8, -1};
    in.split_tokens = t;
    ASSERT_LE(plan_decode(in).layout.total, workspace_bytes(max_len, batch, 16, 8, -1, {}, t));
  }
  PlannerInputs bad{std::vector<std::int32_t>{100}, 16, 8, -1};
  bad.split_tokens = 100;
  EXPECT_THROW(plan_decode(bad), Error) << "not a multiple of the tile";
  bad.split_tokens = 128;
  bad.num_kv_splits = 4;
  EXPECT_THROW(plan_decode(bad), Error) << "with explicit splits";
}

TEST(WorkspaceBytes, IsNeverExceededByAnyPlanWithinItsLimits) {
  std::mt19937 rng(3);
  for (int trial = 0; trial < 3000; ++trial) {
    const int batch = 1 + static_cast<int>(rng() % 300);
    const int heads = 1 + static_cast<int>(rng() % 160);
    const int cus = 1 + static_cast<int>(rng() % 256);
    const int splits = (rng() % 3 == 0) ? 1 + static_cast<int>(rng() % 80) : -1;
    const int max_len = static_cast<int>(rng() % (trial % 10 == 0 ? 200000 : 5000));
    std::vector<std::int32_t> lens(1 + rng() % batch);
    for (auto& l : lens) l = max_len == 0 ? 0 : static_cast<std::int32_t>(rng() % (max_len + 1));
    auto plan = plan_decode({lens, heads, cus, splits});
    const auto where = [&] {
      return "batch " + std::to_string(batch) + " heads " + std::to_string(heads) + " cus " + std::to_string(cus) +
             " splits " + std::to_string(splits) + " max_len " + std::to_string(max_len);
    };
    ASSERT_LE(plan.layout.total, workspace_bytes(max_len, batch, heads, cus, splits)) << where();
    // The fixed layout of a recorded step takes every such plan too.
    const auto max_splits = max_total_splits(max_len, batch, heads, cus, splits);
    ASSERT_LE(plan.total_splits(), max_splits) << where();
    place_in_fixed_layout(plan, max_splits, batch);
    ASSERT_EQ(plan.layout.total, workspace_bytes(max_len, batch, heads, cus, splits)) << where();
  }
}

TEST(FixedLayout, KeepsOffsetsAcrossStepsAndRefusesAStepThatDoesNotFit) {
  const std::vector<std::int32_t> short_batch{5, 300};
  const std::vector<std::int32_t> long_batch{4000, 9000, 12};
  const auto max_splits = max_total_splits(16384, 4, 16, 8, -1);
  auto a = plan_decode({short_batch, 16, 8, -1});
  auto b = plan_decode({long_batch, 16, 8, -1});
  ASSERT_NE(a.layout.work, b.layout.work);  // the plain layouts differ
  place_in_fixed_layout(a, max_splits, 4);
  place_in_fixed_layout(b, max_splits, 4);
  EXPECT_EQ(a.layout.work, b.layout.work);
  EXPECT_EQ(a.layout.partial_lse, b.layout.partial_lse);
  EXPECT_EQ(a.layout.split_begin, b.layout.split_begin);
  try {
    place_in_fixed_layout(b, max_splits, 2);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("the step has 3 requests; the fixed layout holds 2"), std::string::npos)
        << e.what();
  }
  auto many = plan_decode({long_batch, 16, 8, 64});
  EXPECT_THROW(place_in_fixed_layout(many, max_splits, 4), Error);
}

struct FakeBuffer {
  std::size_t bytes;
};

TEST(GrowOnlyWorkspace, ReallocatesOnlyWhenThePlanNeedsMore) {
  int allocations = 0;
  GrowOnly<FakeBuffer> ws([&](std::size_t n) {
    ++allocations;
    return std::make_unique<FakeBuffer>(FakeBuffer{n});
  });
  ws.ensure(1000);
  ws.ensure(500);
  ws.ensure(1000);
  EXPECT_EQ(ws.grow_count(), 1);
  EXPECT_EQ(ws.ensure(4000).bytes, 4000u);
  ws.ensure(10);
  EXPECT_EQ(ws.grow_count(), 2);
  EXPECT_EQ(allocations, 2);
  EXPECT_EQ(ws.capacity(), 4000u);
}

}  // namespace
}  // namespace zemla
