// One kernel's argument list, declared once and read by both languages: the
// kernel's signature in OpenCL C (ZEMLA_KERNEL_PARAMS) and the host's
// binder (runtime/kernel_args.hpp), so the two cannot disagree on a
// position, a name or a type. A list is a macro taking two callbacks, ARG
// for every argument and LAST for the final one (a C parameter list has no
// trailing comma):
//
//   #define FOO_ARGS(ARG, LAST) ARG(IN, ushort, q) ARG(SCALAR, long, q_stride) LAST(OUT, float, out)
//
// Kinds: IN, a __global const buffer of `type`; OUT, a __global buffer the
// kernel writes; SCALAR, a value of `type` (long, int or float).
#ifndef ZEMLA_KERNEL_ARGS_H
#define ZEMLA_KERNEL_ARGS_H

#if defined(__OPENCL_VERSION__) || defined(__OPENCL_C_VERSION__)
#define ZEMLA_CL_IN(type) __global const type*
#define ZEMLA_CL_OUT(type) __global type*
#define ZEMLA_CL_SCALAR(type) type
#define ZEMLA_KERNEL_PARAM(kind, type, name) ZEMLA_CL_##kind(type) name,
#define ZEMLA_KERNEL_PARAM_LAST(kind, type, name) ZEMLA_CL_##kind(type) name
// The parameter list of a kernel: __kernel void foo(ZEMLA_KERNEL_PARAMS(FOO_ARGS))
#define ZEMLA_KERNEL_PARAMS(LIST) LIST(ZEMLA_KERNEL_PARAM, ZEMLA_KERNEL_PARAM_LAST)
#endif

#endif
