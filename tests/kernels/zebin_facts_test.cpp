// ISA facts of the native binaries, read from their .ze_info: a change that
// makes a kernel spill, use private memory, or lose its SIMD width fails here.

#include <gtest/gtest.h>

#include <cstdio>
#include <set>
#include <string>

#include "harness/isa_cost.hpp"
#include "zemla/error.hpp"
#include "zemla_kernels/manifest.hpp"
#include "zemla_kernels/zebin_info.hpp"

namespace zemla {
namespace {

std::vector<const kernels::KernelBinary*> zebins() {
  std::vector<const kernels::KernelBinary*> out;
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.format == kernels::BinaryFormat::zebin) out.push_back(&b);
  }
  return out;
}

TEST(EmbeddedKernels, EveryProgramHasSourceSpirvAndBothNativeTargets) {
  std::set<std::string> targets;
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.program == "mla_decode" && b.variant == "intel_sg") targets.insert(std::string(b.target));
    EXPECT_EQ(b.sha256.size(), 64u);
    EXPECT_GT(b.bytes.size(), 0u);
  }
  EXPECT_TRUE(targets.count("opencl-c") && targets.count("spirv") && targets.count("pvc") && targets.count("acm-g10"));
}

TEST(ZebinFacts, NoKernelSpillsOrUsesPrivateMemory) {
  const auto bins = zebins();
  ASSERT_FALSE(bins.empty()) << "no native zebins embedded (ZEMLA_AOT=OFF?)";
  for (const auto* b : bins) {
    const auto infos = kernels::read_zebin_info(b->bytes);
    ASSERT_FALSE(infos.empty()) << b->program << " " << b->target;
    for (const auto& k : infos) {
      SCOPED_TRACE(std::string(b->program) + "/" + std::string(b->variant) + "/" + std::string(b->dtype) + " " +
                   std::string(b->target) + " " + k.name);
      EXPECT_EQ(k.spill_bytes, 0u);
      EXPECT_EQ(k.private_bytes, 0u);
      // Known on acm-g10 (found by `zemla kernels --cost`): the intel_sg
      // MLA split kernels, SIMD16 on 32-byte registers, keep 288-320 bytes
      // per work-item in private memory, which is global memory there
      // (unrolled, they spill 4 KiB instead; SIMD8, as GQA went, is the
      // way out). Until then it may not grow. The 8-wide intel_xmx build
      // had the same until its loops were unrolled and its next-tile
      // prefetch dropped (ops/mla/mla_variant.clh): it must stay at zero.
      if (b->target == "acm-g10" && b->program == "mla_decode" && b->variant == "intel_sg") {
        EXPECT_LE(k.scratch_bytes, 320u);
      } else {
        EXPECT_EQ(k.scratch_bytes, 0u);
      }
    }
  }
}

// Stage 1 comes as two kernels (mla_decode_split.clh): plain and with the
// fused append. Both must keep the facts, and so must the FP8 builds.
bool is_split_kernel(const std::string& name) {
  return name == "mla_decode_split" || name == "mla_decode_split_append";
}

TEST(ZebinFacts, SplitKernelRunsAtTheRequestedSimd16) {
  int seen = 0;
  for (const auto* b : zebins()) {
    if (b->program != "mla_decode" || b->variant != "intel_sg") continue;
    for (const auto& k : kernels::read_zebin_info(b->bytes)) {
      if (!is_split_kernel(k.name)) continue;
      ++seen;
      EXPECT_EQ(k.simd_size, 16u) << b->target;
      EXPECT_GT(k.slm_bytes, 30000u) << "the KV tile and query live in local memory";
      EXPECT_LE(k.slm_bytes, 65536u) << "more local memory than an Intel GPU gives a work-group";
      if (b->target == "pvc") {
        EXPECT_EQ(k.grf_count, 256u) << "pvc builds use the large register file";
      }
    }
  }
  // 2 kernels (plain, fused append) x 2 dtypes x 2 targets, and the plain
  // kernel of the 5 FP8 builds (2 dtypes x 2 formats, and fp8_ds_mla) x 2 targets.
  EXPECT_EQ(seen, 18);
}

// The `dpas` instructions in a kernel's disassembly (harness/isa_cost.hpp
// runs iga64, as `zemla kernels --cost` does).
int dpas_in_disassembly(const kernels::KernelBinary& b, const std::string& kernel) {
  const std::string text = isa::disassemble(kernels::kernel_isa(b.bytes, kernel), b.target, ZEMLA_IGA64);
  int count = 0;
  for (const auto& ins : isa::parse_disassembly(text)) count += ins.opcode.starts_with("dpas") ? 1 : 0;
  return count;
}

// The XMX split kernel on the matrix engines: DPAS in .ze_info, the systolic
// width as SIMD width (16 on Xe-HPC, 8 on Xe-HPG), and per KV tile the dpas
// instructions the mapping in ops/mla/xmx_tiles.clh implies: 6 K-steps of
// scores and 2 x 2 P.V blocks per sub-group, so 10 in the unrolled tile loop.
// A change that sends either product back to FMAs drops the count and fails.
TEST(ZebinFacts, XmxSplitKernelUsesDpasAtTheSystolicWidth) {
  int seen = 0;
  for (const auto* b : zebins()) {
    if (b->program != "mla_decode" || b->variant != "intel_xmx") continue;
    for (const auto& k : kernels::read_zebin_info(b->bytes)) {
      if (!is_split_kernel(k.name)) continue;
      ++seen;
      SCOPED_TRACE(std::string(b->target) + " " + std::string(b->dtype));
      EXPECT_TRUE(k.has_dpas);
      EXPECT_EQ(k.simd_size, b->target == "pvc" ? 16u : 8u);
      if (b->target == "pvc") {
        EXPECT_EQ(k.grf_count, 256u);
      }
      const int dpas = dpas_in_disassembly(*b, k.name);
      RecordProperty(std::string(b->target) + "_" + std::string(b->dtype) + "_" + k.name + "_dpas", dpas);
      std::printf("%s %s %s: %d dpas per KV tile\n", std::string(b->target).c_str(), std::string(b->dtype).c_str(),
                  k.name.c_str(), dpas);
      EXPECT_EQ(dpas, 10);
    }
  }
  // 2 kernels (plain, fused append) x 2 dtypes x 2 targets, and the plain
  // kernel of the 5 FP8 builds (2 dtypes x 2 formats, and fp8_ds_mla) x 2 targets.
  EXPECT_EQ(seen, 18);
}

TEST(ZebinFacts, TheOtherVariantsUseNoDpas) {
  for (const auto* b : zebins()) {
    if (b->variant == "intel_xmx") continue;
    for (const auto& k : kernels::read_zebin_info(b->bytes)) {
      EXPECT_FALSE(k.has_dpas) << b->program << "/" << b->variant << " " << b->target << " " << k.name;
    }
  }
}

TEST(ZebinInfoReader, RejectsTruncatedAndNonElfInput) {
  const auto bins = zebins();
  ASSERT_FALSE(bins.empty());
  const auto bytes = bins.front()->bytes;
  EXPECT_THROW(kernels::read_zebin_info(bytes.first(40)), Error);
  EXPECT_THROW(kernels::read_zebin_info(bytes.first(bytes.size() / 2)), Error);
  const unsigned char junk[64] = {'n', 'o', 't', 'e', 'l', 'f'};
  EXPECT_THROW(kernels::read_zebin_info(junk), Error);
}

}  // namespace
}  // namespace zemla
