// The CUDA convolutions as im2col / col2im + batched GEMM, written once over an executor so that the host tests
// run the very same driver with CPU primitives (tests/cuda/plan_test.cpp) and the CUDA unit runs it with
// kernels and cuBLAS (kernels/conv2d.cuh).
//
// Column buffers hold a chunk of nb images in the layout [C*kh*kw][nb][P] (P = output pixels of one image):
// row R = (c*kh + a)*kw + b, so group g's rows are the contiguous block [g*kdim, (g+1)*kdim), and for one group
// the nb images sit side by side along the columns. That lets one GEMM cover a whole chunk:
//   conv2d            y_(i,g)  [cog, P]    = W_g [cog, kdim] x cols_(g,i) [kdim, P]      batched over i or g
//   conv_transpose2d  cols_(g,i) [kdim, P] = W_g^T [kdim, czg] x z_(i,g) [czg, P]       then a gather (col2im)
//   weight gradient   dW_g [cog, kdim]    += gy_g [cog, nb*P] x cols_g^T [nb*P, kdim]   one GEMM per chunk
// The gather form of col2im writes each output once (no atomics), in the CPU's order of taps.
//
// Executor interface (T = float or double):
//   Buffer<T> alloc(count)                      RAII device/host buffer with .get()
//   void im2col(const Im2colArgs<T>&)           runs im2col_at for every element
//   void col2im(const Col2imArgs<T>&)           runs col2im_at for every element
//   void permute(const T* src, T* dst, std::int64_t nb, std::int64_t rows, std::int64_t p)
//                                               dst[r][i][q] = src[i][r][q]
//   void gemm(bool ta, bool tb, m, n, k, T alpha, const T* a, lda, sa, const T* b, ldb, sb, T beta, T* c, ldc,
//             sc, batch)                        row-major strided-batched GEMM
#pragma once

#include <algorithm>
#include <cstdint>

#include "anycost/backend/params.hpp"
#include "anycost/core/cuda_hooks.hpp"
#include "anycost/core/error.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace backend::cuda {

// Image geometry of one convolution (conv2d view: x is the input, the "output" has ho x wo pixels).
struct ConvGeometry {
  std::int64_t n = 0, cin = 0, h = 0, w = 0;     // input images
  std::int64_t cout = 0, ho = 0, wo = 0;         // output images
  int kh = 1, kw = 1;
  Conv2dParams p;
  std::int64_t in_pixels() const { return h * w; }
  std::int64_t out_pixels() const { return ho * wo; }
  bool identity_im2col() const {
    return kh == 1 && kw == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 && p.pad_w == 0;
  }
};

// Conv2d geometry from an input, a weight and an output (NCHW, weight [Cout, Cin/g, kh, kw]).
inline ConvGeometry conv_geometry(const cuda_hooks::StridedRef& x, const cuda_hooks::StridedRef& w,
                                  const cuda_hooks::StridedRef& y,
                                  const Conv2dParams& p, const char* op) {
  ANYCOST_CHECK(x.rank == 4 && w.rank == 4 && y.rank == 4, ShapeError, op, ": expects 4-D operands");
  ANYCOST_CHECK(x.dtype == w.dtype && x.dtype == y.dtype, ShapeError, op, ": operands differ in dtype");
  ConvGeometry g;
  g.n = x.shape[0];
  g.cin = x.shape[1];
  g.h = x.shape[2];
  g.w = x.shape[3];
  g.cout = y.shape[1];
  g.ho = y.shape[2];
  g.wo = y.shape[3];
  g.kh = static_cast<int>(w.shape[2]);
  g.kw = static_cast<int>(w.shape[3]);
  g.p = p;
  ANYCOST_CHECK(p.groups >= 1 && g.cin % p.groups == 0 && g.cout % p.groups == 0 && w.shape[0] == g.cout &&
                    w.shape[1] * p.groups == g.cin && y.shape[0] == g.n,
                ShapeError, op, ": inconsistent shapes for groups=", p.groups);
  return g;
}

// Row stride of a weight whose [Cin/g, kh, kw] rows are contiguous (prefix slices qualify).
inline std::int64_t weight_row_stride(const cuda_hooks::StridedRef& w, const char* op) {
  const std::int64_t row = w.shape[1] * w.shape[2] * w.shape[3];
  const bool rows = w.strides[3] == 1 && w.strides[2] == w.shape[3] && w.strides[1] == w.shape[2] * w.shape[3];
  ANYCOST_CHECK((rows || row <= 1) && (w.strides[0] >= row || w.shape[0] == 1), ValueError, op,
                ": weight rows must be contiguous");
  return w.strides[0] > row ? w.strides[0] : row;
}

// cols[R][i][q] for R = (c*kh + a)*kw + b over nb images starting at x (contiguous [nb][c][h][w]).
template <class T>
struct Im2colArgs {
  const T* x;
  T* cols;
  std::int64_t nb, c, h, w, ho, wo;
  int kh, kw;
  Conv2dParams p;
  std::int64_t size() const { return c * kh * kw * nb * ho * wo; }
};

template <class T>
ANYCOST_HOST_DEVICE void im2col_at(const Im2colArgs<T>& a, std::int64_t e) {
  const std::int64_t pix = a.ho * a.wo;
  const std::int64_t q = e % pix, t = e / pix;
  const std::int64_t i = t % a.nb, row = t / a.nb;
  const std::int64_t b = row % a.kw, ka = (row / a.kw) % a.kh, c = row / (static_cast<std::int64_t>(a.kh) * a.kw);
  const std::int64_t oy = q / a.wo, ox = q - oy * a.wo;
  const std::int64_t iy = oy * a.p.stride_h + ka - a.p.pad_h, ix = ox * a.p.stride_w + b - a.p.pad_w;
  T v = T(0);
  if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w) v = a.x[((i * a.c + c) * a.h + iy) * a.w + ix];
  a.cols[e] = v;
}

// out[i][c][y][x] (contiguous [nb][c][h][w]) = sum over taps of cols[(c*kh + a)*kw + b][i][q] where pixel q of
// the (ho x wo) column grid lands on (y, x): the adjoint of im2col, gathered.
template <class T>
struct Col2imArgs {
  const T* cols;
  T* out;
  std::int64_t nb, c, h, w, ho, wo;
  int kh, kw;
  Conv2dParams p;
  std::int64_t size() const { return nb * c * h * w; }
};

template <class T>
ANYCOST_HOST_DEVICE void col2im_at(const Col2imArgs<T>& a, std::int64_t e) {
  const std::int64_t x = e % a.w, y = (e / a.w) % a.h, c = (e / (a.w * a.h)) % a.c, i = e / (a.w * a.h * a.c);
  const std::int64_t pix = a.ho * a.wo;
  T acc = T(0);
  for (int ka = 0; ka < a.kh; ++ka) {
    const std::int64_t ty = y + a.p.pad_h - ka;
    if (ty < 0 || ty % a.p.stride_h != 0) continue;
    const std::int64_t oy = ty / a.p.stride_h;
    if (oy >= a.ho) continue;
    for (int kb = 0; kb < a.kw; ++kb) {
      const std::int64_t tx = x + a.p.pad_w - kb;
      if (tx < 0 || tx % a.p.stride_w != 0) continue;
      const std::int64_t ox = tx / a.p.stride_w;
      if (ox >= a.wo) continue;
      const std::int64_t row = (c * a.kh + ka) * a.kw + kb;
      acc += a.cols[(row * a.nb + i) * pix + oy * a.wo + ox];
    }
  }
  a.out[e] = acc;
}

// A GEMM operand indexed by (group, image): base pointer, leading dim, and element strides between images and
// between groups.
template <class T>
struct GemmOperand {
  T* ptr;
  std::int64_t ld, image_stride, group_stride;
};

// C_(g,i) = op(A_(g,i)) op(B_(g,i)) for every group g < groups and image i < images, in min(groups, images)
// strided-batched GEMM calls.
template <class T, class Exec>
void grouped_gemm(Exec& ex, std::int64_t groups, std::int64_t images, bool ta, bool tb, std::int64_t m,
                  std::int64_t n, std::int64_t k, GemmOperand<const T> a, GemmOperand<const T> b, T beta,
                  GemmOperand<T> c) {
  if (groups <= images) {
    for (std::int64_t g = 0; g < groups; ++g)
      ex.gemm(ta, tb, m, n, k, T(1), a.ptr + g * a.group_stride, a.ld, a.image_stride, b.ptr + g * b.group_stride,
              b.ld, b.image_stride, beta, c.ptr + g * c.group_stride, c.ld, c.image_stride, images);
  } else {
    for (std::int64_t i = 0; i < images; ++i)
      ex.gemm(ta, tb, m, n, k, T(1), a.ptr + i * a.image_stride, a.ld, a.group_stride, b.ptr + i * b.image_stride,
              b.ld, b.group_stride, beta, c.ptr + i * c.image_stride, c.ld, c.group_stride, groups);
  }
}

// Images per chunk so that a column buffer of rows x nb x pixels elements stays within budget_elems.
inline std::int64_t chunk_images(std::int64_t n, std::int64_t rows, std::int64_t pixels, std::int64_t budget_elems) {
  const std::int64_t per_image = std::max<std::int64_t>(rows * pixels, 1);
  return std::clamp<std::int64_t>(budget_elems / per_image, 1, std::max<std::int64_t>(n, 1));
}

// y [n, cout, ho, wo] = conv2d(x [n, cin, h, w], w [cout, cin/g, kh, kw] with row stride lw).
template <class T, class Exec>
void conv2d_driver(Exec& ex, const ConvGeometry& G, const T* x, const T* w, std::int64_t lw, T* y,
                   std::int64_t budget_elems) {
  const std::int64_t g = G.p.groups, cig = G.cin / g, cog = G.cout / g, kdim = cig * G.kh * G.kw;
  const std::int64_t P = G.out_pixels(), HW = G.in_pixels();
  const GemmOperand<const T> A{w, lw, 0, cog * lw};
  if (G.identity_im2col()) {
    grouped_gemm<T>(ex, g, G.n, false, false, cog, P, kdim, A, {x, P, G.cin * P, cig * P}, T(0),
                    {y, P, G.cout * P, cog * P});
    return;
  }
  const std::int64_t rows = G.cin * G.kh * G.kw;
  const std::int64_t nb_max = chunk_images(G.n, rows, P, budget_elems);
  auto cols = ex.template alloc<T>(rows * nb_max * P);
  for (std::int64_t i0 = 0; i0 < G.n; i0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, G.n - i0);
    ex.im2col(Im2colArgs<T>{x + i0 * G.cin * HW, cols.get(), nb, G.cin, G.h, G.w, G.ho, G.wo, G.kh, G.kw, G.p});
    grouped_gemm<T>(ex, g, nb, false, false, cog, P, kdim, A, {cols.get(), nb * P, P, kdim * nb * P}, T(0),
                    {y + i0 * G.cout * P, P, G.cout * P, cog * P});
  }
}

// out [n, cout, ho, wo] = conv_transpose2d(z [n, cz, hz, wz], w [cz, cout/g, kh, kw] with row stride lw), the
// adjoint of conv2d from out to z: G describes the conv2d whose input is out and whose output is z
// (G.cin = cout, G.h/w = out size, G.cout = cz, G.ho/wo = z size).
template <class T, class Exec>
void conv_transpose2d_driver(Exec& ex, const ConvGeometry& G, const T* z, const T* w, std::int64_t lw, T* out,
                             std::int64_t budget_elems) {
  const std::int64_t g = G.p.groups, czg = G.cout / g, cog = G.cin / g, kdim = cog * G.kh * G.kw;
  const std::int64_t Pz = G.out_pixels(), HW = G.in_pixels();
  const GemmOperand<const T> A{w, lw, 0, czg * lw};
  const GemmOperand<const T> B{z, Pz, G.cout * Pz, czg * Pz};
  if (G.identity_im2col()) {
    grouped_gemm<T>(ex, g, G.n, true, false, kdim, Pz, czg, A, B, T(0), {out, Pz, G.cin * Pz, cog * Pz});
    return;
  }
  const std::int64_t rows = G.cin * G.kh * G.kw;
  const std::int64_t nb_max = chunk_images(G.n, rows, Pz, budget_elems);
  auto cols = ex.template alloc<T>(rows * nb_max * Pz);
  for (std::int64_t i0 = 0; i0 < G.n; i0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, G.n - i0);
    GemmOperand<const T> Bi = B;
    Bi.ptr += i0 * G.cout * Pz;
    grouped_gemm<T>(ex, g, nb, true, false, kdim, Pz, czg, A, Bi, T(0), {cols.get(), nb * Pz, Pz, kdim * nb * Pz});
    ex.col2im(Col2imArgs<T>{cols.get(), out + i0 * G.cin * HW, nb, G.cin, G.h, G.w, G.ho, G.wo, G.kh, G.kw, G.p});
  }
}

// dw [cout, cin/g, kh, kw] (contiguous) = gradient of <gy, conv2d(x, w)> with respect to w.
template <class T, class Exec>
void conv2d_weight_grad_driver(Exec& ex, const ConvGeometry& G, const T* x, const T* gy, T* dw,
                               std::int64_t budget_elems) {
  const std::int64_t g = G.p.groups, cig = G.cin / g, cog = G.cout / g, kdim = cig * G.kh * G.kw;
  const std::int64_t P = G.out_pixels(), HW = G.in_pixels();
  const std::int64_t rows = G.cin * G.kh * G.kw;
  // Per image: a column block (rows x P) and, when nb > 1, a regrouped output gradient (cout x P).
  const std::int64_t nb_max = chunk_images(G.n, rows + G.cout, P, budget_elems);
  const bool direct = G.identity_im2col() && nb_max == 1;
  auto cols = ex.template alloc<T>(direct ? 0 : rows * nb_max * P);
  auto gbuf = ex.template alloc<T>(nb_max > 1 ? G.cout * nb_max * P : 0);
  for (std::int64_t i0 = 0; i0 < G.n; i0 += nb_max) {
    const std::int64_t nb = std::min(nb_max, G.n - i0);
    const T* xi = x + i0 * G.cin * HW;
    const T* gi = gy + i0 * G.cout * P;
    const T* colp = xi;
    if (!direct) {
      ex.im2col(Im2colArgs<T>{xi, cols.get(), nb, G.cin, G.h, G.w, G.ho, G.wo, G.kh, G.kw, G.p});
      colp = cols.get();
    }
    const T* gp = gi;
    if (nb > 1) {
      ex.permute(gi, gbuf.get(), nb, G.cout, P);
      gp = gbuf.get();
    }
    const T beta = i0 == 0 ? T(0) : T(1);
    ex.gemm(false, true, cog, kdim, nb * P, T(1), gp, nb * P, cog * nb * P, colp, nb * P, kdim * nb * P, beta, dw,
            kdim, cog * kdim, g);
  }
}

}  // namespace backend::cuda
ANYCOST_NAMESPACE_END
