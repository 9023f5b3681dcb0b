// `zemla kernels`: the embedded kernel binaries, and for native zebins the
// ISA facts the compiler recorded (SIMD width, registers, spills, DPAS);
// with --cost, what each kernel's main loop spends (iga64's disassembly,
// harness/isa_cost.hpp) and the MLA split kernels' static projection onto
// the Intel targets (harness/intel_projection.hpp).

#include <iomanip>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "harness/intel_projection.hpp"
#include "harness/isa_cost.hpp"
#include "host/fp8.hpp"
#include "ops/mla/mla_shape.hpp"
#include "tools/commands.hpp"
#include "tools/table.hpp"
#include "zemla_kernels/manifest.hpp"
#include "zemla_kernels/zebin_info.hpp"

namespace zemla::cli {

namespace {

std::string fixed(double v, int digits) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(digits) << v;
  return os.str();
}

nlohmann::json counts_json(const isa::Counts& c) {
  return {{"instructions", c.instructions},
          {"global_load_bytes", c.global_load_bytes},
          {"global_store_bytes", c.global_store_bytes},
          {"argument_load_bytes", c.argument_load_bytes},
          {"slm_load_bytes", c.slm_load_bytes},
          {"slm_store_bytes", c.slm_store_bytes},
          {"global_loads", c.global_loads},
          {"global_stores", c.global_stores},
          {"slm_loads", c.slm_loads},
          {"slm_stores", c.slm_stores},
          {"dpas", c.dpas},
          {"dpas_shape", c.dpas_shape},
          {"dpas_macs", c.dpas_macs},
          {"float_ops", c.float_ops},
          {"half_ops", c.half_ops},
          {"int_ops", c.int_ops},
          {"moves", c.moves},
          {"conversions", c.conversions},
          {"math", c.math},
          {"barriers", c.barriers},
          {"fences", c.fences},
          {"branches", c.branches},
          {"syncs", c.syncs},
          {"issue_cycles", c.issue_cycles}};
}

// The MLA split kernel (without the fused append) of a decode zebin: the
// one the projection is for.
bool projected(const kernels::KernelBinary& b, const std::string& kernel) {
  return b.program == "mla_decode" && kernel == "mla_decode_split";
}

// A cached token's bytes for a build's dtype ("bf16", "bf16_fp8_ds_mla", ...).
int kv_row_bytes(const kernels::KernelBinary& b) {
  const std::string_view d(b.dtype);
  const auto fp8 = d.find("fp8");
  return mla_row_bytes(fp8 == std::string_view::npos ? KvFormat::same : parse_kv_format(d.substr(fp8)));
}

void print_cost(const Global& global, const std::string& iga64) {
  nlohmann::json rows = nlohmann::json::array();
  Table counts({"target",    "program",   "variant",  "dtype",    "kernel",  "loop", "instr",
                "glob ld B", "glob st B", "slm ld B", "slm st B", "dpas",    "f32",  "f16",
                "int",       "mov",       "cvt",      "math",     "barrier", "issue"});
  std::vector<std::string> shape_names;
  for (const auto& s : isa::projection_shapes()) {
    shape_names.push_back("H" + std::to_string(s.heads) + " B" + std::to_string(s.batch) + " L" +
                          std::to_string(s.tokens));
  }
  std::vector<std::string> header = {"target", "variant", "dtype", "mem",      "slm",   "dpas",
                                     "alu",    "latency", "bound", "resident", "counts"};
  for (const auto& n : shape_names) header.push_back(n + " ms (%BW)");
  Table projection(header);
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.format != kernels::BinaryFormat::zebin) continue;
    const isa::IntelTarget& target = isa::intel_target(b.target);
    for (const auto& info : kernels::read_zebin_info(b.bytes)) {
      const std::string text = isa::disassemble(kernels::kernel_isa(b.bytes, info.name), b.target, iga64);
      const isa::KernelCost k = isa::account(info, text, target.engine_bytes);
      const isa::Counts& c = k.loop_found ? k.loop : k.outside;
      nlohmann::json row{{"program", b.program},
                         {"variant", b.variant},
                         {"dtype", b.dtype},
                         {"target", b.target},
                         {"kernel", info.name},
                         {"simd_size", info.simd_size},
                         {"grf_count", info.grf_count},
                         {"slm_bytes", info.slm_bytes},
                         {"work_group_size", info.work_group_size},
                         {"loop_found", k.loop_found},
                         {"loops", k.loops.size()},
                         {"inner_loops", k.inner_loops},
                         {"per_trip", counts_json(c)},
                         {"outside_loop", counts_json(k.outside)}};
      counts.add({std::string(b.target),
                  std::string(b.program),
                  std::string(b.variant),
                  std::string(b.dtype),
                  info.name,
                  !k.loop_found       ? "none"
                  : k.inner_loops > 0 ? "+" + std::to_string(k.inner_loops) + " inner"
                                      : "yes",
                  std::to_string(c.instructions),
                  std::to_string(c.global_load_bytes),
                  std::to_string(c.global_store_bytes),
                  std::to_string(c.slm_load_bytes),
                  std::to_string(c.slm_store_bytes),
                  std::to_string(c.dpas) + (c.dpas_shape.empty() ? "" : " " + c.dpas_shape),
                  std::to_string(c.float_ops),
                  std::to_string(c.half_ops),
                  std::to_string(c.int_ops),
                  std::to_string(c.moves),
                  std::to_string(c.conversions),
                  std::to_string(c.math),
                  std::to_string(c.barriers),
                  fixed(c.issue_cycles, 0)});
      if (projected(b, info.name) && k.loop_found) {
        const isa::TileProjection t = isa::project_tile(k, target);
        nlohmann::json steps = nlohmann::json::array();
        std::vector<std::string> line = {std::string(b.target),
                                         std::string(b.variant),
                                         std::string(b.dtype),
                                         fixed(t.memory, 0),
                                         fixed(t.slm, 0),
                                         fixed(t.dpas, 0),
                                         fixed(t.alu, 0),
                                         fixed(t.latency, 0),
                                         t.bound,
                                         std::to_string(t.resident) + " (" + t.resident_limit + ")",
                                         k.inner_loops > 0 ? "lower bound" : "exact"};
        for (const auto& shape : isa::projection_shapes()) {
          const auto s = isa::project_step(t, target, shape, mla::kTile, mla::kHeadBlock, kv_row_bytes(b));
          const auto h100 = isa::h100_measured(shape);
          steps.push_back({{"heads", shape.heads},
                           {"batch", shape.batch},
                           {"tokens", shape.tokens},
                           {"projected_ms", s.ms},
                           {"roof_ms", s.roof_ms},
                           {"percent_of_bandwidth", s.percent_of_bandwidth},
                           {"h100_portable_measured_ms", h100.portable_ms},
                           {"h100_nv_mma_measured_ms", h100.nv_mma_ms}});
          line.push_back(fixed(s.ms, 3) + " (" + fixed(s.percent_of_bandwidth, 0) + "%)");
        }
        projection.add(line);
        row["projection"] = {
            {"product", target.product},
            {"label", "static projection from the ISA; not measured on Intel hardware"},
            {"cycles_per_tile",
             {{"memory", t.memory}, {"slm", t.slm}, {"dpas", t.dpas}, {"alu", t.alu}, {"latency", t.latency}}},
            {"bound", t.bound},
            {"counts_are_lower_bounds", k.inner_loops > 0},
            {"resident_work_groups", t.resident},
            {"resident_limit", t.resident_limit},
            {"bytes_in_flight", t.bytes_in_flight},
            {"bytes_to_cover_latency", t.bytes_to_cover_latency},
            {"steps", steps}};
      }
      rows.push_back(row);
    }
  }
  if (global.json) {
    std::cout << nlohmann::json{{"kernels", rows}}.dump(2) << '\n';
    return;
  }
  std::cout << "Per trip of each kernel's main loop, per sub-group (static counts from iga64; 'none': the whole "
               "kernel, no loop; '+N inner': N loops the compiler kept rolled inside it, counted once, so the "
               "counts are lower bounds):\n";
  counts.print(std::cout);
  std::cout << "\nSTATIC PROJECTION, not a measurement: the MLA split kernel on each Intel target. Cycles of one "
               "Xe-core per work-group KV tile by resource; the largest binds, the rest are taken to overlap with "
               "it. Step time = work-group tiles x bound / Xe-cores / clock (no combine, launch, prologue); %BW = "
               "the KV cache read once at the memory bandwidth over it. Figures and assumptions: README, 'Intel "
               "projection'.\n";
  projection.print(std::cout);
  std::cout << "\nMeasured on the H100 (OpenCL, bench/results/h100_speed_2026-11-25.txt), for the same shapes:";
  for (const auto& shape : isa::projection_shapes()) {
    const auto h = isa::h100_measured(shape);
    if (h.portable_ms < 0) continue;
    std::cout << " H" << shape.heads << " B" << shape.batch << " L" << shape.tokens << ": portable "
              << fixed(h.portable_ms, 3) << " ms, nv_mma " << fixed(h.nv_mma_ms, 3) << " ms (HBM roof "
              << fixed(h.hbm_roof_ms, 3) << ");";
  }
  std::cout << '\n';
}

}  // namespace

void add_kernels_command(CLI::App& app, const Global& global, int& exit_code) {
  auto* cmd = app.add_subcommand("kernels", "List the embedded kernels: targets, formats and native ISA facts");
  auto cost = std::make_shared<bool>(false);
  auto iga64 = std::make_shared<std::string>("iga64");
  cmd->add_flag("--cost", *cost,
                "What each native kernel's main loop spends per trip (memory and local-memory bytes, DPAS, ALU, "
                "math, barriers; from iga64's disassembly) and the MLA split kernels' static projection onto "
                "pvc and acm-g10 (not a measurement)");
  cmd->add_option("--iga64", *iga64,
                  "The iga64 program for --cost: a path, or a name looked up in PATH (Debian: libigc-tools)")
      ->capture_default_str();
  cmd->callback([&global, &exit_code, cost, iga64] {
    if (*cost) {
      print_cost(global, *iga64);
      exit_code = kExitOk;
      return;
    }
    nlohmann::json rows = nlohmann::json::array();
    Table table({"program", "variant", "dtype", "target", "format", "bytes", "kernel", "simd", "grf", "slm", "scratch",
                 "dpas", "sha256"});
    for (const auto& b : kernels::embedded_kernels()) {
      nlohmann::json row{{"program", b.program},
                         {"variant", b.variant},
                         {"dtype", b.dtype},
                         {"target", b.target},
                         {"format", kernels::format_name(b.format)},
                         {"bytes", b.bytes.size()},
                         {"build_options", b.build_options},
                         {"sha256", b.sha256}};
      const std::string hash(b.sha256.substr(0, 12));
      if (b.format != kernels::BinaryFormat::zebin) {
        table.add({std::string(b.program), std::string(b.variant), std::string(b.dtype), std::string(b.target),
                   std::string(kernels::format_name(b.format)), std::to_string(b.bytes.size()), "", "", "", "", "", "",
                   hash});
        rows.push_back(row);
        continue;
      }
      row["ip_version"] = kernels::ip_version_string(b.ip_version);
      row["kernels"] = nlohmann::json::array();
      for (const auto& k : kernels::read_zebin_info(b.bytes)) {
        row["kernels"].push_back({{"name", k.name},
                                  {"simd_size", k.simd_size},
                                  {"grf_count", k.grf_count},
                                  {"slm_bytes", k.slm_bytes},
                                  {"spill_bytes", k.spill_bytes},
                                  {"private_bytes", k.private_bytes},
                                  {"scratch_bytes", k.scratch_bytes},
                                  {"has_dpas", k.has_dpas}});
        table.add({std::string(b.program), std::string(b.variant), std::string(b.dtype), std::string(b.target), "zebin",
                   std::to_string(b.bytes.size()), k.name, std::to_string(k.simd_size), std::to_string(k.grf_count),
                   std::to_string(k.slm_bytes), std::to_string(k.scratch_bytes + k.spill_bytes + k.private_bytes),
                   k.has_dpas ? "yes" : "no", hash});
      }
      rows.push_back(row);
    }
    if (global.json) {
      std::cout << nlohmann::json{{"kernels", rows}}.dump(2) << '\n';
    } else {
      table.print(std::cout);
    }
    exit_code = kExitOk;
  });
}

}  // namespace zemla::cli
