#include "runtime/ops/mla_decode.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>

#include "host/mla_decode_checks.hpp"
#include "host/mla_shape.hpp"
#include "kernels_spirv/mla_decode_args.h"
#include "runtime/binary_choice.hpp"
#include "runtime/kernel_args.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {

constexpr const char* kCall = "mla_decode";
constexpr std::size_t kSplitGroup = mla::kHeadBlock * mla::kTile;  // 256, the kernels' reqd size

ZEMLA_KERNEL_ARGS_STRUCT(SplitKernelArgs, MLA_DECODE_SPLIT_ARGS);

}  // namespace

MlaDecoder::MlaDecoder(rt::Device& device, DType dtype)
    : device_(device),
      variant_(rt::choose_variant(device.info())),
      key_{"mla_decode", variant_, std::string(dtype_name(dtype))},
      // Matrix-engine variants run the main loop ~2.5x faster per token
      // (nv_mma against portable on the H100): a split's merge weighs more.
      merge_tokens_per_split_(rt::is_matrix_variant(variant_) ? planner::kMergeTokensPerSplitMatrix
                                                              : planner::kMergeTokensPerSplit),
      split_(&device_.kernel(key_, "mla_decode_split")),
      combine_(device_, key_) {}

DecodePlan MlaDecoder::plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits) const {
  return plan_decode({seqlens, heads, planner_compute_units(device_), num_kv_splits, {}, merge_tokens_per_split_});
}

DecodeCapacity MlaDecoder::capacity(int max_batch, std::int64_t max_context_len, int heads) const {
  require(max_batch > 0 && max_context_len > 0 && max_context_len <= INT32_MAX, kCall, [&] {
    return "capacity of " + std::to_string(max_batch) + " requests of " + std::to_string(max_context_len) +
           " tokens must be positive (and fit int32)";
  });
  DecodeCapacity c;
  c.max_batch = max_batch;
  c.max_splits = max_total_splits(max_context_len, max_batch, heads, planner_compute_units(device_), -1);
  c.largest = plan(std::vector<std::int32_t>(max_batch, static_cast<std::int32_t>(max_context_len)), heads, -1, c);
  return c;
}

DecodePlan MlaDecoder::plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits,
                            const DecodeCapacity& capacity) const {
  DecodePlan p = plan(seqlens, heads, num_kv_splits);
  place_in_fixed_layout(p, capacity.max_splits, capacity.max_batch);
  return p;
}

void MlaDecoder::upload_plan(const DecodePlan& plan, rt::Buffer& workspace) const {
  upload_plan_tables(device_, plan, workspace, kCall);
}

void MlaDecoder::validate(const MlaDecodeArgs& a, const DecodePlan& plan, const rt::Buffer& workspace) const {
  MlaDecodeGeometry g;
  static_cast<MlaDecodeLayout&>(g) = a;
  g.q_nope_bytes = checked_bytes(a.q_nope);
  g.q_rope_bytes = checked_bytes(a.q_rope);
  g.kv_cache_bytes = checked_bytes(a.kv_cache);
  g.page_table_bytes = checked_bytes(a.page_table);
  g.out_bytes = checked_bytes(a.out);
  g.lse_bytes = checked_bytes(a.lse);
  g.new_rows_bytes = checked_bytes(a.new_rows);
  g.workspace_bytes = checked_bytes(&workspace);
  check_mla_decode(g, plan);
  if (!a.host_page_table.empty()) check_page_table(g, plan, a.host_page_table);
}

void MlaDecoder::bind(const MlaDecodeArgs& a, const DecodePlan& plan, rt::Buffer& workspace) {
  SplitKernelArgs k;
  k.q_nope = a.q_nope;
  k.q_nope_stride_b = a.q_nope_stride_b;
  k.q_nope_stride_h = a.q_nope_stride_h;
  k.q_rope = a.q_rope;
  k.q_rope_stride_b = a.q_rope_stride_b;
  k.q_rope_stride_h = a.q_rope_stride_h;
  k.kv_cache = a.kv_cache;
  k.kv_stride_page = a.kv_stride_page;
  k.kv_stride_token = a.kv_stride_token;
  k.num_pages = a.num_pages;
  k.page_size = a.page_size;
  k.page_table = a.page_table;
  k.page_table_stride = a.page_table_stride;
  k.max_pages = a.max_pages;
  k.workspace = &workspace;
  k.ws_lse_offset = float_offset(plan.layout.partial_lse);
  k.ws_work_offset = float_offset(plan.layout.work);
  k.ws_split_begin_offset = float_offset(plan.layout.split_begin);
  k.num_heads = a.heads;
  k.scale_log2 = a.sm_scale * std::numbers::log2e_v<float>;
  k.out = a.out;
  k.out_stride_b = a.out_stride_b;
  k.out_stride_h = a.out_stride_h;
  k.lse = a.lse;
  k.lse_stride_b = a.lse_stride_b;
  k.write_lse = a.lse != nullptr ? 1 : 0;
  k.new_rows = a.new_rows;
  k.new_rows_stride = a.new_rows_stride;
  k.append_new_rows = a.new_rows != nullptr ? 1 : 0;
  k.bind(*split_);
}

CombineOutput MlaDecoder::combine_output(const MlaDecodeArgs& a) {
  return {a.out, a.out_stride_b, a.out_stride_h, a.lse, a.lse_stride_b};
}

rt::Range3 MlaDecoder::split_groups(const DecodePlan& plan) {
  return {static_cast<std::size_t>(plan.total_splits()), static_cast<std::size_t>(plan.head_blocks), 1};
}

std::optional<DecodeTiming> MlaDecoder::run(const MlaDecodeArgs& a, const DecodePlan& plan, rt::Buffer& workspace,
                                            bool timed) {
  validate(a, plan, workspace);
  bind(a, plan, workspace);
  // run_stages binds the combine kernel only when the plan needs it.
  return combine_.run_stages(device_, *split_, split_groups(plan), {kSplitGroup, 1, 1}, plan, workspace,
                             combine_output(a), timed);
}

void MlaDecoder::record(rt::Recorder& recorder, const rt::LaunchCounts& counts, const MlaDecodeArgs& args,
                        const DecodeCapacity& capacity, rt::Buffer& workspace) {
  validate(args, capacity.largest, workspace);
  bind(args, capacity.largest, workspace);
  // Recorded once for every step, needed or not: its group count decides.
  combine_.bind(capacity.largest, workspace, combine_output(args));
  recorder.launch(*split_, counts, kSplitSlot, {kSplitGroup, 1, 1});
  recorder.launch(combine_.kernel(), counts, kCombineSlot, {SplitCombine::kGroup, 1, 1});
}

void MlaDecoder::set_counts(rt::LaunchCounts& counts, const DecodePlan& plan) {
  counts.set(kSplitSlot, split_groups(plan));
  counts.set(kCombineSlot, SplitCombine::recorded_groups(plan));
}

}  // namespace zemla::ops
