#pragma once
// What every split-KV decode op shares, owned once: its program and split
// kernel, the plan (and a fixed capacity's plans), the upload of the plan's
// tables, the two-stage launch, and the recorded launches with their group
// counts. An op (MlaDecoder, GqaDecoder) adds only what differs: its
// arguments, their checks, their binding to its split kernel, and the split
// geometry it plans with.
//
//   auto plan = decoder.plan(...);             // once per step
//   decoder.upload_plan(plan, workspace);      // once per step
//   for (layer ...) decoder.run(args[layer], plan, workspace);

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "host/decode_planner.hpp"
#include "runtime/device.hpp"
#include "runtime/recording.hpp"
#include "split_combine.hpp"

namespace zemla::ops {

// The sizes a recorded decode is made for: every step of up to max_batch
// requests no longer than max_context_len is planned into one fixed
// workspace layout, so its tables sit at the same offsets every step.
struct DecodeCapacity {
  int max_batch = 0;
  std::int64_t max_splits = 0;  // split rows of the fixed layout
  // max_batch requests at max_context_len, in the fixed layout: the step a
  // recording's buffers are checked against; largest.layout.total is the
  // workspace it needs.
  DecodePlan largest;
  // > 0: every step planned with num_kv_splits -1 splits by this many
  // tokens (batch-invariant, PlannerInputs::split_tokens).
  int split_tokens = 0;
};

// How a split-KV op plans on a device, which needs no kernel: the planner's
// inputs the device and variant set. A decoder plans through one; a
// workspace-size query uses one alone, so it builds no program.
class SplitPlanner {
 public:
  SplitPlanner(const rt::Device& device, rt::Variant variant);
  // `split_tokens` > 0: batch-invariant splits (PlannerInputs::split_tokens).
  DecodePlan plan(std::span<const std::int32_t> seqlens, int heads, const SplitGeometry& geometry, int num_kv_splits,
                  int split_tokens = 0) const;
  // Workspace bytes enough for any plan() of up to `max_batch` requests no
  // longer than `max_context_len` (host/decode_planner.hpp's bound).
  std::size_t workspace_bound(std::int64_t max_context_len, int max_batch, int heads, int num_kv_splits,
                              const SplitGeometry& geometry, int split_tokens = 0) const;
  int compute_units() const { return compute_units_; }

 private:
  int compute_units_;
  int merge_tokens_per_split_;  // the planner's stage-2 cost hint for the variant
};

class SplitKvDecoder {
 public:
  rt::Variant variant() const { return key_.variant; }
  // The program its kernels come from (for Device::loaded_binary).
  const rt::ProgramKey& program() const { return key_; }

  // The plan's tables go into the workspace with one copy; `workspace` must
  // hold plan.layout.total bytes.
  void upload_plan(const DecodePlan& plan, rt::Buffer& workspace) const;

  // Recorded decode (runtime/recording.hpp): each step is planned in the
  // capacity's fixed layout, sets its group counts with set_counts(),
  // uploads them and its plan, and replays.
  static void set_counts(rt::LaunchCounts& counts, const DecodePlan& plan);
  static constexpr std::size_t kSplitSlot = 0, kCombineSlot = 1, kCountSlots = 2;

 protected:
  // `key.variant` is the variant the op chose for the device; `split_local`
  // the split kernel's work-group size.
  // `alt_split_kernel`, when given, is a second stage-1 kernel of the same
  // program and arguments (MLA's with the fused append), picked per call
  // with split_kernel(true).
  SplitKvDecoder(rt::Device& device, rt::ProgramKey key, const char* split_kernel, std::size_t split_local,
                 const char* call, const char* alt_split_kernel = nullptr);

  // `split_tokens` > 0: batch-invariant splits (PlannerInputs::split_tokens).
  DecodePlan plan_with(std::span<const std::int32_t> seqlens, int heads, const SplitGeometry& geometry,
                       int num_kv_splits, int split_tokens = 0) const {
    return planner_.plan(seqlens, heads, geometry, num_kv_splits, split_tokens);
  }
  DecodeCapacity capacity_with(int max_batch, std::int64_t max_context_len, int heads, const SplitGeometry& geometry,
                               int split_tokens = 0) const;
  // plan_with() placed in the capacity's fixed layout; throws when it does not fit.
  DecodePlan plan_in(std::span<const std::int32_t> seqlens, int heads, const SplitGeometry& geometry, int num_kv_splits,
                     const DecodeCapacity& capacity) const;

  // Stage 1 over the plan's (split, head block) groups, its arguments
  // already bound, then stage 2 when the plan splits a request.
  std::optional<DecodeTiming> launch(rt::Kernel& split, const DecodePlan& plan, rt::Buffer& workspace,
                                     const CombineOutput& output, bool timed);
  // Both stages recorded once, bound for capacity.largest; stage 2 is
  // recorded for every step, needed or not: its group count decides.
  void record_launches(rt::Recorder& recorder, const rt::LaunchCounts& counts, rt::Kernel& split,
                       const DecodeCapacity& capacity, rt::Buffer& workspace, const CombineOutput& output);

  rt::Device& device_;
  // The stage-1 kernel: the plain one, or with `alt` the second one.
  rt::Kernel& split_kernel(bool alt = false);

 private:
  static rt::Range3 split_groups(const DecodePlan& plan);

  rt::ProgramKey key_;
  std::size_t split_local_;
  SplitPlanner planner_;
  const char* call_;
  rt::Kernel* split_;
  rt::Kernel* alt_split_ = nullptr;
  SplitCombine combine_;
};

// The split-kernel arguments every op shares, spliced into each op's
// argument list from ops/split_kv/split_kv_args.h: the page table, the
// workspace and the offsets of the plan's tables in it, and the outputs.
template <typename KernelArgs, typename Args>
void bind_shared_args(KernelArgs& k, const Args& a, const DecodePlan& plan, rt::Buffer& workspace) {
  k.num_pages = a.num_pages;
  k.page_size = a.page_size;
  k.page_table = a.page_table;
  k.page_table_stride = a.page_table_stride;
  k.max_pages = a.max_pages;
  k.workspace = &workspace;
  k.ws_lse_offset = float_offset(plan.layout.partial_lse);
  k.ws_work_offset = float_offset(plan.layout.work);
  k.ws_split_begin_offset = float_offset(plan.layout.split_begin);
  k.out = a.out;
  k.out_stride_b = a.out_stride_b;
  k.out_stride_h = a.out_stride_h;
  k.lse = a.lse;
  k.lse_stride_b = a.lse_stride_b;
  k.write_lse = a.lse != nullptr ? 1 : 0;
}

// run() and record() of an op, written once: Op (the derived class)
// defines validate(args, plan, workspace) and bind(args, plan, workspace),
// which sets the arguments of the split kernel the call needs and returns it,
// and Args carries the outputs stage 2 writes (out, out_stride_b,
// out_stride_h, lse, lse_stride_b).
template <typename Op, typename Args>
class SplitKvOp : public SplitKvDecoder {
 public:
  // Validates, then enqueues; with `timed`, waits and returns device times.
  std::optional<DecodeTiming> run(const Args& args, const DecodePlan& plan, rt::Buffer& workspace, bool timed = false) {
    op().validate(args, plan, workspace);
    return launch(op().bind(args, plan, workspace), plan, workspace, output(args), timed);
  }
  // Validates `args` against capacity.largest and records both stages.
  void record(rt::Recorder& recorder, const rt::LaunchCounts& counts, const Args& args, const DecodeCapacity& capacity,
              rt::Buffer& workspace) {
    op().validate(args, capacity.largest, workspace);
    record_launches(recorder, counts, op().bind(args, capacity.largest, workspace), capacity, workspace, output(args));
  }

 protected:
  using SplitKvDecoder::SplitKvDecoder;

 private:
  Op& op() { return static_cast<Op&>(*this); }
  static CombineOutput output(const Args& a) { return {a.out, a.out_stride_b, a.out_stride_h, a.lse, a.lse_stride_b}; }
};

}  // namespace zemla::ops
