#pragma once
// ze_result_t as names (ZE_RESULT_ERROR_OUT_OF_DEVICE_MEMORY, ...) and the
// check that turns a failure into zemla::Error("zeFoo", name, detail).

#include <level_zero/ze_api.h>

#include <string>
#include <string_view>

namespace zemla::rt::ze {

std::string_view result_name(ze_result_t result);
void check(ze_result_t result, const char* call, const std::string& detail = {});

}  // namespace zemla::rt::ze
