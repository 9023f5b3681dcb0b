// `zemla kernels`: the embedded kernel binaries, and for native zebins the
// ISA facts the compiler recorded (SIMD width, registers, spills, DPAS).

#include <iostream>
#include <nlohmann/json.hpp>

#include "tools/commands.hpp"
#include "tools/table.hpp"
#include "zemla_kernels/manifest.hpp"
#include "zemla_kernels/zebin_info.hpp"

namespace zemla::cli {

void add_kernels_command(CLI::App& app, const Global& global, int& exit_code) {
  auto* cmd = app.add_subcommand("kernels", "List the embedded kernels: targets, formats and native ISA facts");
  cmd->callback([&global, &exit_code] {
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
