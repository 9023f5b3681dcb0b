#include "page_pool.hpp"

#include <algorithm>
#include <string>

#include "zemla/error.hpp"

namespace zemla {

PagePool::PagePool(int num_pages, int page_size) : num_pages_(num_pages), page_size_(page_size) {
  require(num_pages > 0, "PagePool", "num_pages " + std::to_string(num_pages) + " must be positive");
  require(page_size > 0, "PagePool", "page_size " + std::to_string(page_size) + " must be positive");
  free_.resize(num_pages);
  // Highest id at the bottom, so a fresh pool hands out 0, 1, 2, ...
  for (int i = 0; i < num_pages; ++i) free_[i] = num_pages - 1 - i;
}

const PagePool::Request& PagePool::get(RequestId id, const char* call) const {
  const auto it = requests_.find(id);
  if (it == requests_.end()) {
    throw Error(call, kInvalidArgument, "request " + std::to_string(id) + " is not in the pool");
  }
  return it->second;
}

void PagePool::add_request(RequestId id) {
  require(!has_request(id), "PagePool::add_request", "request " + std::to_string(id) + " already exists");
  requests_.emplace(id, Request{});
}

std::vector<std::int64_t> PagePool::append_tokens(RequestId id, int count) {
  return append_tokens(std::span<const RequestId>(&id, 1), count);
}

std::vector<std::int64_t> PagePool::append_tokens(std::span<const RequestId> ids, int count) {
  constexpr const char* kCall = "PagePool::append_tokens";
  require(count >= 0, kCall, [&] { return "count " + std::to_string(count) + " is negative"; });
  // All or nothing: count every new page first, so a full pool leaves every
  // request unchanged.
  std::size_t extra = 0;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    const Request& r = get(ids[i], kCall);
    require(std::find(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(i), ids[i]) ==
                ids.begin() + static_cast<std::ptrdiff_t>(i),
            kCall, [&] { return "request " + std::to_string(ids[i]) + " is listed twice"; });
    const std::int64_t new_length = std::int64_t{r.length} + count;
    extra += static_cast<std::size_t>((new_length + page_size_ - 1) / page_size_) - r.pages.size();
  }
  if (extra > free_.size()) {
    throw Error(kCall, kOutOfResources,
                "KV pool full: " + std::to_string(ids.size()) + " request(s) need " + std::to_string(extra) +
                    " more pages, " + std::to_string(free_.size()) + " of " + std::to_string(num_pages_) + " are free");
  }
  std::vector<std::int64_t> slots;
  slots.reserve(ids.size() * static_cast<std::size_t>(count));
  for (RequestId id : ids) {
    Request& r = requests_[id];
    const std::int64_t new_length = std::int64_t{r.length} + count;
    while (r.pages.size() * static_cast<std::size_t>(page_size_) < static_cast<std::size_t>(new_length)) {
      r.pages.push_back(free_.back());
      free_.pop_back();
    }
    for (std::int64_t pos = r.length; pos < new_length; ++pos) {
      slots.push_back(std::int64_t{r.pages[pos / page_size_]} * page_size_ + pos % page_size_);
    }
    r.length = static_cast<std::int32_t>(new_length);
  }
  return slots;
}

void PagePool::release(RequestId id) {
  const auto it = requests_.find(id);
  if (it == requests_.end()) {
    throw Error("PagePool::release", kInvalidArgument,
                "request " + std::to_string(id) + " is not in the pool (double free?)");
  }
  // Reverse order: the next request reuses them in the same order.
  for (auto p = it->second.pages.rbegin(); p != it->second.pages.rend(); ++p) free_.push_back(*p);
  requests_.erase(it);
}

void PagePool::truncate(RequestId id, std::int64_t new_length) {
  constexpr const char* kCall = "PagePool::truncate";
  const Request& current = get(id, kCall);
  require(new_length >= 0 && new_length <= current.length, kCall, [&] {
    return "new_length " + std::to_string(new_length) + " of request " + std::to_string(id) + " is outside [0, " +
           std::to_string(current.length) + "]";
  });
  Request& r = requests_[id];
  const std::size_t keep = static_cast<std::size_t>((new_length + page_size_ - 1) / page_size_);
  // Last page first, as release() does.
  while (r.pages.size() > keep) {
    free_.push_back(r.pages.back());
    r.pages.pop_back();
  }
  r.length = static_cast<std::int32_t>(new_length);  // within [0, length], so it fits
}

std::int32_t PagePool::length(RequestId id) const { return get(id, "PagePool::length").length; }

std::span<const std::int32_t> PagePool::pages_of(RequestId id) const { return get(id, "PagePool::pages_of").pages; }

int PagePool::max_pages_in_use(std::span<const RequestId> ids) const {
  std::size_t most = 0;
  for (RequestId id : ids) most = std::max(most, get(id, "PagePool::max_pages_in_use").pages.size());
  return static_cast<int>(most);
}

std::vector<std::int32_t> PagePool::page_table(std::span<const RequestId> ids, int max_pages) const {
  require(max_pages >= max_pages_in_use(ids), "PagePool::page_table",
          "max_pages " + std::to_string(max_pages) + " is smaller than a request's " +
              std::to_string(max_pages_in_use(ids)) + " pages");
  std::vector<std::int32_t> table(ids.size() * static_cast<std::size_t>(max_pages), -1);
  for (std::size_t b = 0; b < ids.size(); ++b) {
    const auto& pages = get(ids[b], "PagePool::page_table").pages;
    std::copy(pages.begin(), pages.end(), table.begin() + static_cast<std::ptrdiff_t>(b * max_pages));
  }
  return table;
}

std::vector<std::int32_t> PagePool::seqlens(std::span<const RequestId> ids) const {
  std::vector<std::int32_t> out;
  out.reserve(ids.size());
  for (RequestId id : ids) out.push_back(get(id, "PagePool::seqlens").length);
  return out;
}

}  // namespace zemla
