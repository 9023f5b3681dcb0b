#pragma once
// Built OpenCL programs kept on disk between processes (ZEMLA_CL_CACHE_DIR).
//
// A CPU OpenCL runtime compiles zemla's SPIR-V for seconds on every process
// start, and so does a GPU driver without a cache of its own; a server or a
// test that opens many short-lived runtimes pays it each time. The store
// keeps the driver's own program binary (clGetProgramInfo) under a key that
// names everything the build depended on: the embedded binary's sha256, the
// build options, the device, its driver version and its platform. A file is
// used only when its stored key equals the wanted one in full, so a stale or
// foreign file is a miss, never a wrong program.
//
// Files are named zemla-cl-<hash>.bin and written through a temporary name
// and a rename, so two processes filling the same directory never see half a
// file and no other file in the directory is touched. Every failure to read
// or write is a miss (logged at info): the cache can make a start faster,
// never make one fail.

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace zemla::rt::cl {

class ProgramStore {
 public:
  // `dir` empty: a store that never hits and never writes.
  explicit ProgramStore(std::filesystem::path dir) : dir_(std::move(dir)) {}

  bool enabled() const { return !dir_.empty(); }
  // The stored binary for `key`, or nullopt.
  std::optional<std::vector<unsigned char>> load(const std::string& key) const;
  // Stores `binary` under `key`; false (logged) when it could not.
  bool save(const std::string& key, const std::vector<unsigned char>& binary) const;
  // The file that holds `key`, whether or not it exists.
  std::filesystem::path file_for(const std::string& key) const;

 private:
  std::filesystem::path dir_;
};

}  // namespace zemla::rt::cl
