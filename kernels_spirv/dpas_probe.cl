// Test kernel for common/dpas.clh: one sub-group computes C = A B + C0 for
// row-major A (8 x 16), B (16 x N) and C0, C (8 x N), N the sub-group size,
// by packing A and B into the fragments the extension defines, one
// zemla_mad_k16, and unpacking C. Run where the device lacks the extension,
// this checks the emulation and the fragment layouts against a plain matrix
// multiply; run on a GPU with matrix engines, the hardware's.

#include "ops/mla/mla_variant.clh"
#include "common/dpas.clh"

__attribute__((reqd_work_group_size(ZEMLA_SG_SIZE, 1, 1))) __attribute__((intel_reqd_sub_group_size(ZEMLA_SG_SIZE)))
__kernel void dpas_probe(__global const ushort* a, __global const ushort* b, __global const float* c0,
                         __global float* c) {
  const int lane = get_sub_group_local_id();
  __local ushort a_rows[8 * 16];
  for (int i = lane; i < 8 * 16; i += ZEMLA_SG_SIZE) a_rows[i] = a[i];
  barrier(CLK_LOCAL_MEM_FENCE);
  dpas_a_t af = (dpas_a_t)(0);
  for (int m = 0; m < 8; ++m) af = dpas_a_row_part(a_rows + m * 16, af, m);
  int8 bf;
  for (int r = 0; r < 8; ++r) {
    bf[r] = (int)((uint)b[2 * r * ZEMLA_SG_SIZE + lane] | ((uint)b[(2 * r + 1) * ZEMLA_SG_SIZE + lane] << 16));
  }
  float8 cf;
  for (int m = 0; m < 8; ++m) cf[m] = c0[m * ZEMLA_SG_SIZE + lane];
  cf = zemla_mad_k16(af, bf, cf);
  for (int m = 0; m < 8; ++m) c[m * ZEMLA_SG_SIZE + lane] = cf[m];
}
