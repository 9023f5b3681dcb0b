#pragma once
// Every check flash_mla_decode makes before a launch, on plain numbers: the
// tensors' shapes, strides and buffer sizes, the plan, and optionally the
// page table's contents. The runtime fills this from its device buffers; a
// unit test per rule and a fuzzer drive it directly. Each failure is a
// zemla::Error(kInvalidArgument) naming the argument, index and value.

#include <cstdint>
#include <span>

#include "host/decode_planner.hpp"
#include "host/fp8.hpp"
#include "ops/split_kv/launch_checks.hpp"

namespace zemla {

// Shapes and strides (in elements) of one decode call: what the runtime's
// arguments and the checks share.
// Multi-token decode (speculative verify, MTP): the largest q_len.
inline constexpr int kMaxQLen = 8;

struct MlaDecodeLayout {
  int batch = 0;
  // Query rows per request: q_len tokens x the model's heads, token-major
  // (row r is token r / (heads / q_len)), as FlashMLA flattens [B, s_q, H].
  int heads = 0;
  // Query tokens per request, 1 to kMaxQLen: a request's last q_len tokens
  // (already in the cache), token i seeing the tokens up to its own.
  int q_len = 1;
  float sm_scale = 0;
  int num_pages = 0;
  int page_size = 0;
  int max_pages = 0;  // page-table row width
  std::int64_t q_nope_stride_b = 0, q_nope_stride_h = 0;
  std::int64_t q_rope_stride_b = 0, q_rope_stride_h = 0;
  std::int64_t kv_stride_page = 0, kv_stride_token = 0;
  std::int64_t page_table_stride = 0;
  std::int64_t out_stride_b = 0, out_stride_h = 0;
  std::int64_t lse_stride_b = 0;
  std::int64_t new_rows_stride = 0;  // fused kv_append's input rows
  // The cache's storage (host/fp8.hpp) and, for FP8, its scale: every
  // cached value is the stored one times kv_scale (1 for a 16-bit cache).
  KvFormat kv_format = KvFormat::same;
  float kv_scale = 1.0f;

  // Dense row-major strides for every tensor.
  void set_contiguous_strides();
};

// The layout plus the size of each buffer, as the checks see them.
struct MlaDecodeGeometry : MlaDecodeLayout {
  // Buffer sizes in bytes; kNoBuffer for a null buffer (lse may be absent).
  static constexpr std::int64_t kNoBuffer = launch_checks::kNoBuffer;
  std::int64_t q_nope_bytes = kNoBuffer, q_rope_bytes = kNoBuffer, kv_cache_bytes = kNoBuffer,
               page_table_bytes = kNoBuffer, out_bytes = kNoBuffer, lse_bytes = kNoBuffer, workspace_bytes = kNoBuffer,
               new_rows_bytes = kNoBuffer;
};

// `geometry`: the split geometry of the kernels the call runs
// (mla_split_geometry); the plan must have been made with it.
void check_mla_decode(const MlaDecodeGeometry& g, const DecodePlan& plan, const SplitGeometry& geometry = {});

// q_len in [1, kMaxQLen]: check_mla_decode's rule, also asked before a
// cache reserves a step's slots (MlaCache).
void require_q_len(int q_len, const char* call);

// The full page-table check (O(pages used)): every page a request reads is in
// [0, num_pages). The kernels mask a bad page anyway; this makes it an error
// instead of a silently masked tile. `page_table` is the host copy,
// [batch, page_table_stride].
void check_page_table(const MlaDecodeGeometry& g, const DecodePlan& plan, std::span<const std::int32_t> page_table);

}  // namespace zemla
