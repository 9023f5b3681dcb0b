#!/usr/bin/env bash
# The NVIDIA H100 measurement (issue 11), as run through the `device` tool on
# a machine with the CUDA toolkit's OpenCL and no Level Zero (see
# bench/results/README.md). Builds zemla without AOT (the kernels compile from
# their embedded OpenCL C), checks numerics on the GPU, then benchmarks.
#   bench/h100.sh quick|full OUT_DIR
set -euo pipefail
mode="${1:-full}"
out="${2:-${OUT:-/tmp/h100}}"
mkdir -p "$out" /tmp/icd
# The CUDA install has the driver's OpenCL library but no vendor file for the loader.
echo libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
export OCL_ICD_VENDORS=/tmp/icd
cmake -S . -B /tmp/zb -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DZEMLA_AOT=OFF -DZEMLA_LEVEL_ZERO=OFF \
  -DZEMLA_BUILD_TESTS=OFF -DZEMLA_EXTRA_INCLUDE="$PWD/.deps/include" -DOpenCL_INCLUDE_DIR=/usr/local/cuda/include \
  -DOpenCL_LIBRARY=/usr/lib/x86_64-linux-gnu/libOpenCL.so >/dev/null
cmake --build /tmp/zb -j16 >/dev/null
z=/tmp/zb/tools/zemla
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$out/gpu.txt"
{
  for h in 8 16 128; do
    for dt in bf16 fp16; do $z run mla-decode --heads $h --dtype $dt --iters 20; done
  done
  $z run mla-decode --heads 16 --seqlens 65536 --iters 20
} 2>&1 | tee "$out/check.txt"
if [ "$mode" = quick ]; then
  $z bench --heads 8,16,128 --batch 1,32 --seqlens 4096,65536 --iters 10 --csv "$out/bench.csv" | tee "$out/bench.txt"
else
  $z bench --csv "$out/bench.csv" --json-out "$out/bench.json" | tee "$out/bench.txt"
fi
