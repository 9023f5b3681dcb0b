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

bool level_zero_built();

}  // namespace zemla::rt
