#include "runtime/ops/gqa_decode.hpp"

#include <algorithm>

#include "host/gqa_shape.hpp"
#include "runtime/binary_choice.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {

constexpr const char* kCall = "gqa_decode";

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
  rt::Kernel& k = *split_;
  std::uint32_t i = 0;
  k.set_buffer(i++, a.q);
  k.set_scalar(i++, a.q_stride_b);
  k.set_scalar(i++, a.q_stride_h);
  k.set_buffer(i++, a.k_cache);
  k.set_buffer(i++, a.v_cache);
  k.set_scalar(i++, a.kv_stride_page);
  k.set_scalar(i++, a.kv_stride_token);
  k.set_scalar(i++, a.kv_stride_head);
  k.set_scalar(i++, a.num_pages);
  k.set_scalar(i++, a.page_size);
  k.set_buffer(i++, a.page_table);
  k.set_scalar(i++, a.page_table_stride);
  k.set_scalar(i++, a.max_pages);
  k.set_buffer(i++, &workspace);
  k.set_scalar(i++, float_offset(plan.layout.partial_lse));
  k.set_scalar(i++, float_offset(plan.layout.work));
  k.set_scalar(i++, float_offset(plan.layout.split_begin));
  k.set_scalar(i++, a.q_heads);
  k.set_scalar(i++, a.kv_heads);
  k.set_scalar(i++, a.head_dim);
  k.set_scalar(i++, a.sm_scale);
  k.set_scalar(i++, a.softcap);
  k.set_scalar(i++, a.window_left);
  k.set_buffer(i++, a.out);
  k.set_scalar(i++, a.out_stride_b);
  k.set_scalar(i++, a.out_stride_h);
  k.set_buffer(i++, a.lse);
  k.set_scalar(i++, a.lse_stride_b);
  k.set_scalar(i++, a.lse != nullptr ? 1 : 0);
  return combine_.run_stages(device_, k,
                             {static_cast<std::size_t>(plan.total_splits()), static_cast<std::size_t>(a.kv_heads), 1},
                             {static_cast<std::size_t>(gqa::kWorkGroup), 1, 1}, plan, workspace,
                             {a.out, a.out_stride_b, a.out_stride_h, a.lse, a.lse_stride_b}, timed);
}

}  // namespace zemla::ops
