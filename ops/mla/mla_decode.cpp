#include "mla_decode.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numbers>
#include <string>

#include "mla_decode_args.h"
#include "mla_decode_checks.hpp"
#include "mla_shape.hpp"
#include "runtime/binary_choice.hpp"
#include "runtime/kernel_args.hpp"
#include "zemla/error.hpp"

namespace zemla::ops {

namespace {

constexpr const char* kCall = "mla_decode";
constexpr std::size_t kSplitGroup = mla::kHeadBlock * mla::kTile;  // 256, the kernels' reqd size

ZEMLA_KERNEL_ARGS_STRUCT(SplitKernelArgs, MLA_DECODE_SPLIT_ARGS);

}  // namespace

SplitGeometry mla_split_geometry(rt::Variant variant, KvFormat kv_format) {
  const bool stream = variant == rt::Variant::nv_mma && is_fp8(kv_format);
  return {stream ? mla::kStreamRows : mla::kHeadBlock, mla::kTile, mla::kLatentDim};
}

MlaDecoder::MlaDecoder(rt::Device& device, DType dtype, KvFormat kv_format)
    : SplitKvOp(device, {"mla_decode", rt::choose_variant(device), kernel_build_dtype(dtype, kv_format)},
                "mla_decode_split", kSplitGroup, kCall,
                // An FP8 build has no fused-append kernel (mla_decode.cl says why).
                is_fp8(kv_format) ? nullptr : "mla_decode_split_append"),
      kv_format_(kv_format),
      geometry_(mla_split_geometry(rt::choose_variant(device), kv_format)) {}

DecodePlan MlaDecoder::plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits,
                            int split_tokens) const {
  return plan_with(seqlens, heads, geometry_, num_kv_splits, split_tokens);
}

DecodeCapacity MlaDecoder::capacity(int max_batch, std::int64_t max_context_len, int heads, int split_tokens) const {
  return capacity_with(max_batch, max_context_len, heads, geometry_, split_tokens);
}

DecodePlan MlaDecoder::plan(std::span<const std::int32_t> seqlens, int heads, int num_kv_splits,
                            const DecodeCapacity& capacity) const {
  return plan_in(seqlens, heads, geometry_, num_kv_splits, capacity);
}

void MlaDecoder::validate(const MlaDecodeArgs& a, const DecodePlan& plan, const rt::Buffer& workspace) const {
  MlaDecodeGeometry g;
  static_cast<MlaDecodeLayout&>(g) = a;
  require(a.kv_format == kv_format_, kCall, [&] {
    return "kv_format " + std::string(kv_format_name(a.kv_format)) + " given to a decoder of " +
           std::string(kv_format_name(kv_format_)) + " caches";
  });
  g.q_nope_bytes = checked_bytes(a.q_nope);
  g.q_rope_bytes = checked_bytes(a.q_rope);
  g.kv_cache_bytes = checked_bytes(a.kv_cache);
  g.page_table_bytes = checked_bytes(a.page_table);
  g.out_bytes = checked_bytes(a.out);
  g.lse_bytes = checked_bytes(a.lse);
  g.new_rows_bytes = checked_bytes(a.new_rows);
  g.workspace_bytes = checked_bytes(&workspace);
  check_mla_decode(g, plan, geometry_);
  if (!a.host_page_table.empty()) check_page_table(g, plan, a.host_page_table);
}

rt::Kernel& MlaDecoder::bind(const MlaDecodeArgs& a, const DecodePlan& plan, rt::Buffer& workspace) {
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
  k.num_heads = a.heads;
  k.q_len = a.q_len;
  // An FP8 cache's scale scales every score (folded in here) and every
  // output (v_scale), so no cached value is ever multiplied.
  k.scale_log2 = a.sm_scale * std::numbers::log2e_v<float> * a.kv_scale;
  k.v_scale = a.kv_scale;
  k.new_rows = a.new_rows;
  k.new_rows_stride = a.new_rows_stride;
  k.append_new_rows = a.new_rows != nullptr ? 1 : 0;
  bind_shared_args(k, a, plan, workspace);
  // The fused append is its own kernel (mla_decode_split.clh says why).
  rt::Kernel& split = split_kernel(a.new_rows != nullptr);
  k.bind(split);
  return split;
}

}  // namespace zemla::ops
