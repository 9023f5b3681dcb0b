#pragma once
// The device-capability switch, in one place: which kernel variant a device
// runs and which embedded binary of it the device loads.

#include <string>

#include "runtime/device.hpp"

namespace zemla::rt {

// intel_xmx where the device has matrix engines (DPAS) and the program has
// an XMX variant; else intel_sg where the device has Intel sub-groups of 16
// with 16-bit block reads (every Intel GPU on Level Zero); nv_mma on an
// NVIDIA GPU of compute capability 8.0 or later (tensor cores through inline
// PTX), for a program that has it; else portable. `forced` (ZEMLA_VARIANT,
// through Settings) overrides it (tests use this to run portable, or
// intel_xmx with emulated DPAS, on Intel's CPU runtime); a program without
// matrix-engine variants then gets the SIMT variant of the same device
// (intel_sg, portable).
Variant choose_variant(const DeviceInfo& info, std::optional<Variant> forced, bool program_has_matrix = true);

// The variant `device` runs a program with, from its facts and settings.
inline Variant choose_variant(const Device& device, bool program_has_matrix = true) {
  return choose_variant(device.info(), device.settings().variant, program_has_matrix);
}

// Whether `variant` computes its tiles on matrix engines (intel_xmx: DPAS;
// nv_mma: tensor cores) rather than in SIMT FMAs.
bool is_matrix_variant(Variant variant);

struct BinaryChoice {
  const kernels::KernelBinary* binary = nullptr;
  std::string reason;  // for the log and `zemla devices`
};

// Level Zero: the zebin for the device's IP version, else SPIR-V.
// OpenCL: SPIR-V when the device takes IL, else OpenCL C source.
// intel_xmx on a device without matrix engines: the SPIR-V that emulates
// DPAS, at sub-group `emulated_dpas_sub_group` (16, or 8 with
// ZEMLA_XMX_EMULATION=sg8). Throws zemla::Error (ZEMLA_ERROR_NOT_FOUND) when
// nothing fits.
BinaryChoice choose_binary(const DeviceInfo& info, const ProgramKey& key, int emulated_dpas_sub_group);

// The device facts an OpenCL C source build adds to a binary's options:
// `-DZEMLA_NV_SM=<compute capability>` on an NVIDIA GPU, which the nv_mma
// kernels read to use the instructions the GPU has (nv_mma.clh); else none.
std::string source_defines(const DeviceInfo& info);

// What Level Zero loads after the driver rejects the chosen native zebin
// (corrupt, or a stepping it cannot run): the SPIR-V of the same program,
// or nullptr when none is embedded (ZEMLA_AOT=OFF).
const kernels::KernelBinary* spirv_fallback(const ProgramKey& key);

}  // namespace zemla::rt
