// The separable, polyphase CPU upfirdn2d (backend/cpu/upfirdn2d.hpp) against the direct 2-D loop, on both
// instruction-set copies: StyleGAN2's blur in its three uses (up 2, plain blur, down 2), other rank-1
// kernels, asymmetric and negative (cropping) pads, up or down 3, odd sizes, batch 1 and > 1, float and
// double; non-separable kernels must take the direct loop.
#include <cmath>
#include <vector>

#include "support/gradcheck.hpp"

using namespace anycost;
namespace cpu = anycost::backend::cpu;
using cpu::simd::Isa;

namespace {

template <class T>
Tensor outer(const std::vector<double>& a, const std::vector<double>& b, double scale) {
  std::vector<T> k;
  for (double x : a)
    for (double y : b) k.push_back(static_cast<T>(x * y * scale));
  return Tensor::from_vector(k, {static_cast<std::int64_t>(a.size()), static_cast<std::int64_t>(b.size())});
}

template <class T>
void check(int n, int c, int h, int w, const Tensor& k, const UpFirDnParams& p, Isa isa) {
  Rng rng(static_cast<std::uint64_t>(n * 1000 + h * 10 + w));
  const Tensor x = randn({n, c, h, w}, rng, dtype_of<T>());
  const std::int64_t ho = backend::upfirdn_out_size(h, static_cast<int>(k.size(0)), p.up, p.down, p.pad_y0, p.pad_y1);
  const std::int64_t wo = backend::upfirdn_out_size(w, static_cast<int>(k.size(1)), p.up, p.down, p.pad_x0, p.pad_x1);
  Tensor want = Tensor::empty({n, c, ho, wo}, dtype_of<T>()), got = Tensor::empty({n, c, ho, wo}, dtype_of<T>());
  cpu::upfirdn2d_direct<T>(x, k, want, p);
  cpu::upfirdn2d<T>(x, k, got, p, isa);
  const auto a = got.to_vector<double>(), b = want.to_vector<double>();
  double err = 0, scale = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    err = std::max(err, std::abs(a[i] - b[i]));
    scale = std::max(scale, std::abs(b[i]));
  }
  INFO(n << "x" << c << "x" << h << "x" << w << " kernel " << k.shape() << " up " << p.up << " down " << p.down
         << " pads " << p.pad_y0 << "," << p.pad_y1 << "," << p.pad_x0 << "," << p.pad_x1 << " isa "
         << cpu::simd::isa_name(isa) << " T" << sizeof(T));
  CHECK(err <= (sizeof(T) == 4 ? 1e-6 : 1e-14) * (scale + 1));
}

}  // namespace

TEST_CASE("separable upfirdn2d matches the direct loop", "[upfirdn2d][kernels]") {
  const std::vector<double> blur = {1, 3, 3, 1}, odd = {1, -2, 0.5}, two = {0.25, 0.75};
  for (Isa isa : cpu::simd::supported_isas()) {
    for (int n : {1, 3}) {
      // StyleGAN2: ToRGB skip upsample, the blur after the up-convolution, the discriminator's downsample.
      check<float>(n, 3, 17, 23, outer<float>(blur, blur, 4.0 / 64), UpFirDnParams::make(2, 1, 2, 1), isa);
      check<float>(n, 5, 19, 19, outer<float>(blur, blur, 4.0 / 64), UpFirDnParams::make(1, 1, 1, 1), isa);
      check<float>(n, 4, 20, 31, outer<float>(blur, blur, 1.0 / 64), UpFirDnParams::make(1, 2, 1, 1), isa);
      check<double>(n, 3, 17, 23, outer<double>(blur, blur, 4.0 / 64), UpFirDnParams::make(2, 1, 2, 1), isa);
      check<double>(n, 2, 9, 13, outer<double>(blur, blur, 1.0 / 64), UpFirDnParams::make(1, 2, 2, 2), isa);
    }
    // Other rank-1 kernels (negative taps, odd and non-square sizes), asymmetric and cropping pads.
    check<double>(2, 2, 11, 7, outer<double>(odd, odd, 1.0), UpFirDnParams{2, 1, 1, 0, -1, 2}, isa);
    check<double>(1, 2, 12, 21, outer<double>(odd, two, 1.0), UpFirDnParams{1, 3, 1, 0, -1, 2}, isa);
    check<double>(2, 1, 8, 9, outer<double>(two, odd, 2.0), UpFirDnParams{3, 1, 3, 0, 1, 2}, isa);
    check<float>(1, 2, 1, 1, outer<float>(blur, blur, 4.0 / 64), UpFirDnParams::make(2, 1, 2, 1), isa);
    check<float>(1, 1, 40, 70, outer<float>(two, blur, 1.0), UpFirDnParams{1, 1, 0, 3, 2, -1}, isa);
  }
}

TEST_CASE("upfirdn2d keeps non-separable kernels and up+down on the direct loop", "[upfirdn2d][kernels]") {
  Rng rng(4);
  const Tensor k = randn({3, 2}, rng, DType::float64);  // rank 2 (almost surely)
  std::vector<double> u, v;
  CHECK_FALSE(cpu::detail::split_rank1(k.data<double>(), 3, 2, u, v));
  check<double>(2, 2, 9, 8, k, UpFirDnParams{2, 1, 1, 0, 1, 1}, cpu::simd::active_isa());
  const std::vector<double> blur = {1, 3, 3, 1};
  check<double>(1, 2, 9, 8, outer<double>(blur, blur, 1.0 / 16), UpFirDnParams::make(2, 2, 1, 1),
                cpu::simd::active_isa());
}
