#include "runtime/settings.hpp"

#include <array>
#include <charconv>
#include <cstdlib>

#include "zemla/error.hpp"

namespace zemla::rt {

namespace {

constexpr const char* kCall = "Settings::from_environment";

constexpr std::array kVariables{
    SettingVariable{"ZEMLA_BACKEND", "auto | level_zero | opencl", "the backend a device is opened on"},
    SettingVariable{"ZEMLA_DEVICE", "0, 1, ...", "the device index within that backend"},
    SettingVariable{"ZEMLA_VARIANT", "portable | intel_sg | intel_xmx | nv_mma",
                    "forces a kernel variant instead of the device's best"},
    SettingVariable{"ZEMLA_XMX_EMULATION", "sg16 | sg8",
                    "the sub-group size of the emulated DPAS SPIR-V, for intel_xmx on a device without matrix "
                    "engines"},
    SettingVariable{"ZEMLA_CL_BUILD_OPTIONS", "compiler options",
                    "appended to OpenCL C source builds (a tuning knob for a vendor's driver)"},
    SettingVariable{"ZEMLA_CL_CACHE_DIR", "a directory",
                    "keeps the OpenCL driver's built programs there, so later processes skip the build "
                    "(made if missing; zemla writes only zemla-cl-*.bin files in it)"},
    SettingVariable{"ZEMLA_LOG_LEVEL", "error | warn | info | debug", "what zemla logs to stderr (default warn)"},
    SettingVariable{"ZEMLA_REQUIRE_HW", "1", "hardware validation tests fail instead of skipping without an Intel GPU"},
};

// The variable's value, or nullopt when it is unset or empty.
std::optional<std::string> read(std::string_view name) {
  const char* v = std::getenv(std::string(name).c_str());
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

[[noreturn]] void refuse(std::string_view name, const std::string& value, std::string_view expected) {
  throw Error(kCall, kInvalidArgument,
              std::string(name) + "='" + value + "' is not valid; expected " + std::string(expected));
}

std::optional<log::Level> parse_log_level(std::string_view v) {
  if (v == "error") return log::Level::error;
  if (v == "warn") return log::Level::warn;
  if (v == "info") return log::Level::info;
  if (v == "debug") return log::Level::debug;
  return std::nullopt;
}

}  // namespace

std::span<const SettingVariable> setting_variables() { return kVariables; }

std::optional<Backend> parse_backend(std::string_view name, std::string_view what) {
  if (name == "auto") return std::nullopt;
  if (name == "level_zero") return Backend::level_zero;
  if (name == "opencl") return Backend::opencl;
  throw Error(
      "parse_backend", kInvalidArgument,
      std::string(what) + "='" + std::string(name) + "' is not valid; expected " + std::string(kVariables[0].values));
}

log::Level log_level_from_environment() {
  const auto v = read("ZEMLA_LOG_LEVEL");
  const auto level = v ? parse_log_level(*v) : std::nullopt;
  return level.value_or(log::Level::warn);
}

Settings Settings::from_environment() {
  Settings s;
  if (const auto v = read("ZEMLA_BACKEND")) s.backend = parse_backend(*v, "ZEMLA_BACKEND");
  if (const auto v = read("ZEMLA_DEVICE")) {
    int index = -1;
    const auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), index);
    if (ec != std::errc() || end != v->data() + v->size() || index < 0) {
      refuse("ZEMLA_DEVICE", *v, "a device index (0, 1, ...)");
    }
    s.device = index;
  }
  if (const auto v = read("ZEMLA_VARIANT")) {
    s.variant = parse_variant(*v);
    if (!s.variant || *s.variant == Variant::any) refuse("ZEMLA_VARIANT", *v, kVariables[2].values);
  }
  if (const auto v = read("ZEMLA_XMX_EMULATION")) {
    if (*v != "sg16" && *v != "sg8") refuse("ZEMLA_XMX_EMULATION", *v, kVariables[3].values);
    s.emulated_dpas_sub_group = *v == "sg8" ? 8 : 16;
  }
  if (const auto v = read("ZEMLA_CL_BUILD_OPTIONS")) s.cl_build_options = *v;
  if (const auto v = read("ZEMLA_CL_CACHE_DIR")) s.cl_cache_dir = *v;
  if (const auto v = read("ZEMLA_LOG_LEVEL")) {
    const auto level = parse_log_level(*v);
    if (!level) refuse("ZEMLA_LOG_LEVEL", *v, kVariables[6].values);
    s.log_level = *level;
  }
  if (const auto v = read("ZEMLA_REQUIRE_HW")) {
    if (*v != "0" && *v != "1") refuse("ZEMLA_REQUIRE_HW", *v, "1 (or 0)");
    s.require_hardware = *v == "1";
  }
  return s;
}

}  // namespace zemla::rt
