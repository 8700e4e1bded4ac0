// An emulated CUDA device for machines without a GPU: the CUDA entry points of backend/cuda/api.hpp and the
// memory hooks of core/cuda_hooks.hpp, defined on the host with the kernels' own per-element functions and the
// same drivers and plans as the CUDA units (the thread-per-output and block schedules of the sums included).
// Linked instead of the units into test_cuda_emulated, it lets the CPU-vs-CUDA parity suite (ops_cuda_test.cpp)
// run anywhere, checking what a GPU cannot add: how ops hand tensors to the entry points.
//
// "Device" memory is host memory that the emulator tracks. Every entry point checks that the pointers it gets
// are device allocations (a host pointer reaching a CUDA kernel is a bug), new allocations are filled with NaN
// (reading memory an op never wrote shows), and host element access stays refused by Tensor::data.
// What it cannot check: CUDA runtime behaviour, launch configurations, streams, cuBLAS, device arithmetic.
#include <catch2/catch.hpp>

#include <anycost/anycost.hpp>
#include <anycost/backend/cuda/conv_plan.hpp>
#include <anycost/backend/cuda/pool_plan.hpp>
#include <anycost/backend/cuda/random_plan.hpp>
#include <anycost/backend/cuda/strided_plan.hpp>
#include <anycost/backend/cuda/upfirdn2d_plan.hpp>

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>

#include "cuda/host_exec.hpp"

static_assert(anycost::with_cuda, "the emulated device stands in for the CUDA units: build with ANYCOST_WITH_CUDA");

ANYCOST_NAMESPACE_BEGIN
namespace {

struct EmulatedMemory {
  std::mutex m;
  std::map<const char*, std::size_t> live;  // base -> bytes
  cuda::MemoryStats stats;
  void* stream = nullptr;
  std::int64_t transfers = 0;  // host <-> device copies: each is a synchronisation point on a real GPU
};
EmulatedMemory& memory() {
  static EmulatedMemory mem;
  return mem;
}

// Whether [p, p + bytes) lies inside one live device allocation.
bool on_device(const void* p, std::size_t bytes = 1) {
  EmulatedMemory& mem = memory();
  std::lock_guard<std::mutex> lock(mem.m);
  const char* c = static_cast<const char*>(p);
  auto it = mem.live.upper_bound(c);
  if (it == mem.live.begin()) return false;
  --it;
  return c >= it->first && c + bytes <= it->first + it->second;
}
void require_device_ptr(const void* p, const char* what) {
  ANYCOST_CHECK(p && on_device(p), DeviceError, "emulated device: ", what, " is not device memory");
}
void require_host_ptr(const void* p, const char* what) {
  ANYCOST_CHECK(p && !on_device(p), DeviceError, "emulated device: ", what, " is device memory, expected host memory");
}

// The CUDA sums' schedule with an H100's worth of blocks, and the block kernel's thread partition.
template <class T>
void emulated_sum(const backend::cuda::ReducePlan& plan, const T* in, T* out) {
  using namespace backend::cuda;
  const ReduceSchedule s = schedule_reduce(plan, 132 * 8);
  for (std::int64_t o = 0; o < plan.n_out; ++o) {
    std::int64_t io, oo;
    plan.kept_offsets(o, io, oo);
    double total = 0;
    if (s.kind == ReduceSchedule::Kind::thread_per_output) {
      total = sum_reduced(plan, in, io, 0, plan.n_red, 1);
    } else {
      for (std::int64_t sp = 0; sp < s.splits; ++sp) {
        const std::int64_t j0 = sp * s.chunk, j1 = std::min(j0 + s.chunk, plan.n_red);
        double block = 0;
        for (int t = 0; t < 256; ++t) block += sum_reduced(plan, in, io, j0 + t, j1, 256);
        total += block;
      }
    }
    out[oo] = static_cast<T>(total);
  }
}

std::int64_t numel_of(const cuda_hooks::StridedRef& r) {
  std::int64_t n = 1;
  for (int d = 0; d < r.rank; ++d) n *= r.shape[d];
  return n;
}

// Whether a view is contiguous (row-major; extent-1 dims may have any stride).
bool is_contiguous(const cuda_hooks::StridedRef& r) {
  std::int64_t expected = 1;
  for (int d = r.rank - 1; d >= 0; --d) {
    if (r.shape[d] != 1 && r.strides[d] != expected) return false;
    expected *= r.shape[d];
  }
  return true;
}

}  // namespace

// ---- core's hooks ---------------------------------------------------------------------------------------
namespace cuda_hooks {
int device_count() { return 1; }
void* allocate(int device, std::size_t bytes) {
  ANYCOST_CHECK(device == 0, DeviceError, "emulated device: cuda:", device, " requested but 1 CUDA device is present");
  void* p = std::malloc(bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0xFF, bytes);  // NaN in float and double
  EmulatedMemory& mem = memory();
  std::lock_guard<std::mutex> lock(mem.m);
  mem.live[static_cast<const char*>(p)] = bytes;
  mem.stats.allocated_bytes += bytes;
  mem.stats.peak_allocated_bytes = std::max(mem.stats.peak_allocated_bytes, mem.stats.allocated_bytes);
  ++mem.stats.allocations;
  return p;
}
void deallocate(int, void* p, std::size_t bytes) {
  EmulatedMemory& mem = memory();
  {
    std::lock_guard<std::mutex> lock(mem.m);
    mem.live.erase(static_cast<const char*>(p));
    mem.stats.allocated_bytes -= bytes;
  }
  std::free(p);
}
void copy_to_host(void* dst, const void* src, std::size_t bytes) {
  require_host_ptr(dst, "copy_to_host destination");
  ANYCOST_CHECK(on_device(src, bytes), DeviceError, "emulated device: copy_to_host source is not device memory");
  std::memcpy(dst, src, bytes);
  std::lock_guard<std::mutex> lock(memory().m);
  ++memory().transfers;
}
void copy_to_device(void* dst, const void* src, std::size_t bytes) {
  ANYCOST_CHECK(on_device(dst, bytes), DeviceError, "emulated device: copy_to_device destination is not device memory");
  require_host_ptr(src, "copy_to_device source");
  std::memcpy(dst, src, bytes);
  std::lock_guard<std::mutex> lock(memory().m);
  ++memory().transfers;
}
void copy_device_to_device(void* dst, const void* src, std::size_t bytes) {
  ANYCOST_CHECK(on_device(dst, bytes) && on_device(src, bytes), DeviceError,
                "emulated device: device-to-device copy of non-device memory");
  std::memmove(dst, src, bytes);
}
void memset_zero(void* dst, std::size_t bytes) {
  ANYCOST_CHECK(on_device(dst, bytes), DeviceError, "emulated device: memset of non-device memory");
  std::memset(dst, 0, bytes);
}
void fill(void* dst, DType dtype, std::int64_t n, double value) {
  ANYCOST_CHECK(on_device(dst, static_cast<std::size_t>(n) * dtype_size(dtype)), DeviceError,
                "emulated device: fill of non-device memory");
  dispatch_dtype(dtype, [&](auto z) { std::fill_n(static_cast<decltype(z)*>(dst), n, static_cast<decltype(z)>(value)); });
}
void copy_strided(const StridedRef& dst, const StridedRef& src) {
  using namespace backend::cuda;
  require_device_ptr(dst.data, "copy_strided destination");
  require_device_ptr(src.data, "copy_strided source");
  const StridedRef* ops[2] = {&dst, &src};
  const CollapsedGeometry g = collapse(ops, 2, "copy_strided");
  CopyArgs<std::int64_t> a;
  a.plan = make_plan<2, std::int64_t>(g, 2);
  a.dst = dst.data;
  a.src = src.data;
  dispatch_dtype(dst.dtype, [&](auto zd) {
    dispatch_dtype(src.dtype, [&](auto zs) {
      for (std::int64_t i = 0; i < g.numel; ++i) copy_at<decltype(zd), decltype(zs)>(a, i);
    });
  });
}
}  // namespace cuda_hooks

// ---- kernels --------------------------------------------------------------------------------------------
namespace backend::cuda {

void eval_program(const backend::Program& program, const StridedRef* leaves, int n_leaves, const StridedRef& out) {
  ANYCOST_CHECK(n_leaves == program.leaves, ValueError, "eval_program: leaf count");
  const StridedRef* ops[ProgramArgs<std::int64_t>::max_ops];
  ops[0] = &out;
  require_device_ptr(out.data, "eval_program output");
  for (int k = 0; k < n_leaves; ++k) {
    ANYCOST_CHECK(leaves[k].dtype == out.dtype, ShapeError, "eval_program: leaf dtype");
    require_device_ptr(leaves[k].data, "eval_program leaf");
    ops[k + 1] = &leaves[k];
  }
  const CollapsedGeometry g = collapse(ops, n_leaves + 1, "eval_program");
  auto run = [&](auto index) {
    using Index = decltype(index);
    const auto a = make_program_args<Index>(program, g, leaves, n_leaves, out);
    dispatch_dtype(out.dtype, [&](auto z) {
      for (Index i = 0; i < static_cast<Index>(g.numel); ++i) eval_program_at<decltype(z)>(a, i);
    });
  };
  if (g.fits_int32(n_leaves + 1))
    run(std::int32_t{});
  else
    run(std::int64_t{});
}

void sum_keepdim(const StridedRef& in, const StridedRef& out) {
  require_device_ptr(in.data, "sum_keepdim input");
  require_device_ptr(out.data, "sum_keepdim output");
  const ReducePlan plan = make_reduce_plan(in, out);
  dispatch_dtype(in.dtype, [&](auto z) {
    using T = decltype(z);
    emulated_sum<T>(plan, static_cast<const T*>(in.data), static_cast<T*>(out.data));
  });
}

void gemm_strided_batched(DType dtype, bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                          double alpha, const void* a, std::int64_t lda, std::int64_t stride_a, const void* b,
                          std::int64_t ldb, std::int64_t stride_b, double beta, void* c, std::int64_t ldc,
                          std::int64_t stride_c, std::int64_t batch) {
  require_device_ptr(a, "gemm A");
  require_device_ptr(b, "gemm B");
  require_device_ptr(c, "gemm C");
  test::HostConvExec ex;
  dispatch_dtype(dtype, [&](auto z) {
    using T = decltype(z);
    ex.gemm<T>(trans_a, trans_b, m, n, k, static_cast<T>(alpha), static_cast<const T*>(a), lda, stride_a,
               static_cast<const T*>(b), ldb, stride_b, static_cast<T>(beta), static_cast<T*>(c), ldc, stride_c, batch);
  });
}

void conv2d(const StridedRef& x, const StridedRef& w, const StridedRef& y, const Conv2dParams& p) {
  for (const StridedRef* r : {&x, &w, &y}) require_device_ptr(r->data, "conv2d operand");
  const ConvGeometry g = conv_geometry(x, w, y, p, "conv2d");
  const std::int64_t lw = weight_row_stride(w, "conv2d");
  test::HostConvExec ex;
  dispatch_dtype(x.dtype, [&](auto z) {
    using T = decltype(z);
    conv2d_driver<T>(ex, g, static_cast<const T*>(x.data), static_cast<const T*>(w.data), lw, static_cast<T*>(y.data),
                     std::int64_t{64} << 20);
  });
}

void conv_transpose2d(const StridedRef& z, const StridedRef& w, const StridedRef& out, const Conv2dParams& p) {
  for (const StridedRef* r : {&z, &w, &out}) require_device_ptr(r->data, "conv_transpose2d operand");
  const ConvGeometry g = conv_geometry(out, w, z, p, "conv_transpose2d");
  const std::int64_t lw = weight_row_stride(w, "conv_transpose2d");
  test::HostConvExec ex;
  dispatch_dtype(z.dtype, [&](auto t) {
    using T = decltype(t);
    conv_transpose2d_driver<T>(ex, g, static_cast<const T*>(z.data), static_cast<const T*>(w.data), lw,
                               static_cast<T*>(out.data), std::int64_t{64} << 20);
  });
}

void conv2d_weight_grad(const StridedRef& x, const StridedRef& gy, const StridedRef& dw, const Conv2dParams& p) {
  for (const StridedRef* r : {&x, &gy, &dw}) require_device_ptr(r->data, "conv2d_weight_grad operand");
  const ConvGeometry g = conv_geometry(x, dw, gy, p, "conv2d_weight_grad");
  test::HostConvExec ex;
  dispatch_dtype(x.dtype, [&](auto t) {
    using T = decltype(t);
    conv2d_weight_grad_driver<T>(ex, g, static_cast<const T*>(x.data), static_cast<const T*>(gy.data),
                                 static_cast<T*>(dw.data), std::int64_t{64} << 20);
  });
}

void upfirdn2d(const StridedRef& x, const StridedRef& k, const StridedRef& out, const UpFirDnParams& p) {
  for (const StridedRef* r : {&x, &k, &out}) require_device_ptr(r->data, "upfirdn2d operand");
  dispatch_dtype(x.dtype, [&](auto z) {
    using T = decltype(z);
    const UpFirDnArgs<T> a{static_cast<const T*>(x.data), static_cast<const T*>(k.data), static_cast<T*>(out.data),
                           x.shape[0] * x.shape[1], x.shape[2], x.shape[3], out.shape[2], out.shape[3],
                           static_cast<int>(k.shape[0]), static_cast<int>(k.shape[1]), p};
    for (std::int64_t e = 0; e < a.size(); ++e) upfirdn2d_at(a, e);
  });
}

// The pooling entries check what the CUDA units check (contiguous operands whose sizes match the geometry) and
// that the argmax positions are device memory of the right size.
void require_pool_operands(const StridedRef& in, const StridedRef& pooled, const void* index,
                           const Pool2dGeometry& g, const char* op) {
  require_device_ptr(in.data, op);
  require_device_ptr(pooled.data, op);
  const std::int64_t n_out = g.planes * g.ho * g.wo;
  ANYCOST_CHECK(on_device(index, static_cast<std::size_t>(n_out) * sizeof(std::int64_t)), DeviceError,
                "emulated device: ", op, " argmax positions are not device memory of ", n_out, " int64");
  REQUIRE(in.dtype == pooled.dtype);
  REQUIRE((is_contiguous(in) && is_contiguous(pooled)));
  REQUIRE(numel_of(in) == g.planes * g.h * g.w);
  REQUIRE(numel_of(pooled) == n_out);
}

void max_pool2d(const StridedRef& x, const StridedRef& out, std::int64_t* index, const Pool2dGeometry& g) {
  require_pool_operands(x, out, index, g, "max_pool2d");
  dispatch_dtype(x.dtype, [&](auto z) {
    using T = decltype(z);
    const MaxPoolArgs<T> a{static_cast<const T*>(x.data), static_cast<T*>(out.data), index, g};
    for (std::int64_t e = 0; e < a.size(); ++e) max_pool2d_at(a, e);
  });
}

void max_pool2d_scatter(const StridedRef& grad_out, const StridedRef& grad_in, const std::int64_t* index,
                        const Pool2dGeometry& g) {
  require_pool_operands(grad_in, grad_out, index, g, "max_pool2d_scatter");
  dispatch_dtype(grad_out.dtype, [&](auto z) {
    using T = decltype(z);
    const MaxPoolScatterArgs<T> a{static_cast<const T*>(grad_out.data), static_cast<T*>(grad_in.data), index, g};
    for (std::int64_t e = 0; e < a.size(); ++e) max_pool2d_scatter_at(a, e);
  });
}

void max_pool2d_gather(const StridedRef& in, const StridedRef& out, const std::int64_t* index,
                       const Pool2dGeometry& g) {
  require_pool_operands(in, out, index, g, "max_pool2d_gather");
  dispatch_dtype(in.dtype, [&](auto z) {
    using T = decltype(z);
    const MaxPoolGatherArgs<T> a{static_cast<const T*>(in.data), static_cast<T*>(out.data), index, g};
    for (std::int64_t e = 0; e < a.size(); ++e) max_pool2d_gather_at(a, e);
  });
}

void reverse_copy(const StridedRef& in, const StridedRef& out) {
  require_device_ptr(in.data, "reverse_copy input");
  require_device_ptr(out.data, "reverse_copy output");
  const std::int64_t n = numel_of(in);
  REQUIRE(numel_of(out) == n);
  dispatch_dtype(in.dtype, [&](auto z) {
    using T = decltype(z);
    std::reverse_copy(static_cast<const T*>(in.data), static_cast<const T*>(in.data) + n, static_cast<T*>(out.data));
  });
}

void fill_random(const StridedRef& out, std::uint64_t key, std::uint64_t first_block, bool normal) {
  require_device_ptr(out.data, "fill_random output");
  dispatch_dtype(out.dtype, [&](auto z) {
    using T = decltype(z);
    const PhiloxFillArgs<T> a{static_cast<T*>(out.data), numel_of(out), key, first_block, normal};
    for (std::int64_t b = 0; b < a.blocks(); ++b) philox_fill_at(a, b);
  });
}

}  // namespace backend::cuda

// ---- run-time API -----------------------------------------------------------------------------------------
namespace cuda {
int device_count() { return 1; }
const char* unavailable_reason() { return ""; }
void synchronize(int) {}
void empty_cache() {}
MemoryStats memory_stats(int) {
  std::lock_guard<std::mutex> lock(memory().m);
  return memory().stats;
}
void reset_peak_memory_stats(int) {
  std::lock_guard<std::mutex> lock(memory().m);
  memory().stats.peak_allocated_bytes = memory().stats.allocated_bytes;
}
void* current_stream(int) { return memory().stream; }
void set_current_stream(void* s, int) { memory().stream = s; }
}  // namespace cuda

ANYCOST_NAMESPACE_END

TEST_CASE("the emulated device refuses host pointers and host access", "[cuda][emulated]") {
  using namespace anycost;
  const Tensor g = Tensor::zeros({2, 3}, DType::float32, Device::cuda());
  CHECK_THROWS_AS(g.data<float>(), DeviceError);
  const Tensor h = Tensor::zeros({2, 3});
  CHECK_THROWS_AS(backend::cuda::sum_keepdim(h.strided_ref(), g.narrow(0, 0, 1).strided_ref()), DeviceError);
  CHECK(g.to(Device::cpu()).to_vector<float>() == std::vector<float>(6, 0.0f));
  // Fresh device memory reads as NaN until an op writes it.
  const Tensor e = Tensor::empty({2}, DType::float32, Device::cuda());
  CHECK(std::isnan(e.to(Device::cpu()).to_vector<float>()[0]));
}

TEST_CASE("a training step of upfirdn2d and the backward seed stay on the device", "[cuda][emulated][sync]") {
  // On a GPU every host <-> device copy waits for the queued work; an op that needs one stalls the pipeline.
  using namespace anycost;
  const Device gpu = Device::cuda();
  Rng rng(1);
  const Var x(randn({2, 3, 8, 8}, rng).to(gpu), true);
  std::vector<float> taps(16);
  for (std::size_t i = 0; i < taps.size(); ++i) taps[i] = static_cast<float>(i + 1);  // not symmetric
  const Tensor kk = Tensor::from_vector<float>(taps, {4, 4}).to(gpu);
  const std::int64_t before = memory().transfers;
  const Var y = upfirdn2d(x, kk, {2, 1, 2, 1, 2, 1});
  const Tensor one = Tensor::ones({}, DType::float32, gpu);
  backward(sum(y * y));
  CHECK(memory().transfers == before);
  CHECK(x.grad().device() == gpu);
  CHECK(one.to(Device::cpu()).item() == 1.0);
  // The flipped kernel made on the device equals the host's flip.
  const Tensor f = detail::flip_kernel(kk).to(Device::cpu()), h = detail::flip_kernel(kk.to(Device::cpu()));
  CHECK(f.to_vector<float>() == h.to_vector<float>());
}

TEST_CASE("max_pool2d keeps its argmax positions and all three passes on the device", "[cuda][emulated][sync]") {
  // The positions are device memory (the pooling entries refuse anything else) and forward, backward and double
  // backward copy nothing between host and device.
  using namespace anycost;
  const Device gpu = Device::cuda();
  Rng rng(2);
  const Var x(randn({2, 3, 9, 7}, rng).to(gpu), true);
  const Tensor r = randn({2, 3, 4, 3}, rng).to(gpu);
  const std::int64_t before = memory().transfers;
  const Var y = max_pool2d(x, 3, 2);
  GradOptions opts;
  opts.create_graph = true;
  const Var gx = grad({sum(square(y) * Var(r))}, {x}, {}, opts)[0];
  const Var gg = grad({sum(gx * gx)}, {x})[0];
  CHECK(memory().transfers == before);
  CHECK(gg.device() == gpu);
  // A gradient on another device than the positions is refused by name.
  const auto idx = std::make_shared<detail::PoolIndex>();
  idx->output_shape = Shape{1, 1, 1, 1};
  idx->index = std::make_shared<Storage>(sizeof(std::int64_t), Device::cpu());
  CHECK_THROWS_WITH(max_pool2d_scatter(Var(Tensor::zeros({1, 1, 1, 1}, DType::float32, gpu)), idx),
                    Catch::Contains("max_pool2d backward: gradient on cuda:0, the pooled input was on cpu"));
}
