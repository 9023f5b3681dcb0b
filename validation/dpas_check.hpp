#pragma once
// One DPAS step (kernels_spirv/common/dpas.clh, through the dpas_probe
// kernel) against a plain matrix multiply: random operands, then identity
// operands that isolate the A, B and C fragment layouts. On a device with
// matrix engines this checks the hardware against the layouts zemla assumes;
// elsewhere, the emulation. Shared by the kernel tests and `zemla validate`.

#include <string>

#include "host/dtype.hpp"
#include "runtime/device.hpp"

namespace zemla::validation {

struct DpasCheck {
  int sub_group = 0;         // N: the sub-group size the loaded binary runs at
  int elements_checked = 0;  // over the three products
  double worst_ratio = 0;    // random operands: max |err| / allowed
  std::string failure;       // the first wrong element, or empty
  bool pass() const { return failure.empty(); }
};

// Tolerance: bf16/fp16 products are exact in fp32, so the only error is fp32
// accumulation over 17 terms, |err| <= 1e-6 x sum |terms|; identity operands
// must reproduce the picked values exactly.
DpasCheck check_dpas_fragments(rt::Device& device, DType dtype);

}  // namespace zemla::validation
