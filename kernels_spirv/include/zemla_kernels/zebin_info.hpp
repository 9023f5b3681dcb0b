#pragma once
// Facts about native kernels read from a zebin's `.ze_info` section (the YAML
// that ocloc writes beside the ISA): SIMD width, register file, local memory,
// DPAS use, and any per-thread scratch (spill or private memory).

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace zemla::kernels {

struct ZebinKernelInfo {
  std::string name;
  std::uint32_t simd_size = 0;
  std::uint32_t grf_count = 0;
  std::uint32_t slm_bytes = 0;
  std::uint32_t barrier_count = 0;
  std::uint32_t work_group_size = 0;  // required_work_group_size's product; 0 when the launch chooses
  bool has_dpas = false;
  std::uint64_t spill_bytes = 0;    // execution_env spill_size
  std::uint64_t private_bytes = 0;  // execution_env private_size
  std::uint64_t scratch_bytes = 0;  // per_thread_memory_buffers of type scratch/private
};

// A section of a zebin's ELF by name. Throws zemla::Error on a malformed ELF
// or a missing section.
std::span<const unsigned char> zebin_section(std::span<const unsigned char> zebin, std::string_view name);

// The raw `.ze_info` text of a zebin.
std::string ze_info_text(std::span<const unsigned char> zebin);

// A kernel's machine code (its `.text.<kernel>` section), for iga64 -d.
std::span<const unsigned char> kernel_isa(std::span<const unsigned char> zebin, std::string_view kernel);

// Every kernel described in the zebin (the compiler's internal symbol-table
// kernel excluded).
std::vector<ZebinKernelInfo> read_zebin_info(std::span<const unsigned char> zebin);

}  // namespace zemla::kernels
