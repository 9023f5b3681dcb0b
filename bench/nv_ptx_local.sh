#!/bin/bash
# An nv_mma kernel's registers, spills and SASS without an NVIDIA GPU, to
# read what the device tool's short leases cannot afford to find out: LLVM's
# OpenCL front end and NVPTX back end (Debian clang-14, llvm-14, with the
# OpenCL builtins of libclc-14) make PTX, which ptxas (CUDA toolkit)
# assembles for sm_90, and nvdisasm (PyPI nvidia-cuda-nvdisasm) prints with
# the live-register count of every instruction. NVIDIA's OpenCL driver makes
# its PTX with its own front end, so these are leads, not its numbers: the
# device run prints those (bench/h100_stream.sh, -cl-nv-verbose).
#   bench/nv_ptx_local.sh OUT_DIR [-Dmacro ...]     e.g.
#   bench/nv_ptx_local.sh /tmp/ptx -DZEMLA_DTYPE_BF16 -DZEMLA_KV_FP8_E4M3
# writes OUT_DIR/kernel.{ptx,cubin,sass}, prints ptxas' report for the MLA
# split kernel with no register cap and with 128 (two 256-item work-groups
# an SM), its instruction count and live-register peak in the SASS (capped
# build), and each loop of the uncapped build (bench/sass_stat.py: the
# last, longest one is the main loop, whose static instruction count and
# mix are what changes to a schedule's loop body are read by here).
# NV_PTX_FILE and NV_PTX_KERNEL name another file and kernel.
set -euo pipefail
out=${1:?usage: bench/nv_ptx_local.sh OUT_DIR [-Dmacro ...]}
shift
root=$(cd "$(dirname "$0")/.." && pwd)
file=$root/${NV_PTX_FILE:-ops/mla/mla_decode.cl}
kernel=${NV_PTX_KERNEL:-mla_decode_split}
mkdir -p "$out"
for tool in clang-14 llvm-link-14 opt-14 llc-14 ptxas; do
  command -v "$tool" >/dev/null || { echo "missing $tool (clang-14, llvm-14, libclc-14; ptxas from the CUDA toolkit)"; exit 2; }
done
libclc=/usr/lib/clc/nvptx64--nvidiacl.bc
[ -f "$libclc" ] || { echo "missing $libclc (Debian libclc-14)"; exit 2; }
clang-14 -x cl -cl-std=CL2.0 -target nvptx64-nvidia-nvcl -Xclang -finclude-default-header \
  -Xclang -cl-ext=+cl_khr_fp16 -Wno-pass-failed -O3 -emit-llvm -c -I "$root" -I "$(dirname "$file")" \
  -DZEMLA_VARIANT_NV_MMA -DZEMLA_NV_SM=90 "$@" "$file" -o "$out/k.bc"
llvm-link-14 "$out/k.bc" "$libclc" -o "$out/linked.bc" 2>/dev/null
opt-14 -O3 "$out/linked.bc" -o "$out/opt.bc"
llc-14 -march=nvptx64 -mcpu=sm_80 -mattr=+ptx75 "$out/opt.bc" -o "$out/kernel.ptx"
# LLVM 14 knows sm_80 at most; the FP8 conversion needs sm_90 and PTX ISA 7.8.
sed -i 's/^\.target sm_80/.target sm_90/; s/^\.version .*/.version 8.0/' "$out/kernel.ptx"
for cap in "" 128; do
  echo "-- ptxas ${cap:+--maxrregcount $cap}"
  ptxas -arch=sm_90 -v ${cap:+--maxrregcount $cap} "$out/kernel.ptx" -o "$out/kernel.cubin" 2>&1 |
    grep -A3 "entry function '$kernel'" | grep -E "spill|registers"
done
if command -v nvdisasm >/dev/null; then
  nvdisasm --print-life-ranges --life-range-mode count "$out/kernel.cubin" >"$out/kernel.sass"
  awk -v k="$kernel" '$0 ~ "^\\.text\\." k ":" {on = 1; next} /^\.text\./ {on = 0} on' "$out/kernel.sass" |
    grep -E '/\*[0-9a-f]{4,}\*/' |
    awk -F'// \\|' '{split($2, a, "|"); n = a[1] + 0; if (n > peak) peak = n; count++}
      END {print "'"$kernel"' (capped build): " count " instructions, at most " peak " registers live"}'
fi
if command -v cuobjdump >/dev/null; then
  python3 "$root/bench/sass_stat.py" "$out/kernel.ptx" "$kernel" | grep -E "^ +loop"
fi
