#!/usr/bin/env bash
# The test command (README, and what .ci/run runs): install dependencies,
# build with warnings as errors, run the fuzzers for 60 s each, then every
# test except the `slow` sweep.
# Needs root for the install step (it uses sudo when run as a user).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else sudo bash scripts/install-deps.sh; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DZEMLA_WERROR=ON
cmake --build build -j2
# libFuzzer targets (clang, ASan+UBSan), 60 s each over the committed corpus.
bash tests/fuzz/run_fuzzers.sh
# Last, so its summary closes the log.
ctest --test-dir build --output-on-failure -j2 -LE slow
