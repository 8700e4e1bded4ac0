#!/usr/bin/env bash
# The GPU check, for a lent H100/H200 machine (nvcc 13, PyTorch with CUDA, no internet). From the repository root:
#
#   tools/gpu/prepare_deps.sh                          # on the development machine: fills .gpu-deps/ (~15 MB)
#   run(command="tools/gpu/check.sh", carry=[".gpu-deps"], timeout_s=540)
#
# Steps (each logged under $OUT; a failing step is reported and the next ones still run):
#   1. device and toolchain facts                                  device.txt
#   2. canary: <anycost/anycost.hpp> compiled by nvcc -std=c++20    canary.log
#   3. configure + build test_cuda, test_cuda_plans, bench_cuda      configure.log, build.log
#   4. ctest -L cuda (GPU parity, Philox, transfers, allocator)     ctest_cuda.log, ctest_cuda.xml
#      and ctest -L backend (host-side kernel logic)                ctest_backend.log
#   5. the CUDA op benchmarks (CUDA events)                         bench_cuda.json, bench_cuda.txt
#   6. the same ops with PyTorch CUDA, and the ratios               torch_ops.json, ratios.txt
#   7. the generator: `anycost generate --device cuda` (smoke, and  cuda.png, generate_*.txt
#      its images against --device cpu within 1e-4); bench_models    bench_models_cuda.{json,txt}
#      --device=cuda, the PyTorch reference generator on CUDA       torch_generator.{json,txt}
#      (tools/gpu/torch_generator_bench.py), and the ratios         ratios_generator.txt
#   8. hook: extra GPU benchmarks listed in tools/gpu/extra_benchmarks.txt
# Sized for about 5-7 minutes on 16 cores, the build included. Environment knobs: OUT (default ./gpu-out),
# JOBS (default nproc), CUDA_ARCH (default 90), BENCH_MIN_TIME (seconds per benchmark, default 0.1),
# SKIP_BENCH=1 (tests only).
set -uo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"
OUT="${OUT:-$root/gpu-out}"
JOBS="${JOBS:-$(nproc)}"
CUDA_ARCH="${CUDA_ARCH:-90}"
BENCH_MIN_TIME="${BENCH_MIN_TIME:-0.1}"
BUILD="${BUILD_DIR:-$root/build-gpu}"
DEPS="$root/.gpu-deps"
mkdir -p "$OUT"
export PATH="/usr/local/cuda/bin:$PATH"
status=0
t_start=$(date +%s)

step() { echo; echo "== $* ($(($(date +%s) - t_start)) s)"; }
fail() { echo "!! $*"; echo "FAILED: $*" >> "$OUT/summary.txt"; status=1; }
ok() { echo "ok: $*" >> "$OUT/summary.txt"; }
: > "$OUT/summary.txt"

step "device"
{
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>&1 || true
  nvcc --version 2>&1 | tail -2
  "${CXX:-g++}" --version 2>&1 | head -1
  cmake --version 2>&1 | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 || true
  nproc
} | tee "$OUT/device.txt"

# Carried dependencies (tools/gpu/prepare_deps.sh) take precedence over whatever the machine has.
cmake_deps=()
inc_deps=()
if [ -d "$DEPS" ]; then
  cmake_deps+=("-DCMAKE_PREFIX_PATH=$DEPS" "-DEigen3_DIR=$DEPS/share/eigen3/cmake"
               "-Dnlohmann_json_DIR=$DEPS/share/cmake/nlohmann_json" "-DCatch2_DIR=$DEPS/lib/cmake/Catch2")
  inc_deps+=("-I$DEPS/include/eigen3" "-I$DEPS/include" "-I$DEPS/include/stb")
  export PKG_CONFIG_PATH="$DEPS/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  if [ -d "$DEPS/lib/x86_64-linux-gnu/cmake/benchmark" ]; then
    cmake_deps+=("-Dbenchmark_DIR=$DEPS/lib/x86_64-linux-gnu/cmake/benchmark")
    export LD_LIBRARY_PATH="$DEPS/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
else
  inc_deps+=("-I/usr/include/eigen3" "-I/usr/include/stb")
fi
if ! command -v pkg-config > /dev/null; then
  cmake_deps+=("-DPKG_CONFIG_EXECUTABLE=$root/tools/gpu/pkg_config_lite.py")
fi

step "canary: nvcc -std=c++20 on the umbrella header"
cat > "$OUT/canary.cu" <<'EOF'
#include <anycost/anycost.hpp>
// A kernel using the device-visible surface: functors, the program interpreter, Philox.
struct Read {
  const float* p;
  __device__ float operator()(int) const { return *p; }
};
__global__ void canary(const anycost::expr::Program* prog, const float* x, float* y) {
  y[0] = anycost::expr::run_program<float>(*prog, Read{x}) + anycost::philox::normal_at(1, 0, threadIdx.x) +
         anycost::expr::LeakyRelu{0.2}(x[0]);
}
int main() { return anycost::version_major; }
EOF
if nvcc -std=c++20 -arch=sm_"$CUDA_ARCH" --expt-relaxed-constexpr --diag-suppress=20012,20013 -DANYCOST_WITH_CUDA -Iinclude "${inc_deps[@]}" \
     -c "$OUT/canary.cu" -o "$OUT/canary.o" > "$OUT/canary.log" 2>&1; then
  ok "canary"
else
  cat "$OUT/canary.log" | head -40
  fail "canary (see canary.log)"
fi

step "configure"
bench=ON
if [ "${SKIP_BENCH:-0}" = 1 ]; then bench=OFF; fi
if ! cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DANYCOST_WITH_CUDA=ON \
     -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DANYCOST_BUILD_EXAMPLES=ON -DANYCOST_BUILD_BENCHMARKS=$bench \
     "${cmake_deps[@]}" > "$OUT/configure.log" 2>&1; then
  if [ $bench = ON ]; then
    echo "configure with benchmarks failed (Google Benchmark missing?); retrying without them"
    bench=OFF
    rm -rf "$BUILD"
    cmake -S "$root" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DANYCOST_WITH_CUDA=ON \
      -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCH" -DANYCOST_BUILD_EXAMPLES=ON -DANYCOST_BUILD_BENCHMARKS=OFF \
      "${cmake_deps[@]}" >> "$OUT/configure.log" 2>&1 || { tail -30 "$OUT/configure.log"; fail "configure"; }
  else
    tail -30 "$OUT/configure.log"
    fail "configure"
  fi
fi
[ $status = 0 ] && ok "configure (benchmarks $bench)"

step "build"
targets=(test_cuda test_cuda_plans)
[ $bench = ON ] && targets+=(bench_cuda)
/usr/bin/time -f "build wall %e s" cmake --build "$BUILD" -j "$JOBS" --target "${targets[@]}" > "$OUT/build.log" 2>&1 \
  && ok "build" || { grep -E 'error|Error' "$OUT/build.log" | head -40; fail "build (see build.log)"; }
tail -1 "$OUT/build.log"

step "ctest -L cuda"
if ctest --test-dir "$BUILD" -L cuda --output-on-failure --output-junit "$OUT/ctest_cuda.xml" \
     > "$OUT/ctest_cuda.log" 2>&1; then
  ok "ctest -L cuda"
else
  fail "ctest -L cuda"
fi
grep -E 'tests passed|Skipped|Failed|\*\*\*' "$OUT/ctest_cuda.log" | tail -40
ctest --test-dir "$BUILD" -L backend --output-on-failure > "$OUT/ctest_backend.log" 2>&1 \
  && ok "ctest -L backend" || fail "ctest -L backend"
tail -3 "$OUT/ctest_backend.log"

if [ $bench = ON ] && [ -x "$BUILD/benchmarks/cuda/bench_cuda" ]; then
  step "CUDA op benchmarks"
  "$BUILD/benchmarks/cuda/bench_cuda" --benchmark_min_time="$BENCH_MIN_TIME" --benchmark_format=console \
    --benchmark_out="$OUT/bench_cuda.json" --benchmark_out_format=json 2>&1 | tee "$OUT/bench_cuda.txt" \
    && ok "bench_cuda" || fail "bench_cuda"
fi

if [ "${SKIP_BENCH:-0}" != 1 ]; then
  step "PyTorch reference"
  python3 tools/gpu/torch_ops_bench.py --out "$OUT/torch_ops.json" --min-time 0.2 2>&1 | tee "$OUT/torch_ops.txt" \
    && ok "torch_ops_bench" || fail "torch_ops_bench"
  if [ -f "$OUT/bench_cuda.json" ]; then
    python3 tools/gpu/ratios.py "$OUT/bench_cuda.json" "$OUT/torch_ops.json" | tee "$OUT/ratios.txt"
  fi
fi

step "generator on the GPU"
gen_targets=(example_anycost)
[ $bench = ON ] && gen_targets+=(bench_models)
if cmake --build "$BUILD" -j "$JOBS" --target "${gen_targets[@]}" >> "$OUT/build.log" 2>&1; then
  ok "build ${gen_targets[*]}"
  # The same images from the built-in model on both devices (written as safetensors, compared below).
  gen=("$BUILD/examples/anycost" generate --seed 3 --n 4 --batch 2 --ratio 0.5)
  if "${gen[@]}" --device cuda --out "$OUT/cuda.png" --out "$OUT/cuda.safetensors" > "$OUT/generate_cuda.txt" 2>&1 &&
     "${gen[@]}" --device cpu --out "$OUT/cpu.safetensors" > "$OUT/generate_cpu.txt" 2>&1; then
    cat "$OUT/generate_cuda.txt"
    if python3 - "$OUT/cpu.safetensors" "$OUT/cuda.safetensors" <<'PY'
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
    then
      ok "anycost generate --device cuda"
    else
      fail "anycost generate --device cuda: images differ from the CPU's"
    fi
  else
    tail -20 "$OUT/generate_cuda.txt" "$OUT/generate_cpu.txt"
    fail "anycost generate --device cuda"
  fi
  if [ $bench = ON ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
    "$BUILD/benchmarks/models/bench_models" --device=cuda --benchmark_min_time="$BENCH_MIN_TIME" \
      --benchmark_out="$OUT/bench_models_cuda.json" --benchmark_out_format=json > "$OUT/bench_models_cuda.txt" 2>&1 \
      && ok "bench_models --device=cuda" || fail "bench_models --device=cuda"
    sed -n '/^Summary/,$p' "$OUT/bench_models_cuda.txt"
    grep -E '^check' "$OUT/bench_models_cuda.txt"
    python3 tools/gpu/torch_generator_bench.py --out "$OUT/torch_generator.json" --min-time "$BENCH_MIN_TIME" \
      > "$OUT/torch_generator.txt" 2>&1 && ok "torch_generator_bench" || fail "torch_generator_bench"
    if [ -f "$OUT/bench_models_cuda.json" ]; then
      python3 tools/gpu/ratios.py "$OUT/bench_models_cuda.json" "$OUT/torch_generator.json" \
        | tee "$OUT/ratios_generator.txt"
    fi
  fi
else
  grep -E 'error|Error' "$OUT/build.log" | tail -20
  fail "build ${gen_targets[*]}"
fi

# Hook for more GPU benchmarks (owned by benchmarks/*): one line per benchmark,
# "<cmake target> <arguments...>"; each is built and run with its output in $OUT/extra_<target>.txt.
if [ -f tools/gpu/extra_benchmarks.txt ] && [ "${SKIP_BENCH:-0}" != 1 ]; then
  while read -r target args; do
    case "$target" in ''|\#*) continue ;; esac
    step "extra benchmark $target $args"
    if cmake --build "$BUILD" -j "$JOBS" --target "$target" >> "$OUT/build.log" 2>&1; then
      exe=$(find "$BUILD" -type f -name "$target" -perm -u+x | head -1)
      # shellcheck disable=SC2086
      "$exe" $args > "$OUT/extra_$target.txt" 2>&1 && ok "extra $target" || fail "extra $target"
    else
      fail "build of extra $target"
    fi
  done < tools/gpu/extra_benchmarks.txt
fi

step "done"
cat "$OUT/summary.txt"
echo "total $(($(date +%s) - t_start)) s"
exit $status
