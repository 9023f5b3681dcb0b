// The larger sweep (label `slow`, outside the default test command): every
// page size x dtype x H in {8, 16, 24, 32, 64, 128} x splits in {auto, 1, 7, 64}.

#include "kernels/mla_cases.hpp"

namespace zemla {
namespace {

std::vector<Case> sweep() {
  std::vector<Case> cases;
  for (int ps : {16, 32, 64, 128}) {
    for (DType dt : {DType::bf16, DType::f16}) {
      for (int heads : {8, 16, 24, 32, 64, 128}) {
        for (int splits : {-1, 1, 7, 64}) {
          auto lens = edge_lengths(ps);
          lens.push_back(4096 + ps / 2);
          cases.push_back({"page" + std::to_string(ps) + "_" + std::string(dtype_name(dt)) + "_H" +
                               std::to_string(heads) + "_splits" + (splits < 0 ? "auto" : std::to_string(splits)),
                           dt, heads, ps, splits, lens});
        }
      }
    }
  }
  return cases;
}

class MlaDecodeSweep : public ::testing::TestWithParam<Case> {};
TEST_P(MlaDecodeSweep, MatchesReferenceWithinTolerance) { expect_matches_reference(GetParam()); }
INSTANTIATE_TEST_SUITE_P(Slow, MlaDecodeSweep, ::testing::ValuesIn(sweep()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace zemla
