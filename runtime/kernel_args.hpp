#pragma once
// The host side of kernels_spirv/common/kernel_args.h: a kernel's argument
// list becomes a struct with one named, typed field per argument and a
// bind() that sets them all in the list's order.
//
//   ZEMLA_KERNEL_ARGS_STRUCT(FooArgs, FOO_ARGS);
//   FooArgs a;
//   a.q = buffer;  a.q_stride = 576;  ...
//   a.bind(kernel);
//
// A field is a const rt::Buffer* (IN), an rt::Buffer* (OUT, null allowed
// where the kernel is told so by another argument), or the fixed-width C++
// type of the OpenCL C scalar: long -> std::int64_t, int -> std::int32_t,
// float -> float.

#include <cstdint>

#include "kernels_spirv/common/kernel_args.h"
#include "runtime/device.hpp"

#define ZEMLA_CPP_IN(type) const ::zemla::rt::Buffer*
#define ZEMLA_CPP_OUT(type) ::zemla::rt::Buffer*
#define ZEMLA_CPP_SCALAR(type) ZEMLA_CPP_SCALAR_##type
#define ZEMLA_CPP_SCALAR_long std::int64_t
#define ZEMLA_CPP_SCALAR_int std::int32_t
#define ZEMLA_CPP_SCALAR_float float

#define ZEMLA_BIND_IN(kernel, index, value) kernel.set_buffer(index, value)
#define ZEMLA_BIND_OUT(kernel, index, value) kernel.set_buffer(index, value)
#define ZEMLA_BIND_SCALAR(kernel, index, value) kernel.set_scalar(index, value)

#define ZEMLA_ARG_FIELD(kind, type, name) ZEMLA_CPP_##kind(type) name{};
#define ZEMLA_ARG_BIND(kind, type, name) ZEMLA_BIND_##kind(kernel, index++, name);
#define ZEMLA_ARG_COUNT(kind, type, name) +1

#define ZEMLA_KERNEL_ARGS_STRUCT(Name, LIST)                                          \
  struct Name {                                                                       \
    LIST(ZEMLA_ARG_FIELD, ZEMLA_ARG_FIELD)                                            \
    static constexpr std::uint32_t kCount = 0 LIST(ZEMLA_ARG_COUNT, ZEMLA_ARG_COUNT); \
    void bind(::zemla::rt::Kernel& kernel) const {                                    \
      std::uint32_t index = 0;                                                        \
      LIST(ZEMLA_ARG_BIND, ZEMLA_ARG_BIND)                                            \
    }                                                                                 \
  }
