#pragma once
// Which backends exist here, what devices they see, and opening one:
// `auto` = Level Zero GPU, then OpenCL GPU, then OpenCL CPU.

#include <memory>
#include <string>
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
  std::string backend = "auto";  // auto | level_zero | opencl
  int device = -1;               // index within the backend; -1 = best
};

// Fills unset fields from ZEMLA_BACKEND and ZEMLA_DEVICE.
Selection selection_from_env(Selection requested);

std::unique_ptr<Device> open_device(const Selection& selection);

// The device of one backend that `requested` names: that index when it is
// >= 0, else the best one, a GPU before any other device. Throws
// zemla::Error (ZEMLA_ERROR_NOT_FOUND) naming the backend when none fits.
int pick_device(Backend backend, const std::vector<DeviceInfo>& devices, int requested);

bool level_zero_built();

}  // namespace zemla::rt
