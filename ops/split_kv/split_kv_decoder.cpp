#include "split_kv_decoder.hpp"

#include <string>
#include <utility>
#include <vector>

#include "runtime/binary_choice.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

SplitPlanner::SplitPlanner(const rt::Device& device, rt::Variant variant)
    : compute_units_(planner_compute_units(device)),
      // Matrix-engine variants run the main loop ~2.5x faster per token
      // (nv_mma against portable on the H100): a split's merge weighs more.
      merge_tokens_per_split_(rt::is_matrix_variant(variant) ? planner::kMergeTokensPerSplitMatrix
                                                             : planner::kMergeTokensPerSplit) {}

DecodePlan SplitPlanner::plan(std::span<const std::int32_t> seqlens, int heads, const SplitGeometry& geometry,
                              int num_kv_splits, int split_tokens) const {
  return plan_decode({seqlens, heads, compute_units_, num_kv_splits, geometry, merge_tokens_per_split_, split_tokens});
}

std::size_t SplitPlanner::workspace_bound(std::int64_t max_context_len, int max_batch, int heads, int num_kv_splits,
                                          const SplitGeometry& geometry, int split_tokens) const {
  return workspace_bytes(max_context_len, max_batch, heads, compute_units_, num_kv_splits, geometry, split_tokens);
}

SplitKvDecoder::SplitKvDecoder(rt::Device& device, rt::ProgramKey key, const char* split_kernel,
                               std::size_t split_local, const char* call, const char* alt_split_kernel)
    : device_(device),
      key_(std::move(key)),
      split_local_(split_local),
      planner_(device, key_.variant),
      call_(call),
      split_(&device_.kernel(key_, split_kernel)),
      alt_split_(alt_split_kernel ? &device_.kernel(key_, alt_split_kernel) : nullptr),
      combine_(device_, key_) {}

rt::Kernel& SplitKvDecoder::split_kernel(bool alt) {
  require(!alt || alt_split_ != nullptr, call_, "this decoder has no second split kernel");
  return alt ? *alt_split_ : *split_;
}

DecodeCapacity SplitKvDecoder::capacity_with(int max_batch, std::int64_t max_context_len, int heads,
                                             const SplitGeometry& geometry, int split_tokens) const {
  require(max_batch > 0 && max_context_len > 0 && max_context_len <= INT32_MAX, call_, [&] {
    return "capacity of " + std::to_string(max_batch) + " requests of " + std::to_string(max_context_len) +
           " tokens must be positive (and fit int32)";
  });
  DecodeCapacity c;
  c.max_batch = max_batch;
  c.split_tokens = split_tokens;
  c.max_splits =
      max_total_splits(max_context_len, max_batch, heads, planner_.compute_units(), -1, geometry, split_tokens);
  c.largest =
      plan_in(std::vector<std::int32_t>(max_batch, static_cast<std::int32_t>(max_context_len)), heads, geometry, -1, c);
  return c;
}

DecodePlan SplitKvDecoder::plan_in(std::span<const std::int32_t> seqlens, int heads, const SplitGeometry& geometry,
                                   int num_kv_splits, const DecodeCapacity& capacity) const {
  DecodePlan p = plan_with(seqlens, heads, geometry, num_kv_splits, num_kv_splits == -1 ? capacity.split_tokens : 0);
  place_in_fixed_layout(p, capacity.max_splits, capacity.max_batch);
  return p;
}

void SplitKvDecoder::upload_plan(const DecodePlan& plan, rt::Buffer& workspace) const {
  upload_plan_tables(device_, plan, workspace, call_);
}

rt::Range3 SplitKvDecoder::split_groups(const DecodePlan& plan) {
  // One dimension, split-major: split_and_head_block in split_combine.clh
  // says why.
  return {static_cast<std::size_t>(plan.total_splits()) * static_cast<std::size_t>(plan.head_blocks), 1, 1};
}

std::optional<DecodeTiming> SplitKvDecoder::launch(rt::Kernel& split, const DecodePlan& plan, rt::Buffer& workspace,
                                                   const CombineOutput& output, bool timed) {
  // run_stages binds the combine kernel only when the plan needs it.
  return combine_.run_stages(device_, split, split_groups(plan), {split_local_, 1, 1}, plan, workspace, output, timed);
}

void SplitKvDecoder::record_launches(rt::Recorder& recorder, const rt::LaunchCounts& counts, rt::Kernel& split,
                                     const DecodeCapacity& capacity, rt::Buffer& workspace,
                                     const CombineOutput& output) {
  combine_.bind(capacity.largest, workspace, output);
  recorder.launch(split, counts, kSplitSlot, {split_local_, 1, 1});
  recorder.launch(combine_.kernel(), counts, kCombineSlot, {SplitCombine::kGroup, 1, 1});
}

void SplitKvDecoder::set_counts(rt::LaunchCounts& counts, const DecodePlan& plan) {
  counts.set(kSplitSlot, split_groups(plan));
  counts.set(kCombineSlot, SplitCombine::recorded_groups(plan));
}

}  // namespace zemla::ops
