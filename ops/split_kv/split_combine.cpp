#include "split_combine.hpp"

#include <cstring>
#include <string>
#include <vector>

#include "runtime/kernel_args.hpp"
#include "split_combine_args.h"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {
ZEMLA_KERNEL_ARGS_STRUCT(CombineKernelArgs, SPLIT_KV_COMBINE_ARGS);
}  // namespace

void upload_plan_tables(rt::Device& device, const DecodePlan& plan, rt::Buffer& workspace, const char* call) {
  require(workspace.bytes() >= plan.layout.total, call, [&] {
    return "workspace holds " + std::to_string(workspace.bytes()) + " bytes; the plan needs " +
           std::to_string(plan.layout.total);
  });
  // The two tables are adjacent in the layout: one copy covers both.
  std::vector<unsigned char> tables(plan.layout.total - plan.layout.work, 0);
  std::memcpy(tables.data(), plan.work.data(), plan.work.size() * sizeof(SplitWork));
  std::memcpy(tables.data() + (plan.layout.split_begin - plan.layout.work), plan.split_begin.data(),
              plan.split_begin.size() * sizeof(std::int32_t));
  device.write(workspace, tables.data(), tables.size(), plan.layout.work);
}

SplitCombine::SplitCombine(rt::Device& device, const rt::ProgramKey& key)
    : kernel_(&device.kernel(key, "split_kv_combine")) {}

void SplitCombine::bind(const DecodePlan& plan, rt::Buffer& workspace, const CombineOutput& o) {
  CombineKernelArgs c;
  c.workspace = &workspace;
  c.ws_lse_offset = float_offset(plan.layout.partial_lse);
  c.ws_split_begin_offset = float_offset(plan.layout.split_begin);
  c.num_heads = plan.heads;
  c.value_dim = plan.geometry.value_dim;
  c.out = o.out;
  c.out_stride_b = o.out_stride_b;
  c.out_stride_h = o.out_stride_h;
  c.lse = o.lse;
  c.lse_stride_b = o.lse_stride_b;
  c.write_lse = o.lse != nullptr ? 1 : 0;
  c.bind(*kernel_);
}

std::optional<DecodeTiming> SplitCombine::run_stages(rt::Device& device, rt::Kernel& split, rt::Range3 split_groups,
                                                     rt::Range3 split_local, const DecodePlan& plan,
                                                     rt::Buffer& workspace, const CombineOutput& output, bool timed) {
  auto split_event = device.launch(split, split_groups, split_local, timed);
  std::unique_ptr<rt::Event> combine_event;
  if (plan.needs_combine) {
    bind(plan, workspace, output);
    combine_event = device.launch(*kernel_, groups(plan), {kGroup, 1, 1}, timed);
  }
  if (!timed) return std::nullopt;
  DecodeTiming t;
  t.split_ms = split_event->elapsed_ms();
  if (combine_event) t.combine_ms = combine_event->elapsed_ms();
  return t;
}

rt::Range3 SplitCombine::groups(const DecodePlan& plan) {
  return {static_cast<std::size_t>(plan.heads), static_cast<std::size_t>(plan.batch()), 1};
}

rt::Range3 SplitCombine::recorded_groups(const DecodePlan& plan) {
  rt::Range3 g = groups(plan);
  if (!plan.needs_combine) g.y = 1;  // request 0 has one split: its groups return at once
  return g;
}

}  // namespace zemla::ops
