#include "runtime/log.hpp"

#include <atomic>
#include <iostream>
#include <mutex>
#include <string>

#include "runtime/settings.hpp"

namespace zemla::log {

namespace {

constexpr const char* kNames[] = {"error", "warn", "info", "debug"};

Level environment_threshold() {
  static const Level level = rt::log_level_from_environment();
  return level;
}

// The sink and its level, behind one lock: a message is never handed to a
// sink that was replaced halfway through the call.
struct SinkState {
  std::mutex mutex;
  Sink sink;
  std::atomic<int> level{-1};  // -1: no sink, stderr under ZEMLA_LOG_LEVEL
};

SinkState& state() {
  static SinkState s;
  return s;
}

}  // namespace

bool enabled(Level level) {
  const int sink_level = state().level.load(std::memory_order_acquire);
  const Level threshold = sink_level >= 0 ? static_cast<Level>(sink_level) : environment_threshold();
  return level <= threshold;
}

void write(Level level, std::string_view message) {
  if (!enabled(level)) return;
  auto& s = state();
  const std::lock_guard lock(s.mutex);
  if (s.sink) {
    try {
      s.sink(level, message);
    } catch (...) {  // the sink's own failure: the message is lost, the caller's call goes on
    }
    return;
  }
  std::cerr << "zemla[" << kNames[static_cast<int>(level)] << "] " << message << '\n';
}

void set_sink(Sink sink, Level level) {
  auto& s = state();
  const std::lock_guard lock(s.mutex);
  s.level.store(sink ? static_cast<int>(level) : -1, std::memory_order_release);
  s.sink = std::move(sink);
}

}  // namespace zemla::log
