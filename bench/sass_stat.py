#!/usr/bin/env python3
"""Instruction mix of a kernel's SASS, whole and per innermost loop (a
backward branch), to read the cost of a kernel without a profiler (NVIDIA's
ncu does not see OpenCL kernels). From the PTX that bench/nv_probe.c dumps:

    bench/sass_stat.py PTX_FILE [KERNEL]

strips the driver's metadata section, assembles for sm_90 with ptxas (CUDA
toolkit) and disassembles with cuobjdump (PyPI nvidia-cuda-cuobjdump), both
on PATH."""
import collections
import re
import subprocess
import sys
import tempfile


def sass_of(ptx_path):
    text = open(ptx_path, "rb").read().rstrip(b"\0").decode()
    cut = text.find(".metadata_section")
    if cut >= 0:
        text = text[:cut]
    with tempfile.TemporaryDirectory() as d:
        with open(f"{d}/k.ptx", "w") as f:
            f.write(text)
        report = subprocess.run(["ptxas", "-arch=sm_90", "-v", f"{d}/k.ptx", "-o", f"{d}/k.cubin"],
                                capture_output=True, text=True, check=True).stderr
        sass = subprocess.run(["cuobjdump", "-sass", f"{d}/k.cubin"], capture_output=True, text=True,
                              check=True).stdout
    return report, sass


def main():
    report, sass = sass_of(sys.argv[1])
    want = sys.argv[2] if len(sys.argv) > 2 else None
    print("\n".join(l for l in report.splitlines() if "registers" in l or "spill" in l or "Compiling" in l))
    for block in re.split(r"\n\s+Function : ", sass)[1:]:
        name = block.split("\n", 1)[0].strip()
        if want and name != want:
            continue
        ins = []
        for line in block.split("\n"):
            m = re.match(r"\s+/\*([0-9a-f]{4,})\*/\s+(.*?);", line)
            if m:
                toks = m.group(2).split()
                toks = toks[1:] if toks and toks[0].startswith("@") else toks
                ins.append((int(m.group(1), 16), toks[0] if toks else "?", m.group(2)))
        mix = collections.Counter(op.split(".")[0] for _, op, _ in ins)
        print(f"== {name}: {len(ins)} instructions: " + ", ".join(f"{k} {v}" for k, v in mix.most_common(16)))
        for addr, op, body in ins:
            target = re.search(r"0x([0-9a-f]+)", body) if op.startswith("BRA") else None
            if target and int(target.group(1), 16) < addr:
                lo = int(target.group(1), 16)
                loop = collections.Counter(o.split(".")[0] for a, o, _ in ins if lo <= a <= addr)
                print(f"   loop {lo:#x}-{addr:#x}: {sum(loop.values())} instr: " +
                      ", ".join(f"{k} {v}" for k, v in loop.most_common(12)))


if __name__ == "__main__":
    main()
