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

// A device on the caller's own context, device and command queue
// (cl_context, cl_device_id, cl_command_queue). zemla retains each and
// releases only its own references; it enqueues every copy and launch on
// that queue, which must be in-order (an out-of-order queue is refused),
// so the caller's commands before and after zemla's run in their order.
// Timed launches need the queue made with CL_QUEUE_PROFILING_ENABLE.
std::unique_ptr<Device> adopt(void* context, void* device, void* queue, const Settings& settings);

}  // namespace zemla::rt::cl
