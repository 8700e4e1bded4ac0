#!/usr/bin/env bash
# Copies the build dependencies that a lent GPU machine may lack into .gpu-deps/ (git-ignored), laid out as an
# install prefix so that their CMake package files still work there. Run on the Debian development machine
# before a GPU check, then carry the folder:
#
#   tools/gpu/prepare_deps.sh            # writes .gpu-deps/ (about 15 MB)
#   run(command="tools/gpu/check.sh", carry=[".gpu-deps"])
#
# Carried: Eigen 3.4, nlohmann/json and CLI11 (header-only, with their CMake configs), the Catch2 v2 header and its
# CMake scripts (Catch.cmake for catch_discover_tests; its config also names libCatch2WithMain.a), stb (headers, static library, a relocatable stb.pc),
# and Google Benchmark 1.7 (headers, shared library, CMake config; optional: check.sh skips the op benchmarks
# when it cannot be used). Nothing from Debian's libthrust-dev: nvcc uses the toolkit's own CCCL.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
dst="$root/.gpu-deps"
arch_lib=lib/x86_64-linux-gnu
rm -rf "$dst"
mkdir -p "$dst/include" "$dst/share/cmake" "$dst/lib/cmake" "$dst/$arch_lib/cmake" "$dst/lib/pkgconfig"

copy() {  # copy <source path> <destination relative to .gpu-deps>
  if [ ! -e "$1" ]; then
    echo "prepare_deps: missing $1 (install it with tools/install-deps.sh)" >&2
    exit 1
  fi
  mkdir -p "$dst/$(dirname "$2")"
  cp -a "$1" "$dst/$2"
}

copy /usr/include/eigen3 include/eigen3
copy /usr/share/eigen3 share/eigen3
copy /usr/include/nlohmann include/nlohmann
copy /usr/share/cmake/nlohmann_json share/cmake/nlohmann_json
copy /usr/include/CLI include/CLI  # the anycost tool's flags
copy /usr/share/cmake/CLI11 share/cmake/CLI11
copy /usr/include/catch2 include/catch2
copy /usr/lib/cmake/Catch2 lib/cmake/Catch2
copy /usr/lib/libCatch2WithMain.a lib/libCatch2WithMain.a  # named by Catch2's CMake config (unused)
copy /usr/include/stb include/stb
copy /usr/$arch_lib/libstb.a lib/libstb.a
cat > "$dst/lib/pkgconfig/stb.pc" <<'EOF'
prefix=${pcfiledir}/../..
libdir=${prefix}/lib
includedir=${prefix}/include/stb

Name: stb
Description: single-file image libraries (carried for the anycost GPU check)
Version: 0.0
Libs: -L${libdir} -lstb
Cflags: -I${includedir}
EOF
if [ -e /usr/include/benchmark/benchmark.h ]; then
  copy /usr/include/benchmark include/benchmark
  cp -a /usr/$arch_lib/libbenchmark.so* /usr/$arch_lib/libbenchmark_main.a "$dst/$arch_lib/"
  copy /usr/$arch_lib/cmake/benchmark $arch_lib/cmake/benchmark
fi
du -sh "$dst"
