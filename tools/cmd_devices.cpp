// `zemla devices`: every device of every backend, its properties, the kernel
// variant and binary format it would run, and why a backend is absent.

#include <iostream>
#include <nlohmann/json.hpp>

#include "runtime/binary_choice.hpp"
#include "runtime/select.hpp"
#include "tools/commands.hpp"
#include "tools/device_json.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

std::string mib(std::uint64_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

}  // namespace

void add_devices_command(CLI::App& app, const Global& global, int& exit_code) {
  auto* cmd = app.add_subcommand("devices", "List every device of every backend and what zemla would run on it");
  cmd->callback([&global, &exit_code] {
    const auto settings = rt::Settings::from_environment();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& report : rt::survey()) {
      nlohmann::json b{{"backend", rt::backend_name(report.backend)},
                       {"built", report.built},
                       {"available", report.available},
                       {"devices", nlohmann::json::array()}};
      if (!report.reason.empty()) b["reason"] = report.reason;
      const int best = report.devices.empty() ? -1 : rt::pick_device(report.backend, report.devices, -1);
      for (const auto& d : report.devices) {
        auto j = describe_device(d, settings);
        j["rank"] = rt::rank_reason(d);
        j["best"] = d.index == best;
        b["devices"].push_back(std::move(j));
      }
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
                  << (d.contains("ip_version") ? ", IP " + d["ip_version"].get<std::string>() : "")
                  << ", matrix engines " << (d["matrix_engines"].get<bool>() ? "yes (DPAS)" : "no") << '\n'
                  << "      rank: " << d["rank"].get<std::string>()
                  << (d["best"].get<bool>() ? " -- the backend's best device (-1 opens it)" : "") << '\n';
        if (d["binary"].contains("error")) {
          std::cout << "      mla_decode: " << d["binary"]["error"].get<std::string>() << '\n';
        } else {
          std::cout << "      mla_decode: " << d["mla_decode_variant"].get<std::string>() << " variant, "
                    << d["binary"]["reason"].get<std::string>() << '\n'
                    << "      gqa_decode: " << d["gqa_decode_variant"].get<std::string>() << " variant\n";
        }
      }
    }
    exit_code = kExitOk;
  });
}

}  // namespace zemla::cli
