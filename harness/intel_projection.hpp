#pragma once
// A static projection of a native split kernel onto an Intel GPU, from its
// ISA counts (harness/isa_cost.hpp) and each target's published per-Xe-core
// figures (README: "Intel projection", which names the source of each). No
// Intel GPU ran anything here: every figure this produces is a projection.
//
// Per KV tile (one trip of the split kernel's main loop by every sub-group of
// a work-group), the cycles one Xe-core needs on each resource: HBM/GDDR
// bytes at the core's share of the memory bandwidth, shared-local-memory
// bytes, DPAS multiply-adds on the matrix engines, vector-engine issue
// cycles, and memory latency over the work-groups resident on the core. The
// largest binds; the others are taken to overlap with it perfectly.

#include <string>
#include <string_view>
#include <vector>

#include "harness/isa_cost.hpp"

namespace zemla::isa {

struct IntelTarget {
  std::string_view ocloc;    // "pvc", "acm-g10"
  std::string_view product;  // the SKU the figures are for
  int xe_cores;
  double clock_ghz;
  double memory_gbs;
  int vector_engines;    // per Xe-core
  int engine_bytes;      // operand bytes one vector engine takes per clock
  double xmx_macs;       // bf16/fp16 multiply-adds per clock per Xe-core
  int threads_per_core;  // hardware threads per Xe-core with 128 registers
  bool large_grf_halves_threads;
  int slm_bytes_per_core;
  int max_work_groups_per_core;
  // Assumptions, not published figures (README says why each was chosen).
  double slm_bytes_per_clock;
  double memory_latency_ns;
};

// The two targets zemla's native zebins are built for; throws zemla::Error
// (unsupported) for any other.
const IntelTarget& intel_target(std::string_view ocloc_target);
const std::vector<IntelTarget>& intel_targets();

struct TileProjection {
  int sub_groups = 0;
  double memory_bytes = 0, slm_bytes = 0, dpas_macs = 0, issue_cycles = 0;  // per work-group tile
  // Cycles of one Xe-core per work-group tile, by resource.
  double memory = 0, slm = 0, dpas = 0, alu = 0, latency = 0;
  std::string bound;                                       // "memory", "slm", "dpas", "alu" or "latency"
  double cycles = 0;                                       // the bound's
  int resident = 0;                                        // work-groups per Xe-core
  std::string resident_limit;                              // "threads", "slm" or "work-groups"
  double bytes_in_flight = 0, bytes_to_cover_latency = 0;  // per Xe-core
};
TileProjection project_tile(const KernelCost& kernel, const IntelTarget& target);

struct StepShape {
  int heads = 16;
  int batch = 32;
  int tokens = 8192;  // per request
};
struct StepProjection {
  StepShape shape;
  double ms = 0;       // projected
  double roof_ms = 0;  // the KV cache read once at the memory bandwidth
  double percent_of_bandwidth = 0;
};
// `tile_tokens` tokens per tile, `head_block` query heads per work-group,
// `kv_row_bytes` per cached token (host/fp8.hpp's mla_row_bytes). Stage 2 (combine), launch and the
// kernel's prologue and epilogue are left out.
StepProjection project_step(const TileProjection& tile, const IntelTarget& target, const StepShape& shape,
                            int tile_tokens, int head_block, int kv_row_bytes);

// The decode-step shapes of the H100 measurement (README's performance
// table) and H 32, 64, all at q_len 1.
const std::vector<StepShape>& projection_shapes();

// The H100's measured ms per step for a shape, portable and nv_mma
// variants (bench/results/h100_speed_2026-11-25.txt); negative where the
// shape was not measured.
struct H100Measured {
  double portable_ms = -1, nv_mma_ms = -1, hbm_roof_ms = -1;
};
H100Measured h100_measured(const StepShape& shape);

}  // namespace zemla::isa
