#include "runtime/cl/cl_program_store.hpp"

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <system_error>

#include "runtime/log.hpp"

namespace zemla::rt::cl {

namespace {

constexpr std::string_view kMagic = "zemla-cl-program 1\n";

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

// The header every file starts with: the magic line, then the key and the
// binary's size, each behind its length, so a key holding any byte reads back
// exactly.
std::string header(const std::string& key, std::size_t binary_bytes) {
  std::string h(kMagic);
  h += std::to_string(key.size()) + "\n" + key + "\n" + std::to_string(binary_bytes) + "\n";
  return h;
}

}  // namespace

std::filesystem::path ProgramStore::file_for(const std::string& key) const {
  char name[40];
  std::snprintf(name, sizeof name, "zemla-cl-%016zx.bin", std::hash<std::string>{}(key));
  return dir_ / name;
}

std::optional<std::vector<unsigned char>> ProgramStore::load(const std::string& key) const {
  if (!enabled()) return std::nullopt;
  const auto path = file_for(key);
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  const std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The key and size are checked before the size is trusted: a file of
  // another key, another version or cut short is a miss.
  std::istringstream s(contents);
  std::string magic(kMagic.size(), '\0');
  std::size_t key_bytes = 0, binary_bytes = 0;
  s.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  if (!s || magic != kMagic || !(s >> key_bytes) || s.get() != '\n' || key_bytes != key.size()) {
    log::info("OpenCL program cache: " + path.string() + " is not this build's; rebuilding");
    return std::nullopt;
  }
  std::string stored_key(key_bytes, '\0');
  s.read(stored_key.data(), static_cast<std::streamsize>(key_bytes));
  if (!s || stored_key != key || s.get() != '\n' || !(s >> binary_bytes) || s.get() != '\n') {
    log::info("OpenCL program cache: " + path.string() + " holds another build; rebuilding");
    return std::nullopt;
  }
  const auto offset = static_cast<std::size_t>(s.tellg());
  if (binary_bytes == 0 || contents.size() - offset != binary_bytes) {
    log::info("OpenCL program cache: " + path.string() + " is cut short or padded; rebuilding");
    return std::nullopt;
  }
  return std::vector<unsigned char>(contents.begin() + static_cast<std::ptrdiff_t>(offset), contents.end());
}

bool ProgramStore::save(const std::string& key, const std::vector<unsigned char>& binary) const {
  if (!enabled() || binary.empty()) return false;
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  const auto path = file_for(key);
  // A name no other writer uses ("x": fopen refuses an existing file), then
  // a rename, which replaces the final name in one step.
  static std::atomic<unsigned> counter{0};
  const auto temp = path.string() + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
  File f(std::fopen(temp.c_str(), "wbx"));
  if (!f) {
    log::info("OpenCL program cache: cannot create " + temp + "; not cached");
    return false;
  }
  const std::string h = header(key, binary.size());
  const bool written = std::fwrite(h.data(), 1, h.size(), f.get()) == h.size() &&
                       std::fwrite(binary.data(), 1, binary.size(), f.get()) == binary.size() &&
                       std::fclose(f.release()) == 0;
  if (written) std::filesystem::rename(temp, path, ec);
  if (!written || ec) {
    std::filesystem::remove(temp, ec);
    log::info("OpenCL program cache: cannot write " + path.string() + "; not cached");
    return false;
  }
  return true;
}

}  // namespace zemla::rt::cl
