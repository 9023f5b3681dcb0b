#pragma once
// Level Zero backend: the product path on Intel GPUs. Immediate command list
// for copies and launches, device USM allocations, native zebin for the
// device's IP version (else SPIR-V), kernel timestamps from one event pool.

#include <memory>
#include <string>
#include <vector>

#include "runtime/device.hpp"

namespace zemla::rt::ze {

struct Availability {
  bool available = false;
  std::string reason;  // why not, when not: "zeInit: ZE_RESULT_ERROR_UNINITIALIZED ..."
};

// zeInit once per process; never calls further ze* functions after a failed
// zeInit (the 1.8 loader crashes in zeDriverGet then).
Availability availability();

// Root devices, then each root device's sub-devices (tiles), per driver.
// ZE_AFFINITY_MASK is applied by the driver before we see the list.
std::vector<DeviceInfo> enumerate();

std::unique_ptr<Device> open(int index, const Settings& settings);

// The caller's handles (ze_driver_handle_t, ze_context_handle_t,
// ze_device_handle_t and, optionally, an immediate ze_command_list_handle_t
// of that context and device), used and never destroyed. With the caller's
// list, every copy and launch is appended to it, each followed by a barrier;
// without one, zemla makes its own immediate list on the caller's context.
struct Adopted {
  void* driver = nullptr;
  void* context = nullptr;
  void* device = nullptr;
  void* command_list = nullptr;
};
std::unique_ptr<Device> adopt(const Adopted& handles, const Settings& settings);

}  // namespace zemla::rt::ze
