#pragma once
// Paged KV pool bookkeeping: a fixed pool of pages, handed to requests as
// they grow and taken back when they end. Builds the page-table rows and
// lengths the decode kernel reads and the slot of every new token for
// kv_append. Pages come off a LIFO free list, so after the first frees a
// request's pages are not contiguous: that is the normal case, not a test trick.

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

namespace zemla {

class PagePool {
 public:
  using RequestId = std::int64_t;

  PagePool(int num_pages, int page_size);

  void add_request(RequestId id);
  // Reserves room for `count` more tokens of `id` and returns their slots
  // (page * page_size + offset), in token order. Throws when the pool is full,
  // leaving the request unchanged.
  std::vector<std::int64_t> append_tokens(RequestId id, int count);
  // The same for every request of a step, all or nothing: the slots of ids[0]
  // first, then ids[1], ... A request listed twice is an error.
  std::vector<std::int64_t> append_tokens(std::span<const RequestId> ids, int count);
  // Frees every page of `id`. Unknown or already released ids throw.
  void release(RequestId id);
  // Shortens `id` to `new_length` tokens (speculative decoding keeps the
  // accepted prefix of its draft), returning the pages that hold none of
  // them to the pool. A length outside [0, length] throws and changes nothing.
  void truncate(RequestId id, std::int64_t new_length);

  bool has_request(RequestId id) const { return requests_.count(id) != 0; }
  std::int32_t length(RequestId id) const;
  std::span<const std::int32_t> pages_of(RequestId id) const;

  // Row-major [ids.size(), max_pages]; unused entries are -1 so a stray read
  // is an invalid page to the kernels, never page 0 of someone else.
  std::vector<std::int32_t> page_table(std::span<const RequestId> ids, int max_pages) const;
  std::vector<std::int32_t> seqlens(std::span<const RequestId> ids) const;
  int max_pages_in_use(std::span<const RequestId> ids) const;

  int num_pages() const { return num_pages_; }
  int page_size() const { return page_size_; }
  int free_pages() const { return static_cast<int>(free_.size()); }
  int used_pages() const { return num_pages_ - free_pages(); }

 private:
  struct Request {
    std::vector<std::int32_t> pages;
    std::int32_t length = 0;
  };
  const Request& get(RequestId id, const char* call) const;

  int num_pages_;
  int page_size_;
  std::vector<std::int32_t> free_;  // LIFO
  std::unordered_map<RequestId, Request> requests_;
};

}  // namespace zemla
