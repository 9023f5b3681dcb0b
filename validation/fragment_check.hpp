#pragma once
// One matrix-engine step against a plain matrix multiply, for the two
// fragment conventions zemla packs by hand: DPAS (kernels_spirv/common/
// dpas.clh, through the dpas_probe kernel) and NVIDIA's mma.m16n8k16
// (common/nv_mma.clh, through mma_probe). Each probe packs row-major
// operands into fragments on the device, takes one step and unpacks C, so a
// wrong A, B or C layout gives wrong elements: random operands against fp64,
// then identity operands that isolate the layouts. On a device with the
// matrix engines this checks the hardware against the layouts zemla
// assumes; elsewhere, the emulation. Shared by the kernel tests and
// `zemla validate`.

#include <string>

#include "host/dtype.hpp"
#include "runtime/device.hpp"

namespace zemla::validation {

struct FragmentCheck {
  int sub_group = 0;         // the sub-group size (DPAS: N) the loaded binary runs at
  int elements_checked = 0;  // over the three products
  double worst_ratio = 0;    // random operands: max |err| / allowed
  std::string failure;       // the first wrong element, or empty
  bool pass() const { return failure.empty(); }
};

// Tolerance: bf16/fp16 products are exact in fp32, so the only error is fp32
// accumulation over 17 terms, |err| <= 1e-6 x sum |terms|; identity operands
// must reproduce the picked values exactly.
//
// DPAS: M = 8, K = 16, N = the sub-group size (16, or 8 for the acm-g10
// zebin and the sg8 emulation).
FragmentCheck check_dpas_fragments(rt::Device& device, DType dtype);
// mma.m16n8k16: M = 16, N = 8, K = 16, one warp of 32.
FragmentCheck check_mma_fragments(rt::Device& device, DType dtype);

}  // namespace zemla::validation
