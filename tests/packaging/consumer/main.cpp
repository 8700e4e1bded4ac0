// A host project built against the installed package: the README's two snippets, checked.
// Exits non-zero on a wrong answer.
#include <anycost/anycost.hpp>

#include <cmath>
#include <cstdio>
#include <filesystem>

using namespace anycost;

namespace {
bool near(float a, float b) { return std::fabs(a - b) <= 1e-4f * (1.0f + std::fabs(b)); }
}  // namespace

int main(int argc, char** argv) {
  const std::filesystem::path dir = argc > 1 ? argv[1] : ".";

  // README, autodiff: y = sum(sqrt2 lrelu(x^3)), its gradient, and the gradient of |gradient|^2.
  Var x(Tensor::from_vector<float>({-1.0f, 2.0f}, {2}), /*requires_grad=*/true);
  Var y = sum(lrelu(x * x * x, 0.2) * std::sqrt(2.0));              // one fused loop
  std::vector<Var> gx = grad({y}, {x}, {}, {.create_graph = true});  // differentiable
  backward(sum(square(gx[0])));                                     // a gradient of a gradient
  const auto g1 = gx[0].data().to_vector<float>(), g2 = x.grad().data().to_vector<float>();
  // dy/dx = c 3x^2 with c = 0.2 sqrt2 (x < 0) or sqrt2 (x > 0); d/dx (dy/dx)^2 = 36 c^2 x^3.
  const bool grads_ok = near(g1[0], 0.6f * std::sqrt(2.0f)) && near(g1[1], 12.0f * std::sqrt(2.0f)) &&
                        near(g2[0], -36.0f * 0.08f) && near(g2[1], 36.0f * 2.0f * 8.0f);

  // A small generator saved as a checkpoint, to load as the README does.
  models::save_generator(dir / "generator.safetensors",
                         models::Generator(models::GeneratorConfig{.resolution = 32, .style_dim = 16, .n_mlp = 2,
                                                                   .channel_max = 32},
                                           /*seed=*/1));
  // README, the generator.
  models::Generator g = models::load_generator(dir / "generator.safetensors");  // architecture from the names
  models::SubnetConfig preview = g.channel_table().uniform(0.25, 16);          // a validated value, not state
  NoGradGuard inference;
  Rng rng(7);
  Var z(randn({4, g.style_dim()}, rng));
  Tensor img = g.generate(z, preview).image.data();  // [4, 3, 16, 16], about [-1, 1]
  io::save_image_grid(dir / "preview.png", img);
  const bool images_ok = img.shape() == Shape{4, 3, 16, 16} && std::filesystem::exists(dir / "preview.png");

  std::printf("anycost %d.%d.%d consumer: grad = [%g, %g], grad of |grad|^2 = [%g, %g], images %s\n", version_major,
              version_minor, version_patch, g1[0], g1[1], g2[0], g2[1], images_ok ? "ok" : "WRONG");
  return grads_ok && images_ok ? 0 : 1;
}
