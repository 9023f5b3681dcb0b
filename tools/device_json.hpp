#pragma once
// One device's facts as JSON, with the kernel variant and binary it would
// run: shared by `zemla devices` and `zemla validate`'s report.

#include <nlohmann/json.hpp>

#include "runtime/device.hpp"

namespace zemla::cli {

nlohmann::json describe_device(const rt::DeviceInfo& d, const rt::Settings& settings);

}  // namespace zemla::cli
