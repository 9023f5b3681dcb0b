#pragma once
// A file a command creates for its results (bench --csv/--json-out/--plot).
// Made when the command starts, before any work runs, so a path in a missing
// directory or one that already exists is refused at once (exit 2, naming
// the flag, the path and the reason) instead of after a long sweep; an
// existing file is never overwritten.

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

namespace zemla::cli {

class OutputFile {
 public:
  OutputFile() = default;
  // `path` empty: no file (every write is a no-op).
  OutputFile(std::string path, std::string_view flag);

  explicit operator bool() const { return !path_.empty(); }
  const std::string& path() const { return path_; }
  // Appends and flushes at once, so an interrupted command leaves every
  // line written so far.
  void append(std::string_view text);
  // Replaces the whole contents through a temporary file and a rename, so
  // the file always holds one complete version.
  void replace(std::string_view text);

 private:
  struct Close {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::string path_;
  std::string flag_;
  std::unique_ptr<std::FILE, Close> file_;
};

}  // namespace zemla::cli
