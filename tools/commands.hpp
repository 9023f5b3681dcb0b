#pragma once
// Each `zemla` subcommand registers itself on the CLI11 app and runs when
// chosen. Exit codes (documented in --help and the README):
//   0 success, 1 check failed, 2 bad input or config error,
//   3 no suitable device, 4 device or driver error.

#include <CLI/CLI.hpp>

namespace zemla::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitNoDevice = 3;
inline constexpr int kExitDeviceError = 4;

struct Global {
  bool json = false;
};

void add_kernels_command(CLI::App& app, const Global& global, int& exit_code);
void add_devices_command(CLI::App& app, const Global& global, int& exit_code);
void add_config_command(CLI::App& app, const Global& global, int& exit_code);
void add_run_command(CLI::App& app, const Global& global, int& exit_code);
// `run gqa-decode`, registered on the `run` subcommand.
void add_run_gqa_command(CLI::App& run, const Global& global, int& exit_code);
void add_bench_command(CLI::App& app, const Global& global, int& exit_code);
void add_validate_command(CLI::App& app, const Global& global, int& exit_code);

}  // namespace zemla::cli
