// Tensor: a strided view of reference-counted storage. Views (narrow, permute, reshape, expand) share
// storage and cost O(rank); contiguous(), clone() and to() are the only copies and are always explicit.
// Host element access on a CUDA tensor is an error, never a silent transfer.
#pragma once

#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <numeric>
#include <vector>

#include "anycost/core/cuda_hooks.hpp"
#include "anycost/core/device.hpp"
#include "anycost/core/dtype.hpp"
#include "anycost/core/shape.hpp"
#include "anycost/core/storage.hpp"
#include "anycost/core/strided_loop.hpp"

ANYCOST_NAMESPACE_BEGIN

class Tensor {
 public:
  Tensor() = default;  // undefined tensor (no storage)

  // ---- factories -------------------------------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu()) {
    for (auto s : shape) ANYCOST_CHECK(s >= 0, ShapeError, "Tensor::empty: negative extent in shape ", shape);
    Tensor t;
    t.storage_ = std::make_shared<Storage>(static_cast<std::size_t>(anycost::numel(shape)) * dtype_size(dtype), device);
    t.shape_ = shape;
    t.strides_ = contiguous_strides(shape);
    t.dtype_ = dtype;
    return t;
  }
  static Tensor zeros(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu()) {
    Tensor t = empty(shape, dtype, device);
    t.zero_();
    return t;
  }
  static Tensor full(const Shape& shape, double value, DType dtype = DType::float32,
                     Device device = Device::cpu()) {
    Tensor t = empty(shape, dtype, device);
    if (device.is_cuda()) {  // filled on the device: no host buffer, no transfer (a backward seed stays queued)
      if (t.numel() > 0) cuda_hooks::fill(t.raw_data(), dtype, t.numel(), value);
      return t;
    }
    dispatch_dtype(dtype, [&](auto z) {
      using T = decltype(z);
      std::fill_n(t.data<T>(), t.numel(), static_cast<T>(value));
    });
    return t;
  }
  static Tensor ones(const Shape& shape, DType dtype = DType::float32, Device device = Device::cpu()) {
    return full(shape, 1.0, dtype, device);
  }
  static Tensor scalar(double value, DType dtype = DType::float32, Device device = Device::cpu()) {
    return full(Shape{}, value, dtype, device);
  }
  template <class T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device device = Device::cpu()) {
    ANYCOST_CHECK(static_cast<std::int64_t>(v.size()) == anycost::numel(shape), ShapeError,
                  "Tensor::from_vector: ", v.size(), " values do not fill shape ", shape);
    Tensor t = empty(shape, dtype_of<T>(), Device::cpu());
    std::copy(v.begin(), v.end(), t.data<T>());
    return device.is_cpu() ? t : t.to(device);
  }
  // Wraps existing storage (memory-mapped files, foreign buffers).
  static Tensor from_storage(std::shared_ptr<Storage> s, std::int64_t offset, const Shape& shape,
                             const Strides& strides, DType dtype) {
    Tensor t;
    t.storage_ = std::move(s);
    t.offset_ = offset;
    t.shape_ = shape;
    t.strides_ = strides;
    t.dtype_ = dtype;
    return t;
  }

  // ---- metadata --------------------------------------------------------------------------------------
  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  const Strides& strides() const { return strides_; }
  int dim() const { return shape_.size(); }
  std::int64_t size(int d) const { return shape_[normalize_dim(d, dim(), "Tensor::size")]; }
  std::int64_t stride(int d) const { return strides_[normalize_dim(d, dim(), "Tensor::stride")]; }
  std::int64_t numel() const { return anycost::numel(shape_); }
  std::int64_t offset() const { return offset_; }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::cpu(); }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  std::uint64_t version() const { return storage_ ? storage_->version() : 0; }
  // Marks the storage as modified in place (autograd checks saved tensors against this counter).
  void bump_version() const {
    if (storage_) storage_->bump_version();
  }

  bool is_contiguous() const {
    // An empty tensor has no layout to get wrong (fuzz finding: [1, 4292769496, 429, 0, 7296] from a file).
    if (numel() == 0) return true;
    std::int64_t expected = 1;
    for (int d = dim() - 1; d >= 0; --d) {
      if (shape_[d] == 1) continue;
      if (strides_[d] != expected) return false;
      expected *= shape_[d];
    }
    return true;
  }

  // Raw pointer to element 0 of the view, on whatever device holds it.
  void* raw_data() const {
    return static_cast<char*>(storage_->data()) + offset_ * static_cast<std::int64_t>(dtype_size(dtype_));
  }
  // Host pointer to element 0; throws on a CUDA tensor or on a dtype mismatch.
  template <class T>
  T* data() const {
    ANYCOST_CHECK(defined(), ValueError, "Tensor::data: tensor is undefined");
    ANYCOST_CHECK(device().is_cpu(), DeviceError, "Tensor::data: host access to a ", device(),
                  " tensor; copy it with .to(Device::cpu()) first");
    ANYCOST_CHECK(dtype_of<T>() == dtype_, ShapeError, "Tensor::data: tensor holds ", dtype_, ", not ",
                  dtype_of<T>());
    return static_cast<T*>(raw_data());
  }
  // Value of a one-element tensor, converted to double (copies from the device if needed).
  double item() const {
    ANYCOST_CHECK(numel() == 1, ShapeError, "Tensor::item: tensor of shape ", shape_, " is not one element");
    const Tensor c = device().is_cpu() ? *this : to(Device::cpu());
    return dispatch_dtype(dtype_, [&](auto z) { return static_cast<double>(*c.data<decltype(z)>()); });
  }
  template <class T>
  std::vector<T> to_vector() const {
    const Tensor c = to(Device::cpu()).to(dtype_of<T>()).contiguous();
    const T* p = c.data<T>();
    return std::vector<T>(p, p + c.numel());
  }

  // ---- views -----------------------------------------------------------------------------------------
  Tensor narrow(int dim_, std::int64_t start, std::int64_t length) const {
    const int d = normalize_dim(dim_, dim(), "narrow");
    ANYCOST_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], ShapeError, "narrow: range [", start,
                  ", ", start + length, ") is outside dim ", d, " of extent ", shape_[d], " (shape ", shape_, ")");
    Tensor t = *this;
    t.offset_ += start * strides_[d];
    t.shape_[d] = length;
    return t;
  }
  Tensor select(int dim_, std::int64_t index) const {
    const int d = normalize_dim(dim_, dim(), "select");
    ANYCOST_CHECK(index >= 0 && index < shape_[d], ShapeError, "select: index ", index, " outside dim ", d,
                  " of extent ", shape_[d]);
    Tensor t = narrow(d, index, 1);
    t.shape_.erase(d);
    t.strides_.erase(d);
    return t;
  }
  Tensor permute(const Dims& order) const {
    ANYCOST_CHECK(order.size() == dim(), ShapeError, "permute: order ", order, " does not match rank ", dim());
    std::vector<bool> seen(dim(), false);
    Tensor t = *this;
    for (int i = 0; i < dim(); ++i) {
      const int src = normalize_dim(static_cast<int>(order[i]), dim(), "permute");
      ANYCOST_CHECK(!seen[src], ShapeError, "permute: dim ", src, " repeated in ", order);
      seen[src] = true;
      t.shape_[i] = shape_[src];
      t.strides_[i] = strides_[src];
    }
    return t;
  }
  Tensor transpose(int a, int b) const {
    Dims order = Dims::filled(dim(), 0);
    for (int i = 0; i < dim(); ++i) order[i] = i;
    std::swap(order[normalize_dim(a, dim(), "transpose")], order[normalize_dim(b, dim(), "transpose")]);
    return permute(order);
  }
  Tensor unsqueeze(int dim_) const {
    const int d = normalize_dim(dim_, dim() + 1, "unsqueeze");
    Tensor t = *this;
    t.shape_.insert(d, 1);
    t.strides_.insert(d, d < dim() ? strides_[d] * shape_[d] : 1);
    return t;
  }
  Tensor squeeze(int dim_) const {
    const int d = normalize_dim(dim_, dim(), "squeeze");
    ANYCOST_CHECK(shape_[d] == 1, ShapeError, "squeeze: dim ", d, " has extent ", shape_[d], ", not 1");
    Tensor t = *this;
    t.shape_.erase(d);
    t.strides_.erase(d);
    return t;
  }
  // Broadcast view: size-1 dims (and new leading dims) get stride 0.
  Tensor expand(const Shape& target) const {
    ANYCOST_CHECK(target.size() >= dim(), ShapeError, "expand: cannot expand shape ", shape_, " to ", target);
    Tensor t = *this;
    t.shape_ = target;
    t.strides_ = Dims::filled(target.size(), 0);
    const int lead = target.size() - dim();
    for (int i = 0; i < dim(); ++i) {
      ANYCOST_CHECK(shape_[i] == target[lead + i] || shape_[i] == 1, ShapeError, "expand: cannot expand shape ",
                    shape_, " to ", target);
      t.strides_[lead + i] = shape_[i] == 1 && target[lead + i] != 1 ? 0 : strides_[i];
    }
    return t;
  }
  // Reinterprets the view with a new shape without copying. One extent may be -1. Throws when the strides
  // do not allow it (call contiguous() first: copies are never implicit).
  Tensor reshape(const Shape& requested) const {
    Shape target = infer_shape(requested);
    Tensor t = *this;
    t.shape_ = target;
    if (is_contiguous()) {
      t.strides_ = contiguous_strides(target);
      return t;
    }
    Strides st;
    ANYCOST_CHECK(view_strides(target, st), ShapeError, "reshape: a view of shape ", shape_, " with strides ",
                  strides_, " cannot be reshaped to ", target, " without a copy; call contiguous() first");
    t.strides_ = st;
    return t;
  }
  Tensor flatten() const { return reshape(Shape{numel()}); }

  // ---- copies ----------------------------------------------------------------------------------------
  Tensor contiguous() const { return is_contiguous() ? *this : clone(); }
  Tensor clone() const {
    Tensor out = empty(shape_, dtype_, device());
    out.copy_(*this);
    return out;
  }
  Tensor to(Device target) const {
    if (target == device()) return *this;
    const Tensor src = contiguous();
    Tensor out = empty(shape_, dtype_, target);
    const std::size_t bytes = static_cast<std::size_t>(numel()) * dtype_size(dtype_);
    if (bytes == 0) return out;
    if (target.is_cpu())
      cuda_hooks::copy_to_host(out.raw_data(), src.raw_data(), bytes);
    else if (src.device().is_cpu())
      cuda_hooks::copy_to_device(out.raw_data(), src.raw_data(), bytes);
    else
      cuda_hooks::copy_device_to_device(out.raw_data(), src.raw_data(), bytes);
    return out;
  }
  Tensor to(DType target) const {
    if (target == dtype_) return *this;
    Tensor out = empty(shape_, target, device());
    out.copy_(*this);
    return out;
  }

  // ---- in-place (bump the version counter) -----------------------------------------------------------
  // Copies src into this view (same shape, same device, any dtype).
  const Tensor& copy_(const Tensor& src) const {
    ANYCOST_CHECK(src.shape_ == shape_, ShapeError, "copy_: source shape ", src.shape_, " differs from ", shape_);
    ANYCOST_CHECK(src.device() == device(), DeviceError, "copy_: source on ", src.device(), ", destination on ",
                  device(), "; use to() for transfers");
    bump_version();
    if (numel() == 0) return *this;
    if (device().is_cuda()) {
      cuda_hooks::copy_strided(strided_ref(), src.strided_ref());
      return *this;
    }
    dispatch_dtype(dtype_, [&](auto zd) {
      dispatch_dtype(src.dtype_, [&](auto zs) {
        using D = decltype(zd);
        using S = decltype(zs);
        D* dst = static_cast<D*>(raw_data());
        const S* s = static_cast<const S*>(src.raw_data());
        for_each_row<2>(shape_, {strides_, src.strides_},
                        [&](std::array<std::int64_t, 2> off, std::int64_t n, std::array<std::int64_t, 2> st) {
                          D* o = dst + off[0];
                          const S* i = s + off[1];
                          if (st[0] == 1 && st[1] == 1)
                            for (std::int64_t k = 0; k < n; ++k) o[k] = static_cast<D>(i[k]);
                          else
                            for (std::int64_t k = 0; k < n; ++k) o[k * st[0]] = static_cast<D>(i[k * st[1]]);
                        });
      });
    });
    return *this;
  }
  const Tensor& zero_() const {
    bump_version();
    if (numel() == 0) return *this;
    if (is_contiguous()) {
      const std::size_t bytes = static_cast<std::size_t>(numel()) * dtype_size(dtype_);
      if (device().is_cpu())
        std::memset(raw_data(), 0, bytes);
      else
        cuda_hooks::memset_zero(raw_data(), bytes);
      return *this;
    }
    return copy_(zeros(shape_, dtype_, device()));
  }

  // Plain-data form for kernels.
  cuda_hooks::StridedRef strided_ref() const {
    cuda_hooks::StridedRef r{raw_data(), dtype_, dim(), {}, {}};
    for (int i = 0; i < dim(); ++i) {
      r.shape[i] = shape_[i];
      r.strides[i] = strides_[i];
    }
    return r;
  }

  // True when the two views may touch the same bytes (conservative: compares storage extents).
  bool may_overlap(const Tensor& o) const {
    if (!defined() || !o.defined() || storage_ != o.storage_) return false;
    auto extent = [](const Tensor& t) {
      std::int64_t lo = t.offset_, hi = t.offset_;
      for (int d = 0; d < t.dim(); ++d) {
        if (t.shape_[d] == 0) return std::pair<std::int64_t, std::int64_t>{0, -1};
        (t.strides_[d] >= 0 ? hi : lo) += (t.shape_[d] - 1) * t.strides_[d];
      }
      return std::pair<std::int64_t, std::int64_t>{lo, hi};
    };
    auto [a0, a1] = extent(*this);
    auto [b0, b1] = extent(o);
    return a0 <= b1 && b0 <= a1;
  }

 private:
  Shape infer_shape(const Shape& req) const {
    Shape target = req;
    int infer = -1;
    std::int64_t known = 1;
    for (int i = 0; i < target.size(); ++i) {
      if (target[i] == -1) {
        ANYCOST_CHECK(infer < 0, ShapeError, "reshape: more than one -1 in ", req);
        infer = i;
      } else {
        ANYCOST_CHECK(target[i] >= 0, ShapeError, "reshape: negative extent in ", req);
        known *= target[i];
      }
    }
    if (infer >= 0) {
      ANYCOST_CHECK(known > 0 && numel() % known == 0, ShapeError, "reshape: cannot infer -1 in ", req,
                    " for ", numel(), " elements");
      target[infer] = numel() / known;
    }
    ANYCOST_CHECK(anycost::numel(target) == numel(), ShapeError, "reshape: shape ", shape_, " (", numel(),
                  " elements) cannot become ", req);
    return target;
  }
  // Strides for viewing this (non-contiguous) tensor as `target`. Source dims are grouped, from the back,
  // into chunks that are contiguous with respect to each other; each chunk must be covered exactly by a run
  // of target dims.
  bool view_strides(const Shape& target, Strides& out) const {
    out = Dims::filled(target.size(), 0);
    if (numel() == 0 || dim() == 0) {
      out = contiguous_strides(target);
      return true;
    }
    int vd = target.size() - 1;
    std::int64_t base = strides_[dim() - 1], chunk = 1, covered = 1;
    for (int d = dim() - 1; d >= 0; --d) {
      chunk *= shape_[d];
      const bool chunk_ends = d == 0 || (shape_[d - 1] != 1 && strides_[d - 1] != chunk * base);
      if (!chunk_ends) continue;
      while (vd >= 0 && (covered < chunk || target[vd] == 1)) {
        out[vd] = covered * base;
        covered *= target[vd];
        --vd;
      }
      if (covered != chunk) return false;
      if (d > 0) {
        base = strides_[d - 1];
        chunk = covered = 1;
      }
    }
    return vd == -1;
  }

  std::shared_ptr<Storage> storage_;
  std::int64_t offset_ = 0;  // in elements
  Shape shape_;
  Strides strides_;
  DType dtype_ = DType::float32;
};

ANYCOST_NAMESPACE_END
