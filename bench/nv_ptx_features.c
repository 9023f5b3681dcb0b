// Which warp-level PTX instructions NVIDIA's OpenCL compiler takes in inline
// asm, and whether they do what the PTX ISA says on the GPU (a probe for
// bench/results/README.md, not part of the library). Each test runs one warp
// on known data and compares every lane's result with the host's:
//   movmatrix   movmatrix.sync.aligned.m8n8.trans.b16: an 8x8 16-bit matrix
//               held one word per lane (row lane / 4, columns 2 (lane % 4)
//               and + 1) comes back transposed, in registers
//   ldmatrix    ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 from a
//               __local array whose address is passed as a 32-bit integer
//   cp.async    cp.async.ca.shared.global of 16 bytes into a __local array,
//               committed and waited for, then read back
// Build and run on the GPU machine:
//   gcc -O2 bench/nv_ptx_features.c -I/usr/local/cuda/include -lOpenCL -o /tmp/ptxf && /tmp/ptxf
#include "nv_first_gpu.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char* src =
    "inline uint local_addr(__local const void* p) { return (uint)(ulong)p; }\n"
    "__kernel void movm(__global uint* out) {\n"
    "  uint lane = get_local_id(0), g = lane / 4, tq = lane % 4;\n"
    "  uint w = (g * 8 + 2 * tq) | ((g * 8 + 2 * tq + 1) << 16), r;\n"
    "  __asm__ volatile(\"movmatrix.sync.aligned.m8n8.trans.b16 %0, %1;\" : \"=r\"(r) : \"r\"(w));\n"
    "  out[lane] = r;\n"
    "}\n"
    "__kernel void ldm(__global const ushort* in, __global uint* out) {\n"
    "  __local ushort tile[16 * 16];\n"
    "  uint lane = get_local_id(0);\n"
    "  for (int i = lane; i < 256; i += 32) tile[i] = in[i];\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  // x4: lanes 8j..8j+7 give the row addresses of matrix j: rows of the 16x16 tile's quadrants\n"
    "  uint j = lane / 8, r = lane % 8;\n"
    "  uint addr = local_addr(tile + ((j % 2) * 8 + r) * 16 + (j / 2) * 8);\n"
    "  uint d0, d1, d2, d3;\n"
    "  __asm__ volatile(\"ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\"\n"
    "                   : \"=r\"(d0), \"=r\"(d1), \"=r\"(d2), \"=r\"(d3) : \"r\"(addr));\n"
    "  out[lane * 4] = d0; out[lane * 4 + 1] = d1; out[lane * 4 + 2] = d2; out[lane * 4 + 3] = d3;\n"
    "}\n"
    "__kernel void cpa(__global const uint4* in, __global uint4* out) {\n"
    "  __local uint4 buf[64];\n"
    "  uint lane = get_local_id(0);\n"
    "  buf[lane] = (uint4)(0); buf[lane + 32] = (uint4)(0);\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  for (int k = 0; k < 2; ++k) {\n"
    "    uint dst = local_addr(buf + 63 - (lane + 32 * k));\n"
    "    __asm__ volatile(\"cp.async.ca.shared.global [%0], [%1], 16;\" :: \"r\"(dst), \"l\"(in + lane + 32 * k) : \"memory\");\n"
    "  }\n"
    "  __asm__ volatile(\"cp.async.commit_group;\" ::: \"memory\");\n"
    "  __asm__ volatile(\"cp.async.wait_group 0;\" ::: \"memory\");\n"
    "  barrier(CLK_LOCAL_MEM_FENCE);\n"
    "  out[lane] = buf[lane]; out[lane + 32] = buf[lane + 32];\n"
    "}\n";

static int fails = 0;
static void expect(const char* what, unsigned got, unsigned want, int i) {
  if (got != want && fails++ < 8) printf("  %s[%d] = %08x, expected %08x\n", what, i, got, want);
}

int main(void) {
  cl_int err = CL_SUCCESS;
  cl_device_id dev = first_gpu();
  if (!dev) return printf("no GPU\n"), 1;
  cl_context ctx = clCreateContext(NULL, 1, &dev, NULL, NULL, &err);
  cl_command_queue q = clCreateCommandQueueWithProperties(ctx, dev, NULL, &err);
  cl_program p = clCreateProgramWithSource(ctx, 1, &src, NULL, &err);
  err = clBuildProgram(p, 1, &dev, "-cl-std=CL3.0", NULL, NULL);
  char log[16384];
  clGetProgramBuildInfo(p, dev, CL_PROGRAM_BUILD_LOG, sizeof log, log, NULL);
  printf("build %d: %s\n", err, log);
  if (err) return 1;
  cl_mem in = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 4096, NULL, &err);
  cl_mem out = clCreateBuffer(ctx, CL_MEM_READ_WRITE, 4096, NULL, &err);
  unsigned host_in[1024], host_out[1024];
  for (int i = 0; i < 1024; ++i) host_in[i] = 0x9e3779b9u * (unsigned)(i + 1);
  clEnqueueWriteBuffer(q, in, CL_TRUE, 0, 4096, host_in, 0, NULL, NULL);
  size_t warp = 32;
  const char* names[] = {"movm", "ldm", "cpa"};
  for (int t = 0; t < 3; ++t) {
    cl_kernel k = clCreateKernel(p, names[t], &err);
    if (t == 0) {
      clSetKernelArg(k, 0, sizeof out, &out);
    } else {
      clSetKernelArg(k, 0, sizeof in, &in);
      clSetKernelArg(k, 1, sizeof out, &out);
    }
    err = clEnqueueNDRangeKernel(q, k, 1, NULL, &warp, &warp, 0, NULL, NULL);
    err |= clEnqueueReadBuffer(q, out, CL_TRUE, 0, 4096, host_out, 0, NULL, NULL);
    fails = err != CL_SUCCESS;
    const unsigned short* in16 = (const unsigned short*)host_in;
    for (unsigned lane = 0; lane < 32; ++lane) {
      unsigned g = lane / 4, tq = lane % 4;
      if (t == 0) {
        // transposed: lane (g, tq) holds M[2tq][g], M[2tq+1][g] with M[r][c] = 8r + c
        expect("movmatrix", host_out[lane], (2 * tq * 8 + g) | (((2 * tq + 1) * 8 + g) << 16), lane);
      } else if (t == 1) {
        // matrix j (quadrant rows (j%2)*8.., cols (j/2)*8..) transposed: lane gets
        // element pairs of row g of the transpose = column g of the quadrant
        for (unsigned j = 0; j < 4; ++j) {
          unsigned r0 = (j % 2) * 8, c0 = (j / 2) * 8;
          unsigned lo = in16[(r0 + 2 * tq) * 16 + c0 + g], hi = in16[(r0 + 2 * tq + 1) * 16 + c0 + g];
          expect("ldmatrix", host_out[lane * 4 + j], lo | (hi << 16), (int)(lane * 4 + j));
        }
      } else {
        for (unsigned v = 0; v < 64; ++v)
          for (unsigned e = 0; e < 4; ++e) expect("cp.async", host_out[v * 4 + e], host_in[(63 - v) * 4 + e], (int)v);
      }
    }
    printf("%-10s %s\n", names[t], fails ? "FAIL" : "ok");
    clReleaseKernel(k);
  }
  return 0;
}
