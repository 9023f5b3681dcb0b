#include "zemla_kernels/zebin_info.hpp"

#include <cstring>
#include <sstream>
#include <string_view>
#include <tuple>

#include "zemla/error.hpp"

namespace zemla::kernels {

namespace {

constexpr const char* kCall = "read_zebin_info";

template <typename T>
T read_at(std::span<const unsigned char> bytes, std::uint64_t offset) {
  if (offset > bytes.size() || bytes.size() - offset < sizeof(T)) {
    throw Error(kCall, kInvalidArgument,
                "ELF field at offset " + std::to_string(offset) + " lies past the end (" +
                    std::to_string(bytes.size()) + " bytes)");
  }
  T value;
  std::memcpy(&value, bytes.data() + offset, sizeof(T));
  return value;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\r' || s.back() == '\'')) s.remove_suffix(1);
  if (!s.empty() && s.front() == '\'') s.remove_prefix(1);
  return s;
}

std::size_t indent_of(std::string_view line) {
  std::size_t n = 0;
  while (n < line.size() && line[n] == ' ') ++n;
  return n;
}

std::uint64_t to_u64(std::string_view v) {
  std::uint64_t out = 0;
  for (char c : v) {
    if (c < '0' || c > '9') break;
    out = out * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return out;
}

}  // namespace

std::span<const unsigned char> zebin_section(std::span<const unsigned char> zebin, std::string_view wanted) {
  if (zebin.size() < 64 ||
      std::memcmp(zebin.data(),
                  "\x7f"
                  "ELF",
                  4) != 0 ||
      zebin[4] != 2) {
    throw Error(kCall, kInvalidArgument, "not a 64-bit ELF file (zebin expected)");
  }
  const auto shoff = read_at<std::uint64_t>(zebin, 0x28);
  const auto shentsize = read_at<std::uint16_t>(zebin, 0x3a);
  const auto shnum = read_at<std::uint16_t>(zebin, 0x3c);
  const auto shstrndx = read_at<std::uint16_t>(zebin, 0x3e);
  if (shentsize < 0x28 || shstrndx >= shnum) {
    throw Error(kCall, kInvalidArgument, "ELF section table header is inconsistent");
  }
  auto section = [&](std::uint32_t i) {
    const std::uint64_t base = shoff + std::uint64_t{i} * shentsize;
    return std::tuple{read_at<std::uint32_t>(zebin, base), read_at<std::uint64_t>(zebin, base + 0x18),
                      read_at<std::uint64_t>(zebin, base + 0x20)};
  };
  const auto [unused_name, strtab_offset, strtab_size] = section(shstrndx);
  for (std::uint32_t i = 0; i < shnum; ++i) {
    const auto [name, offset, size] = section(i);
    if (name >= strtab_size) continue;
    const std::uint64_t name_at = strtab_offset + name;
    if (name_at >= zebin.size()) continue;
    const char* s = reinterpret_cast<const char*>(zebin.data() + name_at);
    const std::size_t max_len = zebin.size() - name_at;
    if (std::string_view(s, strnlen(s, max_len)) != wanted) continue;
    if (offset > zebin.size() || zebin.size() - offset < size) {
      throw Error(kCall, kInvalidArgument, std::string(wanted) + " section lies past the end of the file");
    }
    return zebin.subspan(offset, size);
  }
  throw Error(kCall, kNotFound, "no " + std::string(wanted) + " section (built with --format zebin?)");
}

std::string ze_info_text(std::span<const unsigned char> zebin) {
  const auto text = zebin_section(zebin, ".ze_info");
  return std::string(reinterpret_cast<const char*>(text.data()), text.size());
}

std::span<const unsigned char> kernel_isa(std::span<const unsigned char> zebin, std::string_view kernel) {
  return zebin_section(zebin, ".text." + std::string(kernel));
}

namespace {

// "[ 256, 1, 1 ]" -> 256.
std::uint32_t work_group_size(std::string_view dims) {
  std::uint64_t product = 1;
  std::size_t i = 0;
  int seen = 0;
  while (i < dims.size()) {
    if (dims[i] < '0' || dims[i] > '9') {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < dims.size() && dims[j] >= '0' && dims[j] <= '9') ++j;
    product *= to_u64(dims.substr(i, j - i));
    ++seen;
    i = j;
  }
  return seen == 3 ? static_cast<std::uint32_t>(product) : 0;
}

}  // namespace

std::vector<ZebinKernelInfo> read_zebin_info(std::span<const unsigned char> zebin) {
  std::istringstream text(ze_info_text(zebin));
  std::vector<ZebinKernelInfo> kernels;
  enum class Block { none, kernels, execution_env, memory_buffers } block = Block::none;
  std::string line_storage;
  while (std::getline(text, line_storage)) {
    const std::string_view line = line_storage;
    const std::size_t indent = indent_of(line);
    const std::string_view body = trim(line);
    if (body.empty()) continue;
    if (indent == 0) {  // top-level key: only `kernels:` describes kernels
      block = body == "kernels:" ? Block::kernels : Block::none;
      continue;
    }
    if (block == Block::none) continue;
    if (body.starts_with("- name:")) {
      kernels.push_back({});
      kernels.back().name = std::string(trim(body.substr(7)));
      block = Block::kernels;
      continue;
    }
    if (kernels.empty()) continue;
    ZebinKernelInfo& k = kernels.back();
    if (indent <= 4) {  // a key of the kernel itself opens (or leaves) a block
      block = body == "execution_env:"               ? Block::execution_env
              : body == "per_thread_memory_buffers:" ? Block::memory_buffers
                                                     : Block::kernels;
      continue;
    }
    const std::size_t colon = body.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view key = trim(body.substr(0, colon));
    const std::string_view value = trim(body.substr(colon + 1));
    if (block == Block::execution_env) {
      if (key == "simd_size") k.simd_size = static_cast<std::uint32_t>(to_u64(value));
      if (key == "grf_count") k.grf_count = static_cast<std::uint32_t>(to_u64(value));
      if (key == "slm_size") k.slm_bytes = static_cast<std::uint32_t>(to_u64(value));
      if (key == "barrier_count") k.barrier_count = static_cast<std::uint32_t>(to_u64(value));
      if (key == "required_work_group_size") k.work_group_size = work_group_size(value);
      if (key == "has_dpas") k.has_dpas = value == "true";
      if (key == "spill_size") k.spill_bytes = to_u64(value);
      if (key == "private_size") k.private_bytes = to_u64(value);
    } else if (block == Block::memory_buffers) {
      // Each buffer: `type` (scratch, or global for stateless private
      // memory), `usage` (private_space, spill_fill_space, ...), `size`.
      // Every one is per-thread memory outside the registers, whatever its
      // type: private arrays the compiler put in global memory included.
      if (key.starts_with("- ")) key = trim(key.substr(2));
      if (key == "size") k.scratch_bytes += to_u64(value);
    }
  }
  std::erase_if(kernels, [](const ZebinKernelInfo& k) { return k.name.starts_with("Intel_Symbol_Table"); });
  return kernels;
}

}  // namespace zemla::kernels
