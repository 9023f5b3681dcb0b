#pragma once
// What MLA and GQA split-KV decode share: stage 2 (the split_kv_combine
// kernel of ops/split_kv/split_combine.clh, its arguments and launch
// size), the plan upload, the two-stage launch, and small argument helpers.

#include <cstdint>
#include <optional>

#include "host/decode_planner.hpp"
#include "launch_checks.hpp"
#include "runtime/device.hpp"

namespace zemla::ops {

// Device times of one decode call.
struct DecodeTiming {
  double split_ms = 0;
  double combine_ms = 0;  // 0 when the plan needs no combine
};

struct CombineOutput {
  rt::Buffer* out = nullptr;  // [batch, heads, value_dim] at the strides below
  std::int64_t out_stride_b = 0, out_stride_h = 0;
  rt::Buffer* lse = nullptr;  // optional fp32 [batch, heads]
  std::int64_t lse_stride_b = 0;
};

// A buffer's size as the launch checks take it; kNoBuffer for an absent one.
inline std::int64_t checked_bytes(const rt::Buffer* b) {
  return b == nullptr ? launch_checks::kNoBuffer : static_cast<std::int64_t>(b->bytes());
}

// A workspace byte offset in the kernels' float (4-byte) units.
inline std::int64_t float_offset(std::size_t bytes) { return static_cast<std::int64_t>(bytes / sizeof(float)); }

// The compute units the planner fills on `device` (at least one).
inline int planner_compute_units(const rt::Device& device) {
  return device.info().compute_units > 0 ? device.info().compute_units : 1;
}

// The plan's tables (work rows, split_begin) into `workspace` with one copy;
// the workspace must hold plan.layout.total bytes.
void upload_plan_tables(rt::Device& device, const DecodePlan& plan, rt::Buffer& workspace, const char* call);

class SplitCombine {
 public:
  // The combine kernel of the program `key` (every decode program carries one).
  SplitCombine(rt::Device& device, const rt::ProgramKey& key);

  rt::Kernel& kernel() const { return *kernel_; }
  void bind(const DecodePlan& plan, rt::Buffer& workspace, const CombineOutput& output);
  // One group per (head, request) of the plan.
  static rt::Range3 groups(const DecodePlan& plan);
  // The same for a recorded launch: a plan without splits still launches
  // one row of groups (they return at once), as zero groups is not a valid
  // indirect launch everywhere.
  static rt::Range3 recorded_groups(const DecodePlan& plan);
  static constexpr std::size_t kGroup = 128;

  // Launches stage 1 (`split`, its arguments set, over `split_groups`), then
  // this stage 2 when the plan splits a request; with `timed`, waits and
  // returns both device times.
  std::optional<DecodeTiming> run_stages(rt::Device& device, rt::Kernel& split, rt::Range3 split_groups,
                                         rt::Range3 split_local, const DecodePlan& plan, rt::Buffer& workspace,
                                         const CombineOutput& output, bool timed);

 private:
  rt::Kernel* kernel_;
};

}  // namespace zemla::ops
