#pragma once
// Every check the GQA decode op makes before a launch, on plain numbers
// (shapes, strides, buffer sizes, options, the plan); each failure is a
// zemla::Error(kInvalidArgument) naming the argument and its value.

#include <cstdint>

#include "host/decode_planner.hpp"
#include "ops/split_kv/launch_checks.hpp"

namespace zemla {

// q [batch, q_heads, head_dim]; k_cache / v_cache [num_pages, page_size,
// kv_heads, head_dim]; page_table int32 [batch, max_pages]; out like q; lse
// fp32 [batch, q_heads]. Strides in elements. cache_seqlens are the plan's
// (GqaDecoder::plan), which the kernel reads from the workspace.
struct GqaDecodeLayout {
  int batch = 0, q_heads = 0, kv_heads = 0, head_dim = 0;
  float sm_scale = 0;
  float softcap = 0;     // > 0: logit soft-capping
  int window_left = -1;  // >= 0: sliding window (flash-attn's window_size[0])
  int num_pages = 0, page_size = 0, max_pages = 0;
  std::int64_t q_stride_b = 0, q_stride_h = 0;
  std::int64_t kv_stride_page = 0, kv_stride_token = 0, kv_stride_head = 0;
  std::int64_t page_table_stride = 0;
  std::int64_t out_stride_b = 0, out_stride_h = 0;
  std::int64_t lse_stride_b = 0;

  void set_contiguous_strides();
};

struct GqaDecodeGeometry : GqaDecodeLayout {
  static constexpr std::int64_t kNoBuffer = launch_checks::kNoBuffer;
  std::int64_t q_bytes = kNoBuffer, k_cache_bytes = kNoBuffer, v_cache_bytes = kNoBuffer, page_table_bytes = kNoBuffer,
               out_bytes = kNoBuffer, lse_bytes = kNoBuffer, workspace_bytes = kNoBuffer;
};

void check_gqa_decode(const GqaDecodeGeometry& g, const DecodePlan& plan);
// The head counts and width alone (q_heads a multiple of kv_heads, at most
// 8 query heads per KV head, head_dim 64/128/256), failing as `call`.
void check_gqa_heads(int q_heads, int kv_heads, int head_dim, const char* call);

}  // namespace zemla
