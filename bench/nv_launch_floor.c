// The launch floor of an OpenCL driver (bench/results/README.md): event
// START->END of trivial kernels (empty; one touching 48 KB of local memory;
// three dependent loads), one group and 264, and the time per launch of 1000
// back-to-back launches, on a profiling queue and on a plain one. On the H100 through NVIDIA's OpenCL every one of
// them costs ~6.5-6.9 us, which bounds a decode layer of three launches.
// Build: gcc -O2 bench/nv_launch_floor.c -I/usr/local/cuda/include -lOpenCL
#include "nv_first_gpu.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static const char* src =
    "__kernel void empty(__global float* o) { if (get_global_id(0) == 1u << 30) o[0] = 1; }\n"
    "__kernel void local48(__global float* o) { __local float t[12000]; for (int i = get_local_id(0); i < 12000; i += "
    "256) t[i] = i;\n"
    "  barrier(CLK_LOCAL_MEM_FENCE); if (get_local_id(0) == 0) o[get_group_id(0)] = t[(get_group_id(0) * 7) % 12000]; "
    "}\n"
    "__kernel void chain(__global const int* p, __global float* o) { int a = p[get_group_id(0)]; int b = p[a]; int c = "
    "p[b]; o[get_group_id(0)] = c; }\n";
static int cmp(const void* a, const void* b) {
  double x = *(double*)a, y = *(double*)b;
  return x < y ? -1 : x > y;
}
int main(void) {
  cl_device_id dev = first_gpu();
  if (!dev) return printf("no GPU\n"), 1;
  cl_int err;
  cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  cl_queue_properties props[] = {CL_QUEUE_PROPERTIES, CL_QUEUE_PROFILING_ENABLE, 0};
  cl_command_queue q = clCreateCommandQueueWithProperties(ctx, dev, props, &err);
  cl_command_queue plain = clCreateCommandQueueWithProperties(ctx, dev, NULL, &err);
  cl_program p = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
  if (clBuildProgram(p, 1, &dev, "", NULL, NULL)) {
    printf("build failed\n");
    return 1;
  }
  cl_mem o = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 1 << 20, NULL, &err);
  int idx[4096];
  for (int i = 0; i < 4096; ++i) idx[i] = (i * 97) % 4096;
  cl_mem pi = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, sizeof idx, idx, &err);
  const char* names[] = {"empty", "local48", "chain"};
  for (int k = 0; k < 3; ++k) {
    cl_kernel kr = clCreateKernel(p, names[k], &err);
    if (k == 2) {
      clSetKernelArg(kr, 0, sizeof pi, &pi);
      clSetKernelArg(kr, 1, sizeof o, &o);
    } else
      clSetKernelArg(kr, 0, sizeof o, &o);
    for (int groups = 1; groups <= 264; groups *= 264) {
      size_t g = 256 * groups, l = 256;
      double d[50];
      for (int i = 0; i < 55; ++i) {
        cl_event e;
        clEnqueueNDRangeKernel(q, kr, 1, NULL, &g, &l, 0, NULL, &e);
        clWaitForEvents(1, &e);
        cl_ulong s, t;
        clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, 8, &s, NULL);
        clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, 8, &t, NULL);
        if (i >= 5) d[i - 5] = (t - s) * 1e-3;
        clReleaseEvent(e);
      }
      qsort(d, 50, sizeof(double), cmp);
      double us[2];
      for (int qi = 0; qi < 2; ++qi) {
        cl_command_queue qq = qi == 0 ? q : plain;
        struct timespec a, b;
        clFinish(qq);
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < 1000; ++i) clEnqueueNDRangeKernel(qq, kr, 1, NULL, &g, &l, 0, NULL, NULL);
        clFinish(qq);
        clock_gettime(CLOCK_MONOTONIC, &b);
        us[qi] = ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) * 1e-3 / 1000;
      }
      printf(
          "%-8s groups %3d: event START->END median %.2f us; back-to-back per launch (host+device): "
          "%.2f us profiling queue, %.2f us plain queue\n",
          names[k], groups, d[25], us[0], us[1]);
    }
  }
  return 0;
}
