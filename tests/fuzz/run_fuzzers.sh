#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) and runs
# each for FUZZ_SECONDS (default 60) over its committed corpus. New corpus
# entries go to a scratch dir, so the committed corpus only changes by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
out="${FUZZ_BUILD_DIR:-$root/build/fuzz}"
seconds="${FUZZ_SECONDS:-60}"
mkdir -p "$out"
command -v clang++ >/dev/null || { echo "run_fuzzers: clang++ is missing (scripts/install-deps.sh installs it)" >&2; exit 1; }
host_sources=("$root"/host/{error,dtype,capability_registry,backend_config,decode_planner,fp8}.cpp "$root"/harness/npy.cpp
              "$root"/harness/npy_dir.cpp "$root"/harness/mla_npy.cpp "$root"/harness/mla_problem.cpp "$root"/ops/mla/mla_decode_checks.cpp)
# target name -> its corpus dir under tests/fuzz/corpus
targets=(backend_flags npy decode_args mla_npy_dir)
for t in "${targets[@]}"; do
  clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -I"$root" -I"$root/include" -I"$root/host" \
    "$root/tests/fuzz/fuzz_$t.cpp" "${host_sources[@]}" -o "$out/fuzz_$t"
done
for t in "${targets[@]}"; do
  scratch=$(mktemp -d)
  cp "$root"/tests/fuzz/corpus/"$t"/* "$scratch"/
  echo "fuzz_$t: ${seconds}s"
  "$out/fuzz_$t" -max_total_time="$seconds" -print_final_stats=1 "$scratch" 2>&1 | tail -n 4
  rm -rf "$scratch"
done
