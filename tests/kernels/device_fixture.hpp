#pragma once
// The OpenCL device a kernel test runs on. ctest runs each kernel suite once
// per CPU runtime, choosing the runtime with OCL_ICD_VENDORS and stating what
// must have run with ZEMLA_EXPECT_VARIANT / ZEMLA_EXPECT_FORMAT, so a silent
// fallback (say, to the portable variant) fails instead of testing the wrong thing.

#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <string>

#include "runtime/select.hpp"

namespace zemla::testing {

inline rt::Device& test_device() {
  static std::unique_ptr<rt::Device> device = [] {
    auto d = rt::open_device(rt::selection_from_env({"opencl", 0}));
    return d;
  }();
  return *device;
}

inline std::string expected(const char* var) {
  const char* v = std::getenv(var);
  return v ? v : "";
}

}  // namespace zemla::testing
