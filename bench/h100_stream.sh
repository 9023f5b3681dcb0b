#!/bin/bash
# nv_mma's two schedules on the H100 (through NVIDIA's OpenCL): the tile
# schedule over bf16, the stream schedule over FP8. Checks on the GPU against
# the fp64 reference first (stops at the first that does not build or run),
# then `zemla bench` (device-clock medians of 30 steps, each case against its
# shape's bf16 q_len 1): bf16 against the FP8 caches at H=8 with long
# contexts (issue 19's shapes), multi-token steps at H=16 (issue 20's: KV
# read once for q_len x H rows), H=128. Every check is also in
# OUT/stream.json, every bench in OUT/bench_*.json. Each NAME=DIR, a tree of
# other code (git archive of a commit), is built too and timed on the same
# card, same shapes.
#   bench/h100_stream.sh OUT_DIR [NAME=DIR ...]   (from the repository root, on the device machine)
set -u
out=${1:?usage: bench/h100_stream.sh OUT_DIR [NAME=DIR ...]}
shift
mkdir -p "$out"
# shellcheck source=bench/h100_build.sh
ZEMLA_BUILD_TARGET=zemla_cli source bench/h100_build.sh
export ZEMLA_CL_CACHE_DIR=/tmp/zemla-cl-cache ZEMLA_VARIANT=nv_mma
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,clocks.max.mem --format=csv,noheader
lens() { python3 -c "print(','.join(['$2'] * $1))"; }
# run NAME OPTIONS... -> one JSON line in stream.json and one table row;
# stderr kept apart. Fails when the run gave no JSON or its check failed.
run() {
  local name=$1
  shift
  local json rc
  json=$(timeout 120 "$z" --json run mla-decode "$@" 2>>"$out/stderr.log")
  rc=$?
  python3 - "$name" "$rc" "$*" "$json" "$out/stream.json" <<'EOF'
import json, sys
name, rc, args, text, path = sys.argv[1:6]
try:
    r = json.loads(text)
except ValueError:
    r = None
with open(path, "a") as f:
    f.write(json.dumps({"name": name, "rc": int(rc), "args": args, "result": r}) + "\n")
if r is None:
    print(f"{name:<34} rc={rc} (no JSON)")
    sys.exit(1)
if "error" in r:
    print(f"{name:<34} rc={rc} {r['error'].get('message', '')}")
    sys.exit(1)
t, c = r.get("timing") or {}, r.get("check") or {}
check = "-" if not c else ("pass" if c.get("pass") else "FAIL " + c.get("failure", ""))
ms = f"{t['median_ms']:.4f} ms {t['split_median_ms']:.4f}+{t['combine_median_ms']:.4f} {t['gbs']:7.0f} GB/s" if t else ""
print(f"{name:<34} {r['kv_dtype']:<10} q{r['q_len']} {ms:<46} {check}")
sys.exit(0 if not c or c.get("pass") else 1)
EOF
}
first_check() {  # a build or run failure here ends the script: nothing after it could run
  run "$@" || { echo "first checks failed:"; tail -40 "$out/stderr.log"; exit 1; }
}
# The device tool's lease is short: each section starts only while there is time for it.
budget() { [ "$SECONDS" -lt "${STREAM_BUDGET_S:-330}" ] || { echo "stopped at ${SECONDS} s: $1 not run"; exit 0; }; }
small="3000,17,8,64,1,129"
t() { run "$@" --no-check --iters 30 --warmup 5; }
# bench NAME OPTIONS...: a `zemla bench` table, its JSON kept.
bench() {
  local name=$1
  shift
  "$z" bench --batch 32 --iters 30 --warmup 5 --json-out "$out/bench_$name.json" "$@" 2>>"$out/stderr.log" |
    sed -n '/^H /,$p'
}
h8() { bench "H8_B32x8K$1" --heads 8 --seqlens 8192 --kv-dtype "$2"; }
mtp() { bench "H16_B32x4K$1" --heads 16 --seqlens 4096 --q-len 1,2,4 --kv-dtype auto,fp8_e4m3; }
echo "== checks (fp64 reference, B=6 mixed lengths)"
first_check check_bf16_H16 --heads 16 --seqlens "$small"
first_check check_e4m3_H16 --heads 16 --seqlens "$small" --kv-dtype fp8_e4m3
first_check check_e4m3_q2_H16 --heads 16 --seqlens 3000,17,8,64,2,129 --q-len 2 --kv-dtype fp8_e4m3
first_check check_bf16_q2_H16 --heads 16 --seqlens 3000,17,8,64,2,129 --q-len 2
first_check check_bf16_H24 --heads 24 --seqlens "$small"
# Paths with code of their own in the kernels (e5m2's prmt widening, fp8_ds_mla's
# cvt.rn.bf16x2 scaling, fp16 P rounding): checked before any timing, but a
# failure here leaves the timings of the others to run.
run check_e5m2_H16 --heads 16 --seqlens "$small" --kv-dtype fp8_e5m2
run check_ds_mla_H16 --heads 16 --seqlens "$small" --kv-dtype fp8_ds_mla
run check_f16_H24 --heads 24 --seqlens "$small" --dtype fp16
budget "timing"
echo "== time: bf16 against FP8 (median of 30 on the device clock; x base: against bf16)"
h8 "" auto,fp8_e4m3,fp8_e5m2,fp8_ds_mla
echo "== time: multi-token steps, H=16, B=32 x 4K (x base: against bf16 q_len 1)"
mtp ""
for base in "$@"; do
  name=${base%%=*} dir=${base#*=}
  budget "$name"
  echo "== time: $name ($dir), same shapes, same card"
  mkdir -p "$dir/.deps" && cp -r .deps/include "$dir/.deps/"
  sed "s#/tmp/zb#/tmp/zb_$name#g" bench/h100_build.sh >"/tmp/h100_build_$name.sh"
  # shellcheck source=/dev/null
  (cd "$dir" && ZEMLA_BUILD_TARGET=zemla_cli source "/tmp/h100_build_$name.sh") || exit 1
  z_new=$z z=/tmp/zb_$name/tools/zemla
  if "$z" bench --help | grep -q -- --kv-dtype; then
    h8 "_$name" auto,fp8_e4m3
    mtp "_$name"
  else  # a tree from before bench's --q-len and --kv-dtype
    for kv in auto fp8_e4m3; do t "H8_B32x8K_$name" --heads 8 --seqlens "$(lens 32 8192)" --kv-dtype $kv; done
    for q in 1 2 4; do t "H16_B32x4K_q${q}_$name" --heads 16 --seqlens "$(lens 32 4096)" --q-len $q; done
  fi
  z=$z_new
done
budget "registers"
echo "== registers (ptxas through -cl-nv-verbose)"
for kv in auto fp8_e4m3; do
  echo "-- $kv"
  ZEMLA_LOG_LEVEL=info ZEMLA_CL_CACHE_DIR='' ZEMLA_CL_BUILD_OPTIONS="-cl-nv-verbose" "$z" run mla-decode \
    --heads 8 --seqlens 64 --kv-dtype $kv 2>&1 | grep -a -E "mla_decode_split'|registers|spill" | head -6
done
budget "the other checks"
echo "== checks (fp64 reference, B=6 mixed lengths)"
run check_e5m2_q4_H24 --heads 24 --seqlens 3000,17,8,64,4,129 --q-len 4 --kv-dtype fp8_e5m2
run check_f16_e4m3_H24 --heads 24 --seqlens "$small" --dtype fp16 --kv-dtype fp8_e4m3
run check_bf16_q4_H16 --heads 16 --seqlens 3000,17,8,64,4,129 --q-len 4
run check_bf16_append_H16 --heads 16 --seqlens "$small" --append
run check_bf16_q3_H128 --heads 128 --seqlens 3000,17,8,64,3,129 --q-len 3
budget "long contexts"
bench H8_B32x16K --heads 8 --seqlens 16384 --kv-dtype auto,fp8_e4m3
budget "H=128"
bench H128_B32x2K --heads 128 --seqlens 2048 --kv-dtype auto,fp8_e4m3
