#!/usr/bin/env bash
# Stage times against the split count on the H100 (bench/results/README.md,
# small steps): zemla run with the fused append at H=16, B=1 and 8, 1,024
# tokens each, the planner's choice (-1) and explicit counts; then the
# planner's choice on two long shapes, where stage 2 walks many splits.
#   bench/h100_split_sweep.sh
set -uo pipefail
# shellcheck source=bench/h100_build.sh
. bench/h100_build.sh
for v in nv_mma portable; do
  for b in 1 8; do
    lens=$(python3 -c "print(','.join(['1024'] * $b))")
    for s in -1 8 16 32 64; do
      printf "%s B=%s splits %s: " $v $b $s
      ZEMLA_VARIANT=$v $z run mla-decode --heads 16 --seqlens "$lens" --iters 50 --warmup 5 --append --splits $s 2>&1 |
        grep -E "splits|time:|FAIL|rror" | tr '\n' ' '
      echo
    done
  done
  for a in "--seqlens 65536" "--batch 32 --seqlen-range 8192:8192"; do
    printf "%s %s: " $v "$a"
    # shellcheck disable=SC2086
    ZEMLA_VARIANT=$v $z run mla-decode --heads 16 $a --iters 20 2>&1 | grep -E "splits|time:|FAIL|rror" | tr '\n' ' '
    echo
  done
done
