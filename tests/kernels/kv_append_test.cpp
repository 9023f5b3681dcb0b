#include "ops/kv_append/kv_append.hpp"

#include <gtest/gtest.h>

#include <random>

#include "host/page_pool.hpp"
#include "kernels/device_fixture.hpp"
#include "ops/mla/mla_shape.hpp"
#include "validation/hw_suite.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

// New rows land in exactly the slots the page pool computed; every other
// value of the cache is untouched, including for an out-of-range slot. Row
// widths: MLA's latent row, then GQA K/V rows (kv_heads x head_dim) of
// 1 x 64, 8 x 128 and 2 x 256.
class KvAppendRows : public ::testing::TestWithParam<int> {};

TEST_P(KvAppendRows, WritesRowsIntoPoolSlotsAndNothingElse) {
  rt::Device& device = testing::test_device();
  const int num_pages = 6, page_size = 16;
  PagePool pool(num_pages, page_size);
  for (int id : {1, 2}) pool.add_request(id);
  pool.append_tokens(1, 10);
  pool.append_tokens(2, 16);
  std::vector<std::int64_t> slots64 = pool.append_tokens(1, 7);  // crosses into request 1's second page
  const auto more = pool.append_tokens(2, 1);                    // starts request 2's second page
  slots64.insert(slots64.end(), more.begin(), more.end());
  std::vector<std::int32_t> slots(slots64.begin(), slots64.end());
  slots.push_back(num_pages * page_size + 3);  // out of range: must be skipped
  slots.push_back(-1);                         // likewise
  EXPECT_EQ(validation::kv_append_mismatches(device, num_pages, page_size, GetParam(), slots, 2), 0u);
}

INSTANTIATE_TEST_SUITE_P(Widths, KvAppendRows, ::testing::Values(mla::kRowDim, 64, 1024, 512),
                         [](const auto& info) { return "row" + std::to_string(info.param); });

TEST(KvAppend, RejectsUndersizedBuffersByName) {
  rt::Device& device = testing::test_device();
  auto cache = device.allocate(16 * mla::kRowDim * 2);
  auto rows = device.allocate(mla::kRowDim * 2);
  auto slots = device.allocate(4);
  ops::KvAppender appender(device);
  try {
    appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 2, mla::kRowDim});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows"), std::string::npos) << e.what();
  }
  try {
    appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1, 100});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("row_values 100 must be a positive multiple of 8"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace zemla
