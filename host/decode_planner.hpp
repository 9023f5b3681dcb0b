#pragma once
// Decode planning, separated from execution (FlashMLA's get_mla_metadata /
// flash_mla_with_kvcache split): from the batch's lengths to a list of KV
// splits, plain data, made once per step and reused by every layer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ops/mla/mla_shape.hpp"

namespace zemla {

// One stage-1 work-group row (times the head blocks): tokens
// [token_begin, token_end) of `request`, which has `splits_of_request` splits.
// Layout matches the kernel's int4 work table.
struct SplitWork {
  std::int32_t request;
  std::int32_t token_begin;
  std::int32_t token_end;
  std::int32_t splits_of_request;
};
static_assert(sizeof(SplitWork) == 16);

// What a split-KV decode kernel is made of, as far as planning cares: how
// many query heads one work-group serves, the token tile splits align to,
// and the width of one output row. MLA: 16 heads, 16 tokens, 512 values.
// GQA: one KV head's query group, 64 tokens, head_dim values.
struct SplitGeometry {
  int head_block = mla::kHeadBlock;
  int tile = mla::kTile;
  int value_dim = mla::kLatentDim;
  bool operator==(const SplitGeometry&) const = default;
};

// Byte offsets of the pieces of one decode workspace (each 256-byte aligned).
struct WorkspaceLayout {
  std::size_t partial_out = 0;  // float [total_splits][heads][value_dim]
  std::size_t partial_lse = 0;  // float [total_splits][heads]
  std::size_t work = 0;         // SplitWork [total_splits]
  std::size_t split_begin = 0;  // int32 [batch + 1]
  std::size_t total = 0;

  static WorkspaceLayout make(std::int64_t total_splits, std::int64_t batch, std::int64_t heads,
                              int value_dim = mla::kLatentDim);
};

struct DecodePlan {
  int heads = 0;
  int head_blocks = 0;  // ceil(heads / geometry.head_block)
  SplitGeometry geometry;
  std::vector<SplitWork> work;            // one row per split, requests in order
  std::vector<std::int32_t> split_begin;  // [batch + 1]: request b owns rows split_begin[b]..
  bool needs_combine = false;             // some request has more than one split
  WorkspaceLayout layout;

  int batch() const { return static_cast<int>(split_begin.size()) - 1; }
  int total_splits() const { return static_cast<int>(work.size()); }
  int splits_of(int request) const { return split_begin[request + 1] - split_begin[request]; }
  // The request's length: where its last split ends (every request has one).
  std::int32_t length(int request) const { return work[split_begin[request + 1] - 1].token_end; }
};

namespace planner {
inline constexpr int kMinSplitTokens = 128;  // below this, reloading q costs more than it spreads
// Enough that one long request alone fills a 132-SM GPU (B=1 decode); the
// combine stage reads each split once, which stays small next to its KV.
inline constexpr int kMaxSplitsPerRequest = 256;
inline constexpr int kWorkGroupsPerComputeUnit = 4;
// Split work-groups one compute unit runs at once, for the wave estimate:
// two on the H100 (128 registers x 256 items of 64K; 48 KB of local memory
// each), an assumption elsewhere.
inline constexpr int kResidentWorkGroupsPerComputeUnit = 2;
// A work-group's fixed cost (loading q, the epilogue, its share of the
// combine), in tokens of its main loop.
inline constexpr int kSplitOverheadTokens = 64;
// Stage 2's cost of one more split of a request, in the same tokens: ~0.19 us
// per split on the H100, where the portable main loop takes ~0.2 us a token
// and nv_mma's ~0.08 (PlannerInputs::merge_tokens_per_split).
inline constexpr int kMergeTokensPerSplit = 1;
inline constexpr int kMergeTokensPerSplitMatrix = 3;
}  // namespace planner

struct PlannerInputs {
  std::span<const std::int32_t> seqlens;  // tokens in cache per request (0 allowed)
  int heads = 0;
  int compute_units = 0;   // SMs / Xe-cores of the device
  int num_kv_splits = -1;  // -1: planner decides; >0: honoured up to the lengths
  SplitGeometry geometry = {};
  // Stage 2's cost of one more split of a request, in tokens of stage 1's
  // main loop: a cost hint for auto planning, never a limit. Matrix-engine
  // kernels run their main loop faster, so a split weighs more against it.
  int merge_tokens_per_split = planner::kMergeTokensPerSplit;
  // Batch-invariant splits: > 0 cuts every request into splits of exactly
  // this many tokens (its last one shorter), a multiple of the tile, so a
  // request's splits and hence its result bits depend on its own length
  // only, never on its neighbours (sglang's deterministic mode splits the
  // same way). Needs num_kv_splits -1.
  int split_tokens = 0;
};

// The split size caches use under sglang's --enable-deterministic-inference:
// 256 tokens, the tile sglang's Triton decode splits by in that mode, so a
// long request still spreads over many work-groups.
inline constexpr int kDeterministicSplitTokens = 256;

DecodePlan plan_decode(const PlannerInputs& inputs);

// The most splits plan_decode gives any batch of up to `batch` requests no
// longer than `max_context_len` (tested against plan_decode).
std::int64_t max_total_splits(std::int64_t max_context_len, int batch, int heads, int compute_units, int num_kv_splits,
                              const SplitGeometry& geometry = {}, int split_tokens = 0);

// Moves `plan` into a layout made for up to `max_splits` splits and
// `max_batch` requests (WorkspaceLayout::make(max_splits, max_batch, heads, value_dim)),
// so that every step's tables sit at the same offsets: what a recorded
// decode step needs. Throws zemla::Error when the plan does not fit.
void place_in_fixed_layout(DecodePlan& plan, std::int64_t max_splits, int max_batch);

// Workspace bytes that suffice for any batch of up to `batch` requests no
// longer than `max_context_len`: plan_decode never needs more (tested).
// sglang's flash_mla_get_workspace_size(max_context_len, batch, sm_count, num_kv_splits).
std::size_t workspace_bytes(std::int64_t max_context_len, int batch, int heads, int compute_units, int num_kv_splits,
                            const SplitGeometry& geometry = {}, int split_tokens = 0);

}  // namespace zemla
