#!/bin/bash
# Multi-token decode (issue 20) on the H100 through NVIDIA's OpenCL: time per
# step for q_len 1, 2, 4 and 8 at equal batch and context, H = 16 and 128
# (DeepSeek-V3), nv_mma and portable, each q_len checked against the fp64
# causal reference once. kv_MB is the cache the step reads, which does not
# grow with q_len (the q_len x H query rows share each KV tile of a head
# block; H x q_len > 16 rows add head blocks, which re-read tiles from L2).
# Median of 30 timed steps on the device clock.
#   bench/h100_multi_token.sh        (from the repository root, on the device machine)
set -u
# shellcheck source=bench/h100_build.sh
source bench/h100_build.sh
nvidia-smi --query-gpu=name --format=csv,noheader
lens() { python3 -c "print(','.join(['$2'] * $1))"; }
B=32
L=4096
kv_mb=$(python3 -c "print(f'{$B * $L * 576 * 2 / 1e6:.0f}')")
printf '%-9s %-5s %-6s %-11s %7s %10s %9s %s\n' variant H q_len "BxL" kv_MB ms "vs q1" check
for variant in nv_mma portable; do
  for H in 16 128; do
    base=""
    for q in 1 2 4 8; do
      check=$(ZEMLA_VARIANT=$variant "$z" --json run mla-decode --heads "$H" --q-len "$q" --seqlens 3000,17,8 \
        2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["check"]["pass"])' 2>&1)
      ms=$(ZEMLA_VARIANT=$variant "$z" --json run mla-decode --heads "$H" --q-len "$q" --seqlens "$(lens $B $L)" \
        --no-check --iters 30 --warmup 5 2>/dev/null |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["timing"]["median_ms"])' 2>&1)
      [ -z "$base" ] && base=$ms
      ratio=$(python3 -c "print(f'{$ms/$base:.2f}')" 2>/dev/null || echo "?")
      printf '%-9s %-5s %-6s %-11s %7s %10s %9s %s\n' "$variant" "$H" "$q" "${B}x$L" "$kv_mb" "$ms" "$ratio" "$check"
    done
  done
done
