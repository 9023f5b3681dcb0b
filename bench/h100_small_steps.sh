#!/usr/bin/env bash
# Small decode steps on the H100 (issue "Decode speed", item 5), as run through
# the `device` tool: the launch floor of NVIDIA's OpenCL on a profiling and a
# plain queue (bench/nv_launch_floor.c), zemla validate on the GPU (the
# recorded layer replays the fused append), the two stages' device times at
# H=16, B=1 and 8, 1,024 tokens each, with and without the fused append
# (zemla run --append), and the per-layer cost through the public API
# (zemla_bench_step_overhead: append + decode, append_decode, replay).
#   bench/h100_small_steps.sh OUT_DIR
set -uo pipefail
out="${1:-${OUT:-/tmp/h100}}"
mkdir -p "$out"
# shellcheck source=bench/h100_build.sh
. bench/h100_build.sh
gcc -O2 bench/nv_launch_floor.c -I/usr/local/cuda/include -lOpenCL -o /tmp/nv_launch_floor &&
  /tmp/nv_launch_floor | tee "$out/launch_floor.txt"
$z validate --backend opencl 2>&1 | tail -20 | tee "$out/validate.txt"
for v in nv_mma portable; do
  for b in 1 8; do
    lens=$(python3 -c "print(','.join(['1024'] * $b))")
    for a in "" "--append"; do
      echo "== $v B=$b H=16 1024 tokens each $a"
      # shellcheck disable=SC2086
      ZEMLA_VARIANT=$v $z run mla-decode --heads 16 --seqlens "$lens" --iters 50 --warmup 5 $a 2>&1
    done
  done
done 2>&1 | tee "$out/stages.txt"
for v in nv_mma portable; do
  for b in 1 8; do
    echo "== small step through the API, $v, B=$b H=16, 1024 tokens each, 61 layers"
    ZEMLA_VARIANT=$v /tmp/zb/bench/zemla_bench_step_overhead --backend opencl --batch $b --heads 16 --context 1024 \
      --layers 61 --steps 20
  done
done 2>&1 | tee "$out/step_overhead.txt"
