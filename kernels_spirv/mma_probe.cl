// Test kernel for common/nv_mma.clh: one warp computes C = A B + C0 for
// row-major A (16 x 16), B (16 x 8) and C0, C (16 x 8), by packing A and B
// into the fragments of the PTX ISA's mma.m16n8k16, one nv_mma_k16, and
// unpacking C (lane = 4 g + tq). On an NVIDIA GPU this checks the tensor
// cores against the layout mma_tiles.clh assumes; elsewhere, the emulation.

#include "common/nv_mma.clh"

inline uint pack(__global const ushort* m, int lo, int hi) { return (uint)m[lo] | ((uint)m[hi] << 16); }

__attribute__((reqd_work_group_size(32, 1, 1))) ZEMLA_WARP_ATTRS __kernel void mma_probe(
    __global const ushort* a, __global const ushort* b, __global const float* c0, __global float* c) {
  const int lane = get_local_id(0);
  const int g = lane / 4, tq = lane % 4;
  const uint4 af = (uint4)(pack(a, g * 16 + 2 * tq, g * 16 + 2 * tq + 1),
                           pack(a, (g + 8) * 16 + 2 * tq, (g + 8) * 16 + 2 * tq + 1),
                           pack(a, g * 16 + 2 * tq + 8, g * 16 + 2 * tq + 9),
                           pack(a, (g + 8) * 16 + 2 * tq + 8, (g + 8) * 16 + 2 * tq + 9));
  const uint2 bf = (uint2)(pack(b, 2 * tq * 8 + g, (2 * tq + 1) * 8 + g),
                           pack(b, (2 * tq + 8) * 8 + g, (2 * tq + 9) * 8 + g));
  const int r0 = g * 8 + 2 * tq, r1 = (g + 8) * 8 + 2 * tq;
  float4 cf = (float4)(c0[r0], c0[r0 + 1], c0[r1], c0[r1 + 1]);
  cf = nv_mma_k16(af, bf, cf);
  c[r0] = cf.x;
  c[r0 + 1] = cf.y;
  c[r1] = cf.z;
  c[r1 + 1] = cf.w;
}
