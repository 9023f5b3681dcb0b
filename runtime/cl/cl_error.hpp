#pragma once
// cl_int results as names, and the check that turns a failure into
// zemla::Error("clFoo", "CL_INVALID_...", detail).

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

#include <string>
#include <string_view>

namespace zemla::rt::cl {

std::string_view result_name(cl_int result);
void check(cl_int result, const char* call, const std::string& detail = {});

}  // namespace zemla::rt::cl
