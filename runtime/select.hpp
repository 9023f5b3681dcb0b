#pragma once
// Which backends exist here, what devices they see, and opening one:
// `auto` = Level Zero GPU, then OpenCL GPU, then OpenCL CPU.

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

// The device of one backend that `requested` names: that index when it is
// >= 0, else the best one, a GPU before any other device. Throws
// zemla::Error (ZEMLA_ERROR_NOT_FOUND) naming the backend when none fits.
int pick_device(Backend backend, const std::vector<DeviceInfo>& devices, int requested);

bool level_zero_built();

}  // namespace zemla::rt
