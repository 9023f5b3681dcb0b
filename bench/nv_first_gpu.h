// The first GPU any OpenCL platform offers, or NULL: how the NVIDIA probes
// in bench/ (nv_probe.c, nv_launch_floor.c, nv_ptx_features.c) find the H100.
#ifndef ZEMLA_BENCH_NV_FIRST_GPU_H
#define ZEMLA_BENCH_NV_FIRST_GPU_H

#define CL_TARGET_OPENCL_VERSION 300
#include <CL/cl.h>

static cl_device_id first_gpu(void) {
  cl_platform_id plats[8];
  cl_uint np = 0;
  cl_device_id dev = NULL;
  if (clGetPlatformIDs(8, plats, &np) != CL_SUCCESS) return NULL;
  for (cl_uint i = 0; i < np && i < 8 && !dev; ++i)
    if (clGetDeviceIDs(plats[i], CL_DEVICE_TYPE_GPU, 1, &dev, NULL) != CL_SUCCESS) dev = NULL;
  return dev;
}

#endif
