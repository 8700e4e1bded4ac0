#!/usr/bin/env bash
# The GPU check, for a lent H100/H200 machine (nvcc 13, PyTorch with CUDA, no internet). From the repository root:
#
#   tools/gpu/prepare_deps.sh                          # on the development machine: fills .gpu-deps/ (~15 MB)
#   run(command="tools/gpu/check.sh", carry=[".gpu-deps"], timeout_s=420)
#
# Steps (a failing step is reported and the next ones still run; every log goes into $OUT/gpu-check.tar.gz and
# the last lines printed are the summary, PASS or FAIL):
#   1. device and toolchain facts                                             device.txt
#   2. configure (Ninja when present) + build only what the steps run, -j$JOBS configure.log, build.log
#   3. the CUDA tests with ANYCOST_REQUIRE_GPU=1 (a skipped GPU test fails)    ctest_cuda.{log,xml}
#      and the host-side tests (test_cuda_plans, test_cuda_emulated)         ctest_backend.log
#   4. compute-sanitizer memcheck, racecheck and synccheck on a small subset   sanitizer_*.log
#      (plus the same subset with ANYCOST_CUDA_SYNC_CHECK=1)
#   5. `anycost generate --device cuda` against --device cpu (within 1e-4)     generate_*.txt
#   6. unless SKIP_BENCH=1: the CUDA op benchmarks and PyTorch's, the        bench_cuda.*, torch_ops.*, ratios*.txt
#      generator benchmark and PyTorch's reference generator
#   7. hook: extra GPU benchmarks listed in tools/gpu/extra_benchmarks.txt
# Budget: at most 6 minutes on 16 cores with the dependencies carried (tests alone, SKIP_BENCH=1: about 4).
# Knobs: OUT (default ./gpu-out), JOBS (default nproc), CUDA_ARCH (default 90), BENCH_MIN_TIME (seconds per
# benchmark, default 0.05), SKIP_BENCH=1, BUILD_DIR.
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root" || exit 1
OUT="${OUT:-$root/gpu-out}"
JOBS="${JOBS:-$(nproc)}"
CUDA_ARCH="${CUDA_ARCH:-90}"
BENCH_MIN_TIME="${BENCH_MIN_TIME:-0.05}"
BUILD="${BUILD_DIR:-$root/build-gpu}"
DEPS="$root/.gpu-deps"
LOGS="$OUT/logs"
mkdir -p "$LOGS"
export PATH="/usr/local/cuda/bin:$PATH"
export ANYCOST_REQUIRE_GPU=1  # tests/cuda/cuda_test.hpp: a missing GPU fails the CUDA tests instead of skipping
summary=()
failures=0

step() { echo; echo "== $* (${SECONDS} s)"; }
ok() { summary+=("ok    $* (${SECONDS} s)"); }
fail() { echo "!! $*"; summary+=("FAIL  $* (${SECONDS} s)"); failures=$((failures + 1)); }
finish() {
  tar -czf "$OUT/gpu-check.tar.gz" -C "$OUT" logs && rm -rf "$LOGS"
  echo
  echo "== summary (logs: $OUT/gpu-check.tar.gz)"
  printf '%s\n' "${summary[@]}"
  if [ "$failures" = 0 ]; then echo "PASS in ${SECONDS} s"; else echo "FAIL: $failures step(s) failed, ${SECONDS} s"; fi
  exit $((failures > 0))
}
# Runs a command with its output in $LOGS/<log>; prints its last lines when it fails.
logged() {
  local log=$1 name=$2
  shift 2
  if "$@" > "$LOGS/$log" 2>&1; then
    ok "$name"
  else
    tail -25 "$LOGS/$log"
    fail "$name (see $log)"
    return 1
  fi
}

step "device"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1
  nvcc --version 2>&1 | tail -2
  "${CXX:-g++}" --version 2>&1 | head -1
  cmake --version 2>&1 | head -1
  command -v ninja > /dev/null && echo "ninja $(ninja --version)"
  command -v compute-sanitizer > /dev/null && compute-sanitizer --version 2>&1 | tail -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1
  echo "cores $(nproc)"
} | tee "$LOGS/device.txt"
if nvidia-smi -L > /dev/null 2>&1; then ok "device"; else fail "device: nvidia-smi sees no GPU"; fi

# Carried dependencies (tools/gpu/prepare_deps.sh) take precedence over whatever the machine has.
cmake_deps=()
if [ -d "$DEPS" ]; then
  cmake_deps+=("-DCMAKE_PREFIX_PATH=$DEPS" "-DEigen3_DIR=$DEPS/share/eigen3/cmake"
               "-Dnlohmann_json_DIR=$DEPS/share/cmake/nlohmann_json" "-DCLI11_DIR=$DEPS/share/cmake/CLI11"
               "-DCatch2_DIR=$DEPS/lib/cmake/Catch2")
  export PKG_CONFIG_PATH="$DEPS/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  if [ -d "$DEPS/lib/x86_64-linux-gnu/cmake/benchmark" ]; then
    cmake_deps+=("-Dbenchmark_DIR=$DEPS/lib/x86_64-linux-gnu/cmake/benchmark")
    export LD_LIBRARY_PATH="$DEPS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
fi
command -v pkg-config > /dev/null || cmake_deps+=("-DPKG_CONFIG_EXECUTABLE=$root/tools/gpu/pkg_config_lite.py")
generator=()
command -v ninja > /dev/null && generator=(-G Ninja)

step "configure"
bench=ON
[ "${SKIP_BENCH:-0}" = 1 ] && bench=OFF
configure() {
  cmake -S "$root" -B "$BUILD" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release -DANYCOST_WITH_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DANYCOST_BUILD_EXAMPLES=ON -DANYCOST_BUILD_BENCHMARKS="$bench" \
    "${cmake_deps[@]}"
}
if configure > "$LOGS/configure.log" 2>&1; then
  ok "configure (benchmarks $bench)"
else
  if [ $bench = ON ]; then
    echo "configure with benchmarks failed (Google Benchmark missing?); retrying without them"
    bench=OFF
    rm -rf "$BUILD"
  fi
  logged configure.log "configure (benchmarks $bench)" configure || finish
fi

step "build"
targets=(test_cuda test_cuda_nvcc_consumer test_cuda_plans test_cuda_emulated example_anycost)
[ $bench = ON ] && targets+=(bench_cuda bench_models)
if ! logged build.log "build ${targets[*]}" cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}"; then
  grep -E 'error' "$LOGS/build.log" | head -20
  finish
fi

step "CUDA tests (ANYCOST_REQUIRE_GPU=1)"
logged ctest_cuda.log "ctest -L cuda" ctest --test-dir "$BUILD" -L cuda --no-tests=error --output-on-failure \
  -j 4 --output-junit "$LOGS/ctest_cuda.xml"
grep -E 'tests passed|Failed|\*\*\*' "$LOGS/ctest_cuda.log" | tail -15
logged ctest_backend.log "ctest -R test_cuda_(plans|emulated)" ctest --test-dir "$BUILD" \
  -R '^test_cuda_(plans|emulated):' --no-tests=error --output-on-failure -j "$JOBS"

step "compute-sanitizer and ANYCOST_CUDA_SYNC_CHECK on a subset"
# Small tests that reach every kernel family (Catch2 tags: a comma is "or", "~" is "not"): the op parity suite's
# elementwise, sum, view, upfirdn2d and small conv cases, transfers, Philox and streams. The GEMM-heavy [sync]
# and [large] tests would take minutes under the sanitizers.
subset='[elementwise],[reduce],[view],[upfirdn2d],[conv2d]~[large],[copy],[random],[stream]'
test_cuda="$BUILD/tests/cuda/test_cuda"
[ -x "$test_cuda" ] || test_cuda=$(find "$BUILD" -type f -name test_cuda -perm -u+x | head -1)
if command -v compute-sanitizer > /dev/null; then
  for tool in memcheck racecheck synccheck; do
    logged "sanitizer_$tool.log" "compute-sanitizer --tool $tool" \
      compute-sanitizer --tool "$tool" --error-exitcode 3 "$test_cuda" "$subset"
  done
else
  fail "compute-sanitizer not found"
fi
logged sync_check.log "ANYCOST_CUDA_SYNC_CHECK=1" env ANYCOST_CUDA_SYNC_CHECK=1 "$test_cuda" "$subset"

step "generator on the GPU"
gen=("$BUILD/examples/anycost" generate --seed 3 --n 4 --batch 2 --ratio 0.5)
if logged generate_cuda.txt "anycost generate --device cuda" \
     "${gen[@]}" --device cuda --out "$LOGS/cuda.png" --out "$LOGS/cuda.safetensors" &&
   logged generate_cpu.txt "anycost generate --device cpu" "${gen[@]}" --device cpu --out "$LOGS/cpu.safetensors"; then
  logged generate_compare.txt "generate: CUDA images equal the CPU's within 1e-4" \
    python3 - "$LOGS/cpu.safetensors" "$LOGS/cuda.safetensors" <<'PY'
# Compares the `images` tensors (float32) of two safetensors files: u64 header size, JSON header, raw data.
import array, json, struct, sys
def images(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        begin, end = json.loads(f.read(n))["images"]["data_offsets"]
        f.seek(8 + n + begin)
        a = array.array("f")
        a.frombytes(f.read(end - begin))
        return a
cpu, gpu = images(sys.argv[1]), images(sys.argv[2])
worst = max(abs(x - y) for x, y in zip(cpu, gpu))
off = sum(1 for x, y in zip(cpu, gpu) if not abs(x - y) <= 1e-4)  # NaN counts
print("anycost generate CUDA vs CPU: max abs diff %.2e, %d of %d values off by more than 1e-4" % (worst, off, len(cpu)))
sys.exit(0 if len(cpu) == len(gpu) and off == 0 else 1)
PY
  cat "$LOGS/generate_compare.txt"
fi

if [ $bench = ON ]; then
  step "benchmarks"
  logged bench_cuda.txt "bench_cuda" "$BUILD/benchmarks/cuda/bench_cuda" --benchmark_min_time="$BENCH_MIN_TIME" \
    --benchmark_out="$LOGS/bench_cuda.json" --benchmark_out_format=json
  logged torch_ops.txt "torch_ops_bench" python3 tools/gpu/torch_ops_bench.py --out "$LOGS/torch_ops.json" \
    --min-time "$BENCH_MIN_TIME"
  [ -f "$LOGS/bench_cuda.json" ] && [ -f "$LOGS/torch_ops.json" ] &&
    python3 tools/gpu/ratios.py "$LOGS/bench_cuda.json" "$LOGS/torch_ops.json" > "$LOGS/ratios.txt" 2>&1
  logged bench_models_cuda.txt "bench_models --device=cuda" "$BUILD/benchmarks/models/bench_models" --device=cuda \
    --benchmark_min_time="$BENCH_MIN_TIME" --benchmark_out="$LOGS/bench_models_cuda.json" --benchmark_out_format=json
  logged torch_generator.txt "torch_generator_bench" python3 tools/gpu/torch_generator_bench.py \
    --out "$LOGS/torch_generator.json" --min-time "$BENCH_MIN_TIME"
  [ -f "$LOGS/bench_models_cuda.json" ] && [ -f "$LOGS/torch_generator.json" ] &&
    python3 tools/gpu/ratios.py "$LOGS/bench_models_cuda.json" "$LOGS/torch_generator.json" \
      > "$LOGS/ratios_generator.txt" 2>&1

  # Hook for more GPU benchmarks (owned by benchmarks/*): one line per benchmark, "<cmake target> <arguments...>".
  while read -r target args; do
    case "$target" in '' | \#*) continue ;; esac
    step "extra benchmark $target $args"
    if logged "build_extra_$target.log" "build extra $target" cmake --build "$BUILD" -j "$JOBS" --target "$target"; then
      exe=$(find "$BUILD" -type f -name "$target" -perm -u+x | head -1)
      # shellcheck disable=SC2086  # the arguments are split on purpose
      logged "extra_$target.txt" "extra $target" "$exe" $args
    fi
  done < <(cat tools/gpu/extra_benchmarks.txt 2>/dev/null)
fi

finish
