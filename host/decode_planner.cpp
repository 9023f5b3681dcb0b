#include "decode_planner.hpp"

#include <algorithm>
#include <numeric>
#include <string>

#include "ops/mla/mla_shape.hpp"
#include "zemla/error.hpp"

namespace zemla {

namespace {

constexpr const char* kCall = "plan_decode";

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }
std::size_t align256(std::size_t n) { return (n + 255) & ~std::size_t{255}; }

void check_common(int heads, int compute_units, int num_kv_splits, const SplitGeometry& g, const char* call) {
  require(g.head_block > 0 && g.tile > 0 && g.value_dim > 0, call, [&] {
    return "split geometry (head_block " + std::to_string(g.head_block) + ", tile " + std::to_string(g.tile) +
           ", value_dim " + std::to_string(g.value_dim) + ") must be positive";
  });
  require(heads > 0, call, "heads " + std::to_string(heads) + " must be positive");
  require(compute_units > 0, call, "compute_units " + std::to_string(compute_units) + " must be positive");
  require(num_kv_splits == -1 || (num_kv_splits > 0 && num_kv_splits <= planner::kMaxSplitsPerRequest), call,
          "num_kv_splits " + std::to_string(num_kv_splits) + " must be -1 (auto) or in [1, " +
              std::to_string(planner::kMaxSplitsPerRequest) + "]");
}

// Batch-invariant split lengths: whole tiles, and the planner's own choice
// (num_kv_splits -1) is the only one they replace.
void check_split_tokens(int split_tokens, int num_kv_splits, const SplitGeometry& g, const char* call) {
  require(split_tokens == 0 || (split_tokens > 0 && split_tokens % g.tile == 0 && num_kv_splits == -1), call, [&] {
    return "split_tokens " + std::to_string(split_tokens) + " must be 0 (off) or a positive multiple of the tile (" +
           std::to_string(g.tile) + " tokens), with num_kv_splits -1";
  });
}

// Splits request `len` may take under an explicit num_kv_splits: one per tile at most.
std::int64_t explicit_splits(std::int64_t len, int num_kv_splits, int tile) {
  return std::clamp<std::int64_t>(ceil_div(len, tile), 1, num_kv_splits);
}

// The most splits auto planning gives a request of `len` tokens.
std::int64_t auto_split_cap(std::int64_t len) {
  return std::clamp<std::int64_t>(len / planner::kMinSplitTokens, 1, planner::kMaxSplitsPerRequest);
}

}  // namespace

WorkspaceLayout WorkspaceLayout::make(std::int64_t total_splits, std::int64_t batch, std::int64_t heads,
                                      int value_dim) {
  WorkspaceLayout l;
  const auto splits = static_cast<std::size_t>(total_splits);
  const auto h = static_cast<std::size_t>(heads);
  l.partial_out = 0;
  l.partial_lse = align256(l.partial_out + splits * h * static_cast<std::size_t>(value_dim) * sizeof(float));
  l.work = align256(l.partial_lse + splits * h * sizeof(float));
  l.split_begin = align256(l.work + splits * sizeof(SplitWork));
  l.total = align256(l.split_begin + static_cast<std::size_t>(batch + 1) * sizeof(std::int32_t));
  return l;
}

// The heuristic. Stage 1 runs total_splits x head_blocks work-groups; a device
// stays busy with about kWorkGroupsPerComputeUnit of them per compute unit.
//  1. If the batch alone gives that many (batch x head_blocks >= target),
//     every request gets one split and stage 2 is skipped: splitting would
//     only add combine traffic.
//  2. Otherwise pick one chunk length for the whole batch and cut each
//     request into ceil(len / chunk) splits. Work-groups then carry similar
//     token counts, so a 128K request beside 100-token ones becomes many
//     splits while the short ones stay single: both fill the device and none
//     waits on a straggler. The chunk is at least
//     total_tokens x head_blocks / target (rounded up to whole tiles, and at
//     least kMinSplitTokens), which bounds the split count (max_total_splits).
//  3. Among chunks from that floor up (one per split count of the longest
//     request), the one with the least estimated time wins: waves x (chunk + kSplitOverheadTokens) +
//     merge_tokens_per_split x (the most splits of one request), where a wave
//     is kResidentWorkGroupsPerComputeUnit x compute_units work-groups.
//     Work-groups run in whole waves, so 544 of them on 264 slots take three
//     waves where 512 take two: measured on the H100 (H8 B32 16K), a chunk
//     a few tiles longer saved the third. Stage 2 walks a request's splits
//     one after another: at H16 B1 64K, 256 splits cost 45 us of combine
//     where 128 cost 25, with the same stage-1 time.
//  4. Each request's splits are capped at kMaxSplitsPerRequest and at
//     len / kMinSplitTokens.
// Splits start on tile boundaries, so no tile straddles two splits or pages.
namespace {

std::int64_t splits_for(std::int64_t len, std::int64_t chunk) {
  return std::max<std::int64_t>(1, std::min(ceil_div(len, chunk), auto_split_cap(len)));
}

// Estimated stage-1 time of cutting every request at `chunk` tokens, in
// token-steps of one work-group.
double chunk_cost(std::span<const std::int32_t> seqlens, std::int64_t chunk, int head_blocks, std::int64_t wave,
                  int merge_tokens_per_split) {
  std::int64_t groups = 0, longest = 0, most_splits = 0;
  for (const std::int32_t len : seqlens) {
    const std::int64_t n = splits_for(len, chunk);
    groups += n;
    longest = std::max(longest, ceil_div(len, n));
    most_splits = std::max(most_splits, n);
  }
  const std::int64_t waves = ceil_div(groups * head_blocks, wave);
  const std::int64_t merge = most_splits > 1 ? std::int64_t{merge_tokens_per_split} * most_splits : 0;
  return static_cast<double>(waves) * static_cast<double>(longest + planner::kSplitOverheadTokens) +
         static_cast<double>(merge);
}

}  // namespace

DecodePlan plan_decode(const PlannerInputs& in) {
  const SplitGeometry& g = in.geometry;
  check_common(in.heads, in.compute_units, in.num_kv_splits, g, kCall);
  check_split_tokens(in.split_tokens, in.num_kv_splits, g, kCall);
  const auto batch = static_cast<std::int64_t>(in.seqlens.size());
  require(batch > 0, kCall, "batch is empty; at least one request is needed");
  std::int64_t total_tokens = 0;
  for (std::int64_t b = 0; b < batch; ++b) {
    require(in.seqlens[b] >= 0, kCall,
            "cache_seqlens[" + std::to_string(b) + "] = " + std::to_string(in.seqlens[b]) + " is negative");
    total_tokens += in.seqlens[b];
  }

  DecodePlan plan;
  plan.heads = in.heads;
  plan.geometry = g;
  plan.head_blocks = static_cast<int>(ceil_div(in.heads, g.head_block));
  const std::int64_t target = std::int64_t{planner::kWorkGroupsPerComputeUnit} * in.compute_units;
  const bool batch_fills_device = batch * plan.head_blocks >= target;
  const std::int64_t floor_chunk = std::max<std::int64_t>(
      planner::kMinSplitTokens, ceil_div(ceil_div(total_tokens * plan.head_blocks, target), g.tile) * g.tile);
  std::int64_t chunk = floor_chunk;
  if (!batch_fills_device && in.num_kv_splits <= 0 && in.split_tokens == 0) {
    // Candidates: every split count n of the longest request whose chunk
    // (its length over n, whole tiles) is at least the floor.
    const std::int64_t wave = std::int64_t{planner::kResidentWorkGroupsPerComputeUnit} * in.compute_units;
    const std::int64_t longest = *std::max_element(in.seqlens.begin(), in.seqlens.end());
    double best = chunk_cost(in.seqlens, chunk, plan.head_blocks, wave, in.merge_tokens_per_split);
    for (std::int64_t n = 1; n <= planner::kMaxSplitsPerRequest; ++n) {
      const std::int64_t c = ceil_div(ceil_div(longest, n), g.tile) * g.tile;
      if (c <= floor_chunk) break;  // n only grows from here, c only shrinks
      const double cost = chunk_cost(in.seqlens, c, plan.head_blocks, wave, in.merge_tokens_per_split);
      if (cost < best) best = cost, chunk = c;
    }
  }
  plan.split_begin.reserve(batch + 1);
  plan.split_begin.push_back(0);
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t len = in.seqlens[b];
    std::int64_t wanted = 1;
    if (in.num_kv_splits > 0) {
      wanted = explicit_splits(len, in.num_kv_splits, g.tile);
    } else if (!batch_fills_device) {
      wanted = splits_for(len, chunk);
    }
    wanted = std::max<std::int64_t>(wanted, 1);
    // Tile-aligned split length; the real count can come out below `wanted`.
    const std::int64_t split_len =
        in.split_tokens > 0 ? in.split_tokens
                            : std::max<std::int64_t>(g.tile, ceil_div(ceil_div(len, wanted), g.tile) * g.tile);
    const std::int64_t splits = std::max<std::int64_t>(1, ceil_div(len, split_len));
    for (std::int64_t s = 0; s < splits; ++s) {
      plan.work.push_back({static_cast<std::int32_t>(b), static_cast<std::int32_t>(s * split_len),
                           static_cast<std::int32_t>(std::min(len, (s + 1) * split_len)),
                           static_cast<std::int32_t>(splits)});
    }
    plan.needs_combine = plan.needs_combine || splits > 1;
    plan.split_begin.push_back(static_cast<std::int32_t>(plan.work.size()));
  }
  plan.layout = WorkspaceLayout::make(plan.total_splits(), batch, in.heads, g.value_dim);
  return plan;
}

std::int64_t max_total_splits(std::int64_t max_context_len, int batch, int heads, int compute_units, int num_kv_splits,
                              const SplitGeometry& g, int split_tokens) {
  constexpr const char* call = "max_total_splits";
  check_common(heads, compute_units, num_kv_splits, g, call);
  check_split_tokens(split_tokens, num_kv_splits, g, call);
  require(batch > 0, call, "batch " + std::to_string(batch) + " must be positive");
  require(max_context_len >= 0, call, "max_context_len " + std::to_string(max_context_len) + " must not be negative");
  if (split_tokens > 0) return std::int64_t{batch} * std::max<std::int64_t>(1, ceil_div(max_context_len, split_tokens));
  if (num_kv_splits > 0) return std::int64_t{batch} * explicit_splits(max_context_len, num_kv_splits, g.tile);
  // Per request at most auto_split_cap(len); over the batch, splits beyond
  // one per request come from chunks of >= total_tokens*head_blocks/target
  // tokens, so there are at most target/head_blocks of them.
  const std::int64_t head_blocks = ceil_div(heads, g.head_block);
  const std::int64_t target = std::int64_t{planner::kWorkGroupsPerComputeUnit} * compute_units;
  return std::min(std::int64_t{batch} * auto_split_cap(max_context_len), batch + ceil_div(target, head_blocks));
}

void place_in_fixed_layout(DecodePlan& plan, std::int64_t max_splits, int max_batch) {
  constexpr const char* call = "place_in_fixed_layout";
  require(plan.batch() <= max_batch, call, [&] {
    return "the step has " + std::to_string(plan.batch()) + " requests; the fixed layout holds " +
           std::to_string(max_batch);
  });
  require(plan.total_splits() <= max_splits, call, [&] {
    return "the step plans " + std::to_string(plan.total_splits()) + " KV splits; the fixed layout holds " +
           std::to_string(max_splits);
  });
  plan.layout = WorkspaceLayout::make(max_splits, max_batch, plan.heads, plan.geometry.value_dim);
}

std::size_t workspace_bytes(std::int64_t max_context_len, int batch, int heads, int compute_units, int num_kv_splits,
                            const SplitGeometry& g, int split_tokens) {
  return WorkspaceLayout::make(
             max_total_splits(max_context_len, batch, heads, compute_units, num_kv_splits, g, split_tokens), batch,
             heads, g.value_dim)
      .total;
}

}  // namespace zemla
