#pragma once
// Programs built once per (program, variant, dtype) and their kernels created
// once per name: the cache both backends keep, over their own native types.

#include <map>
#include <memory>
#include <string>
#include <string_view>

#include "runtime/device.hpp"

namespace zemla::rt {

template <typename NativeProgram, typename KernelType>
class ProgramCache {
 public:
  struct Entry {
    const kernels::KernelBinary* binary = nullptr;
    NativeProgram program;
    std::map<std::string, std::unique_ptr<KernelType>, std::less<>> kernels;
  };

  Entry* find(const ProgramKey& key) {
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : &it->second;
  }
  Entry& insert(const ProgramKey& key, const kernels::KernelBinary* binary, NativeProgram program) {
    return entries_.emplace(key, Entry{binary, std::move(program), {}}).first->second;
  }
  const kernels::KernelBinary* binary(const ProgramKey& key) const {
    const auto it = entries_.find(key);
    return it == entries_.end() ? nullptr : it->second.binary;
  }
  // The kernel `name` of `entry`, made by `make(native_program, name)` the first time.
  template <typename Make>
  static KernelType& kernel(Entry& entry, std::string_view name, Make make) {
    auto it = entry.kernels.find(name);
    if (it == entry.kernels.end()) {
      it = entry.kernels.emplace(std::string(name), make(entry.program, std::string(name))).first;
    }
    return *it->second;
  }
  void clear() { entries_.clear(); }

 private:
  std::map<ProgramKey, Entry> entries_;
};

}  // namespace zemla::rt
