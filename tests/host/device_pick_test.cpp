// Which device a named backend opens when the caller leaves the index at -1:
// the best one of that backend (a GPU first), never simply device 0. On a
// machine with PoCL and an NVIDIA GPU behind one OpenCL loader, `--backend
// opencl` used to open PoCL's CPU device.

#include <gtest/gtest.h>

#include "runtime/select.hpp"
#include "zemla/error.hpp"

namespace zemla::rt {
namespace {

DeviceInfo device(int index, bool gpu) {
  DeviceInfo d;
  d.backend = Backend::opencl;
  d.index = index;
  d.is_gpu = gpu;
  return d;
}

TEST(DevicePick, BestDeviceOfANamedBackendIsItsFirstGpu) {
  const std::vector<DeviceInfo> cpu_then_gpu{device(0, false), device(1, true), device(2, true)};
  EXPECT_EQ(pick_device(Backend::opencl, cpu_then_gpu, -1), 1);
}

TEST(DevicePick, WithoutAGpuTheFirstDeviceServes) {
  EXPECT_EQ(pick_device(Backend::opencl, {device(0, false), device(1, false)}, -1), 0);
}

TEST(DevicePick, AnExplicitIndexIsHonouredEvenWhenAGpuExists) {
  EXPECT_EQ(pick_device(Backend::opencl, {device(0, false), device(1, true)}, 0), 0);
}

TEST(DevicePick, AMissingIndexOrAnEmptyBackendIsNotFound) {
  try {
    pick_device(Backend::opencl, {device(0, false)}, 3);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kNotFound);
    EXPECT_NE(std::string(e.what()).find("opencl has no device 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(pick_device(Backend::level_zero, {}, -1), Error);
}

}  // namespace
}  // namespace zemla::rt
