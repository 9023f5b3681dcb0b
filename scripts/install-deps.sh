#!/usr/bin/env bash
# Installs everything zemla needs to build and test on a fresh Debian 12
# machine. Run as root. Idempotent: a second run only re-checks.
#
#   Debian packages   compiler toolchain, Level Zero loader (libze-dev), ocloc
#                     (intel-opencl-icd), iga64 (libigc-tools), CLI11, GoogleTest,
#                     nlohmann-json, the OpenCL ICD loader and headers, PoCL
#   PyPI              Intel's CPU OpenCL runtime (intel-opencl-rt) in a venv
#   Debian source     the Level Zero loader's null driver (level-zero source
#                     package), built here for the no-hardware Level Zero tests
#
# Everything non-Debian lands under $ZEMLA_DEPS_DIR (default /opt/zemla-deps):
#   venv/                  intel-opencl-rt and its runtime libraries
#   icd-pocl/, icd-intel/  one OpenCL vendor dir per CPU runtime, for OCL_ICD_VENDORS
#   ze-null/libze_null.so.1
set -euo pipefail

DEPS_DIR="${ZEMLA_DEPS_DIR:-/opt/zemla-deps}"
INTEL_OCL_RT_VERSION="${ZEMLA_INTEL_OCL_RT_VERSION:-2026.2.0}"

say() { printf '\n== %s\n' "$*"; }
die() { printf 'install-deps: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it installs Debian packages)"
grep -q 'bookworm' /etc/os-release || echo "install-deps: warning: written for Debian 12 (bookworm)" >&2

packages=(
  build-essential cmake ninja-build git ca-certificates
  libze-dev libze1 intel-opencl-icd libigc-tools
  libcli11-dev libgtest-dev googletest nlohmann-json3-dev
  ocl-icd-opencl-dev ocl-icd-libopencl1 opencl-c-headers pocl-opencl-icd clinfo
  python3 python3-venv dpkg-dev
  clang libclang-rt-14-dev gnuplot-nox
  python3-numpy oclgrind valgrind pkg-config
)
say "Debian packages"
export DEBIAN_FRONTEND=noninteractive
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}" || die "apt-get could not install: ${missing[*]}"
fi
for tool in ocloc iga64 clinfo cmake ninja g++ clang++ gnuplot pkg-config oclgrind valgrind; do
  command -v "$tool" >/dev/null || die "$tool is missing after installing the packages"
done

say "Intel CPU OpenCL runtime (PyPI intel-opencl-rt ${INTEL_OCL_RT_VERSION})"
if [ ! -x "$DEPS_DIR/venv/bin/python" ]; then
  python3 -m venv "$DEPS_DIR/venv"
fi
if [ ! -f "$DEPS_DIR/venv/lib/libintelocl.so" ]; then
  # The wheel installs its libraries into the prefix's lib/, which is why a
  # venv (a real prefix) is used rather than pip --target.
  "$DEPS_DIR/venv/bin/pip" install -q "intel-opencl-rt==${INTEL_OCL_RT_VERSION}" intel-cmplr-lib-rt \
    || die "pip could not install intel-opencl-rt"
fi
[ -f "$DEPS_DIR/venv/lib/libintelocl.so" ] || die "intel-opencl-rt installed no libintelocl.so"

say "OpenCL vendor dirs (Debian's ICD loader reads OCL_ICD_VENDORS, not OCL_ICD_FILENAMES)"
mkdir -p "$DEPS_DIR/icd-pocl" "$DEPS_DIR/icd-intel" "$DEPS_DIR/icd-all"
echo "$DEPS_DIR/venv/lib/libintelocl.so" > "$DEPS_DIR/icd-intel/intel-cpu.icd"
cp /etc/OpenCL/vendors/pocl.icd "$DEPS_DIR/icd-pocl/pocl.icd"
cp "$DEPS_DIR/icd-pocl/pocl.icd" "$DEPS_DIR/icd-intel/intel-cpu.icd" "$DEPS_DIR/icd-all/"
OCL_ICD_VENDORS="$DEPS_DIR/icd-pocl" clinfo -l | grep -q 'Device' || die "PoCL shows no device"
OCL_ICD_VENDORS="$DEPS_DIR/icd-intel" clinfo -l | grep -q 'Device' || die "Intel CPU OpenCL runtime shows no device"

say "Level Zero null driver (from Debian's level-zero source package)"
if [ ! -f "$DEPS_DIR/ze-null/libze_null.so.1" ]; then
  src_list=/etc/apt/sources.list.d/zemla-deb-src.sources
  if ! apt-get source --print-uris level-zero >/dev/null 2>&1; then
    cat > "$src_list" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -q
  fi
  work=$(mktemp -d)
  (cd "$work" && apt-get source -q --download-only level-zero) || die "apt-get source level-zero failed"
  tar -xzf "$work"/level-zero_*.orig.tar.gz -C "$work"
  src=$(find "$work" -maxdepth 1 -type d -name 'level-zero-*' | head -n 1)
  [ -d "$src/source/drivers/null" ] || die "the level-zero source has no source/drivers/null"
  mkdir -p "$DEPS_DIR/ze-null"
  # The loader dlopens libze_null.so.1 when ZE_ENABLE_NULL_DRIVER=1.
  g++ -std=c++17 -O1 -fPIC -shared -w -I"$src/include" -I"$src/source/inc" -I"$src/source/drivers/null" \
    "$src"/source/drivers/null/*.cpp -o "$DEPS_DIR/ze-null/libze_null.so.1"
  rm -rf "$work"
fi

say "done: dependencies under $DEPS_DIR"
