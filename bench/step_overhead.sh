#!/bin/sh
# Host overhead per decode step and per layer, plain vs recorded launches:
# on the Level Zero null driver (zemla's own cost: every driver call returns
# at once) and on the CPU OpenCL runtimes (their enqueue cost included).
#   bench/step_overhead.sh [BUILD_DIR]
set -eu
build=${1:-build}
deps=${ZEMLA_DEPS_DIR:-/opt/zemla-deps}
bench="$build/bench/zemla_bench_step_overhead"
echo "== Level Zero null driver (no validation layer)"
ZE_ENABLE_NULL_DRIVER=1 LD_LIBRARY_PATH="$deps/ze-null" ZE_ENABLE_ALT_DRIVERS="$deps/ze-null/no-other-driver.so" \
  "$bench" --backend level_zero --steps 200
echo "== PoCL (OpenCL CPU)"
OCL_ICD_VENDORS="$deps/icd-pocl" "$bench" --backend opencl --steps 20 --context 256
echo "== Intel CPU OpenCL runtime"
OCL_ICD_VENDORS="$deps/icd-intel" "$bench" --backend opencl --steps 20 --context 256
