#!/usr/bin/env bash
# The reliability jobs (issue 9), run by .ci/run after scripts/test.sh (which
# installs the dependencies and leaves the main build in build/):
#   1. oclgrind: the kernels' memory-bounds, data-race and API checks on small
#      cases, through the kernel test binary; any oclgrind report fails.
#   2. valgrind --leak-check=full on a CLI decode step: no definite leak from
#      zemla code.
#   3. ASan + UBSan (with -D_GLIBCXX_ASSERTIONS) build of everything, and the
#      whole test suite except the slow sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
deps=/opt/zemla-deps
# Only the null driver or none: Debian's Intel GPU driver dlopens with
# RTLD_DEEPBIND, which the sanitizer runtime refuses, and there is no GPU here.
export ZE_ENABLE_ALT_DRIVERS="$deps/ze-null/no-other-driver.so"

echo "== oclgrind (memcheck, data races, API)"
log=$(mktemp)
# Small cases only: oclgrind interprets every work-item. 128 KiB of local
# memory: oclgrind adds up the kernel-scope __local arrays of every kernel
# in a program, and mla_decode holds two split kernels of 47.8 KB each
# (plain and with the fused append). The per-kernel limit, 64 KiB as Intel
# GPUs give a work-group, is checked on the real zebins instead
# (isa.ZebinFacts: SLM per kernel from .ze_info).
OCL_ICD_VENDORS="$deps/icd-pocl" oclgrind --check-api --data-races --local-mem-size 131072 --num-threads 2 \
  --log "$log" build/tests/zemla_kernel_tests_pocl \
  --gtest_filter='MlaDecodeBounds.*:KvAppend.*:MlaDecodeStrides.*:MlaDecodeFusedAppendSelfCheck.*:MlaDecodeFp8SelfCheck.*:*/page16_*:*/all_empty:*GqaDecodeNumerics*/bf16_d64_q8kv2_edges_p64:*GqaDecodeNumerics*/f16_window0_softcap:*GqaDecodeNumerics*/bf16_d128_q8kv1_split_p128'
if [ -s "$log" ]; then
  echo "oclgrind reported errors:" >&2
  cat "$log" >&2
  exit 1
fi
echo "oclgrind: no errors"

echo "== valgrind --leak-check=full on zemla run mla-decode"
vglog=$(mktemp)
OCL_ICD_VENDORS="$deps/icd-pocl" valgrind --leak-check=full --show-leak-kinds=definite --log-file="$vglog" \
  build/tools/zemla run mla-decode --seqlens 300,1 --heads 16
python3 scripts/check_valgrind_leaks.py "$vglog"

echo "== ASan + UBSan + _GLIBCXX_ASSERTIONS build and tests"
# The kernels are not instrumented: their ocloc outputs are the main build's.
# No test runs the benchmarks, so this build leaves them out.
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DZEMLA_SANITIZE=ON -DZEMLA_WERROR=ON -DZEMLA_AOT=ON \
  -DZEMLA_KERNELS_FROM="$PWD/build/kernels_spirv" -DZEMLA_BUILD_BENCH=OFF -DCMAKE_CXX_FLAGS="-O1 -D_GLIBCXX_ASSERTIONS"
cmake --build build-asan -j2
# Tests that name no OpenCL runtime get PoCL: Debian's Intel GPU OpenCL driver
# also dlopens with RTLD_DEEPBIND. Leaks inside the CPU runtimes are
# suppressed (tests/sanitizers/lsan.supp); any other leak fails.
# intercept_tls_get_addr=0: LeakSanitizer's scan of dynamic TLS crashed
# ("Tracer caught signal 11", a bogus DTLS range from a dlopened runtime) on
# short PoCL tests, depending on the environment's size alone; static TLS,
# stacks and the heap are still scanned, and a plain leak is still reported.
# use_sigaltstack=0: a thread that opened a Runtime on PoCL and then exits
# made ASan's own teardown fail ("CHECK failed: unable to unmap" its
# alternate signal stack; api.RuntimeThreads); only stack-overflow reports
# lose their alternate stack.
OCL_ICD_VENDORS="$deps/icd-pocl" ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:intercept_tls_get_addr=0:use_sigaltstack=0 \
  LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0" \
  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan --output-on-failure -j2 -LE slow -E "api.installed_package_consumer|kernels\.intel_cpu_|api\.Thousand/"
# (The consumer is a separate, uninstrumented project: it cannot load an
# ASan-built libzemla.so. The main build's test run covers it. The kernel
# suites on Intel's CPU runtime run the same host code as the PoCL suite --
# the kernels themselves are not instrumented -- so under ASan PoCL's suite
# stands for all three, which keeps CI within its time. The 3 x 1000 random
# flash_mla_decode calls, api.Thousand/*, take 100 s under ASan for host
# code that api.FlashMlaWorkspace.* runs too; the main build runs them.)
