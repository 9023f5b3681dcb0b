// NVIDIA OpenCL probe (bench/results/README.md), not part of the library:
//   nv_probe                       does NVIDIA's OpenCL compiler take inline
//                                  PTX, and does a bf16 mma.sync m16n8k16 run
//                                  through it with the fragment layout
//                                  ops/mla/mma_tiles.clh assumes? Checks one
//                                  16x8x16 product against the host.
//   nv_probe FILE.cl "OPTS" OUT    builds FILE.cl with OPTS (add -cl-nv-verbose
//                                  for ptxas' register report) and writes the
//                                  PTX the driver made, for bench/sass_stat.py.
// Build on the GPU machine: gcc -O2 bench/nv_probe.c -I/usr/local/cuda/include -lOpenCL -lm
#include "nv_first_gpu.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* src =
    "__kernel void probe(__global const uint* a, __global const uint* b, __global float* d, __global uint* lane_out) "
    "{\n"
    "  uint lane = get_local_id(0);\n"
    "  uint l; asm volatile(\"mov.u32 %0, %%laneid;\" : \"=r\"(l));\n"
    "  lane_out[lane] = l;\n"
    "  uint a0 = a[lane * 4 + 0], a1 = a[lane * 4 + 1], a2 = a[lane * 4 + 2], a3 = a[lane * 4 + 3];\n"
    "  uint b0 = b[lane * 2 + 0], b1 = b[lane * 2 + 1];\n"
    "  float c0 = 0, c1 = 0, c2 = 0, c3 = 0;\n"
    "  asm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
    "{%0,%1,%2,%3};\" : \"+f\"(c0), \"+f\"(c1), \"+f\"(c2), \"+f\"(c3) : \"r\"(a0), \"r\"(a1), \"r\"(a2), \"r\"(a3), "
    "\"r\"(b0), \"r\"(b1));\n"
    "  d[lane * 4 + 0] = c0; d[lane * 4 + 1] = c1; d[lane * 4 + 2] = c2; d[lane * 4 + 3] = c3;\n"
    "}\n";

static unsigned short bf(float x) {
  unsigned u;
  memcpy(&u, &x, 4);
  return (unsigned short)(u >> 16);
}
static float fb(unsigned short h) {
  unsigned u = (unsigned)h << 16;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

int main(int argc, char** argv) {
  cl_int err = CL_SUCCESS;
  cl_device_id dev = first_gpu();
  if (!dev) return printf("no GPU\n"), 1;
  char ext[8192];
  clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, sizeof ext, ext, NULL);
  printf("extensions: %s\n", ext);
  cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  cl_command_queue q = clCreateCommandQueueWithProperties(ctx, dev, NULL, &err);
  const char* opts = "-cl-std=CL3.0";
  char* file_src = NULL;
  if (argc >= 4) {  // nv_probe FILE.cl "OPTIONS" OUT.ptx: build a kernel file, dump its PTX
    FILE* f = fopen(argv[1], "rb");
    if (!f) return printf("cannot open %s\n", argv[1]), 1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    file_src = calloc(n + 1, 1);
    if (fread(file_src, 1, n, f) != (size_t)n) return 1;
    fclose(f);
    src = file_src;
    opts = argv[2];
  }
  cl_program p = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
  err = clBuildProgram(p, 1, &dev, opts, NULL, NULL);
  char log[16384];
  clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
  printf("build %d: %s\n", err, log);
  if (err) return 1;
  size_t bin_size;
  clGetProgramInfo(p, CL_PROGRAM_BINARY_SIZES, sizeof bin_size, &bin_size, NULL);
  char* bin = malloc(bin_size + 1);
  clGetProgramInfo(p, CL_PROGRAM_BINARIES, sizeof bin, &bin, NULL);
  bin[bin_size] = 0;
  char* v = strstr(bin, ".version");
  char* t = strstr(bin, ".target");
  printf("ptx: %.20s | %.20s | mma in ptx: %s\n", v ? v : "?", t ? t : "?", strstr(bin, "mma.sync") ? "yes" : "no");
  if (file_src) {
    FILE* o = fopen(argv[3], "wb");
    fwrite(bin, 1, bin_size, o);
    fclose(o);
    return 0;
  }
  // A: 16x16 row-major, B: 16x8 (k x n), fragments per the PTX ISA's m16n8k16 layout.
  float A[16][16], B[16][8], ref[16][8];
  for (int i = 0; i < 16; ++i)
    for (int k = 0; k < 16; ++k) A[i][k] = fb(bf((float)((i * 7 + k * 3) % 11) - 5.0f));
  for (int k = 0; k < 16; ++k)
    for (int j = 0; j < 8; ++j) B[k][j] = fb(bf((float)((k * 5 + j) % 9) - 4.0f));
  for (int i = 0; i < 16; ++i)
    for (int j = 0; j < 8; ++j) {
      ref[i][j] = 0;
      for (int k = 0; k < 16; ++k) ref[i][j] += A[i][k] * B[k][j];
    }
  unsigned a[128], b[64];
  for (int lane = 0; lane < 32; ++lane) {
    int g = lane / 4, tq = lane % 4;
    int rows[4] = {g, g + 8, g, g + 8}, cols[4] = {tq * 2, tq * 2, tq * 2 + 8, tq * 2 + 8};
    for (int r = 0; r < 4; ++r)
      a[lane * 4 + r] = bf(A[rows[r]][cols[r]]) | ((unsigned)bf(A[rows[r]][cols[r] + 1]) << 16);
    for (int r = 0; r < 2; ++r) {
      int k = tq * 2 + r * 8;
      b[lane * 2 + r] = bf(B[k][g]) | ((unsigned)bf(B[k + 1][g]) << 16);
    }
  }
  cl_mem ma = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, sizeof a, a, &err);
  cl_mem mb = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, sizeof b, b, &err);
  cl_mem md = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 128 * 4, NULL, &err);
  cl_mem ml = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 32 * 4, NULL, &err);
  cl_kernel k = clCreateKernel(p, "probe", &err);
  clSetKernelArg(k, 0, sizeof ma, &ma);
  clSetKernelArg(k, 1, sizeof mb, &mb);
  clSetKernelArg(k, 2, sizeof md, &md);
  clSetKernelArg(k, 3, sizeof ml, &ml);
  size_t g = 32, l = 32;
  err = clEnqueueNDRangeKernel(q, k, 1, NULL, &g, &l, 0, NULL, NULL);
  float d[128];
  unsigned lanes[32];
  clEnqueueReadBuffer(q, md, CL_TRUE, 0, sizeof d, d, 0, NULL, NULL);
  clEnqueueReadBuffer(q, ml, CL_TRUE, 0, sizeof lanes, lanes, 0, NULL, NULL);
  double maxerr = 0;
  for (int lane = 0; lane < 32; ++lane) {
    int gq = lane / 4, tq = lane % 4;
    int rows[4] = {gq, gq, gq + 8, gq + 8}, cols[4] = {tq * 2, tq * 2 + 1, tq * 2, tq * 2 + 1};
    for (int r = 0; r < 4; ++r) maxerr = fmax(maxerr, fabs(d[lane * 4 + r] - ref[rows[r]][cols[r]]));
  }
  printf("launch %d, laneid[31]=%u, mma max abs err vs host: %g -> %s\n", err, lanes[31], maxerr,
         maxerr == 0 ? "MMA OK" : "MMA WRONG");
  return 0;
}
