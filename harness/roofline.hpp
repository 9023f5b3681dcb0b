#pragma once
// Published peak numbers for devices zemla is timed on, so a run can say how
// close it came. Matched on the device name; unknown devices get none.

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "host/decode_planner.hpp"

namespace zemla {

struct Roofline {
  double bandwidth_gbs;  // memory bandwidth, GB/s
  double fp32_tflops;    // vector FP32 (no matrix engines)
  const char* source;
};

std::optional<Roofline> known_roofline(std::string_view device_name);

// What one MLA decode step must move and compute (formula in the .cpp).
struct StepCost {
  double bytes = 0;
  double flops = 0;
  double kv_bytes = 0;  // the KV rows' share of `bytes`: every row read once per head block
};
// `kv_row_bytes`: a cached token's bytes, host/fp8.hpp's mla_row_bytes
// (1152 for a 16-bit cache, 576 for FP8, 656 for fp8_ds_mla).
StepCost mla_step_cost(const DecodePlan& plan, std::span<const std::int32_t> seqlens, int kv_row_bytes);
inline constexpr const char* kStepCostFormula =
    "bytes = sum(len)*row_bytes*head_blocks (KV rows, read once per head block; row_bytes 1152, 576 for FP8, "
    "656 for fp8_ds_mla)"
    " + B*H*(576+512)*2 (q, out)"
    " + combine ? splits*H*(512+1)*4*2 : 0 (workspace write+read) + page table; "
    "flops = sum(len)*H*(2*576 + 2*512)";

}  // namespace zemla
