#pragma once
// Every ZEMLA_* environment variable zemla reads, typed and checked in one
// place. A device is opened with the Settings read when its Runtime (or the
// CLI command, or the test fixture) is made, and every later choice reads
// them from there: nothing else calls getenv, so a variable changed after a
// Runtime exists does not change what it runs. The README's table of
// variables lists setting_variables(); a test holds the two equal.

#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "runtime/enums.hpp"
#include "runtime/log.hpp"

namespace zemla::rt {

struct Settings {
  std::optional<Backend> backend;           // ZEMLA_BACKEND; unset or "auto": the best backend
  std::optional<int> device;                // ZEMLA_DEVICE; unset: the best device
  std::optional<Variant> variant;           // ZEMLA_VARIANT; unset: the device's best variant
  int emulated_dpas_sub_group = 16;         // ZEMLA_XMX_EMULATION: sg16 or sg8
  std::string cl_build_options;             // ZEMLA_CL_BUILD_OPTIONS, appended to OpenCL C source builds
  std::string cl_cache_dir;                 // ZEMLA_CL_CACHE_DIR: built OpenCL programs kept there; unset: none
  log::Level log_level = log::Level::warn;  // ZEMLA_LOG_LEVEL
  bool require_hardware = false;            // ZEMLA_REQUIRE_HW=1: hardware tests fail instead of skipping

  // Reads and checks every variable; a bad value throws zemla::Error
  // (ZEMLA_ERROR_INVALID_ARGUMENT) naming the variable, the value and what
  // it takes.
  static Settings from_environment();
};

struct SettingVariable {
  std::string_view name;
  std::string_view values;
  std::string_view meaning;
};

// The variables Settings reads, in the README's order.
std::span<const SettingVariable> setting_variables();

// ZEMLA_LOG_LEVEL alone, for the logger, which runs before any Runtime
// exists; a bad value there means the default (warn) until Settings refuses it.
log::Level log_level_from_environment();

// "auto" (nullopt), "level_zero", "opencl"; anything else throws naming `what`.
std::optional<Backend> parse_backend(std::string_view name, std::string_view what);

}  // namespace zemla::rt
