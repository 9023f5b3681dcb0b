#pragma once
// A buffer holder that reallocates only when asked for more than it holds
// (sglang re-allocates its decode workspace only when it is too small; never
// per step). Generic over the buffer type so the host layer stays device-free.

#include <cstddef>
#include <functional>
#include <memory>
#include <stdexcept>
#include <utility>

namespace zemla {

template <typename Buffer>
class GrowOnly {
 public:
  using Allocate = std::function<std::unique_ptr<Buffer>(std::size_t bytes)>;

  explicit GrowOnly(Allocate allocate) : allocate_(std::move(allocate)) {}

  // A buffer of at least `bytes`; reuses the current one when it is big enough.
  Buffer& ensure(std::size_t bytes) {
    if (!buffer_ || bytes > capacity_) {
      buffer_.reset();  // free first: the old and new need not fit together
      buffer_ = allocate_(bytes);
      capacity_ = bytes;
      ++grow_count_;
    }
    return *buffer_;
  }

  // The buffer the last ensure() returned; a step's later launches use it.
  Buffer& current() {
    if (!buffer_) throw std::logic_error("GrowOnly::current() before any ensure()");
    return *buffer_;
  }
  std::size_t capacity() const { return capacity_; }
  int grow_count() const { return grow_count_; }

 private:
  Allocate allocate_;
  std::unique_ptr<Buffer> buffer_;
  std::size_t capacity_ = 0;
  int grow_count_ = 0;
};

}  // namespace zemla
