#!/usr/bin/env bash
# A/B of the intel_xmx query operands kept in registers (ops/mla/xmx_tiles.clh:
# ZEMLA_Q_REGS) on the H100, which cannot run intel_xmx: the change must
# leave the variants it does run untouched. The tree is built twice, the
# second time with xmx_tiles.clh and mla_decode_split.clh as they were before
# the change (git revision BASE, or a directory holding ops/mla/ of it, for
# a machine that has the working tree but no history), then both run the
# same checked steps of portable and nv_mma (median of 50 each).
#   bench/h100_q_regs_ab.sh BASE
set -uo pipefail
base=${1:?usage: bench/h100_q_regs_ab.sh BASE-REVISION}
rm -rf /tmp/zemla_base && cp -r . /tmp/zemla_base
for f in ops/mla/xmx_tiles.clh ops/mla/mla_decode_split.clh; do
  if [ -d "$base" ]; then
    cp "$base/$f" "/tmp/zemla_base/$f" || exit 1
  else
    git show "$base:$f" > "/tmp/zemla_base/$f" || exit 1
  fi
done
grep -c ZEMLA_Q_REGS /tmp/zemla_base/ops/mla/xmx_tiles.clh
rm -rf /tmp/zb /tmp/zb_base
(cd /tmp/zemla_base && . bench/h100_build.sh) || exit 1
mv /tmp/zb /tmp/zb_base
old=/tmp/zb_base/tools/zemla
# shellcheck source=bench/h100_build.sh
. bench/h100_build.sh
new=$z
for round in 1 2; do
  for v in nv_mma portable; do
    for a in "--heads 16 --batch 32 --seqlen-range 8192:8192" "--heads 128 --batch 32 --seqlen-range 4096:4096" \
             "--heads 16 --seqlens 65536"; do
      for which in before after; do
        bin=$new
        [ "$which" = before ] && bin=$old
        printf "round %s %-8s %-6s %s: " "$round" "$v" "$which" "$a"
        # shellcheck disable=SC2086
        ZEMLA_VARIANT=$v $bin run mla-decode $a --iters 50 --warmup 5 2>&1 |
          grep -E "check|time:|FAIL|rror" | tr '\n' ' '
        echo
      done
    done
  done
done
