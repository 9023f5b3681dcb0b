#pragma once
// The kernels built into this library: one row per artifact (OpenCL C source,
// SPIR-V, or a native zebin for one Intel target), generated at build time by
// kernels_spirv/CMakeLists.txt.

#include <cstdint>
#include <span>
#include <string_view>

namespace zemla::kernels {

enum class BinaryFormat { opencl_c, spirv, zebin };

std::string_view format_name(BinaryFormat format);

struct KernelBinary {
  std::string_view program;  // "mla_decode", "kv_append"
  std::string_view variant;  // "portable", "intel_sg", or "any"
  std::string_view dtype;    // "bf16", "f16", or "any"
  std::string_view target;   // "opencl-c", "spirv", an ocloc device ("pvc"), or for intel_xmx
                             // "emulated-sg16" / "emulated-sg8": SPIR-V emulating DPAS
  BinaryFormat format;
  std::uint32_t ip_version;        // zebin only: the device IP version it is for
  std::string_view build_options;  // what ocloc got; the source path passes the same
  std::string_view sha256;
  std::span<const unsigned char> bytes;

  std::string_view text() const {  // opencl_c rows only
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
  }
};

std::span<const KernelBinary> embedded_kernels();

// The embedded kernels' build identity: 16 hex digits of a 64-bit FNV-1a
// digest over every artifact's sha256, in manifest order. Two libraries
// with the same identity carry the same kernels bit for bit; any change to
// a kernel source, option or compiler output changes it.
std::string_view build_id();

// "12.60.7" from an IP version, as ocloc and Level Zero spell it.
std::string ip_version_string(std::uint32_t ip);

}  // namespace zemla::kernels
