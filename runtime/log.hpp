#pragma once
// Minimal leveled logging to stderr; ZEMLA_LOG_LEVEL=error|warn|info|debug
// (default warn). Enough for "which binary did we load" and "why did auto
// skip Level Zero"; not worth a logging library.

#include <string_view>

namespace zemla::log {

enum class Level { error = 0, warn = 1, info = 2, debug = 3 };

bool enabled(Level level);
void write(Level level, std::string_view message);

inline void debug(std::string_view m) { write(Level::debug, m); }
inline void info(std::string_view m) { write(Level::info, m); }
inline void warn(std::string_view m) { write(Level::warn, m); }

}  // namespace zemla::log
