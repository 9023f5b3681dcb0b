// zemla: MLA paged decode attention on Intel GPUs (Level Zero), with an
// OpenCL path for any other device. See `zemla --help`.

#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "runtime/settings.hpp"
#include "tools/commands.hpp"
#include "zemla/error.hpp"
#include "zemla_kernels/manifest.hpp"

namespace {

// An error on stderr, and with --json also as a JSON object on stdout, where
// a machine reading JSON looks; returns `code`.
int report_error(const zemla::cli::Global& global, const std::string& message, std::string_view result,
                 std::string_view kind, int code) {
  std::cerr << "zemla: " << message << '\n';
  if (global.json) {
    std::cout << nlohmann::json{{"error",
                                 {{"message", message}, {"result", result}, {"kind", kind}, {"exit_code", code}}}}
                     .dump(2)
              << '\n';
  }
  return code;
}

// The exit code of each kind of failure (README: exit codes).
int exit_code_of(zemla::ErrorKind kind) {
  switch (kind) {
    case zemla::ErrorKind::invalid_argument:
    case zemla::ErrorKind::unsupported:
      return zemla::cli::kExitBadInput;
    case zemla::ErrorKind::not_found:
      return zemla::cli::kExitNoDevice;
    case zemla::ErrorKind::out_of_resources:
    case zemla::ErrorKind::device:
      break;
  }
  return zemla::cli::kExitDeviceError;
}

}  // namespace

int main(int argc, char** argv) {
  std::string about =
      "zemla: MLA (DeepSeek-style) paged decode attention for Intel GPUs over Level Zero.\n"
      "With no subcommand it runs the default job: one checked DeepSeek-V3 decode step on the best device.\n\n"
      "Exit codes: 0 ok, 1 numerical check failed, 2 bad input/config, 3 no suitable device, 4 device error.\n"
      "Environment (read once per command; a bad value exits 2):";
  for (const auto& v : zemla::rt::setting_variables()) {
    about += "\n  " + std::string(v.name) + " (" + std::string(v.values) + "): " + std::string(v.meaning);
  }
  CLI::App app{about};
  app.set_version_flag("--version", "zemla " ZEMLA_VERSION " (kernels " + std::string(zemla::kernels::build_id()) + ")",
                       "The version of zemla and its kernels' build identity, then exit");
  zemla::cli::Global global;
  app.add_flag("--json", global.json, "Machine-readable JSON output (before or after the subcommand)");
  // Subcommands made from here on hand flags they do not know to their
  // parent, so `zemla devices --json` means `zemla --json devices`.
  app.fallthrough();
  app.require_subcommand(0, 1);
  int exit_code = zemla::cli::kExitOk;
  zemla::cli::add_kernels_command(app, global, exit_code);
  zemla::cli::add_devices_command(app, global, exit_code);
  zemla::cli::add_config_command(app, global, exit_code);
  zemla::cli::add_run_command(app, global, exit_code);
  zemla::cli::add_bench_command(app, global, exit_code);
  zemla::cli::add_validate_command(app, global, exit_code);
  try {
    if (argc <= 1) {
      // The default job: `zemla run mla-decode` with its defaults.
      const char* run_args[] = {argv[0], "run", "mla-decode"};
      app.parse(3, const_cast<char**>(run_args));
    } else {
      app.parse(argc, argv);
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : zemla::cli::kExitBadInput;
  } catch (const zemla::Error& e) {
    return report_error(global, e.what(), e.result_name(), zemla::error_kind_name(e.kind()), exit_code_of(e.kind()));
  } catch (const std::filesystem::filesystem_error& e) {
    // A path the user named that cannot be read or written.
    return report_error(global, e.what(), "filesystem", "invalid_argument", zemla::cli::kExitBadInput);
  } catch (const std::exception& e) {
    // Anything else is zemla's failure, reported with the device-error code
    // rather than an abort.
    return report_error(global, e.what(), "internal", "internal", zemla::cli::kExitDeviceError);
  }
  return exit_code;
}
