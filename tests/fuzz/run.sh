#!/usr/bin/env bash
# Builds (if needed) and runs one libFuzzer target over its seed corpus, with ASan and UBSan.
#
#   tests/fuzz/run.sh TARGET [SECONDS | -runs=N] [extra libFuzzer flags...]
#     TARGET: safetensors | image | evolve_config | train_config | edit_history | latency_table     (default: 60 seconds)
#
# The build goes to build-fuzz/ (clang++-14, or $CXX when it is a clang; CUDA and BLAS off, they are not what is
# fuzzed). New inputs go to build-fuzz/corpus/TARGET (the checked-in seeds in tests/fuzz/corpus/TARGET are
# read, never written). Every input is capped at 2048 MB of RSS and 1024 MB per allocation: a parser that
# allocates more for an input of a few KB is a finding. A crash leaves build-fuzz/crash-* (or leak-*, oom-*,
# timeout-*): copy it to tests/fuzz/regressions/TARGET/, fix the bug, and the replay ctest keeps it fixed.
# Run at low priority on a shared machine: nice -n 10 tests/fuzz/run.sh ...
set -euo pipefail
cd "$(dirname "$0")/../.."
target=${1:?usage: tests/fuzz/run.sh safetensors|image|evolve_config|train_config|edit_history|latency_table [SECONDS | -runs=N] [flags...]}
case "$target" in
  safetensors|image|evolve_config|train_config|edit_history|latency_table) ;;
  *) echo "run.sh: unknown target '$target' (safetensors, image, evolve_config, train_config, edit_history, latency_table)" >&2; exit 2 ;;
esac
limit=${2:-60}
shift $(( $# >= 2 ? 2 : 1 ))
case "$limit" in
  -runs=*) budget=("$limit") ;;
  ''|*[!0-9]*) echo "run.sh: '$limit' is neither a number of seconds nor -runs=N" >&2; exit 2 ;;
  *) budget=("-max_total_time=$limit") ;;
esac

cxx=${CXX:-clang++-14}
build=build-fuzz
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$cxx" -DANYCOST_FUZZ=ON \
    -DANYCOST_WITH_CUDA=OFF -DANYCOST_USE_BLAS=OFF -DANYCOST_BUILD_EXAMPLES=OFF -DANYCOST_BUILD_BENCHMARKS=OFF >/dev/null
fi
cmake --build "$build" --target "fuzz_$target" -j"${JOBS:-2}"

mkdir -p "$build/corpus/$target"
cd "$build"
# halt_on_error etc.: one report per crash, stop at the first; detect_leaks is on by default with ASan.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
exec "tests/fuzz/fuzz_$target" "${budget[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -print_final_stats=1 \
  "$@" "corpus/$target" "../tests/fuzz/corpus/$target" "../tests/fuzz/regressions/$target"
