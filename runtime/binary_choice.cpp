#include "runtime/binary_choice.hpp"

#include <cstdlib>

#include "zemla/error.hpp"

namespace zemla::rt {

std::string_view backend_name(Backend backend) { return backend == Backend::level_zero ? "level_zero" : "opencl"; }

void check_copy_range(const Buffer& b, std::size_t bytes, std::size_t offset, const char* what) {
  if (offset > b.bytes() || b.bytes() - offset < bytes) {
    throw Error(std::string("Device::") + what, kInvalidArgument,
                std::to_string(bytes) + " bytes at offset " + std::to_string(offset) + " overrun a buffer of " +
                    std::to_string(b.bytes()) + " bytes");
  }
}

bool DeviceInfo::has_extension(std::string_view name) const {
  for (const auto& e : extensions) {
    if (e == name) return true;
  }
  return false;
}

std::string choose_variant(const DeviceInfo& info, bool program_has_matrix) {
  std::string variant;
  if (const char* forced = std::getenv("ZEMLA_VARIANT"); forced != nullptr && *forced != '\0') {
    variant = forced;
    if (variant != "portable" && variant != "intel_sg" && variant != "intel_xmx" && variant != "nv_mma") {
      throw Error(
          "choose_variant", kInvalidArgument,
          "ZEMLA_VARIANT='" + variant + "' is not a kernel variant; expected portable, intel_sg, intel_xmx or nv_mma");
    }
  } else if (info.backend == Backend::level_zero) {
    variant = info.matrix_engines ? "intel_xmx" : "intel_sg";
  } else {
    bool sg16 = false;
    for (auto s : info.sub_group_sizes) sg16 = sg16 || s == 16;
    const bool intel_sg = info.has_extension("cl_intel_subgroups") && info.has_extension("cl_intel_subgroups_short") &&
                          info.has_extension("cl_intel_required_subgroup_size") && sg16;
    // mma.sync with bf16/fp16 inputs needs sm_80 or later.
    variant = intel_sg                           ? (info.matrix_engines ? "intel_xmx" : "intel_sg")
              : info.nv_compute_capability >= 80 ? "nv_mma"
                                                 : "portable";
  }
  // A program without matrix-engine variants takes the same device's SIMT one.
  if (!program_has_matrix && is_matrix_variant(variant)) return variant == "intel_xmx" ? "intel_sg" : "portable";
  return variant;
}

bool is_matrix_variant(std::string_view variant) { return variant == "intel_xmx" || variant == "nv_mma"; }

namespace {

// The SPIR-V build that emulates DPAS; ZEMLA_XMX_EMULATION picks sub-group 8.
std::string emulation_target() {
  const char* forced = std::getenv("ZEMLA_XMX_EMULATION");
  const std::string sg = forced != nullptr && *forced != '\0' ? forced : "sg16";
  if (sg != "sg16" && sg != "sg8") {
    throw Error("choose_binary", kInvalidArgument,
                "ZEMLA_XMX_EMULATION='" + sg + "' is not an emulated sub-group size; expected sg16 or sg8");
  }
  return "emulated-" + sg;
}

}  // namespace

BinaryChoice choose_binary(const DeviceInfo& info, const ProgramKey& key) {
  const kernels::KernelBinary* spirv = nullptr;
  const kernels::KernelBinary* emulated = nullptr;
  const kernels::KernelBinary* source = nullptr;
  const kernels::KernelBinary* native = nullptr;
  // nv_mma off an NVIDIA GPU of sm_80 or later: the SPIR-V that emulates
  // mma.sync with Intel sub-groups of 32.
  const bool emulate_mma = key.variant == "nv_mma" && info.nv_compute_capability < 80;
  const bool emulate_dpas = key.variant == "intel_xmx" && !info.matrix_engines;
  const std::string emulated_target = emulate_mma ? "emulated-sg32" : emulate_dpas ? emulation_target() : "";
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.program != key.program || b.variant != key.variant || b.dtype != key.dtype) continue;
    if (b.format == kernels::BinaryFormat::spirv && b.target == "spirv") spirv = &b;
    if (b.format == kernels::BinaryFormat::spirv && b.target == emulated_target) emulated = &b;
    if (b.format == kernels::BinaryFormat::opencl_c) source = &b;
    if (b.format == kernels::BinaryFormat::zebin && info.ip_version && b.ip_version == *info.ip_version) native = &b;
  }
  const std::string what = key.program + "/" + key.variant + "/" + key.dtype;
  if (emulate_mma) {
    if (emulated && info.accepts_spirv && info.backend == Backend::opencl) {
      return {emulated, "SPIR-V with emulated mma.sync, sub-group 32 (not an NVIDIA GPU of sm_80 or later)"};
    }
    throw Error("choose_binary", kNotFound,
                what +
                    ": runs on NVIDIA GPUs of sm_80 or later, or emulated on an OpenCL device that takes "
                    "SPIR-V with Intel sub-groups of 32 (and ZEMLA_AOT=ON)");
  }
  if (emulate_dpas && emulated && (info.backend == Backend::level_zero || info.accepts_spirv)) {
    return {emulated, "SPIR-V with emulated DPAS, " + emulated_target + " (the device has no matrix engines)"};
  }
  if (emulate_dpas && info.backend == Backend::level_zero) {
    throw Error("choose_binary", kNotFound, what + ": no " + emulated_target + " SPIR-V embedded (ZEMLA_AOT=OFF?)");
  }
  if (info.backend == Backend::level_zero) {
    if (native) return {native, "native zebin for " + std::string(native->target)};
    if (spirv) {
      return {spirv, "SPIR-V (no native zebin for IP " +
                         (info.ip_version ? kernels::ip_version_string(*info.ip_version) : std::string("unknown")) +
                         ")"};
    }
    throw Error("choose_binary", kNotFound,
                what + ": no native zebin for this device and no SPIR-V embedded (built with ZEMLA_AOT=OFF?)");
  }
  if (info.accepts_spirv && spirv) return {spirv, "SPIR-V (device takes IL)"};
  if (source) return {source, info.accepts_spirv ? "OpenCL C (no SPIR-V embedded)" : "OpenCL C (device takes no IL)"};
  throw Error("choose_binary", kNotFound, what + ": no embedded kernel of that name/variant/dtype");
}

const kernels::KernelBinary* spirv_fallback(const ProgramKey& key) {
  for (const auto& b : kernels::embedded_kernels()) {
    if (b.program == key.program && b.variant == key.variant && b.dtype == key.dtype &&
        b.format == kernels::BinaryFormat::spirv && b.target == "spirv") {
      return &b;
    }
  }
  return nullptr;
}

}  // namespace zemla::rt
