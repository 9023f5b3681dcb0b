// Faults the driver reports (issue 9, item 5): each surfaces as a
// zemla::Error carrying the API's own result name, and the device stays
// usable afterwards: a correct decode step runs right after.

#include <gtest/gtest.h>

#include <string>

#include "kernels/mla_cases.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

// The step every fault test runs afterwards to show the device still works.
void expect_device_still_decodes() { expect_matches_reference({"after_fault", DType::bf16, 16, 32, -1, {70, 1}}); }

TEST(Faults, AllocationLargerThanTheDeviceIsRefusedByName) {
  rt::Device& device = testing::test_device();
  const std::size_t too_much = device.info().global_mem_bytes * 4 + (std::size_t{1} << 40);
  try {
    device.allocate(too_much);
    FAIL() << "allocating " << too_much << " bytes succeeded";
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name().rfind("CL_", 0), 0u) << e.what();
    EXPECT_NE(e.result_name(), "CL_SUCCESS");
  }
  expect_device_still_decodes();
}

// A launch the driver rejects (no arguments set): the driver's result name
// comes back, and nothing is left half-enqueued.
TEST(Faults, LaunchTheDriverRejectsCarriesItsResultName) {
  rt::Device& device = testing::test_device();
  rt::Kernel& k = device.kernel({"kv_append", rt::Variant::any, "any"}, "kv_append");
  try {
    device.launch(k, {1, 1, 1}, {64, 1, 1}, false);
    device.finish();
    FAIL() << "a launch with no kernel arguments was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), "CL_INVALID_KERNEL_ARGS") << e.what();
  }
  expect_device_still_decodes();
}

}  // namespace
}  // namespace zemla
