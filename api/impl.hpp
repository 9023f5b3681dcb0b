#pragma once
// The private halves of the public API's classes.

#include <memory>

#include "runtime/device.hpp"
#include "zemla/zemla.hpp"

namespace zemla {

struct Runtime::Impl {
  std::unique_ptr<rt::Device> device;
};

struct Tensor::Impl {
  rt::Device* device;
  std::unique_ptr<rt::Buffer> buffer;
};

// The buffer behind an optional tensor argument; nullptr for nullptr. An
// output tensor gives a writable buffer, an input a read-only one.
const rt::Buffer* buffer_of(const Tensor* t, const char* call, const char* name);
rt::Buffer* buffer_of(Tensor* t, const char* call, const char* name);

}  // namespace zemla
