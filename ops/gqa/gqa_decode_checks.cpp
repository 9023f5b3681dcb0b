#include "gqa_decode_checks.hpp"

#include <cmath>
#include <string>

#include "gqa_shape.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

constexpr const char* kCall = "gqa_decode";

std::string s(std::int64_t v) { return std::to_string(v); }

void require_stride(std::int64_t v, const char* name, std::int64_t minimum) {
  launch_checks::require_stride(kCall, v, name, minimum);
}
void require_buffer(std::int64_t bytes, const char* name, std::int64_t need) {
  launch_checks::require_buffer(kCall, bytes, name, need);
}
void require_aligned(std::int64_t v, const char* name) { launch_checks::require_multiple_of_8(kCall, v, name); }

}  // namespace

void GqaDecodeLayout::set_contiguous_strides() {
  q_stride_h = head_dim;
  q_stride_b = std::int64_t{q_heads} * head_dim;
  kv_stride_head = head_dim;
  kv_stride_token = std::int64_t{kv_heads} * head_dim;
  kv_stride_page = std::int64_t{page_size} * kv_stride_token;
  page_table_stride = max_pages;
  out_stride_h = head_dim;
  out_stride_b = std::int64_t{q_heads} * head_dim;
  lse_stride_b = q_heads;
}

void check_gqa_heads(int q_heads, int kv_heads, int head_dim, const char* call) {
  require(kv_heads > 0 && q_heads > 0 && q_heads % kv_heads == 0, call,
          [&] { return "q_heads " + s(q_heads) + " must be a positive multiple of kv_heads " + s(kv_heads); });
  require(q_heads / kv_heads <= gqa::kMaxGroup, call, [&] {
    return "q_heads / kv_heads = " + s(q_heads / kv_heads) + " exceeds " + s(gqa::kMaxGroup) +
           " query heads per KV head";
  });
  require(head_dim == 64 || head_dim == 128 || head_dim == 256, call,
          [&] { return "head_dim " + s(head_dim) + " must be 64, 128 or 256"; });
}

void check_gqa_decode(const GqaDecodeGeometry& g, const DecodePlan& plan) {
  using launch_checks::span_bytes;
  require(g.batch > 0, kCall, [&] { return "batch " + s(g.batch) + " must be positive"; });
  check_gqa_heads(g.q_heads, g.kv_heads, g.head_dim, kCall);
  require(g.batch == plan.batch() && g.q_heads == plan.heads, kCall, [&] {
    return "batch " + s(g.batch) + " x q_heads " + s(g.q_heads) + " differs from the plan's " + s(plan.batch()) +
           " x " + s(plan.heads);
  });
  require(plan.geometry == gqa::split_geometry(g.q_heads, g.kv_heads, g.head_dim), kCall,
          "the plan was made for another split geometry (plan with GqaDecoder::plan)");
  require(std::isfinite(g.sm_scale) && g.sm_scale > 0, kCall,
          [&] { return "sm_scale " + std::to_string(g.sm_scale) + " must be a positive finite number"; });
  require(std::isfinite(g.softcap) && g.softcap >= 0, kCall,
          [&] { return "softcap " + std::to_string(g.softcap) + " must be 0 (off) or a positive finite number"; });
  require(g.window_left >= -1, kCall,
          [&] { return "window_left " + s(g.window_left) + " must be -1 (no window) or >= 0"; });
  require(g.page_size > 0 && g.page_size % gqa::kTile == 0, kCall, [&] {
    return "page_size " + s(g.page_size) + " is not a non-MLA decode page size (64 or 128: a multiple of " +
           s(gqa::kTile) + ")";
  });
  require(g.num_pages > 0, kCall, [&] { return "num_pages " + s(g.num_pages) + " must be positive"; });
  require(g.max_pages > 0, kCall, [&] { return "max_pages " + s(g.max_pages) + " must be positive"; });

  require_stride(g.q_stride_b, "q_stride_b", 0);
  require_stride(g.q_stride_h, "q_stride_h", 0);
  // KV rows are read 8 values at a time and block-read by intel_sg: 16-byte aligned.
  require_stride(g.kv_stride_head, "kv_stride_head", g.head_dim);
  require_stride(g.kv_stride_token, "kv_stride_token", std::int64_t{g.kv_heads} * g.kv_stride_head);
  require_stride(g.kv_stride_page, "kv_stride_page", std::int64_t{g.page_size} * g.kv_stride_token);
  require_aligned(g.kv_stride_head, "kv_stride_head");
  require_aligned(g.kv_stride_token, "kv_stride_token");
  require_aligned(g.kv_stride_page, "kv_stride_page");
  require_stride(g.page_table_stride, "page_table_stride", g.max_pages);
  require_stride(g.out_stride_h, "out_stride_h", g.head_dim);
  require_stride(g.out_stride_b, "out_stride_b", std::int64_t{g.q_heads} * g.out_stride_h);

  require_buffer(g.q_bytes, "q", span_bytes(g.batch, g.q_stride_b, g.q_heads, g.q_stride_h, g.head_dim, 2));
  const std::int64_t kv = span_bytes(g.num_pages, g.kv_stride_page, g.page_size, g.kv_stride_token,
                                     (g.kv_heads - 1) * g.kv_stride_head + g.head_dim, 2);
  require_buffer(g.k_cache_bytes, "k_cache", kv);
  require_buffer(g.v_cache_bytes, "v_cache", kv);
  require_buffer(g.page_table_bytes, "page_table", span_bytes(g.batch, g.page_table_stride, 1, 0, g.max_pages, 4));
  require_buffer(g.out_bytes, "out", span_bytes(g.batch, g.out_stride_b, g.q_heads, g.out_stride_h, g.head_dim, 2));
  if (g.lse_bytes != GqaDecodeGeometry::kNoBuffer) {
    require_stride(g.lse_stride_b, "lse_stride_b", g.q_heads);
    require_buffer(g.lse_bytes, "lse", span_bytes(g.batch, g.lse_stride_b, 1, 0, g.q_heads, 4));
  }
  require_buffer(g.workspace_bytes, "workspace", static_cast<std::int64_t>(plan.layout.total));
  launch_checks::require_lengths_fit(kCall, plan, g.max_pages, g.page_size);
}

}  // namespace zemla
