// A recorded layer (both decode stages, the kv_append fused, recorded once) replayed
// over steps whose batch, lengths and split plan all change: every replay
// must give exactly the plain launches' bits, and the append must land in
// its slots (validation/recorded_layer_check.cpp, shared with `zemla
// validate`). Plain decodes run between replays with other buffers, so a
// recording that followed the kernels' current arguments would fail.

#include <gtest/gtest.h>

#include "kernels/device_fixture.hpp"
#include "runtime/recording.hpp"
#include "validation/recorded_layer_check.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

TEST(RecordedDecode, ReplaysGiveThePlainLaunchesBitsAsStepsChange) {
  const auto results = validation::replay_recorded_layer(testing::test_device());
  ASSERT_EQ(results.size(), 4u);
  bool some_combined = false, some_single = false;
  for (std::size_t s = 0; s < results.size(); ++s) {
    const auto& r = results[s];
    SCOPED_TRACE("step " + std::to_string(s) + ", " + std::to_string(r.total_splits) + " splits");
    EXPECT_EQ(r.out_bits_differ, 0u);
    EXPECT_EQ(r.lse_bits_differ, 0u);
    EXPECT_EQ(r.append_values_wrong, 0u);
    EXPECT_TRUE(r.vs_reference.pass) << r.vs_reference.failure;
    some_combined = some_combined || r.combined;
    some_single = some_single || !r.combined;
  }
  EXPECT_TRUE(some_combined && some_single) << "the steps must cover both a combine and none";
}

TEST(RecordedDecode, LaunchCountsRefuseAnEmptyLaunchAndABadSlot) {
  rt::LaunchCounts counts(testing::test_device(), 2);
  try {
    counts.set(0, {0, 1, 1});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("group count 0x1x1 must be positive"), std::string::npos) << e.what();
  }
  EXPECT_THROW(counts.set(2, {1, 1, 1}), Error);
  auto recorder = testing::test_device().record();
  rt::Kernel& k = testing::test_device().kernel({"kv_append", rt::Variant::any, "any"}, "kv_append");
  EXPECT_THROW(recorder->launch(k, counts, 5, {64, 1, 1}), Error);
}

}  // namespace
}  // namespace zemla
