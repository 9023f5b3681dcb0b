// `zemla validate`: the hardware validation suite (the checks `ctest -L hw`
// runs) with a pass/fail report on stdout and in a JSON file a user can
// attach to a bug report.

#include <chrono>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "runtime/binary_choice.hpp"
#include "runtime/select.hpp"
#include "tools/commands.hpp"
#include "tools/device_json.hpp"
#include "validation/hw_suite.hpp"
#include "zemla/error.hpp"

namespace zemla::cli {

namespace {

struct ValidateFlags {
  std::string backend = "level_zero";
  int device = -1;
  std::string output = "zemla-validation-report.json";
};

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

void write_report(const nlohmann::json& report, const std::string& path) {
  std::ofstream out(path);
  out << report.dump(2) << '\n';
  if (!out) throw Error("validate", kInvalidArgument, "cannot write the report to " + path);
}

int validate(const ValidateFlags& f, const Global& global) {
  nlohmann::json report{{"zemla_version", ZEMLA_VERSION}, {"date", utc_now()}, {"backend", f.backend}};
  std::unique_ptr<rt::Device> device;
  if (f.backend == "level_zero" && f.device < 0) {
    std::string why;
    device = validation::find_level_zero_gpu(why);
    if (!device) {
      const bool required = validation::hardware_required();
      report["result"] = required ? "FAIL" : "NO_DEVICE";
      report["reason"] = why;
      write_report(report, f.output);
      if (global.json) {
        std::cout << report.dump(2) << '\n';
      } else {
        std::cout << "zemla validate: " << why << "\n  nothing was validated"
                  << (required ? " and ZEMLA_REQUIRE_HW=1 makes that a failure" : "") << "; report in " << f.output
                  << '\n';
      }
      return required ? kExitCheckFailed : kExitNoDevice;
    }
  } else {
    device = rt::open_device(rt::selection(f.backend, f.device));
  }
  report["device"] = describe_device(device->info(), device->settings());
  report["backend"] = rt::backend_name(device->info().backend);
  if (device->info().backend != rt::Backend::level_zero) {
    report["note"] = "run on an OpenCL device: this checks zemla's kernels there, it is not an Intel GPU validation";
  }
  if (!global.json) {
    std::cout << "zemla validate on " << device->info().name << " (" << report["backend"].get<std::string>() << ", "
              << rt::variant_name(rt::choose_variant(*device)) << " variant)\n";
  }

  int failed = 0, passed = 0, skipped = 0;
  report["checks"] = nlohmann::json::array();
  for (const auto& check : validation::hardware_checks()) {
    const auto start = std::chrono::steady_clock::now();
    validation::CheckOutcome outcome;
    try {
      outcome = check.run(*device);
    } catch (const Error& e) {
      // A check that throws is a failure of that check; the rest still run.
      outcome = {validation::CheckOutcome::Status::fail, std::string("error: ") + e.what()};
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::string status = validation::status_name(outcome.status);
    failed += outcome.status == validation::CheckOutcome::Status::fail;
    passed += outcome.status == validation::CheckOutcome::Status::pass;
    skipped += outcome.status == validation::CheckOutcome::Status::skip;
    report["checks"].push_back(
        {{"name", check.name}, {"status", status}, {"detail", outcome.detail}, {"seconds", seconds}});
    if (!global.json) {
      std::printf("  %-4s %-30s %6.2f s  %s\n", status.c_str(), check.name.c_str(), seconds, outcome.detail.c_str());
      std::fflush(stdout);
    }
  }
  report["summary"] = {{"passed", passed}, {"failed", failed}, {"skipped", skipped}};
  report["result"] = failed == 0 ? "PASS" : "FAIL";
  write_report(report, f.output);
  if (global.json) {
    std::cout << report.dump(2) << '\n';
  } else {
    std::cout << (failed == 0 ? "PASS" : "FAIL") << ": " << passed << " passed, " << failed << " failed, " << skipped
              << " skipped; report in " << f.output << '\n';
  }
  return failed == 0 ? kExitOk : kExitCheckFailed;
}

}  // namespace

void add_validate_command(CLI::App& app, const Global& global, int& exit_code) {
  auto flags = std::make_shared<ValidateFlags>();
  auto* cmd = app.add_subcommand(
      "validate",
      "Hardware validation: the `ctest -L hw` checks (numerics vs the fp64 reference, kv_append, native binary, "
      "fault recovery, a timed DeepSeek-V3 step) on the first Level Zero GPU, with a report file. Exits 3 when "
      "there is no Level Zero GPU (1 with ZEMLA_REQUIRE_HW=1)");
  cmd->add_option("--backend", flags->backend,
                  "level_zero (the hardware validation) or opencl (same checks on any "
                  "OpenCL device)")
      ->capture_default_str();
  cmd->add_option("--device", flags->device, "Device index within the backend (-1: best, a GPU first)")
      ->capture_default_str();
  cmd->add_option("--output,-o", flags->output, "Where to write the JSON report")->capture_default_str();
  cmd->callback([flags, &global, &exit_code] { exit_code = validate(*flags, global); });
}

}  // namespace zemla::cli
