// zemla_mad_k16 (kernels_spirv/common/dpas.clh) against a plain matrix
// multiply (validation/fragment_check): row-major operands are packed into the
// extension's fragments on the device, so a wrong A, B or C layout, or a
// wrong emulation, gives wrong elements. On Intel's CPU runtime the
// emulation runs, at sub-group 16 or (ZEMLA_XMX_EMULATION=sg8) 8.

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "kernels/device_fixture.hpp"
#include "validation/fragment_check.hpp"

namespace zemla {
namespace {

class DpasEmulation : public ::testing::TestWithParam<DType> {};

TEST_P(DpasEmulation, MatchesAPlainMatrixMultiplyAndEachFragmentLayout) {
  const auto r = validation::check_dpas_fragments(testing::test_device(), GetParam());
  EXPECT_TRUE(r.pass()) << "sub-group " << r.sub_group << ": " << r.failure;
  EXPECT_EQ(r.elements_checked, 3 * 8 * r.sub_group);
  if (const auto want = testing::expected("ZEMLA_XMX_EMULATION"); !want.empty()) {
    EXPECT_EQ("sg" + std::to_string(r.sub_group), want);
  }
  std::printf("sub-group %d: worst err / tolerance %.3f\n", r.sub_group, r.worst_ratio);
}

INSTANTIATE_TEST_SUITE_P(Dtypes, DpasEmulation, ::testing::Values(DType::bf16, DType::f16),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

}  // namespace
}  // namespace zemla
