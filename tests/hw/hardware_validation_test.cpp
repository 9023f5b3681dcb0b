// Hardware validation (label `hw`): each check of validation/hw_suite on the
// first Level Zero GPU, the same list `zemla validate` runs. Without a GPU
// every test skips and says why; with ZEMLA_REQUIRE_HW=1 that is a failure
// instead, so a validation run on a machine that lost its GPU cannot pass.

#include <gtest/gtest.h>

#include "validation/hw_suite.hpp"

namespace zemla::validation {

void PrintTo(const Check& check, std::ostream* os) { *os << check.name; }

namespace {

rt::Device* gpu(std::string& why) {
  static std::string reason;
  static std::unique_ptr<rt::Device> device = find_level_zero_gpu(reason);
  why = reason;
  return device.get();
}

class HardwareValidation : public ::testing::TestWithParam<Check> {};

TEST_P(HardwareValidation, OnLevelZeroGpu) {
  std::string why;
  rt::Device* device = gpu(why);
  if (device == nullptr) {
    if (hardware_required()) FAIL() << why << " (ZEMLA_REQUIRE_HW=1)";
    GTEST_SKIP() << why;
  }
  const CheckOutcome outcome = GetParam().run(*device);
  if (outcome.status == CheckOutcome::Status::skip) GTEST_SKIP() << outcome.detail;
  EXPECT_EQ(outcome.status, CheckOutcome::Status::pass) << outcome.detail;
  RecordProperty("detail", outcome.detail);
}

INSTANTIATE_TEST_SUITE_P(Suite, HardwareValidation, ::testing::ValuesIn(hardware_checks()),
                         [](const ::testing::TestParamInfo<Check>& info) { return info.param.name; });

}  // namespace
}  // namespace zemla::validation
