#pragma once
// OpenCL backend: an in-order, profiling queue on one device.

#include <memory>
#include <vector>

#include "runtime/device.hpp"

namespace zemla::rt::cl {

// Every device of every OpenCL platform, in platform order. An ICD loader with
// no platforms gives an empty list, not an error.
std::vector<DeviceInfo> enumerate();

std::unique_ptr<Device> open(int index, const Settings& settings);

}  // namespace zemla::rt::cl
