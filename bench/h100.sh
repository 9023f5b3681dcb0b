#!/usr/bin/env bash
# The NVIDIA H100 measurement, as run through the `device` tool on a machine
# with the CUDA toolkit's OpenCL and no Level Zero (bench/results/README.md).
# Builds zemla without AOT (NVIDIA's OpenCL compiles the kernels from their
# embedded OpenCL C), checks numerics on the GPU against the fp64 host
# reference for both variants the GPU can run, then:
#   - bench/compare_h100.py: zemla beside PyTorch eager (and sglang's Triton
#     kernel when its source is carried in .deps/sglang) on the same inputs,
#     per variant, against the HBM and FP32 rooflines;
# Small steps (the launch floor, the stages, the per-layer cost through the
# public API) are bench/h100_small_steps.sh's, run as a second call: the
# device returns at most 8 files from one.
#   bench/h100.sh OUT_DIR
set -uo pipefail
out="${1:-${OUT:-/tmp/h100}}"
mkdir -p "$out"
# shellcheck source=bench/h100_build.sh
. bench/h100_build.sh
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv | tee "$out/gpu.txt"
triton=()
[ -d .deps/sglang ] && triton=(--triton-src .deps/sglang)
for v in nv_mma portable; do
  echo "== fp64 checks, $v"
  for a in "--heads 16" "--heads 8" "--heads 16 --dtype fp16" "--heads 128 --seqlen-range 1:2048" \
    "--heads 24 --batch 5 --page-size 16" "--heads 16 --seqlens 65536" "--heads 16 --seqlens 0,1,63,64,65,1000 --page-size 32"; do
    # shellcheck disable=SC2086
    ZEMLA_VARIANT=$v $z run mla-decode $a --iters 5 2>&1 | grep -E "check|rror" | tr '\n' ' '
    echo " [$a]"
  done
done 2>&1 | tee "$out/checks.txt"
for v in nv_mma portable; do
  echo "== zemla ($v) vs baselines"
  t=()
  [ $v = nv_mma ] && t=("${triton[@]}")
  ZEMLA_VARIANT=$v PYTHONUNBUFFERED=1 python3 bench/compare_h100.py --zemla "$z" "${t[@]}" \
    --json "$out/compare_$v.json" --csv "$out/compare_$v.csv"
done 2>&1 | tee "$out/compare.txt"
grep -c PASS "$out/checks.txt" | sed 's/^/fp64 checks passed: /'
