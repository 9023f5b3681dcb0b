#!/usr/bin/env bash
# A/B of the split merge's NaN handling (split_combine.clh: max_keeping_nan
# against the plain fmax it replaced) on the H100: the same tree built
# twice, the second with fmax restored, then steps whose stage 2 merges many
# splits, with the stage times zemla run reports (median of 50).
#   bench/h100_nan_merge_ab.sh
set -uo pipefail
rm -rf /tmp/zemla_fmax && cp -r . /tmp/zemla_fmax
sed -i 's/max_keeping_nan(/fmax(/g' /tmp/zemla_fmax/ops/split_kv/split_combine.clh
grep -c "max_keeping_nan" /tmp/zemla_fmax/ops/split_kv/split_combine.clh
# h100_build.sh builds into /tmp/zb: the fmax tree first, moved aside, then this one.
rm -rf /tmp/zb /tmp/zb_fmax
(cd /tmp/zemla_fmax && . bench/h100_build.sh) || exit 1
mv /tmp/zb /tmp/zb_fmax
old=/tmp/zb_fmax/tools/zemla
# shellcheck source=bench/h100_build.sh
. bench/h100_build.sh
new=$z
for round in 1 2; do
  for v in nv_mma portable; do
    for a in "--seqlens 65536" "--seqlens 1024,1024,1024,1024,1024,1024,1024,1024 --splits 64" \
             "--batch 32 --seqlen-range 8192:8192"; do
      for which in fmax keeping_nan; do
        bin=$new
        [ "$which" = fmax ] && bin=$old
        printf "round %s %s %-12s %s: " "$round" "$v" "$which" "$a"
        # shellcheck disable=SC2086
        ZEMLA_VARIANT=$v $bin run mla-decode --heads 16 $a --iters 50 --warmup 5 2>&1 |
          grep -E "splits|time:|FAIL|rror" | tr '\n' ' '
        echo
      done
    done
  done
done
