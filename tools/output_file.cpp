#include "tools/output_file.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "zemla/error.hpp"

namespace zemla::cli {

namespace {
constexpr const char* kCall = "output file";
}

OutputFile::OutputFile(std::string path, std::string_view flag) : path_(std::move(path)), flag_(flag) {
  if (path_.empty()) return;
  // "x": fails on an existing file, so nothing of the user's is replaced.
  file_.reset(std::fopen(path_.c_str(), "wx"));
  if (!file_) {
    const int err = errno;
    throw Error(kCall, kInvalidArgument,
                flag_ + " " + path_ +
                    (err == EEXIST ? " already exists; zemla does not overwrite files (choose a new name)"
                                   : ": cannot create it (" + std::string(std::strerror(err)) + ")"));
  }
}

void OutputFile::append(std::string_view text) {
  if (!file_) return;
  require(std::fwrite(text.data(), 1, text.size(), file_.get()) == text.size() && std::fflush(file_.get()) == 0, kCall,
          [&] { return flag_ + " " + path_ + ": write failed (" + std::strerror(errno) + ")"; });
}

void OutputFile::replace(std::string_view text) {
  if (!file_) return;
  const std::string temp = path_ + ".tmp-" + std::to_string(::getpid());
  std::FILE* f = std::fopen(temp.c_str(), "wx");
  bool ok = f != nullptr && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (f != nullptr) ok = std::fclose(f) == 0 && ok;
  ok = ok && std::rename(temp.c_str(), path_.c_str()) == 0;
  if (!ok) std::remove(temp.c_str());
  require(ok, kCall, [&] { return flag_ + " " + path_ + ": write failed (" + std::strerror(errno) + ")"; });
}

}  // namespace zemla::cli
