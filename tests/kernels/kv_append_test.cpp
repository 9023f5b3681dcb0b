#include "runtime/ops/kv_append.hpp"

#include <gtest/gtest.h>

#include <random>

#include "host/mla_shape.hpp"
#include "host/page_pool.hpp"
#include "kernels/device_fixture.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

// New rows land in exactly the slots the page pool computed; every other
// value of the cache is untouched, including for an out-of-range slot.
TEST(KvAppend, WritesRowsIntoPoolSlotsAndNothingElse) {
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
  const int n = static_cast<int>(slots.size());

  std::mt19937 rng(2);
  std::vector<std::uint16_t> cache(std::size_t(num_pages) * page_size * mla::kRowDim);
  for (auto& v : cache) v = static_cast<std::uint16_t>(rng());
  std::vector<std::uint16_t> rows(std::size_t(n) * mla::kRowDim);
  for (auto& v : rows) v = static_cast<std::uint16_t>(rng());

  auto cache_buf = device.allocate(cache.size() * 2);
  device.write_vector(*cache_buf, cache);
  auto rows_buf = device.allocate(rows.size() * 2);
  device.write_vector(*rows_buf, rows);
  auto slots_buf = device.allocate(slots.size() * 4);
  device.write_vector(*slots_buf, slots);

  ops::KvAppender appender(device);
  appender.run({cache_buf.get(), num_pages, page_size, 0, 0, rows_buf.get(), 0, slots_buf.get(), n});
  std::vector<std::uint16_t> got(cache.size());
  device.read(*cache_buf, got.data(), got.size() * 2);

  std::vector<std::uint16_t> expect = cache;
  for (int r = 0; r + 1 < n; ++r) {
    std::copy_n(rows.begin() + std::ptrdiff_t(r) * mla::kRowDim, mla::kRowDim,
                expect.begin() + std::ptrdiff_t(slots[r]) * mla::kRowDim);
  }
  ASSERT_EQ(got, expect);
}

TEST(KvAppend, RejectsUndersizedBuffersByName) {
  rt::Device& device = testing::test_device();
  auto cache = device.allocate(16 * mla::kRowDim * 2);
  auto rows = device.allocate(mla::kRowDim * 2);
  auto slots = device.allocate(4);
  ops::KvAppender appender(device);
  try {
    appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 2});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("rows"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace zemla
