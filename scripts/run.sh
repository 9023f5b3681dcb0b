#!/usr/bin/env bash
# The main job on a new machine: install dependencies, build, and run the
# default `zemla` job (one checked DeepSeek-V3 decode step on the best device:
# a Level Zero GPU if there is one, else an OpenCL GPU, else an OpenCL CPU).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then bash scripts/install-deps.sh; else sudo bash scripts/install-deps.sh; fi
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j2
./build/tools/zemla "$@"
