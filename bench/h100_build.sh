# shellcheck shell=bash
# Sourced by the H100 scripts (bench/h100.sh, bench/h100_small_steps.sh,
# bench/h100_split_sweep.sh):
# points the ICD loader at NVIDIA's OpenCL and builds zemla without AOT into
# /tmp/zb (NVIDIA's OpenCL compiles the kernels from their embedded OpenCL C);
# ZEMLA_BUILD_TARGET=zemla_cli builds the CLI alone.
mkdir -p /tmp/icd
# The CUDA install has the driver's OpenCL library but no vendor file for the loader.
echo libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
export OCL_ICD_VENDORS=/tmp/icd
cmake -S . -B /tmp/zb -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DZEMLA_AOT=OFF -DZEMLA_LEVEL_ZERO=OFF \
  -DZEMLA_BUILD_TESTS=OFF -DZEMLA_EXTRA_INCLUDE="$PWD/.deps/include" -DOpenCL_INCLUDE_DIR=/usr/local/cuda/include \
  -DOpenCL_LIBRARY=/usr/lib/x86_64-linux-gnu/libOpenCL.so >/dev/null &&
  cmake --build /tmp/zb -j16 ${ZEMLA_BUILD_TARGET:+--target "$ZEMLA_BUILD_TARGET"} >/dev/null || exit 1
# shellcheck disable=SC2034  # used by the scripts that source this file
z=/tmp/zb/tools/zemla
