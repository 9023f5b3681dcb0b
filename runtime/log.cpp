#include "runtime/log.hpp"

#include <cstdlib>
#include <iostream>
#include <string>

namespace zemla::log {

namespace {
Level threshold() {
  static const Level level = [] {
    const char* env = std::getenv("ZEMLA_LOG_LEVEL");
    const std::string v = env ? env : "";
    if (v == "error") return Level::error;
    if (v == "info") return Level::info;
    if (v == "debug") return Level::debug;
    return Level::warn;
  }();
  return level;
}
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
}  // namespace

bool enabled(Level level) { return level <= threshold(); }

void write(Level level, std::string_view message) {
  if (enabled(level)) std::cerr << "zemla[" << kNames[static_cast<int>(level)] << "] " << message << '\n';
}

}  // namespace zemla::log
