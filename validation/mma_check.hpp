#pragma once
// One mma.m16n8k16 step (kernels_spirv/common/nv_mma.clh, through the
// mma_probe kernel) against a plain matrix multiply: random operands, then
// identity operands that isolate the A, B and C fragment layouts. On an
// NVIDIA GPU this checks the tensor cores against the layouts the nv_mma
// tiles assume; elsewhere, the sub-group emulation. The kernel tests run it.

#include <string>

#include "host/dtype.hpp"
#include "runtime/device.hpp"

namespace zemla::validation {

struct MmaCheck {
  int elements_checked = 0;  // over the three products
  double worst_ratio = 0;    // random operands: max |err| / allowed
  std::string failure;       // the first wrong element, or empty
  bool pass() const { return failure.empty(); }
};

// Tolerance as for DPAS (validation/dpas_check.hpp): |err| <= 1e-6 x sum
// |terms| for random operands, exact for identity operands.
MmaCheck check_mma_fragments(rt::Device& device, DType dtype);

}  // namespace zemla::validation
