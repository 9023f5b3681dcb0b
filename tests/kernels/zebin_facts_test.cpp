// ISA facts of the native binaries, read from their .ze_info: a change that
// makes a kernel spill, use private memory, or lose its SIMD width fails here.

#include <gtest/gtest.h>

#include <set>

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
      EXPECT_EQ(k.scratch_bytes, 0u);
    }
  }
}

TEST(ZebinFacts, SplitKernelRunsAtTheRequestedSimd16) {
  int seen = 0;
  for (const auto* b : zebins()) {
    if (b->program != "mla_decode") continue;
    for (const auto& k : kernels::read_zebin_info(b->bytes)) {
      if (k.name != "mla_decode_split") continue;
      ++seen;
      EXPECT_EQ(k.simd_size, 16u) << b->target;
      EXPECT_GT(k.slm_bytes, 30000u) << "the KV tile and query live in local memory";
      if (b->target == "pvc") {
        EXPECT_EQ(k.grf_count, 256u) << "pvc builds use the large register file";
      }
    }
  }
  EXPECT_EQ(seen, 4);  // 2 dtypes x 2 targets
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
