#include "gqa_decode.hpp"

#include <algorithm>

#include "gqa_decode_args.h"
#include "gqa_shape.hpp"
#include "runtime/binary_choice.hpp"
#include "runtime/kernel_args.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {

constexpr const char* kCall = "gqa_decode";
ZEMLA_KERNEL_ARGS_STRUCT(SplitKernelArgs, GQA_DECODE_SPLIT_ARGS);

}  // namespace

GqaDecoder::GqaDecoder(rt::Device& device, DType dtype)
    : SplitKvOp(
          device,
          {"gqa_decode", rt::choose_variant(device, /*program_has_matrix=*/false), std::string(dtype_name(dtype))},
          "gqa_decode_split", static_cast<std::size_t>(gqa::kWorkGroup), kCall) {}

DecodePlan GqaDecoder::plan(std::span<const std::int32_t> seqlens, int q_heads, int kv_heads, int head_dim,
                            int num_kv_splits, int split_tokens) const {
  check_gqa_heads(q_heads, kv_heads, head_dim, kCall);
  return plan_with(seqlens, q_heads, gqa::split_geometry(q_heads, kv_heads, head_dim), num_kv_splits, split_tokens);
}

DecodeCapacity GqaDecoder::capacity(int max_batch, std::int64_t max_context_len, int q_heads, int kv_heads,
                                    int head_dim, int split_tokens) const {
  check_gqa_heads(q_heads, kv_heads, head_dim, kCall);
  return capacity_with(max_batch, max_context_len, q_heads, gqa::split_geometry(q_heads, kv_heads, head_dim),
                       split_tokens);
}

DecodePlan GqaDecoder::plan(std::span<const std::int32_t> seqlens, int q_heads, int kv_heads, int head_dim,
                            int num_kv_splits, const DecodeCapacity& capacity) const {
  check_gqa_heads(q_heads, kv_heads, head_dim, kCall);
  return plan_in(seqlens, q_heads, gqa::split_geometry(q_heads, kv_heads, head_dim), num_kv_splits, capacity);
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

rt::Kernel& GqaDecoder::bind(const GqaDecodeArgs& a, const DecodePlan& plan, rt::Buffer& workspace) {
  SplitKernelArgs k;
  k.q = a.q;
  k.q_stride_b = a.q_stride_b;
  k.q_stride_h = a.q_stride_h;
  k.k_cache = a.k_cache;
  k.v_cache = a.v_cache;
  k.kv_stride_page = a.kv_stride_page;
  k.kv_stride_token = a.kv_stride_token;
  k.kv_stride_head = a.kv_stride_head;
  k.num_q_heads = a.q_heads;
  k.num_kv_heads = a.kv_heads;
  k.head_dim = a.head_dim;
  k.sm_scale = a.sm_scale;
  k.softcap = a.softcap;
  k.window_left = a.window_left;
  bind_shared_args(k, a, plan, workspace);
  k.bind(split_kernel());
  return split_kernel();
}

}  // namespace zemla::ops
