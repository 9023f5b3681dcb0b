#!/bin/sh
# `zemla bench --q-len --kv-dtype` (issues 19 and 20): every (heads, batch,
# length) runs each q_len x cache format case, the first of them the
# others' baseline, each length its own (vs_base = median / the first's median); kv_bytes is the
# KV rows one step reads, tokens x row bytes x head blocks (kv_reads), so an
# FP8 cache reads half a bf16 one's bytes, and q_len 2 at 16 heads reads
# once per 16-row head block of the variant (two on the portable one this
# runs). Bad axis values are refused (exit 2) before any file is made.
#   bench_axes_test.sh ZEMLA WORKDIR
set -u
zemla=$1
work=$2
rm -rf "$work" && mkdir -p "$work" && cd "$work" || exit 1
fail() { echo "FAIL: $*"; exit 1; }

"$zemla" bench --heads 16 --batch 2 --seqlens 64,128 --q-len 1,2 --kv-dtype auto,fp8_e4m3 --iters 1 --warmup 0 \
  --csv axes.csv --json-out axes.json >/dev/null 2>err.txt || fail "bench exited $?: $(cat err.txt)"
python3 - <<'PY' || fail "the sweep's rows are wrong"
import csv, json, sys
rows = list(csv.DictReader(open("axes.csv")))
cases = json.load(open("axes.json"))["cases"]
got = [(r["seqlen"], r["q_len"], r["kv_dtype"]) for r in rows]
want = [(n, q, kv) for n in ("64", "128") for q in ("1", "2") for kv in ("bf16", "fp8_e4m3")]
if got != want:
    sys.exit(f"cases {got}, expected {want}")
row_bytes = {"bf16": 1152, "fp8_e4m3": 576}
for r, c in zip(rows, cases):
    # Each length's first case is its baseline, the others relative to it.
    base = cases[0 if c["seqlen"] == 64 else 4]["median_ms"]
    reads = 1 if c["q_len"] == 1 else 2  # 16 or 32 rows over 16-row head blocks
    if c["kv_reads"] != reads:
        sys.exit(f"{c['q_len']} {c['kv_dtype']}: kv_reads {c['kv_reads']}, expected {reads}")
    if c["kv_bytes"] != 2 * c["seqlen"] * row_bytes[c["kv_dtype"]] * reads:
        sys.exit(f"{c['q_len']} {c['kv_dtype']}: kv_bytes {c['kv_bytes']}")
    if float(r["kv_bytes"]) != c["kv_bytes"]:
        sys.exit("CSV and JSON disagree on kv_bytes")
    if abs(c["vs_base"] - c["median_ms"] / base) > 1e-9 * c["vs_base"]:
        sys.exit(f"vs_base {c['vs_base']} is not {c['median_ms']} / {base}")
print("rows ok")
PY

# Bad values: exit 2, named, before the sweep makes its outputs.
refuse() {
  want=$1
  shift
  "$zemla" bench --heads 16 --batch 1 --seqlens 64 --iters 1 --csv refused.csv "$@" >/dev/null 2>err.txt
  rc=$?
  [ "$rc" -eq 2 ] && grep -q -- "$want" err.txt || fail "$* gave exit $rc: $(cat err.txt)"
  [ ! -e refused.csv ] || fail "$* made its CSV before refusing"
}
refuse "q_len 9 must be 1 to 8" --q-len 1,9
refuse "KV cache dtype 'fp8_e3m4' is not supported" --kv-dtype auto,fp8_e3m4
refuse "fp8_ds_mla keeps its rope values in bf16" --dtype fp16 --kv-dtype fp8_ds_mla
refuse "seqlens 3 is shorter than --q-len 4" --seqlens 64,3 --q-len 4
echo PASS
