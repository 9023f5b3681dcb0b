#!/usr/bin/env python3
"""Joins bench/compare_h100.py's JSON outputs (before, and now per variant)
into one CSV for bench/plot_speed.gp and prints the markdown table the
results README carries. The issue's Triton column (sglang 0.5.23, measured
when the speed issue was filed) rides along for reference.

    bench/speed_table.py BEFORE.json NV_MMA.json PORTABLE.json OUT.csv"""
import json
import sys

# Triton ms per (H, B, len) as the speed issue states them.
ISSUE_TRITON = {(16, 32, 8192): 0.263, (16, 128, 4096): 0.425, (16, 1, 65536): 0.265, (8, 32, 16384): 0.425,
                (128, 32, 4096): 0.639, (128, 64, 8192): 2.428}


def cases(path):
    return {(c["heads"], c["batch"], c["seqlen"]): c for c in json.load(open(path))["cases"]}


def main():
    before, mma, portable = (cases(p) for p in sys.argv[1:4])
    rows = []
    for key, m in mma.items():
        b, p = before.get(key, {}), portable[key]
        floor = max(m["hbm_ms"], m["fp32_ms"])
        rows.append(dict(label="H%d B%d L%d" % key, floor=floor, hbm=m["hbm_ms"], fp32=m["fp32_ms"],
                         before=b.get("zemla_ms", float("nan")), portable=p["zemla_ms"], nv_mma=m["zemla_ms"],
                         triton=m["triton_ms"], triton_issue=ISSUE_TRITON.get(key, float("nan")),
                         eager=m["eager_ms"], key=key))
    with open(sys.argv[4], "w") as f:
        f.write("case,floor_ms,before_ms,portable_ms,nv_mma_ms,triton_ms,eager_ms\n")
        for r in rows:
            f.write(f"{r['label']},{r['floor']},{r['before']},{r['portable']},{r['nv_mma']},{r['triton']},{r['eager']}\n")
    print("| H | B | tokens/request | HBM bound | FP32 bound | zemla before (portable) | zemla portable | "
          "zemla nv_mma | Triton (issue) | Triton (same run) | eager (same run) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        h, b, n = r["key"]
        print(f"| {h} | {b} | {n} | {r['hbm']:.3f} | {r['fp32']:.3f} | {r['before']:.3f} | {r['portable']:.3f} | "
              f"**{r['nv_mma']:.3f}** | {r['triton_issue']:.3f} | {r['triton']:.3f} | {r['eager']:.3f} |"
              .replace("nan", "–"))


if __name__ == "__main__":
    main()
