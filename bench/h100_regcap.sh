#!/bin/bash
# nv_mma's stream schedule (FP8 caches) form against form: at more than 128
# registers one 256-item work-group fits an SM, at 128 or fewer two, and
# that decided its speed (bench/results/README.md). For the tree here and
# each NAME=DIR tree (e.g. a git archive with one change): a check against
# the fp64 reference with the registers and spills ptxas reports
# (-cl-nv-verbose), and `zemla bench` (device-clock medians of 30) at H8
# B32 x 8K and H16 B32 x 4K q_len 1/2/4. (A register cap through
# ZEMLA_CL_BUILD_OPTIONS=-cl-nv-maxrregcount was tried: driver 580 ignored
# `=128` and refused ` 128`, bench/results/README.md.)
#   bench/h100_regcap.sh OUT_DIR [NAME=DIR ...]   (repository root, device machine)
set -u
out=${1:?usage: bench/h100_regcap.sh OUT_DIR [NAME=DIR ...]}
shift
mkdir -p "$out"
export ZEMLA_VARIANT=nv_mma
small="3000,17,8,64,1,129"
one_tree() {  # NAME: build the current directory's tree into /tmp/zb_NAME, then measure it
  local name=$1
  sed "s#/tmp/zb#/tmp/zb_$name#g" "$root/bench/h100_build.sh" >"/tmp/h100_build_$name.sh"
  mkdir -p .deps && [ -d .deps/include ] || cp -r "$root/.deps/include" .deps/
  # shellcheck source=/dev/null
  ZEMLA_BUILD_TARGET=zemla_cli source "/tmp/h100_build_$name.sh" || { echo "$name: build failed"; return 1; }
  echo "== $name"
  ZEMLA_LOG_LEVEL=info ZEMLA_CL_BUILD_OPTIONS="-cl-nv-verbose" "$z" run mla-decode --heads 16 --seqlens "$small" \
    --kv-dtype fp8_e4m3 2>&1 | grep -a -E "mla_decode_split'|registers|spill|check" | head -10
  "$z" bench --batch 32 --iters 30 --warmup 5 --heads 8 --seqlens 8192 --kv-dtype auto,fp8_e4m3 \
    --json-out "$out/regcap_${name}_H8.json" 2>>"$out/stderr.log" | sed -n '/^H /,$p'
  "$z" bench --batch 32 --iters 30 --warmup 5 --heads 16 --seqlens 4096 --q-len 1,2,4 --kv-dtype fp8_e4m3 \
    --json-out "$out/regcap_${name}_H16.json" 2>>"$out/stderr.log" | sed -n '/^H /,$p'
}
root=$PWD
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
one_tree here
for tree in "$@"; do
  (cd "${tree#*=}" && one_tree "${tree%%=*}")
done
