// train_digits: trains a small convolutional classifier on synthetic handwritten-style digits with anycost's
// autodiff and Adam, and reports the held-out accuracy.
//
// Data: digits 0-9 from a built-in 5x7 bitmap font, drawn as round strokes into 28x28 images with random
// affine jitter (scale, aspect, rotation, shear, shift), stroke thickness, contrast and pixel noise. Each
// image is drawn from its own counter-based random stream (seed, set, index), so a seed reproduces the data
// exactly; the train and test sets use different streams.
//
// Network (the shape of StyleGAN2's discriminator, equalised learning rate throughout):
//   conv3x3 1->16, bias + leaky ReLU (x sqrt 2)                      28x28
//   [blur (upfirdn2d, [1,3,3,1]) -> conv3x3 stride 2, bias + lrelu] x3  16->32 (14x14), 32->64 (7x7), 64->64 (3x3)
//   linear 576 -> 10, softmax cross-entropy (log-sum-exp with a detached max shift)
// Adam (optim/adam.hpp), learning rate held for 70% of the steps, then decayed linearly.
//
// Example:  train_digits --steps 400 --batch 32 --out digits.png
// Exit status: 0 on success, 1 on errors, 2 for bad flags, 3 if the training loss did not fall.
#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <anycost/anycost.hpp>
#include <anycost/io/image_grid.hpp>
#include <anycost/optim.hpp>

using namespace anycost;

namespace {

constexpr int image_size = 28;
constexpr int num_classes = 10;

// ---- flags -------------------------------------------------------------------------------------------
struct Flags {
  int steps = 400;
  int batch = 32;
  double lr = 0.02;
  std::uint64_t seed = 1;
  int threads = 0;  // 0: library default
  std::string out;
  int train_size = 12000;
  int test_size = 2000;
  int log_every = 0;  // 0: about 20 lines per run
};

const char* usage =
    "usage: train_digits [flags]\n"
    "\n"
    "Trains a small convolutional network on synthetic 28x28 digits (rendered from a built-in font with\n"
    "random affine jitter, stroke width and noise) and reports the held-out test accuracy.\n"
    "\n"
    "flags:\n"
    "  --steps N        training steps (default 400)\n"
    "  --batch N        images per step (default 32)\n"
    "  --lr X           Adam learning rate (default 0.02; equalised learning rate, so weights are O(1)),\n"
    "                   held for the first 70% of the steps, then decayed linearly to 0\n"
    "  --seed N         seed for the data, initialisation and shuffling (default 1)\n"
    "  --threads N      CPU threads (default: all cores, or 1 when the machine is already busy, i.e. its\n"
    "                   1-minute load average is at least the number of cores)\n"
    "  --out PATH       write a PNG grid of test digits: green border = correct, red = wrong, with the\n"
    "                   predicted digit drawn at the right of each tile\n"
    "  --train-size N   training images (default 12000)\n"
    "  --test-size N    held-out test images (default 2000)\n"
    "  --log-every N    print progress every N steps (default: about 20 lines)\n"
    "  --help           show this text\n"
    "\n"
    "Exit status: 0 on success, 1 on errors, 2 for bad flags, 3 if the training loss did not fall.\n"
    "OpenMP threads that share busy cores wait on each other at every parallel loop, which can slow a run\n"
    "down many times over; hence the default of one thread on a busy machine.\n";

struct FlagError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

long long parse_int(const std::string& flag, const std::string& v, long long lo, long long hi) {
  std::size_t used = 0;
  long long x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty())
    throw FlagError(flag + " expects an integer, got '" + v + "'");
  if (x < lo || x > hi)
    throw FlagError(flag + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " + v);
  return x;
}

double parse_positive(const std::string& flag, const std::string& v) {
  std::size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || v.empty()) throw FlagError(flag + " expects a number, got '" + v + "'");
  if (!(x > 0) || !std::isfinite(x)) throw FlagError(flag + " must be a positive number, got " + v);
  return x;
}

// Returns false when --help was asked for.
bool parse_flags(int argc, char** argv, Flags& f) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i], value;
    if (arg == "--help" || arg == "-h") return false;
    if (arg.rfind("--", 0) != 0) throw FlagError("unexpected argument '" + arg + "'");
    const auto eq = arg.find('=');
    bool has_value = false;
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
      has_value = true;
    }
    static const std::map<std::string, int> known = {{"--steps", 0},      {"--batch", 0},     {"--lr", 0},
                                                     {"--seed", 0},       {"--threads", 0},   {"--out", 0},
                                                     {"--train-size", 0}, {"--test-size", 0}, {"--log-every", 0}};
    if (!known.count(arg)) throw FlagError("unknown flag '" + arg + "'");
    if (!has_value) {
      if (i + 1 >= argc) throw FlagError(arg + " needs a value");
      value = argv[++i];
    }
    if (arg == "--steps") f.steps = static_cast<int>(parse_int(arg, value, 1, 100000000));
    else if (arg == "--batch") f.batch = static_cast<int>(parse_int(arg, value, 1, 65536));
    else if (arg == "--lr") f.lr = parse_positive(arg, value);
    else if (arg == "--seed") f.seed = static_cast<std::uint64_t>(parse_int(arg, value, 0, INT64_MAX));
    else if (arg == "--threads") f.threads = static_cast<int>(parse_int(arg, value, 1, 1024));
    else if (arg == "--out") {
      if (value.empty()) throw FlagError("--out needs a file name");
      f.out = value;
    } else if (arg == "--train-size") f.train_size = static_cast<int>(parse_int(arg, value, 10, 10000000));
    else if (arg == "--test-size") f.test_size = static_cast<int>(parse_int(arg, value, 10, 10000000));
    else if (arg == "--log-every") f.log_every = static_cast<int>(parse_int(arg, value, 1, 100000000));
  }
  return true;
}

// ---- the font and the renderer ------------------------------------------------------------------------
// 5x7 glyphs, '#' = ink.
constexpr std::array<std::array<const char*, 7>, 10> font = {{
    {" ### ", "#   #", "#  ##", "# # #", "##  #", "#   #", " ### "},
    {"  #  ", " ##  ", "  #  ", "  #  ", "  #  ", "  #  ", " ### "},
    {" ### ", "#   #", "    #", "   # ", "  #  ", " #   ", "#####"},
    {"#####", "   # ", "  #  ", "   # ", "    #", "#   #", " ### "},
    {"   # ", "  ## ", " # # ", "#  # ", "#####", "   # ", "   # "},
    {"#####", "#    ", "#### ", "    #", "    #", "#   #", " ### "},
    {"  ## ", " #   ", "#    ", "#### ", "#   #", "#   #", " ### "},
    {"#####", "    #", "   # ", "  #  ", " #   ", " #   ", " #   "},
    {" ### ", "#   #", "#   #", " ### ", "#   #", "#   #", " ### "},
    {" ### ", "#   #", "#   #", " ####", "    #", "   # ", " ##  "},
}};

bool ink(int digit, int row, int col) {
  return row >= 0 && row < 7 && col >= 0 && col < 5 && font[digit][row][col] == '#';
}

struct Segment {
  double x0, y0, x1, y1;  // glyph cell coordinates (column, row)
};

// Strokes of a glyph: segments between neighbouring ink cells (diagonals only where no corner cell
// already joins them), and a dot for an isolated cell.
std::vector<Segment> glyph_strokes(int digit) {
  std::vector<Segment> s;
  for (int r = 0; r < 7; ++r)
    for (int c = 0; c < 5; ++c) {
      if (!ink(digit, r, c)) continue;
      // Links to the neighbour at (r + dr, c + dc); a diagonal only when neither corner cell is ink.
      auto linked = [&](int dr, int dc) {
        if (!ink(digit, r + dr, c + dc)) return false;
        return dr == 0 || dc == 0 || (!ink(digit, r + dr, c) && !ink(digit, r, c + dc));
      };
      bool joined = false;
      for (const auto& [dr, dc] : {std::pair{0, 1}, std::pair{1, 0}, std::pair{1, 1}, std::pair{1, -1}})
        if (linked(dr, dc)) {
          s.push_back({double(c), double(r), double(c + dc), double(r + dr)});
          joined = true;
        }
      for (const auto& [dr, dc] : {std::pair{0, -1}, std::pair{-1, 0}, std::pair{-1, -1}, std::pair{-1, 1}})
        joined = joined || linked(dr, dc);
      if (!joined) s.push_back({double(c), double(r), double(c), double(r)});  // an isolated dot
    }
  return s;
}

double segment_distance(double px, double py, const Segment& s) {
  const double dx = s.x1 - s.x0, dy = s.y1 - s.y0;
  const double len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? ((px - s.x0) * dx + (py - s.y0) * dy) / len2 : 0.0;
  t = std::clamp(t, 0.0, 1.0);
  const double ex = s.x0 + t * dx - px, ey = s.y0 + t * dy - py;
  return std::sqrt(ex * ex + ey * ey);
}

std::uint64_t mix64(std::uint64_t x) {  // splitmix64 finaliser: decorrelates neighbouring stream ids
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Draws digit `label` into out[image_size * image_size] in [-1, 1] with jitter from rng.
void render_digit(int label, Rng& rng, float* out) {
  static const std::array<std::vector<Segment>, 10> strokes = [] {
    std::array<std::vector<Segment>, 10> a;
    for (int d = 0; d < 10; ++d) a[d] = glyph_strokes(d);
    return a;
  }();
  auto uniform = [&](double lo, double hi) { return lo + (hi - lo) * rng.uniform(); };
  const double scale = uniform(2.4, 3.3);  // pixels per glyph cell
  const double sx = scale * uniform(0.8, 1.15), sy = scale * uniform(0.9, 1.1);
  const double angle = uniform(-0.22, 0.22), shear = uniform(-0.35, 0.35);
  const double tx = uniform(-2.5, 2.5), ty = uniform(-2.0, 2.0);
  const double radius = scale * uniform(0.28, 0.55);  // stroke half-width in pixels
  const double bg = uniform(-1.0, -0.75), fg = uniform(0.55, 1.0), noise = uniform(0.0, 0.18);
  // Glyph cell (u, v) -> pixel: centre, scale, shear, rotate, shift.
  const double ca = std::cos(angle), sa = std::sin(angle);
  auto to_pixel = [&](double u, double v, double& x, double& y) {
    const double a = (u - 2.0) * sx, b = (v - 3.0) * sy;
    const double sh = a + shear * b;
    x = 13.5 + tx + ca * sh - sa * b;
    y = 13.5 + ty + sa * sh + ca * b;
  };
  std::vector<Segment> segs;
  for (const Segment& s : strokes[label]) {
    Segment p;
    to_pixel(s.x0, s.y0, p.x0, p.y0);
    to_pixel(s.x1, s.y1, p.x1, p.y1);
    segs.push_back(p);
  }
  // Distance from each pixel centre to the nearest stroke, visiting only the pixels near each segment.
  std::array<double, image_size * image_size> dist;
  dist.fill(1e9);
  const double reach = radius + 1.0;
  for (const Segment& s : segs) {
    const int x0 = std::max(0, static_cast<int>(std::floor(std::min(s.x0, s.x1) - reach)));
    const int x1 = std::min(image_size - 1, static_cast<int>(std::ceil(std::max(s.x0, s.x1) + reach)));
    const int y0 = std::max(0, static_cast<int>(std::floor(std::min(s.y0, s.y1) - reach)));
    const int y1 = std::min(image_size - 1, static_cast<int>(std::ceil(std::max(s.y0, s.y1) + reach)));
    for (int y = y0; y <= y1; ++y)
      for (int x = x0; x <= x1; ++x) {
        double& d = dist[y * image_size + x];
        d = std::min(d, segment_distance(x + 0.5, y + 0.5, s));
      }
  }
  const Tensor n = randn({image_size * image_size}, rng);
  const float* nz = n.data<float>();
  for (int i = 0; i < image_size * image_size; ++i) {
    const double coverage = std::clamp(radius - dist[i] + 0.5, 0.0, 1.0);  // one-pixel antialiased edge
    const double v = bg + (fg - bg) * coverage + noise * nz[i];
    out[i] = static_cast<float>(std::clamp(v, -1.0, 1.0));
  }
}

struct Dataset {
  Tensor images;  // [N, 1, 28, 28] float32 in [-1, 1]
  std::vector<int> labels;
};

// Image i comes from stream (seed, set, i) alone: any subset or order reproduces the same pixels.
Dataset make_dataset(int count, std::uint64_t seed, std::uint64_t set) {
  Dataset d;
  d.images = Tensor::empty({count, 1, image_size, image_size});
  d.labels.resize(count);
  float* px = d.images.data<float>();
  parallel_for(count, 16, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      Rng rng(mix64(mix64(seed) ^ (set << 40) ^ static_cast<std::uint64_t>(i)));
      const int label = static_cast<int>(rng.uniform_int(num_classes));
      d.labels[i] = label;
      render_digit(label, rng, px + i * image_size * image_size);
    }
  });
  return d;
}

// ---- the network ---------------------------------------------------------------------------------------
struct ConvLayer {
  Var weight, bias;
  int stride;
  double scale;  // equalised learning rate: weights are N(0, 1), scaled by 1/sqrt(fan_in) at run time
};

struct Net {
  std::vector<ConvLayer> convs;
  Var fc_weight, fc_bias;
  Tensor blur;  // [4, 4] from [1, 3, 3, 1], normalised

  explicit Net(Rng& rng) {
    const int channels[] = {1, 16, 32, 64, 64};
    for (int i = 0; i < 4; ++i) {
      const int cin = channels[i], cout = channels[i + 1];
      convs.push_back({Var(randn({cout, cin, 3, 3}, rng), true), Var(Tensor::zeros({cout}), true), i == 0 ? 1 : 2,
                       1.0 / std::sqrt(cin * 9.0)});
    }
    fc_weight = Var(randn({num_classes, 64 * 3 * 3}, rng), true);
    fc_bias = Var(Tensor::zeros({num_classes}), true);
    const double k1[4] = {1, 3, 3, 1};
    std::vector<float> k(16);
    for (int a = 0; a < 4; ++a)
      for (int b = 0; b < 4; ++b) k[a * 4 + b] = static_cast<float>(k1[a] * k1[b] / 64.0);
    blur = Tensor::from_vector(k, {4, 4});
  }

  optim::NamedParameters parameters() const {
    optim::NamedParameters ps;
    for (std::size_t i = 0; i < convs.size(); ++i) {
      ps.push_back({"convs." + std::to_string(i) + ".weight", convs[i].weight});
      ps.push_back({"convs." + std::to_string(i) + ".bias", convs[i].bias});
    }
    ps.push_back({"fc.weight", fc_weight});
    ps.push_back({"fc.bias", fc_bias});
    return ps;
  }

  // x [N, 1, 28, 28] -> logits [N, 10].
  Var forward(const Var& input) const {
    Var x = input;
    for (const ConvLayer& c : convs) {
      Conv2dParams p;
      if (c.stride == 2) {
        // StyleGAN2's downsampling: blur with pads (2, 2), then a 3x3 stride-2 convolution without padding.
        x = upfirdn2d(x, blur, UpFirDnParams::make(1, 1, 2, 2));
        p.stride_h = p.stride_w = 2;
      } else {
        p.pad_h = p.pad_w = 1;
      }
      Var y = conv2d(x, c.weight * c.scale, p);
      x = lrelu(y + reshape(c.bias, {1, -1, 1, 1}), 0.2) * std::sqrt(2.0);
    }
    x = reshape(x, {x.size(0), -1});
    return linear(x, fc_weight * (1.0 / std::sqrt(static_cast<double>(fc_weight.size(1)))), fc_bias);
  }
};

// Mean softmax cross-entropy. log_softmax(z) = (z - m) - log(sum(exp(z - m))) with m the row maximum,
// taken as a constant: the shift cancels exactly in value and gradient, and keeps exp() from overflowing.
Var cross_entropy(const Var& logits, const std::vector<int>& labels) {
  const std::int64_t n = logits.size(0), k = logits.size(1);
  const Tensor z = logits.data().to(Device::cpu()).contiguous();
  std::vector<float> row_max(n), onehot(n * k, 0.0f);
  for (std::int64_t i = 0; i < n; ++i) {
    const float* r = z.data<float>() + i * k;
    row_max[i] = *std::max_element(r, r + k);
    onehot[i * k + labels[i]] = 1.0f;
  }
  const Var m(Tensor::from_vector(row_max, {n, 1}).to(logits.device()));
  const Var target(Tensor::from_vector(onehot, {n, k}).to(logits.device()));
  const Var shifted = logits - m;
  const Var lse = log(sum(exp(shifted), {1}, true));
  return Var(sum(target * (lse - shifted)) * (1.0 / static_cast<double>(n)));
}

std::vector<int> argmax_rows(const Tensor& logits) {
  const Tensor z = logits.to(Device::cpu()).contiguous();
  std::vector<int> out(z.size(0));
  for (std::int64_t i = 0; i < z.size(0); ++i) {
    const float* r = z.data<float>() + i * z.size(1);
    out[i] = static_cast<int>(std::max_element(r, r + z.size(1)) - r);
  }
  return out;
}

Tensor gather(const Tensor& images, const std::vector<std::int64_t>& idx) {
  const std::int64_t per = image_size * image_size;
  Tensor out = Tensor::empty({static_cast<std::int64_t>(idx.size()), 1, image_size, image_size});
  for (std::size_t i = 0; i < idx.size(); ++i)
    std::memcpy(out.data<float>() + i * per, images.data<float>() + idx[i] * per, per * sizeof(float));
  return out;
}

std::vector<int> predict(const Net& net, const Tensor& images) {
  NoGradGuard no_grad;
  std::vector<int> out;
  const std::int64_t n = images.size(0), chunk = 500;
  for (std::int64_t b = 0; b < n; b += chunk) {
    const auto p = argmax_rows(net.forward(Var(images.narrow(0, b, std::min(chunk, n - b)))).data());
    out.insert(out.end(), p.begin(), p.end());
  }
  return out;
}

// Tiles: the digit in grey with a 2-pixel border (green correct, red wrong) and the predicted digit drawn
// from the font, 2 pixels per cell, in a strip on the right.
Tensor result_tiles(const Dataset& d, const std::vector<int>& predicted, int count) {
  const int h = image_size + 4, w = image_size + 4 + 12;
  Tensor out = Tensor::full({count, 3, h, w}, -1.0);
  float* o = out.data<float>();
  const float* src = d.images.data<float>();
  for (int i = 0; i < count; ++i) {
    const bool right = predicted[i] == d.labels[i];
    const float border[3] = {right ? -1.0f : 1.0f, right ? 0.8f : -1.0f, -1.0f};
    for (int c = 0; c < 3; ++c) {
      float* t = o + (static_cast<std::int64_t>(i) * 3 + c) * h * w;
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < image_size + 4; ++x) {
          const bool edge = y < 2 || y >= h - 2 || x < 2 || x >= image_size + 2;
          t[y * w + x] = edge ? border[c] : src[(static_cast<std::int64_t>(i) * image_size + y - 2) * image_size + x - 2];
        }
      for (int r = 0; r < 7; ++r)
        for (int col = 0; col < 5; ++col)
          if (ink(predicted[i], r, col))
            for (int a = 0; a < 2; ++a)
              for (int b = 0; b < 2; ++b) {
                const float yellow[3] = {1.0f, 0.9f, -1.0f};
                t[(9 + 2 * r + a) * w + image_size + 5 + 2 * col + b] = yellow[c];
              }
    }
  }
  return out;
}

std::string format_duration(double seconds) {
  const long s = static_cast<long>(std::lround(std::max(0.0, seconds)));
  std::ostringstream os;
  os << s / 60 << ':' << (s % 60 < 10 ? "0" : "") << s % 60;
  return os.str();
}

int run(const Flags& f) {
  using clock = std::chrono::steady_clock;
  std::string thread_note;
  if (f.threads > 0) {
    set_num_threads(f.threads);
  } else {
    double load = 0;
    if (get_num_threads() > 1 && getloadavg(&load, 1) == 1 && load >= get_num_threads()) {
      char note[128];
      std::snprintf(note, sizeof note, " (load average %.1f on %d cores: one thread; see --help)", load,
                    get_num_threads());
      thread_note = note;
      set_num_threads(1);
    }
  }
  const auto t_start = clock::now();
  std::printf("train_digits: seed %llu, %d steps of %d images, Adam lr %g, %d thread%s%s\n",
              static_cast<unsigned long long>(f.seed), f.steps, f.batch, f.lr, get_num_threads(),
              get_num_threads() == 1 ? "" : "s", thread_note.c_str());

  const Dataset train = make_dataset(f.train_size, f.seed, 1);
  const Dataset test = make_dataset(f.test_size, f.seed, 2);
  std::printf("data: %d training and %d test images rendered in %.2f s\n", f.train_size, f.test_size,
              std::chrono::duration<double>(clock::now() - t_start).count());

  Rng rng(mix64(f.seed) ^ 3);
  Net net(rng);
  const optim::NamedParameters params = net.parameters();
  std::int64_t count = 0;
  for (const auto& p : params) count += p.var.numel();
  std::printf("network: %lld parameters\n", static_cast<long long>(count));
  optim::Adam opt(params, optim::AdamOptions{.lr = f.lr});

  std::vector<std::int64_t> order(f.train_size);
  std::size_t cursor = order.size();
  auto next_batch = [&] {
    std::vector<std::int64_t> idx;
    while (static_cast<int>(idx.size()) < f.batch) {
      if (cursor == order.size()) {  // a new epoch: reshuffle (Fisher-Yates)
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
        for (std::size_t i = order.size() - 1; i > 0; --i)
          std::swap(order[i], order[rng.uniform_int(static_cast<std::uint32_t>(i + 1))]);
        cursor = 0;
      }
      idx.push_back(order[cursor++]);
    }
    return idx;
  };

  const int log_every = f.log_every > 0 ? f.log_every : std::max(1, f.steps / 20);
  // The loss is compared over windows at both ends of the run.
  const int window = std::max(1, std::min(log_every, f.steps / 4));
  std::vector<double> losses;
  losses.reserve(f.steps);
  const auto t_train = clock::now();
  double interval_loss = 0;
  int interval_steps = 0;
  auto t_interval = clock::now();
  const int decay_from = static_cast<int>(0.7 * f.steps);
  for (int step = 1; step <= f.steps; ++step) {
    if (step > decay_from) opt.set_lr(f.lr * (f.steps - step + 1) / (f.steps - decay_from + 1.0));
    const std::vector<std::int64_t> idx = next_batch();
    std::vector<int> labels;
    for (auto i : idx) labels.push_back(train.labels[i]);
    const Var x(gather(train.images, idx));
    const Var loss = cross_entropy(net.forward(x), labels);
    opt.zero_grad();
    backward(loss);
    opt.step();
    const double l = loss.item();
    if (!std::isfinite(l)) {
      std::fprintf(stderr, "train_digits: loss became %g at step %d; try a smaller --lr\n", l, step);
      return 3;
    }
    losses.push_back(l);
    interval_loss += l;
    ++interval_steps;
    if (step % log_every == 0 || step == f.steps) {
      const auto now = clock::now();
      const double elapsed = std::chrono::duration<double>(now - t_train).count();
      const double rate = interval_steps * f.batch / std::chrono::duration<double>(now - t_interval).count();
      const double eta = elapsed / step * (f.steps - step);
      std::printf("step %*d/%d | %7.1f img/s | elapsed %s | ETA %s | loss %.4f\n", static_cast<int>(std::to_string(f.steps).size()),
                  step, f.steps, rate, format_duration(elapsed).c_str(), format_duration(eta).c_str(),
                  interval_loss / interval_steps);
      std::fflush(stdout);
      interval_loss = 0;
      interval_steps = 0;
      t_interval = now;
    }
  }
  const double train_seconds = std::chrono::duration<double>(clock::now() - t_train).count();

  double first = 0, last = 0;
  for (int i = 0; i < window; ++i) {
    first += losses[i];
    last += losses[losses.size() - 1 - i];
  }
  first /= window;
  last /= window;

  const std::vector<int> predicted = predict(net, test.images);
  int correct = 0;
  std::array<int, num_classes> per_total{}, per_correct{};
  for (int i = 0; i < f.test_size; ++i) {
    ++per_total[test.labels[i]];
    if (predicted[i] == test.labels[i]) ++correct, ++per_correct[test.labels[i]];
  }
  std::printf("training: %.1f s (%.1f img/s); loss %.4f (mean of the first %d steps) -> %.4f (last %d)\n",
              train_seconds, f.steps * static_cast<double>(f.batch) / train_seconds, first, window, last, window);
  std::printf("per-class test accuracy:");
  for (int c = 0; c < num_classes; ++c)
    std::printf(" %d:%.0f%%", c, per_total[c] ? 100.0 * per_correct[c] / per_total[c] : 0.0);
  std::printf("\ntest accuracy: %.2f%% (%d/%d)\n", 100.0 * correct / f.test_size, correct, f.test_size);

  if (!f.out.empty()) {
    const int shown = std::min(f.test_size, 100);
    io::save_image_grid(f.out, result_tiles(test, predicted, shown), 10, 2);
    std::printf("wrote %s (%d test digits)\n", f.out.c_str(), shown);
  }
  std::printf("total time %.1f s\n", std::chrono::duration<double>(clock::now() - t_start).count());
  if (!(last < first)) {
    std::fprintf(stderr, "train_digits: the training loss did not fall (%.4f -> %.4f)\n", first, last);
    return 3;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  try {
    if (!parse_flags(argc, argv, flags)) {
      std::fputs(usage, stdout);
      return 0;
    }
  } catch (const FlagError& e) {
    std::fprintf(stderr, "train_digits: %s (see --help)\n", e.what());
    return 2;
  }
  try {
    return run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_digits: error: %s\n", e.what());
    return 1;
  }
}
