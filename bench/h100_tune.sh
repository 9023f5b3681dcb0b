#!/usr/bin/env bash
# Kernel tuning sweep on the H100 (issue 11): the same checked decode steps
# under different compile-time blockings and NVIDIA compiler options, passed
# through ZEMLA_CL_BUILD_OPTIONS. Prints ptxas' register/shared-memory report
# (-cl-nv-verbose) and the timing of each.
#   bench/h100_tune.sh OUT_DIR
set -euo pipefail
out="${1:-${OUT:-/tmp/h100}}"
mkdir -p "$out" /tmp/icd
echo libnvidia-opencl.so.1 > /tmp/icd/nvidia.icd
export OCL_ICD_VENDORS=/tmp/icd
if [ ! -x /tmp/zb/tools/zemla ]; then
  cmake -S . -B /tmp/zb -G "Unix Makefiles" -DCMAKE_BUILD_TYPE=Release -DZEMLA_AOT=OFF -DZEMLA_LEVEL_ZERO=OFF \
    -DZEMLA_BUILD_TESTS=OFF -DZEMLA_EXTRA_INCLUDE="$PWD/.deps/include" -DOpenCL_INCLUDE_DIR=/usr/local/cuda/include \
    -DOpenCL_LIBRARY=/usr/lib/x86_64-linux-gnu/libOpenCL.so >/dev/null
fi
cmake --build /tmp/zb -j16 >/dev/null
z=/tmp/zb/tools/zemla
configs=("${@:2}")
[ ${#configs[@]} -gt 0 ] || configs=("")
for c in "${configs[@]}"; do
  echo "=== config: ${c:-default}"
  for h in 16 128; do
    CUDA_CACHE_DISABLE=1 ZEMLA_LOG_LEVEL=info ZEMLA_CL_BUILD_OPTIONS="-cl-nv-verbose $c" $z run mla-decode --heads $h --iters 20 2>&1 |
      { grep -aE "Used|check:|time:|error" || true; } | sed "s/^/  /"
  done
done 2>&1 | tee "$out/tune.txt"
