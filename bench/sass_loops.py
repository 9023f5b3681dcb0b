#!/usr/bin/env python3
"""The loops of one kernel in nvdisasm's SASS, for reading a kernel's main
loop without a GPU (bench/nv_ptx_local.sh): each backward branch closes a
loop; prints its address range, its static instruction count (both arms of
any branch inside it counted) and its most frequent opcodes.
  bench/sass_loops.py KERNEL.sass KERNEL_NAME [TOP]"""
import collections
import re
import sys


def main():
    path, kernel = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) > 3 else 12
    labels, ins, on = {}, [], False
    for line in open(path, encoding="utf-8", errors="replace"):
        if line.startswith(".text."):
            on = line.startswith(f".text.{kernel}:")
            continue
        if not on:
            continue
        label = re.match(r"\s*\.(L_x_\d+):", line)
        if label:
            labels[label.group(1)] = len(ins)
            continue
        m = re.search(r"/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
        if m:
            text = re.sub(r"^@!?U?P\w+\s+", "", m.group(2).strip())
            ins.append((int(m.group(1), 16), text))
    if not ins:
        sys.exit(f"no SASS for kernel {kernel} in {path}")
    for end, (addr, text) in enumerate(ins):
        m = re.search(r"BRA.*`\(\.?(L_x_\d+)\)", text)
        if not m or labels.get(m.group(1), end + 1) >= end:
            continue
        begin = labels[m.group(1)]
        mix = collections.Counter(t.split()[0] for _, t in ins[begin:end + 1])
        ops = ", ".join(f"{op} {n}" for op, n in mix.most_common(top))
        print(f"loop {ins[begin][0]:#06x}-{addr:#06x}: {end + 1 - begin} instructions; {ops}")


if __name__ == "__main__":
    main()
