#pragma once
// Which backends exist here, what devices they see, and opening one:
// `auto` = a Level Zero GPU, else the best-ranked OpenCL device.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/device.hpp"

namespace zemla::rt {

struct BackendReport {
  Backend backend = Backend::opencl;
  bool built = false;      // compiled into this library
  bool available = false;  // loader/driver answered
  std::string reason;      // why not, when not
  std::vector<DeviceInfo> devices;
};

std::vector<BackendReport> survey();

struct Selection {
  std::optional<Backend> backend;  // nullopt: auto
  int device = -1;                 // index within the backend; -1 = best
};

// A selection from the names users type: backend "auto", "level_zero" or
// "opencl" (anything else throws naming it).
Selection selection(std::string_view backend, int device);

// Opens the device `requested` names; where it leaves the backend to auto or
// the device to -1, ZEMLA_BACKEND and ZEMLA_DEVICE (through `settings`)
// decide. The device keeps `settings` for every later choice.
std::unique_ptr<Device> open_device(const Selection& requested, const Settings& settings);

// The same with the environment read now: what the CLI commands, the tests
// and a public Runtime use.
std::unique_ptr<Device> open_device(const Selection& requested);

// How well a device serves zemla, compared member by member: a GPU before a
// CPU runtime, then the MLA kernel variant it runs (matrix engines, then
// Intel sub-groups, then portable), then its compute units. Two CPU
// runtimes on one machine thus rank Intel's (intel_sg from SPIR-V) above
// PoCL's (portable).
struct DeviceRank {
  bool gpu = false;
  int variant = 0;  // 3 intel_xmx / nv_mma, 2 intel_sg, 1 portable
  int compute_units = 0;
  auto operator<=>(const DeviceRank&) const = default;
};
DeviceRank rank_device(const DeviceInfo& device);
// The rank in words, for `zemla devices`: "GPU, runs intel_xmx, 64 compute units".
std::string rank_reason(const DeviceInfo& device);

// The device of one backend that `requested` names: that index when it is
// >= 0, else the best-ranked one (the first of equals). Throws
// zemla::Error (ZEMLA_ERROR_NOT_FOUND) naming the backend when none fits.
int pick_device(Backend backend, const std::vector<DeviceInfo>& devices, int requested);

bool level_zero_built();

}  // namespace zemla::rt
