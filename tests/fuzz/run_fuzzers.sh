#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) and runs
# each for FUZZ_SECONDS (default 60) over its committed corpus. New corpus
# entries go to a scratch dir, so the committed corpus only changes by hand.
# The host sources every target links are compiled once, and the work runs
# FUZZ_JOBS (default: the core count) at a time: built one file and one
# fuzzer after another, this took 6 min of CI's 2 cores.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="${FUZZ_BUILD_DIR:-$root/build/fuzz}"
seconds="${FUZZ_SECONDS:-60}"
jobs="${FUZZ_JOBS:-$(nproc)}"
mkdir -p "$out/obj" "$out/logs"
command -v clang++ >/dev/null || { echo "run_fuzzers: clang++ is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
host_sources=(host/{error,dtype,capability_registry,backend_config,decode_planner,fp8}.cpp harness/npy.cpp
              harness/npy_dir.cpp harness/mla_npy.cpp harness/mla_problem.cpp ops/mla/mla_decode_checks.cpp)
# target name -> its corpus dir under tests/fuzz/corpus
targets=(backend_flags npy decode_args mla_npy_dir)
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
       -I"$root" -I"$root/include" -I"$root/host")
# The object of a source: its path with / as _.
obj() { echo "$out/obj/${1//\//_}.o"; }
fuzz_sources=()
for t in "${targets[@]}"; do fuzz_sources+=("tests/fuzz/fuzz_$t.cpp"); done
# One object per source (fuzz targets and host sources alike), $jobs at a
# time; any failed compile fails the script.
pids=()
for s in "${host_sources[@]}" "${fuzz_sources[@]}"; do
  clang++ "${flags[@]}" -c "$root/$s" -o "$(obj "$s")" &
  pids+=($!)
  if [ "${#pids[@]}" -ge "$jobs" ]; then
    wait "${pids[0]}"
    pids=("${pids[@]:1}")
  fi
done
for pid in "${pids[@]}"; do wait "$pid"; done
host_objects=()
for s in "${host_sources[@]}"; do host_objects+=("$(obj "$s")"); done
pids=()
for t in "${targets[@]}"; do
  clang++ -fsanitize=fuzzer,address,undefined "$(obj "tests/fuzz/fuzz_$t.cpp")" "${host_objects[@]}" -o "$out/fuzz_$t" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
# Each fuzzer in its own scratch corpus and log; the logs' tails are printed
# in target order once all have run, and any fuzzer's failure fails the script.
run_one() {
  local t=$1 scratch
  scratch=$(mktemp -d)
  cp "$root"/tests/fuzz/corpus/"$t"/* "$scratch"/
  local rc=0
  "$out/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 "$scratch" >"$out/logs/$t.log" 2>&1 || rc=$?
  rm -rf "$scratch"
  echo "$rc" >"$out/logs/$t.rc"
}
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait
status=0
for t in "${targets[@]}"; do
  rc=$(cat "$out/logs/$t.rc")
  echo "fuzz_$t: ${seconds}s, exit $rc"
  if [ "$rc" -ne 0 ]; then
    cat "$out/logs/$t.log"
    status=1
  else
    tail -n 4 "$out/logs/$t.log"
  fi
done
exit "$status"
