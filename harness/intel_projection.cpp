#include "harness/intel_projection.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "zemla/error.hpp"

namespace zemla::isa {

// Each figure's source is in the README's table ("Intel projection"); the
// two assumptions are marked there as such.
const std::vector<IntelTarget>& intel_targets() {
  static const std::vector<IntelTarget> targets = {
      {"pvc", "Intel Data Center GPU Max 1550", 128, 1.6, 3276.8, 8, 64, 2048, 64, true, 128 * 1024, 64, 128, 600},
      {"acm-g10", "Intel Arc A770 (16 GB)", 32, 2.1, 560, 16, 32, 1024, 128, false, 128 * 1024, 128, 128, 600},
  };
  return targets;
}

const IntelTarget& intel_target(std::string_view ocloc_target) {
  for (const auto& t : intel_targets()) {
    if (t.ocloc == ocloc_target) return t;
  }
  throw Error("isa::intel_target", kUnsupported,
              "no Intel figures for ocloc target '" + std::string(ocloc_target) + "' (pvc, acm-g10)");
}

TileProjection project_tile(const KernelCost& k, const IntelTarget& t) {
  TileProjection p;
  p.sub_groups = k.sub_groups();
  const double n = p.sub_groups;
  p.memory_bytes = n * static_cast<double>(k.loop.global_load_bytes + k.loop.global_store_bytes);
  p.slm_bytes = n * static_cast<double>(k.loop.slm_load_bytes + k.loop.slm_store_bytes);
  p.dpas_macs = n * static_cast<double>(k.loop.dpas_macs);
  p.issue_cycles = n * k.loop.issue_cycles;

  const double memory_bytes_per_clock = t.memory_gbs / (t.xe_cores * t.clock_ghz);
  p.memory = p.memory_bytes / memory_bytes_per_clock;
  p.slm = p.slm_bytes / t.slm_bytes_per_clock;
  p.dpas = p.dpas_macs / t.xmx_macs;
  p.alu = p.issue_cycles / t.vector_engines;

  // Work-groups an Xe-core holds: by hardware threads (halved in the
  // 256-register mode where the target has one), local memory, and the cap.
  const int threads =
      t.large_grf_halves_threads && k.info.grf_count > 128 ? t.threads_per_core / 2 : t.threads_per_core;
  const int by_threads = threads / std::max(1, p.sub_groups);
  const int by_slm = k.info.slm_bytes == 0 ? std::numeric_limits<int>::max()
                                           : t.slm_bytes_per_core / static_cast<int>(k.info.slm_bytes);
  p.resident = std::min({by_threads, by_slm, t.max_work_groups_per_core});
  p.resident_limit = p.resident == by_threads ? "threads" : p.resident == by_slm ? "slm" : "work-groups";

  // Latency: a work-group has one tile's loads in flight at a time (the
  // next tile's, while it computes the current one), so a core finishes at
  // most `resident` tiles per memory latency.
  const double latency_cycles = t.memory_latency_ns * t.clock_ghz;
  p.bytes_in_flight = p.resident * p.memory_bytes;
  p.bytes_to_cover_latency = memory_bytes_per_clock * latency_cycles;
  p.latency = p.resident > 0 ? latency_cycles / p.resident : std::numeric_limits<double>::infinity();

  const std::pair<const char*, double> resources[] = {
      {"memory", p.memory}, {"slm", p.slm}, {"dpas", p.dpas}, {"alu", p.alu}, {"latency", p.latency}};
  const auto* worst = std::max_element(std::begin(resources), std::end(resources),
                                       [](const auto& a, const auto& b) { return a.second < b.second; });
  p.bound = worst->first;
  p.cycles = worst->second;
  return p;
}

StepProjection project_step(const TileProjection& tile, const IntelTarget& t, const StepShape& s, int tile_tokens,
                            int head_block, int kv_row_bytes) {
  StepProjection out;
  out.shape = s;
  const double tiles = std::ceil(static_cast<double>(s.tokens) / tile_tokens);
  const double head_blocks = std::ceil(static_cast<double>(s.heads) / head_block);
  const double work_group_tiles = s.batch * tiles * head_blocks;
  out.ms = work_group_tiles * tile.cycles / t.xe_cores / (t.clock_ghz * 1e9) * 1e3;
  const double kv_bytes = static_cast<double>(s.batch) * s.tokens * kv_row_bytes;
  out.roof_ms = kv_bytes / (t.memory_gbs * 1e9) * 1e3;
  out.percent_of_bandwidth = out.ms > 0 ? 100.0 * out.roof_ms / out.ms : 0;
  return out;
}

const std::vector<StepShape>& projection_shapes() {
  static const std::vector<StepShape> shapes = {
      {8, 32, 16384}, {16, 32, 8192}, {32, 32, 8192}, {64, 32, 8192}, {128, 32, 4096}};
  return shapes;
}

H100Measured h100_measured(const StepShape& s) {
  // bench/results/h100_speed_2026-11-25.txt: ms per step, bf16, page 64.
  struct Row {
    StepShape shape;
    H100Measured ms;
  };
  static const Row rows[] = {
      {{16, 32, 8192}, {0.406, 0.154, 0.090}},
      {{8, 32, 16384}, {0.789, 0.251, 0.180}},
      {{128, 32, 4096}, {1.561, 0.478, 0.048}},
  };
  for (const auto& r : rows) {
    if (r.shape.heads == s.heads && r.shape.batch == s.batch && r.shape.tokens == s.tokens) return r.ms;
  }
  return {};
}

}  // namespace zemla::isa
