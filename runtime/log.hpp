#pragma once
// Leveled logging: to stderr under ZEMLA_LOG_LEVEL=error|warn|info|debug
// (default warn), or to the sink an embedding program set (zemla.hpp's
// set_log_sink, zemla.h's zemla_set_log_callback), which then decides the
// level. Enough for "which binary did we load" and "why did auto skip Level
// Zero"; not worth a logging library.

#include <functional>
#include <string_view>

namespace zemla::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

bool enabled(Level level);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }

// Messages up to `level` go to `sink` instead of stderr, from whichever
// thread logs, one call at a time; an empty sink restores stderr. A sink
// that throws loses that message, never the caller's call.
using Sink = std::function<void(Level, std::string_view)>;
void set_sink(Sink sink, Level level);

}  // namespace zemla::log
