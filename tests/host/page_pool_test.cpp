#include "host/page_pool.hpp"

#include <gtest/gtest.h>

#include "zemla/error.hpp"

namespace zemla {
namespace {

TEST(PagePool, AllocatesPagesAsRequestsGrowAndComputesSlots) {
  PagePool pool(8, 16);
  pool.add_request(7);
  const auto first = pool.append_tokens(7, 17);  // 2 pages
  ASSERT_EQ(first.size(), 17u);
  EXPECT_EQ(pool.pages_of(7).size(), 2u);
  const auto pages = pool.pages_of(7);
  EXPECT_EQ(first[0], std::int64_t{pages[0]} * 16);
  EXPECT_EQ(first[16], std::int64_t{pages[1]} * 16);
  const auto next = pool.append_tokens(7, 1);
  EXPECT_EQ(next[0], std::int64_t{pages[1]} * 16 + 1);
  EXPECT_EQ(pool.length(7), 18);
  EXPECT_EQ(pool.used_pages(), 2);
}

TEST(PagePool, ReusesFreedPagesSoOrderBecomesNonContiguous) {
  PagePool pool(6, 16);
  for (int id : {1, 2, 3}) {
    pool.add_request(id);
    pool.append_tokens(id, 16);
  }
  pool.release(2);  // frees the page between 1's and 3's
  pool.add_request(4);
  pool.append_tokens(4, 48);  // takes the freed one first, then fresh ones
  const auto p = pool.pages_of(4);
  EXPECT_EQ(p[0], 1);
  EXPECT_EQ(p[1], 3);
  const std::vector<PagePool::RequestId> ids{1, 4};
  const auto table = pool.page_table(ids, 4);
  EXPECT_EQ(table, (std::vector<std::int32_t>{0, -1, -1, -1, 1, 3, 4, -1}));
  EXPECT_EQ(pool.seqlens(ids), (std::vector<std::int32_t>{16, 48}));
}

TEST(PagePool, RefusesToOverfillAndLeavesTheRequestUnchanged) {
  PagePool pool(2, 16);
  pool.add_request(1);
  pool.append_tokens(1, 20);
  try {
    pool.append_tokens(1, 40);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kOutOfResources);
    EXPECT_NE(std::string(e.what()).find("0 of 2 are free"), std::string::npos);
  }
  EXPECT_EQ(pool.length(1), 20);
  EXPECT_EQ(pool.pages_of(1).size(), 2u);
}

// A step appends for every request at once: either all get their token, or
// (pool full, duplicate or unknown id) none does.
TEST(PagePool, StepAppendIsAllOrNothing) {
  PagePool pool(3, 16);
  for (PagePool::RequestId id : {1, 2}) pool.add_request(id);
  pool.append_tokens(1, 16);  // page boundary: its next token needs a new page
  pool.append_tokens(2, 5);
  const std::vector<PagePool::RequestId> step = {1, 2};
  const auto slots = pool.append_tokens(step, 1);
  ASSERT_EQ(slots.size(), 2u);
  EXPECT_EQ(slots[0], std::int64_t{pool.pages_of(1)[1]} * 16);      // first slot of request 1's new page
  EXPECT_EQ(slots[1], std::int64_t{pool.pages_of(2)[0]} * 16 + 5);  // next slot of request 2
  EXPECT_EQ(pool.free_pages(), 0);
  // Request 1 still fits its second page, request 2 needs a new one: neither grows.
  try {
    pool.append_tokens(step, 12);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kOutOfResources);
  }
  EXPECT_EQ(pool.length(1), 17);
  EXPECT_EQ(pool.length(2), 6);
  const std::vector<PagePool::RequestId> twice = {2, 2};
  EXPECT_THROW(pool.append_tokens(twice, 1), Error);
  EXPECT_EQ(pool.length(2), 6);
}

// Speculative decoding keeps a prefix: whole pages past it go back to the
// pool, the page holding the last kept token stays, and the request grows
// again from there into the same slots.
TEST(PagePool, TruncateReturnsTheEmptiedPagesAndKeepsTheRest) {
  PagePool pool(6, 16);
  pool.add_request(1);
  pool.append_tokens(1, 40);  // 3 pages
  const std::vector<std::int32_t> pages(pool.pages_of(1).begin(), pool.pages_of(1).end());
  pool.truncate(1, 17);  // the second page keeps token 16
  EXPECT_EQ(pool.length(1), 17);
  EXPECT_EQ(pool.free_pages(), 4);
  EXPECT_EQ(std::vector<std::int32_t>(pool.pages_of(1).begin(), pool.pages_of(1).end()),
            std::vector<std::int32_t>(pages.begin(), pages.begin() + 2));
  const auto slots = pool.append_tokens(1, 1);
  EXPECT_EQ(slots[0], std::int64_t{pages[1]} * 16 + 1) << "the next token goes right after the kept prefix";
  pool.truncate(1, 18);  // no change
  EXPECT_EQ(pool.free_pages(), 4);
  pool.truncate(1, 0);
  EXPECT_EQ(pool.free_pages(), 6);
  EXPECT_EQ(pool.length(1), 0);
  // Refused, and nothing changes.
  pool.append_tokens(1, 5);
  EXPECT_THROW(pool.truncate(1, 6), Error);
  EXPECT_THROW(pool.truncate(1, -1), Error);
  EXPECT_THROW(pool.truncate(2, 0), Error);
  EXPECT_EQ(pool.length(1), 5);
  EXPECT_EQ(pool.free_pages(), 5);
}

TEST(PagePool, DetectsDoubleFreeAndUnknownRequests) {
  PagePool pool(4, 16);
  pool.add_request(9);
  pool.release(9);
  EXPECT_THROW(pool.release(9), Error);
  EXPECT_THROW(pool.append_tokens(9, 1), Error);
  pool.add_request(3);
  EXPECT_THROW(pool.add_request(3), Error);
  EXPECT_THROW(PagePool(0, 16), Error);
}

}  // namespace
}  // namespace zemla
