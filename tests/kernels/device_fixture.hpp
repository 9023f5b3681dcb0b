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

// The device lives until gtest's global tear-down, inside main: releasing
// OpenCL objects from a static destructor runs after the runtime's own
// statics are gone (under oclgrind that corrupts the heap at exit).
inline std::unique_ptr<rt::Device>& device_holder() {
  static std::unique_ptr<rt::Device> device;
  return device;
}

class DeviceRelease : public ::testing::Environment {
 public:
  void TearDown() override { device_holder().reset(); }
};

inline rt::Device& test_device() {
  auto& device = device_holder();
  if (!device) {
    device = rt::open_device({rt::Backend::opencl, 0});
    ::testing::AddGlobalTestEnvironment(new DeviceRelease);
  }
  return *device;
}

inline std::string expected(const char* var) {
  const char* v = std::getenv(var);
  return v ? v : "";
}

}  // namespace zemla::testing
