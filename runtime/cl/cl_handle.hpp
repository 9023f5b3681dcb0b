#pragma once
// The OpenCL objects zemla owns, as RAII handles.

#include "runtime/cl/cl_error.hpp"
#include "runtime/handle.hpp"

namespace zemla::rt::cl {

using ContextHandle = Handle<cl_context, clReleaseContext>;
using QueueHandle = Handle<cl_command_queue, clReleaseCommandQueue>;
using MemHandle = Handle<cl_mem, clReleaseMemObject>;
using ProgramHandle = Handle<cl_program, clReleaseProgram>;
using KernelHandle = Handle<cl_kernel, clReleaseKernel>;
using EventHandle = Handle<cl_event, clReleaseEvent>;

}  // namespace zemla::rt::cl
