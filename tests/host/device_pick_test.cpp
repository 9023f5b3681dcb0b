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

// Issue 22, item 10: with PoCL and Intel's CPU runtime on one machine, the
// one that runs intel_sg from SPIR-V serves, wherever it is listed.
DeviceInfo intel_cpu_runtime(int index) {
  DeviceInfo d = device(index, false);
  d.sub_group_sizes = {8, 16, 32, 64};
  d.extensions = {"cl_intel_subgroups", "cl_intel_subgroups_short", "cl_intel_required_subgroup_size"};
  return d;
}

TEST(DevicePick, TheCpuRuntimeRunningIntelSubGroupsOutranksAPortableOne) {
  EXPECT_EQ(pick_device(Backend::opencl, {device(0, false), intel_cpu_runtime(1)}, -1), 1);
  EXPECT_EQ(pick_device(Backend::opencl, {intel_cpu_runtime(0), device(1, false)}, -1), 0);
  EXPECT_EQ(rank_reason(intel_cpu_runtime(0)), "not a GPU, runs intel_sg, 0 compute units");
  EXPECT_EQ(rank_reason(device(1, true)), "GPU, runs portable, 0 compute units");
}

TEST(DevicePick, AGpuOutranksEveryCpuRuntimeAndMoreComputeUnitsBreakATie) {
  DeviceInfo small_gpu = device(1, true), big_gpu = device(2, true);
  small_gpu.compute_units = 8;
  big_gpu.compute_units = 132;
  EXPECT_EQ(pick_device(Backend::opencl, {intel_cpu_runtime(0), small_gpu}, -1), 1);
  EXPECT_EQ(pick_device(Backend::opencl, {intel_cpu_runtime(0), small_gpu, big_gpu}, -1), 2);
  EXPECT_EQ(pick_device(Backend::opencl, {device(0, false), device(1, false)}, -1), 0) << "equals: the first";
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
