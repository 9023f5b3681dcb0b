// `zemla devices`: every device of every backend, its properties, the kernel
// variant and binary format it would run, and why a backend is absent.

#include <iostream>
#include <nlohmann/json.hpp>

#include "runtime/binary_choice.hpp"
#include "runtime/select.hpp"
#include "tools/commands.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

std::string mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

nlohmann::json describe(const rt::DeviceInfo& d) {
  nlohmann::json j{{"index", d.index},
                   {"name", d.name},
                   {"vendor", d.vendor},
                   {"platform", d.platform},
                   {"driver_version", d.driver_version},
                   {"type", d.is_gpu ? "gpu" : "other"},
                   {"compute_units", d.compute_units},
                   {"max_work_group_size", d.max_work_group_size},
                   {"sub_group_sizes", d.sub_group_sizes},
                   {"local_mem_bytes", d.local_mem_bytes},
                   {"global_mem_bytes", d.global_mem_bytes},
                   {"accepts_spirv", d.accepts_spirv}};
  if (d.ip_version) j["ip_version"] = kernels::ip_version_string(*d.ip_version);
  try {
    const std::string variant = rt::choose_variant(d);
    const auto choice = rt::choose_binary(d, {"mla_decode", variant, "bf16"});
    j["mla_decode_variant"] = variant;
    j["binary"] = {{"format", kernels::format_name(choice.binary->format)},
                   {"target", choice.binary->target},
                   {"reason", choice.reason}};
  } catch (const Error& e) {
    j["binary"] = {{"error", e.what()}};
  }
  return j;
}

}  // namespace

void add_devices_command(CLI::App& app, const Global& global, int& exit_code) {
  auto* cmd = app.add_subcommand("devices", "List every device of every backend and what zemla would run on it");
  cmd->callback([&global, &exit_code] {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& report : rt::survey()) {
      nlohmann::json b{{"backend", rt::backend_name(report.backend)},
                       {"built", report.built},
                       {"available", report.available},
                       {"devices", nlohmann::json::array()}};
      if (!report.reason.empty()) b["reason"] = report.reason;
      for (const auto& d : report.devices) b["devices"].push_back(describe(d));
      out.push_back(b);
    }
    if (global.json) {
      std::cout << nlohmann::json{{"backends", out}}.dump(2) << '\n';
      exit_code = kExitOk;
      return;
    }
    for (const auto& b : out) {
      std::cout << b["backend"].get<std::string>() << ": "
                << (b["available"].get<bool>() ? "available" : "absent (" + b.value("reason", std::string()) + ")")
                << '\n';
      for (const auto& d : b["devices"]) {
        std::cout << "  [" << d["index"] << "] " << d["name"].get<std::string>() << "  ("
                  << d["platform"].get<std::string>() << ", " << d["type"].get<std::string>() << ")\n"
                  << "      compute units " << d["compute_units"] << ", max work-group " << d["max_work_group_size"]
                  << ", local " << (d["local_mem_bytes"].get<std::uint64_t>() >> 10) << " KiB"
                  << ", global " << mib(d["global_mem_bytes"]) << ", sub-groups " << d["sub_group_sizes"].dump()
                  << (d.contains("ip_version") ? ", IP " + d["ip_version"].get<std::string>() : "") << '\n';
        if (d["binary"].contains("error")) {
          std::cout << "      mla_decode: " << d["binary"]["error"].get<std::string>() << '\n';
        } else {
          std::cout << "      mla_decode: " << d["mla_decode_variant"].get<std::string>() << " variant, "
                    << d["binary"]["reason"].get<std::string>() << '\n';
        }
      }
    }
    exit_code = kExitOk;
  });
}

}  // namespace zemla::cli
