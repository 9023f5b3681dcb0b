#include "runtime/ops/gqa_decode.hpp"

#include <algorithm>

#include "host/gqa_shape.hpp"
#include "kernels_spirv/gqa_decode_args.h"
#include "runtime/binary_choice.hpp"
#include "runtime/kernel_args.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {

constexpr const char* kCall = "gqa_decode";
ZEMLA_KERNEL_ARGS_STRUCT(SplitKernelArgs, GQA_DECODE_SPLIT_ARGS);

}  // namespace

GqaDecoder::GqaDecoder(rt::Device& device, DType dtype)
    : device_(device),
      variant_(rt::choose_variant(device.info(), /*program_has_matrix=*/false)),
      key_{"gqa_decode", variant_, std::string(dtype_name(dtype))},
      split_(&device_.kernel(key_, "gqa_decode_split")),
      combine_(device_, key_) {}

DecodePlan GqaDecoder::plan(std::span<const std::int32_t> seqlens, int q_heads, int kv_heads, int head_dim,
                            int num_kv_splits) const {
  check_gqa_heads(q_heads, kv_heads, head_dim, kCall);
  return plan_decode({seqlens, q_heads, planner_compute_units(device_), num_kv_splits,
                      gqa::split_geometry(q_heads, kv_heads, head_dim)});
}

void GqaDecoder::upload_plan(const DecodePlan& plan, rt::Buffer& workspace) const {
  upload_plan_tables(device_, plan, workspace, kCall);
}

void GqaDecoder::validate(const GqaDecodeArgs& a, const DecodePlan& plan, const rt::Buffer& workspace) const {
  GqaDecodeGeometry g;
  static_cast<GqaDecodeLayout&>(g) = a;
  g.q_bytes = checked_bytes(a.q);
  g.k_cache_bytes = checked_bytes(a.k_cache);
  g.v_cache_bytes = checked_bytes(a.v_cache);
  g.page_table_bytes = checked_bytes(a.page_table);
  g.out_bytes = checked_bytes(a.out);
  g.lse_bytes = checked_bytes(a.lse);
  g.workspace_bytes = checked_bytes(&workspace);
  check_gqa_decode(g, plan);
}

std::optional<DecodeTiming> GqaDecoder::run(const GqaDecodeArgs& a, const DecodePlan& plan, rt::Buffer& workspace,
                                            bool timed) {
  validate(a, plan, workspace);
  SplitKernelArgs k;
  k.q = a.q;
  k.q_stride_b = a.q_stride_b;
  k.q_stride_h = a.q_stride_h;
  k.k_cache = a.k_cache;
  k.v_cache = a.v_cache;
  k.kv_stride_page = a.kv_stride_page;
  k.kv_stride_token = a.kv_stride_token;
  k.kv_stride_head = a.kv_stride_head;
  k.num_pages = a.num_pages;
  k.page_size = a.page_size;
  k.page_table = a.page_table;
  k.page_table_stride = a.page_table_stride;
  k.max_pages = a.max_pages;
  k.workspace = &workspace;
  k.ws_lse_offset = float_offset(plan.layout.partial_lse);
  k.ws_work_offset = float_offset(plan.layout.work);
  k.ws_split_begin_offset = float_offset(plan.layout.split_begin);
  k.num_q_heads = a.q_heads;
  k.num_kv_heads = a.kv_heads;
  k.head_dim = a.head_dim;
  k.sm_scale = a.sm_scale;
  k.softcap = a.softcap;
  k.window_left = a.window_left;
  k.out = a.out;
  k.out_stride_b = a.out_stride_b;
  k.out_stride_h = a.out_stride_h;
  k.lse = a.lse;
  k.lse_stride_b = a.lse_stride_b;
  k.write_lse = a.lse != nullptr ? 1 : 0;
  k.bind(*split_);
  return combine_.run_stages(device_, *split_,
                             {static_cast<std::size_t>(plan.total_splits()), static_cast<std::size_t>(a.kv_heads), 1},
                             {static_cast<std::size_t>(gqa::kWorkGroup), 1, 1}, plan, workspace,
                             {a.out, a.out_stride_b, a.out_stride_h, a.lse, a.lse_stride_b}, timed);
}

}  // namespace zemla::ops
