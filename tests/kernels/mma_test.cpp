// nv_mma_k16 (kernels_spirv/common/nv_mma.clh) against a plain matrix
// multiply (validation/fragment_check): row-major operands are packed into the
// PTX ISA's m16n8k16 fragments on the device, so a wrong A, B or C layout,
// or a wrong emulation, gives wrong elements. On Intel's CPU runtime the
// sub-group-32 emulation runs; on an NVIDIA GPU, the tensor cores.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/device_fixture.hpp"
#include "validation/fragment_check.hpp"

namespace zemla {
namespace {

class MmaFragments : public ::testing::TestWithParam<DType> {};

TEST_P(MmaFragments, MatchAPlainMatrixMultiplyAndEachFragmentLayout) {
  const auto r = validation::check_mma_fragments(testing::test_device(), GetParam());
  EXPECT_TRUE(r.pass()) << r.failure;
  EXPECT_EQ(r.elements_checked, 3 * 16 * 8);
  std::printf("worst err / tolerance %.3f\n", r.worst_ratio);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, MmaFragments, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace zemla
