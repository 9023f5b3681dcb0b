// The Level Zero backend's whole call sequence against the loader's null
// driver, with the validation layer checking every parameter. The null driver
// computes nothing, so this pins the sequence (discovery, allocation, module
// from SPIR-V, kernels, arguments, launches, timestamps, copies, teardown),
// not numbers. ctest sets the environment; see tests/CMakeLists.txt.

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "host/mla_problem.hpp"
#include "runtime/ops/kv_append.hpp"
#include "runtime/ops/mla_runner.hpp"
#include "runtime/select.hpp"
#include "runtime/ze/ze_device.hpp"
#include "zemla/error.hpp"

namespace zemla {
namespace {

bool env_is(const char* name, const char* value) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string(v) == value;
}

class LevelZeroNullDriver : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(env_is("ZE_ENABLE_NULL_DRIVER", "1")) << "run through ctest: it sets up the null driver";
    ASSERT_TRUE(env_is("ZE_ENABLE_VALIDATION_LAYER", "1"));
    ASSERT_TRUE(env_is("ZE_ENABLE_PARAMETER_VALIDATION", "1"));
    const auto a = rt::ze::availability();
    ASSERT_TRUE(a.available) << a.reason;
  }
};

TEST_F(LevelZeroNullDriver, DiscoversTheNullDeviceWithItsProperties) {
  const auto devices = rt::ze::enumerate();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].name, "Null Device");
  EXPECT_EQ(devices[0].backend, rt::Backend::level_zero);
  // auto selection prefers a Level Zero GPU over every OpenCL device.
  const auto chosen = rt::open_device({"auto", -1});
  EXPECT_EQ(chosen->info().backend, rt::Backend::level_zero);
}

TEST_F(LevelZeroNullDriver, RunsCopyModuleKernelLaunchAndTimestampSequence) {
  auto device = rt::ze::open(0);
  std::vector<std::uint16_t> host(16 * 576, 7);
  auto cache = device->allocate(host.size() * 2);
  device->write_vector(*cache, host);
  auto rows = device->allocate(576 * 2);
  auto slots = device->allocate(4);
  const std::vector<std::int32_t> slot{3};
  device->write_vector(*slots, slot);
  ops::KvAppender appender(*device);  // module from SPIR-V: the null device reports no IP version
  appender.run({cache.get(), 1, 16, 0, 0, rows.get(), 0, slots.get(), 1});
  const auto* bin = device->loaded_binary({"kv_append", "any", "any"});
  ASSERT_NE(bin, nullptr);
  EXPECT_EQ(bin->format, kernels::BinaryFormat::spirv);
  device->finish();
  device->read(*cache, host.data(), host.size() * 2);
}

TEST_F(LevelZeroNullDriver, RunsTheFullMlaDecodeSequenceWithCombineAndTiming) {
  auto device = rt::ze::open(0);
  RandomMlaSpec spec;
  spec.seqlens = {300, 17, 0};
  spec.heads = 24;
  const auto problem = make_random_problem(spec);
  // Explicit splits force stage 2 too; two timed iterations use the event pool.
  const auto outcome = ops::run_mla_problem(*device, problem, {4, 1, 2, true});
  EXPECT_TRUE(outcome.plan.needs_combine);
  EXPECT_EQ(outcome.variant, "intel_sg");
  EXPECT_EQ(outcome.binary, "spirv");
  EXPECT_EQ(outcome.timings.size(), 2u);
}

TEST_F(LevelZeroNullDriver, ReportsErrorsWithTheLevelZeroResultName) {
  auto device = rt::ze::open(0);
  try {
    rt::ze::open(5);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kNotFound);
    EXPECT_NE(std::string(e.what()).find("index 5"), std::string::npos);
  }
  auto buffer = device->allocate(64);
  std::vector<char> too_big(128);
  EXPECT_THROW(device->write(*buffer, too_big.data(), too_big.size()), Error);
}

}  // namespace
}  // namespace zemla
