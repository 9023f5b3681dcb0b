// Which variant and binary a device gets, from its reported facts alone: the
// switch `zemla devices` shows and every backend obeys.

#include "runtime/binary_choice.hpp"

#include <gtest/gtest.h>

#include <cstdlib>

#include "zemla/error.hpp"
#include "zemla_kernels/manifest.hpp"

namespace zemla::rt {
namespace {

// The IP version of the first embedded zebin of mla_decode/intel_sg/bf16.
const kernels::KernelBinary* first_zebin() {
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.program == "mla_decode" && b.variant == "intel_sg" && b.dtype == "bf16" &&
        b.format == kernels::BinaryFormat::zebin) {
      return &b;
    }
  }
  return nullptr;
}

const ProgramKey kKey{"mla_decode", "intel_sg", "bf16"};

TEST(BinaryChoice, LevelZeroLoadsTheZebinMatchingItsIpVersion) {
  const auto* zebin = first_zebin();
  if (zebin == nullptr) GTEST_SKIP() << "built with ZEMLA_AOT=OFF: no zebins embedded";
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  gpu.ip_version = zebin->ip_version;
  const auto choice = choose_binary(gpu, kKey);
  EXPECT_EQ(choice.binary, zebin);
  EXPECT_EQ(choice.reason, "native zebin for " + std::string(zebin->target));
}

TEST(BinaryChoice, LevelZeroWithAnUnknownIpTakesSpirvAndFallsBackToIt) {
  if (first_zebin() == nullptr) GTEST_SKIP() << "built with ZEMLA_AOT=OFF: no SPIR-V embedded";
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  gpu.ip_version = (1u << 22) | (2u << 14) | 3u;  // 1.2.3: no such target
  const auto choice = choose_binary(gpu, kKey);
  EXPECT_EQ(choice.binary->format, kernels::BinaryFormat::spirv);
  EXPECT_NE(choice.reason.find("no native zebin for IP 1.2.3"), std::string::npos) << choice.reason;
  // A rejected zebin falls back to the SPIR-V of the same program.
  const auto* fallback = spirv_fallback(kKey);
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback, choice.binary);
  EXPECT_EQ(spirv_fallback({"mla_decode", "intel_sg", "fp8"}), nullptr);
}

TEST(BinaryChoice, OpenClTakesSpirvOnlyWhenTheDeviceTakesIl) {
  DeviceInfo cpu;
  cpu.backend = Backend::opencl;
  cpu.accepts_spirv = false;
  EXPECT_EQ(choose_binary(cpu, {"mla_decode", "portable", "bf16"}).binary->format, kernels::BinaryFormat::opencl_c);
  cpu.accepts_spirv = true;
  const auto with_il = choose_binary(cpu, {"mla_decode", "portable", "bf16"}).binary->format;
  EXPECT_EQ(with_il, first_zebin() ? kernels::BinaryFormat::spirv : kernels::BinaryFormat::opencl_c);
}

TEST(BinaryChoice, UnknownProgramIsNotFound) {
  DeviceInfo cpu;
  try {
    choose_binary(cpu, {"no_such_program", "portable", "bf16"});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kNotFound);
  }
}

TEST(VariantChoice, IntelSubgroupsOf16SelectIntelSg) {
  unsetenv("ZEMLA_VARIANT");
  DeviceInfo d;
  d.backend = Backend::opencl;
  d.sub_group_sizes = {8, 16, 32};
  EXPECT_EQ(choose_variant(d), "portable");
  d.extensions = {"cl_intel_subgroups", "cl_intel_subgroups_short", "cl_intel_required_subgroup_size"};
  EXPECT_EQ(choose_variant(d), "intel_sg");
  d.sub_group_sizes = {8, 32};
  EXPECT_EQ(choose_variant(d), "portable");
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  EXPECT_EQ(choose_variant(gpu), "intel_sg");
}

TEST(VariantChoice, ZemlaVariantOverridesAndIsValidated) {
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  setenv("ZEMLA_VARIANT", "portable", 1);
  EXPECT_EQ(choose_variant(gpu), "portable");
  setenv("ZEMLA_VARIANT", "xmx", 1);
  EXPECT_THROW(choose_variant(gpu), Error);
  unsetenv("ZEMLA_VARIANT");
}

}  // namespace
}  // namespace zemla::rt
