#!/usr/bin/env bash
# Installs the build tree into a scratch prefix, then builds and runs the
# consumer project against it, once through find_package and once through
# pkg-config (the C API from a C compiler).
#   run.sh BUILD_DIR WORK_DIR
set -euo pipefail
build=$1
work=$2
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work"
cmake --install "$build" --prefix "$work/prefix" >/dev/null
cmake -S "$here" -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer" >/dev/null
LD_LIBRARY_PATH="$work/prefix/lib" "$work/consumer/consumer"
# pkg-config: a C program using only zemla.h.
cat > "$work/c_user.c" <<'C'
#include <stdio.h>
#include <zemla/zemla.h>
int main(void) {
  zemla_runtime* rt = NULL;
  zemla_status s = zemla_runtime_create("opencl", 0, &rt);
  printf("pkg-config C user: %s\n", zemla_status_string(s));
  zemla_runtime_destroy(rt);
  return s == ZEMLA_STATUS_SUCCESS ? 0 : 1;
}
C
export PKG_CONFIG_PATH="$work/prefix/lib/pkgconfig"
# shellcheck disable=SC2046
cc -std=c11 -Wall -Werror "$work/c_user.c" $(pkg-config --cflags --libs zemla) -o "$work/c_user"
LD_LIBRARY_PATH="$work/prefix/lib" "$work/c_user"
