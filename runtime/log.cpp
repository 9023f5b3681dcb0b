#include "runtime/log.hpp"

#include <iostream>
#include <string>

#include "runtime/settings.hpp"

namespace zemla::log {

namespace {
Level threshold() {
  static const Level level = rt::log_level_from_environment();
  return level;
}
constexpr const char* kNames[] = {"error", "warn", "info", "debug"};
}  // namespace

bool enabled(Level level) { return level <= threshold(); }

void write(Level level, std::string_view message) {
  if (enabled(level)) std::cerr << "zemla[" << kNames[static_cast<int>(level)] << "] " << message << '\n';
}

}  // namespace zemla::log
