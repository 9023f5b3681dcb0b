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

const ProgramKey kKey{"mla_decode", Variant::intel_sg, "bf16"};

TEST(BinaryChoice, LevelZeroLoadsTheZebinMatchingItsIpVersion) {
  const auto* zebin = first_zebin();
  if (zebin == nullptr) GTEST_SKIP() << "built with ZEMLA_AOT=OFF: no zebins embedded";
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  gpu.ip_version = zebin->ip_version;
  const auto choice = choose_binary(gpu, kKey, 16);
  EXPECT_EQ(choice.binary, zebin);
  EXPECT_EQ(choice.reason, "native zebin for " + std::string(zebin->target));
}

TEST(BinaryChoice, LevelZeroWithAnUnknownIpTakesSpirvAndFallsBackToIt) {
  if (first_zebin() == nullptr) GTEST_SKIP() << "built with ZEMLA_AOT=OFF: no SPIR-V embedded";
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  gpu.ip_version = (1u << 22) | (2u << 14) | 3u;  // 1.2.3: no such target
  const auto choice = choose_binary(gpu, kKey, 16);
  EXPECT_EQ(choice.binary->format, kernels::BinaryFormat::spirv);
  EXPECT_NE(choice.reason.find("no native zebin for IP 1.2.3"), std::string::npos) << choice.reason;
  // A rejected zebin falls back to the SPIR-V of the same program.
  const auto* fallback = spirv_fallback(kKey);
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback, choice.binary);
  EXPECT_EQ(spirv_fallback({"mla_decode", Variant::intel_sg, "fp8"}), nullptr);
}

TEST(BinaryChoice, OpenClTakesSpirvOnlyWhenTheDeviceTakesIl) {
  DeviceInfo cpu;
  cpu.backend = Backend::opencl;
  cpu.accepts_spirv = false;
  EXPECT_EQ(choose_binary(cpu, {"mla_decode", Variant::portable, "bf16"}, 16).binary->format,
            kernels::BinaryFormat::opencl_c);
  cpu.accepts_spirv = true;
  const auto with_il = choose_binary(cpu, {"mla_decode", Variant::portable, "bf16"}, 16).binary->format;
  EXPECT_EQ(with_il, first_zebin() ? kernels::BinaryFormat::spirv : kernels::BinaryFormat::opencl_c);
}

TEST(BinaryChoice, UnknownProgramIsNotFound) {
  DeviceInfo cpu;
  try {
    choose_binary(cpu, {"no_such_program", Variant::portable, "bf16"}, 16);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kNotFound);
  }
}

TEST(VariantChoice, IntelSubgroupsOf16SelectIntelSg) {
  DeviceInfo d;
  d.backend = Backend::opencl;
  d.sub_group_sizes = {8, 16, 32};
  EXPECT_EQ(choose_variant(d, std::nullopt), Variant::portable);
  d.extensions = {"cl_intel_subgroups", "cl_intel_subgroups_short", "cl_intel_required_subgroup_size"};
  EXPECT_EQ(choose_variant(d, std::nullopt), Variant::intel_sg);
  d.sub_group_sizes = {8, 32};
  EXPECT_EQ(choose_variant(d, std::nullopt), Variant::portable);
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  EXPECT_EQ(choose_variant(gpu, std::nullopt), Variant::intel_sg);
}

// Matrix engines select intel_xmx for a program that has it; the others
// (GQA) keep intel_sg on the same device.
TEST(VariantChoice, MatrixEnginesSelectIntelXmxWhereTheProgramHasIt) {
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  gpu.matrix_engines = true;
  EXPECT_EQ(choose_variant(gpu, std::nullopt), Variant::intel_xmx);
  EXPECT_EQ(choose_variant(gpu, std::nullopt, /*program_has_matrix=*/false), Variant::intel_sg);
  DeviceInfo cl;
  cl.backend = Backend::opencl;
  cl.sub_group_sizes = {16};
  cl.matrix_engines = true;
  EXPECT_EQ(choose_variant(cl, std::nullopt), Variant::portable)
      << "DPAS alone, without Intel sub-groups, is not enough";
  cl.extensions = {"cl_intel_subgroups", "cl_intel_subgroups_short", "cl_intel_required_subgroup_size"};
  EXPECT_EQ(choose_variant(cl, std::nullopt), Variant::intel_xmx);
}

// NVIDIA's OpenCL reports its compute capability: from sm_80 on, MLA decode
// runs on the tensor cores (nv_mma); GQA, without such a variant, and older
// GPUs stay portable.
TEST(VariantChoice, NvidiaFromSm80SelectsNvMmaWhereTheProgramHasIt) {
  DeviceInfo h100;
  h100.backend = Backend::opencl;
  h100.is_gpu = true;
  h100.nv_compute_capability = 90;
  EXPECT_EQ(choose_variant(h100, std::nullopt), Variant::nv_mma);
  EXPECT_TRUE(is_matrix_variant(choose_variant(h100, std::nullopt)));
  EXPECT_EQ(choose_variant(h100, std::nullopt, /*program_has_matrix=*/false), Variant::portable);
  EXPECT_FALSE(is_matrix_variant(Variant::portable));
  EXPECT_FALSE(is_matrix_variant(Variant::intel_sg));
  EXPECT_TRUE(is_matrix_variant(Variant::intel_xmx));
  h100.nv_compute_capability = 75;
  EXPECT_EQ(choose_variant(h100, std::nullopt), Variant::portable) << "mma.sync with bf16 inputs needs sm_80";
  h100.nv_compute_capability = 90;
  EXPECT_EQ(choose_variant(h100, Variant::portable), Variant::portable) << "a forced variant wins";
  // The nv_mma program is OpenCL C only: NVIDIA's compiler builds it, told
  // the GPU's compute capability (the FP8 conversion needs sm_90).
  h100.accepts_spirv = false;
  EXPECT_EQ(choose_binary(h100, {"mla_decode", Variant::nv_mma, "bf16"}, 16).binary->format,
            kernels::BinaryFormat::opencl_c);
  EXPECT_EQ(source_defines(h100), "-DZEMLA_NV_SM=90");
  h100.nv_compute_capability = 80;
  EXPECT_EQ(source_defines(h100), "-DZEMLA_NV_SM=80");
  EXPECT_EQ(source_defines(DeviceInfo{}), "") << "a device that is not an NVIDIA GPU gets no NVIDIA facts";
}

// nv_mma off an NVIDIA GPU loads the SPIR-V that emulates mma.sync on
// Intel sub-groups of 32 (how CI runs it), or is refused by name where the
// device takes no SPIR-V (PoCL).
TEST(BinaryChoice, NvMmaOffAnNvidiaGpuLoadsTheEmulation) {
  if (first_zebin() == nullptr) GTEST_SKIP() << "built with ZEMLA_AOT=OFF: no SPIR-V embedded";
  const ProgramKey mma{"mla_decode", Variant::nv_mma, "bf16"};
  DeviceInfo cpu;
  cpu.backend = Backend::opencl;
  cpu.accepts_spirv = true;
  const auto choice = choose_binary(cpu, mma, 16);
  EXPECT_EQ(choice.binary->target, "emulated-sg32");
  EXPECT_NE(std::string_view(choice.binary->build_options).find("-DZEMLA_NV_MMA_EMULATION"), std::string_view::npos);
  cpu.accepts_spirv = false;
  try {
    choose_binary(cpu, mma, 16);
    FAIL() << "nv_mma without SPIR-V or an NVIDIA GPU was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.result_name(), kNotFound);
    EXPECT_NE(std::string(e.what()).find("NVIDIA GPUs of sm_80"), std::string::npos) << e.what();
  }
}

// intel_xmx where the device has no matrix engines loads the SPIR-V that
// emulates DPAS, at the sub-group size ZEMLA_XMX_EMULATION names (through
// Settings); with
// them, the DPAS SPIR-V or the native zebin.
TEST(BinaryChoice, IntelXmxWithoutMatrixEnginesLoadsTheEmulation) {
  if (first_zebin() == nullptr) GTEST_SKIP() << "built with ZEMLA_AOT=OFF: no SPIR-V embedded";
  const ProgramKey xmx{"mla_decode", Variant::intel_xmx, "bf16"};
  DeviceInfo cpu;
  cpu.backend = Backend::opencl;
  cpu.accepts_spirv = true;
  auto choice = choose_binary(cpu, xmx, 16);
  EXPECT_EQ(choice.binary->target, "emulated-sg16");
  EXPECT_NE(choice.reason.find("emulated DPAS"), std::string::npos) << choice.reason;
  EXPECT_EQ(choose_binary(cpu, xmx, 8).binary->target, "emulated-sg8");
  cpu.matrix_engines = true;
  EXPECT_EQ(choose_binary(cpu, xmx, 16).binary->target, "spirv");
  EXPECT_NE(std::string_view(choose_binary(cpu, xmx, 16).binary->build_options)
                .find("-Dcl_intel_subgroup_matrix_multiply_accumulate"),
            std::string_view::npos);
  const auto* fallback = spirv_fallback(xmx);
  ASSERT_NE(fallback, nullptr);
  EXPECT_EQ(fallback->target, "spirv") << "a rejected zebin falls back to DPAS SPIR-V, not the emulation";
}

TEST(VariantChoice, AForcedVariantOverrides) {
  DeviceInfo gpu;
  gpu.backend = Backend::level_zero;
  EXPECT_EQ(choose_variant(gpu, Variant::portable), Variant::portable);
  EXPECT_EQ(choose_variant(gpu, Variant::intel_xmx), Variant::intel_xmx);
  EXPECT_EQ(choose_variant(gpu, Variant::intel_xmx, /*program_has_matrix=*/false), Variant::intel_sg);
}

TEST(VariantChoice, EachVariantHasOneName) {
  for (const auto v : {Variant::any, Variant::portable, Variant::intel_sg, Variant::intel_xmx, Variant::nv_mma}) {
    EXPECT_EQ(parse_variant(variant_name(v)), v) << variant_name(v);
  }
  EXPECT_EQ(parse_variant("xmx"), std::nullopt);
  // Every embedded binary's variant is one of them.
  for (const auto& b : kernels::embedded_kernels()) EXPECT_TRUE(parse_variant(b.variant).has_value()) << b.variant;
}

}  // namespace
}  // namespace zemla::rt
