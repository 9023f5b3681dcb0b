#pragma once
// RAII ownership of one C API object (an OpenCL cl_mem, a Level Zero
// ze_module_handle_t, ...): released exactly once through `Release`, movable,
// never copied. Each backend names its handle types with this template.

#include <utility>

namespace zemla::rt {

template <typename T, auto Release>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T h) : h_(h) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  T get() const { return h_; }
  void reset() {
    if (h_ != nullptr) Release(std::exchange(h_, nullptr));
  }

 private:
  T h_ = nullptr;
};

}  // namespace zemla::rt
