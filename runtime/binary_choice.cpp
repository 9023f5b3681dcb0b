#include "runtime/binary_choice.hpp"

#include <string>
#include <utility>

#include "zemla/error.hpp"

namespace zemla::rt {

std::string_view backend_name(Backend backend) { return backend == Backend::level_zero ? "level_zero" : "opencl"; }

namespace {
constexpr std::pair<Variant, std::string_view> kVariantNames[] = {{Variant::any, "any"},
                                                                  {Variant::portable, "portable"},
                                                                  {Variant::intel_sg, "intel_sg"},
                                                                  {Variant::intel_xmx, "intel_xmx"},
                                                                  {Variant::nv_mma, "nv_mma"}};
}  // namespace

std::string_view variant_name(Variant variant) {
  for (const auto& [v, name] : kVariantNames)
    if (v == variant) return name;
  return "any";
}

std::optional<Variant> parse_variant(std::string_view name) {
  for (const auto& [v, n] : kVariantNames)
    if (n == name) return v;
  return std::nullopt;
}

std::string ProgramKey::name() const { return program + "/" + std::string(variant_name(variant)) + "/" + dtype; }

bool ProgramKey::matches(const kernels::KernelBinary& b) const {
  return b.program == program && b.variant == variant_name(variant) && b.dtype == dtype;
}

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

Variant choose_variant(const DeviceInfo& info, std::optional<Variant> forced, bool program_has_matrix) {
  Variant variant = Variant::portable;
  if (forced) {
    variant = *forced;
  } else if (info.backend == Backend::level_zero) {
    variant = info.matrix_engines ? Variant::intel_xmx : Variant::intel_sg;
  } else {
    bool sg16 = false;
    for (auto s : info.sub_group_sizes) sg16 = sg16 || s == 16;
    const bool intel_sg = info.has_extension("cl_intel_subgroups") && info.has_extension("cl_intel_subgroups_short") &&
                          info.has_extension("cl_intel_required_subgroup_size") && sg16;
    // mma.sync with bf16/fp16 inputs needs sm_80 or later.
    variant = intel_sg                           ? (info.matrix_engines ? Variant::intel_xmx : Variant::intel_sg)
              : info.nv_compute_capability >= 80 ? Variant::nv_mma
                                                 : Variant::portable;
  }
  // A program without matrix-engine variants takes the same device's SIMT one.
  if (!program_has_matrix && is_matrix_variant(variant)) {
    return variant == Variant::intel_xmx ? Variant::intel_sg : Variant::portable;
  }
  return variant;
}

bool is_matrix_variant(Variant variant) { return variant == Variant::intel_xmx || variant == Variant::nv_mma; }

BinaryChoice choose_binary(const DeviceInfo& info, const ProgramKey& key, int emulated_dpas_sub_group) {
  const kernels::KernelBinary* spirv = nullptr;
  const kernels::KernelBinary* emulated = nullptr;
  const kernels::KernelBinary* source = nullptr;
  const kernels::KernelBinary* native = nullptr;
  // nv_mma off an NVIDIA GPU of sm_80 or later: the SPIR-V that emulates
  // mma.sync with Intel sub-groups of 32.
  const bool emulate_mma = key.variant == Variant::nv_mma && info.nv_compute_capability < 80;
  const bool emulate_dpas = key.variant == Variant::intel_xmx && !info.matrix_engines;
  const std::string emulated_target = emulate_mma    ? "emulated-sg32"
                                      : emulate_dpas ? "emulated-sg" + std::to_string(emulated_dpas_sub_group)
                                                     : "";
  for (const auto& b : kernels::embedded_kernels()) {
    if (!key.matches(b)) continue;
    if (b.format == kernels::BinaryFormat::spirv && b.target == "spirv") spirv = &b;
    if (b.format == kernels::BinaryFormat::spirv && b.target == emulated_target) emulated = &b;
    if (b.format == kernels::BinaryFormat::opencl_c) source = &b;
    if (b.format == kernels::BinaryFormat::zebin && info.ip_version && b.ip_version == *info.ip_version) native = &b;
  }
  const std::string what = key.name();
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

std::string source_defines(const DeviceInfo& info) {
  return info.nv_compute_capability > 0 ? "-DZEMLA_NV_SM=" + std::to_string(info.nv_compute_capability) : "";
}

const kernels::KernelBinary* spirv_fallback(const ProgramKey& key) {
  for (const auto& b : kernels::embedded_kernels()) {
    if (key.matches(b) && b.format == kernels::BinaryFormat::spirv && b.target == "spirv") {
      return &b;
    }
  }
  return nullptr;
}

}  // namespace zemla::rt
