// Sixteen FP8 codes widened to 16-bit values the two ways zemla has: fp8.clh's
// fp8_widen4 (integers, an exact path for zeros, subnormals and NaN) and
// nv_mma.clh's nv_cvt_e4m3x4_f16 (one sm_90 conversion per two codes). For
// bench/nv_ptx_local.sh, which counts the SASS each takes:
//   NV_PTX_FILE=bench/fp8_widen_probe.cl NV_PTX_KERNEL=widen_integer \
//     bench/nv_ptx_local.sh /tmp/w -DZEMLA_DTYPE_BF16 -DZEMLA_KV_FP8_E4M3
#include "kernels_spirv/common/fp8.clh"
#include "kernels_spirv/common/nv_mma.clh"

__kernel void widen_integer(__global const uint4* in, __global uint4* out) {
  const int i = get_global_id(0);
  const uint4 r = in[i];
  out[2 * i] = (uint4)(fp8_widen4(r.x), fp8_widen4(r.y));
  out[2 * i + 1] = (uint4)(fp8_widen4(r.z), fp8_widen4(r.w));
}

__kernel void widen_cvt(__global const uint4* in, __global uint4* out) {
  const int i = get_global_id(0);
  const uint4 r = in[i];
  out[2 * i] = (uint4)(nv_cvt_e4m3x4_f16(r.x), nv_cvt_e4m3x4_f16(r.y));
  out[2 * i + 1] = (uint4)(nv_cvt_e4m3x4_f16(r.z), nv_cvt_e4m3x4_f16(r.w));
}
