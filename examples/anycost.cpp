// anycost: the command-line tool. Subcommands:
//
//   anycost generate [flags]   images from a generator at any width and resolution (see usage below)
//   anycost train [flags]      stage-wise Anycost GAN training on an image folder (anycost/train/trainer.hpp)
//
// Without --model, `generate` runs a built-in *untrained* generator (seeded random weights: 64x64,
// style_dim 256, n_mlp 8, channel_max 256), so `anycost generate --out sample.png` works out of the box and
// shows the pipeline (and its speed); the images are abstract patterns, not faces.
//
// Exit status: 0 on success, 1 on errors (files, formats, devices), 2 for bad flags.
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <anycost/anycost.hpp>
#include <anycost/io/image_grid.hpp>
#include <anycost/io/safetensors.hpp>
#include <anycost/models.hpp>
#include <anycost/train.hpp>

using namespace anycost;
using namespace anycost::models;

namespace {

const char* top_usage =
    "usage: anycost <command> [flags]\n"
    "\n"
    "commands:\n"
    "  generate    generate images with an Anycost generator at any width and resolution\n"
    "  train       train an Anycost generator on a folder of images (stage-wise, resumable)\n"
    "\n"
    "Run 'anycost <command> --help' for the flags of a command.\n";

const char* generate_usage =
    "usage: anycost generate [flags]\n"
    "\n"
    "Generates images with an Anycost GAN generator, full or any sub-network of it, and writes them as a PNG\n"
    "grid and/or as safetensors. Prints the configuration, its MACs per image (the paper's torchprofile\n"
    "convention and the true multiply-add count) and the time per image.\n"
    "\n"
    "model:\n"
    "  --model FILE            generator checkpoint (.safetensors, e.g. from tools/convert_checkpoint.py);\n"
    "                          default: a built-in UNTRAINED generator with seeded random weights (64x64,\n"
    "                          style_dim 256, n_mlp 8, channel_max 256)\n"
    "  --device cpu|cuda       where to run (default cpu)\n"
    "  --threads K             CPU threads (default: all)\n"
    "latents:\n"
    "  --seed S                draw z from this seed (default 0)\n"
    "  --n N                   number of images (default 16)\n"
    "  --latents FILE          a .safetensors file with one tensor: z [N, style_dim], w [N, style_dim] or\n"
    "                          wplus [N, n_style, style_dim] (replaces --seed/--n)\n"
    "  --truncation T          truncate toward the mean w: w_avg + T (w - w_avg) (default 1: none)\n"
    "  --w-avg FILE            the mean w (tensor w_avg [style_dim]); default: estimated from 4096 seeded z\n"
    "  --noise fixed|random    the model's fixed noise maps, or fresh ones from --seed (default fixed)\n"
    "sub-network:\n"
    "  --ratio R               uniform channel ratio in (0, 1], e.g. 0.25 0.5 0.75 (default 1)\n"
    "  --channels c1,c2,...    per-layer widths: ConstantInput, conv1, convs.0, convs.1, ... (one per W+ row)\n"
    "  --res R                 output resolution, a power of two up to the model's (default: the model's)\n"
    "output:\n"
    "  --out FILE              FILE.png: an image grid; FILE.safetensors: tensor `images` (float32\n"
    "                          [N, 3, H, W], the raw generator output in about [-1, 1]); may be repeated\n"
    "  --all-res               also every lower resolution: tensors images_4, images_8, ..., and PNG grids\n"
    "                          FILE_4.png, FILE_8.png, ...\n"
    "  --batch B               images per forward pass (default 1)\n"
    "  --path automatic|weights|activations   how styles modulate the convolutions (default automatic)\n"
    "  --help                  this text\n"
    "\n"
    "examples:\n"
    "  anycost generate --out sample.png\n"
    "  anycost generate --model generator.safetensors --ratio 0.5 --res 256 --n 4 --out preview.png\n"
    "  anycost generate --model generator.safetensors --channels 512,512,...,16 --truncation 0.7 \\\n"
    "                   --out faces.png --out faces.safetensors\n";

// Bad flags: the message is printed with a pointer to --help, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct GenerateFlags {
  std::string model;
  Device device = Device::cpu();
  int threads = 0;
  std::uint64_t seed = 0;
  std::optional<std::int64_t> n;
  std::string latents;
  double truncation = 1.0;
  std::string w_avg;
  NoiseMode noise = NoiseMode::fixed;
  std::optional<double> ratio;
  std::vector<int> channels;
  std::optional<int> res;
  std::vector<std::string> outs;
  bool all_res = false;
  std::int64_t batch = 1;
  nn::ModulationPath path = nn::ModulationPath::automatic;
};

template <class T>
T parse_number(const std::string& flag, const std::string& v) {
  std::istringstream is(v);
  T x{};
  is >> x;
  if (!is || !is.eof()) throw UsageError(flag + ": '" + v + "' is not a valid number");
  return x;
}

GenerateFlags parse_generate(const std::vector<std::string>& args) {
  GenerateFlags f;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << generate_usage;
      std::exit(0);
    } else if (a == "--model") {
      f.model = value();
    } else if (a == "--device") {
      const std::string v = value();
      try {
        f.device = parse_device(v);
      } catch (const Error&) {
        throw UsageError("--device: '" + v + "' is not cpu, cuda or cuda:N");
      }
    } else if (a == "--threads") {
      f.threads = parse_number<int>(a, value());
      if (f.threads < 1) throw UsageError("--threads must be >= 1");
    } else if (a == "--seed") {
      f.seed = parse_number<std::uint64_t>(a, value());
    } else if (a == "--n") {
      f.n = parse_number<std::int64_t>(a, value());
      if (*f.n < 1) throw UsageError("--n must be >= 1");
    } else if (a == "--latents") {
      f.latents = value();
    } else if (a == "--truncation") {
      f.truncation = parse_number<double>(a, value());
      if (!std::isfinite(f.truncation)) throw UsageError("--truncation must be a finite number");
    } else if (a == "--w-avg") {
      f.w_avg = value();
    } else if (a == "--noise") {
      const std::string v = value();
      if (v == "fixed")
        f.noise = NoiseMode::fixed;
      else if (v == "random")
        f.noise = NoiseMode::random;
      else
        throw UsageError("--noise: '" + v + "' is not fixed or random");
    } else if (a == "--ratio") {
      f.ratio = parse_number<double>(a, value());
      if (!(*f.ratio > 0 && *f.ratio <= 1)) throw UsageError("--ratio must be in (0, 1]");
    } else if (a == "--channels") {
      std::stringstream ss(value());
      std::string item;
      while (std::getline(ss, item, ',')) f.channels.push_back(parse_number<int>("--channels", item));
      if (f.channels.empty()) throw UsageError("--channels: no widths given");
    } else if (a == "--res") {
      f.res = parse_number<int>(a, value());
    } else if (a == "--out") {
      f.outs.push_back(value());
    } else if (a == "--all-res") {
      f.all_res = true;
    } else if (a == "--batch") {
      f.batch = parse_number<std::int64_t>(a, value());
      if (f.batch < 1) throw UsageError("--batch must be >= 1");
    } else if (a == "--path") {
      const std::string v = value();
      if (v == "automatic")
        f.path = nn::ModulationPath::automatic;
      else if (v == "weights")
        f.path = nn::ModulationPath::weights;
      else if (v == "activations")
        f.path = nn::ModulationPath::activations;
      else
        throw UsageError("--path: '" + v + "' is not automatic, weights or activations");
    } else {
      throw UsageError("unknown flag '" + a + "'");
    }
  }
  if (f.ratio && !f.channels.empty()) throw UsageError("--ratio and --channels exclude each other");
  if (f.n && !f.latents.empty()) throw UsageError("--n and --latents exclude each other (the file sets N)");
  if (!f.w_avg.empty() && f.truncation == 1.0) throw UsageError("--w-avg needs --truncation");
  for (const std::string& o : f.outs) {
    const std::string ext = std::filesystem::path(o).extension().string();
    if (ext != ".png" && ext != ".safetensors")
      throw UsageError("--out " + o + ": the file name must end in .png or .safetensors");
  }
  return f;
}

std::string fmt_macs(std::int64_t m) {
  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(m >= 10'000'000'000 ? 2 : 3);
  os << static_cast<double>(m) / 1e9 << " G";
  return os.str();
}

std::string widths_text(const ChannelTable& t) {
  std::ostringstream os;
  for (int r = 4; r <= t.resolution(); r *= 2) os << (r > 4 ? " " : "") << r << ":" << t.width(r);
  return os.str();
}

// The built-in untrained model.
GeneratorConfig builtin_config() {
  GeneratorConfig c;
  c.resolution = 64;
  c.style_dim = 256;
  c.n_mlp = 8;
  c.channel_multiplier = 2;
  c.channel_max = 256;
  return c;
}

int run_generate(const std::vector<std::string>& args) {
  const GenerateFlags f = parse_generate(args);
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;

  // ---- model ----
  Generator g;
  std::string model_text;
  if (f.model.empty()) {
    g = Generator(builtin_config(), 0);
    model_text = "built-in UNTRAINED generator (seeded random weights; images are patterns, not faces)";
  } else {
    g = load_generator(f.model);
    model_text = f.model;
  }
  if (!f.device.is_cpu()) g.to(f.device);
  const ChannelTable& table = g.channel_table();

  // ---- sub-network ----
  const int res = f.res.value_or(g.resolution());
  std::optional<SubnetConfig> cfg_holder;
  std::string cfg_kind;
  try {
    if (!f.channels.empty()) {
      cfg_holder = table.flexible(f.channels, res);
      cfg_kind = "flexible";
    } else if (f.ratio) {
      cfg_holder = table.uniform(*f.ratio, res);
      std::ostringstream os;
      os << "uniform " << *f.ratio;
      cfg_kind = os.str();
    } else {
      cfg_holder = table.full(res);
      cfg_kind = "full width";
    }
  } catch (const ValueError& e) {
    throw UsageError(e.what());
  }
  const SubnetConfig& cfg = *cfg_holder;
  const MacCount macs = g.macs(cfg), full_macs = g.macs(g.full_config());

  // ---- latents ----
  Var latents;
  LatentSpace space = LatentSpace::z;
  std::string latent_text;
  if (!f.latents.empty()) {
    const io::SafetensorsFile file = io::load_safetensors(f.latents);
    int found = 0;
    for (const char* name : {"z", "w", "wplus"}) found += file.contains(name);
    if (found != 1)
      throw UsageError("--latents " + f.latents + ": expected exactly one tensor named z, w or wplus");
    if (file.contains("wplus")) {
      const Tensor& t = file.at("wplus");
      if (!(t.dim() == 3 && t.size(1) == g.n_style() && t.size(2) == g.style_dim()))
        throw UsageError("--latents: wplus has shape " + anycost::detail::concat(t.shape()) + ", expected [N, " +
                         std::to_string(g.n_style()) + ", " + std::to_string(g.style_dim()) + "]");
      latents = Var(t.to(g.dtype()).to(g.device()));
      space = LatentSpace::w;
      latent_text = "W+ from " + f.latents;
    } else {
      const bool is_z = file.contains("z");
      const Tensor& t = file.at(is_z ? "z" : "w");
      if (!(t.dim() == 2 && t.size(1) == g.style_dim()))
        throw UsageError("--latents: " + std::string(is_z ? "z" : "w") + " has shape " + anycost::detail::concat(t.shape()) +
                         ", expected [N, " + std::to_string(g.style_dim()) + "]");
      latents = Var(t.to(g.dtype()).to(g.device()));
      space = is_z ? LatentSpace::z : LatentSpace::w;
      latent_text = std::string(is_z ? "z" : "w") + " from " + f.latents;
    }
  } else {
    Rng rng(f.seed);
    latents = Var(randn({f.n.value_or(16), g.style_dim()}, rng, g.dtype(), g.device()));
    latent_text = "z ~ N(0, I) from seed " + std::to_string(f.seed);
  }
  const std::int64_t n = latents.size(0);

  Var w_avg;
  std::string trunc_text = "none";
  if (f.truncation != 1.0) {
    std::ostringstream os;
    os << f.truncation << " toward ";
    if (!f.w_avg.empty()) {
      const Tensor t = io::load_safetensors(f.w_avg).at("w_avg");
      if (!(t.dim() == 1 && t.size(0) == g.style_dim()))
        throw UsageError("--w-avg: w_avg has shape " + anycost::detail::concat(t.shape()) + ", expected [" +
                         std::to_string(g.style_dim()) + "]");
      w_avg = Var(t.to(g.dtype()).to(g.device()));
      os << "w_avg from " << f.w_avg;
    } else {
      Rng mean_rng(0x5eed'0f'a7e2ull);
      w_avg = g.mean_w(4096, mean_rng);
      os << "the mean of 4096 mapped z";
    }
    trunc_text = os.str();
  }

  // ---- report ----
  std::printf("anycost generate\n");
  std::printf("  model       %s\n", model_text.c_str());
  std::printf("  generator   %dx%d, style_dim %lld, n_mlp %d, widths %s\n", g.resolution(), g.resolution(),
              static_cast<long long>(g.style_dim()), g.config().n_mlp, widths_text(table).c_str());
  std::printf("  sub-network %s: %s\n", cfg_kind.c_str(), cfg.describe().c_str());
  std::printf("  MACs/image  %s (torchprofile convention, as the paper; full model %s)\n",
              fmt_macs(macs.profile).c_str(), fmt_macs(full_macs.profile).c_str());
  std::printf("              %s true multiply-adds (full model %s), %.1fx fewer than full\n",
              fmt_macs(macs.arithmetic).c_str(), fmt_macs(full_macs.arithmetic).c_str(),
              static_cast<double>(full_macs.arithmetic) / static_cast<double>(macs.arithmetic));
  std::printf("  latents     %lld x %s\n", static_cast<long long>(n), latent_text.c_str());
  std::printf("  truncation  %s\n", trunc_text.c_str());
  std::printf("  noise       %s\n", f.noise == NoiseMode::fixed ? "the model's fixed maps" : "random, from --seed");
  std::printf("  device      %s, %d CPU threads, batch %lld\n", anycost::detail::concat(f.device).c_str(), get_num_threads(),
              static_cast<long long>(f.batch));
  std::fflush(stdout);

  // ---- generate ----
  GenerateOptions opts;
  opts.input = space;
  opts.truncation = f.truncation;
  opts.w_avg = w_avg;
  opts.synthesis.path = f.path;
  opts.synthesis.noise = f.noise;
  opts.synthesis.return_rgbs = f.all_res;
  const PreparedGenerator prepared = g.prepare();  // weight-derived constants, computed once
  opts.synthesis.prepared = &prepared;
  Rng noise_rng(f.seed ^ 0x9e3779b97f4a7c15ull);
  opts.synthesis.rng = &noise_rng;

  std::vector<std::vector<Tensor>> parts;  // per resolution, per batch
  const bool tty = isatty(fileno(stderr));
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; i += f.batch) {
    const std::int64_t b = std::min(f.batch, n - i);
    const SynthesisResult r = g.generate(narrow(latents, 0, i, b), cfg, opts);
    std::vector<Var> outs = f.all_res ? r.rgbs : std::vector<Var>{r.image};
    if (parts.empty()) parts.resize(outs.size());
    for (std::size_t k = 0; k < outs.size(); ++k) parts[k].push_back(outs[k].data().to(Device::cpu()));
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const std::int64_t done = i + b;
    if (n > b && (tty || done == n || done * 10 / n != i * 10 / n))
      std::fprintf(stderr, "%s  [%lld/%lld] %.1f ms/image, %.1f s left%s", tty ? "\r" : "",
                   static_cast<long long>(done), static_cast<long long>(n), el * 1e3 / static_cast<double>(done),
                   el / static_cast<double>(done) * static_cast<double>(n - done), tty && done < n ? "" : "\n");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("  time        %.2f ms/image (%lld images in %.3f s, mapping and synthesis)\n",
              seconds * 1e3 / static_cast<double>(n), static_cast<long long>(n), seconds);

  // ---- write ----
  std::vector<Tensor> images;
  for (auto& p : parts) {
    std::vector<Var> vs(p.begin(), p.end());
    images.push_back(vs.size() == 1 ? p[0] : cat(vs, 0).data());
  }
  for (const std::string& out : f.outs) {
    const std::filesystem::path path(out);
    if (path.extension() == ".safetensors") {
      std::vector<std::pair<std::string, Tensor>> items;
      items.emplace_back("images", images.back().to(DType::float32));
      if (f.all_res)
        for (std::size_t k = 0; k + 1 < images.size(); ++k)
          items.emplace_back("images_" + std::to_string(images[k].size(2)), images[k].to(DType::float32));
      io::save_safetensors(path, items, {{"sub-network", cfg.describe()}, {"model", model_text}});
      std::printf("  wrote       %s (images [%lld, 3, %lld, %lld]%s)\n", out.c_str(), static_cast<long long>(n),
                  static_cast<long long>(images.back().size(2)), static_cast<long long>(images.back().size(3)),
                  f.all_res ? " and every lower resolution" : "");
    } else {
      const Tensor grid_src = Var(clamp(Var(images.back()), -1.0, 1.0)).data();
      io::save_image_grid(path, grid_src);
      std::printf("  wrote       %s\n", out.c_str());
      if (f.all_res)
        for (std::size_t k = 0; k + 1 < images.size(); ++k) {
          std::filesystem::path low = path;
          low.replace_filename(path.stem().string() + "_" + std::to_string(images[k].size(2)) + ".png");
          io::save_image_grid(low, Var(clamp(Var(images[k]), -1.0, 1.0)).data());
          std::printf("  wrote       %s\n", low.string().c_str());
        }
    }
  }
  if (f.outs.empty()) std::printf("  (no --out given: nothing written)\n");
  return 0;
}

const char* train_usage =
    "usage: anycost train --config RUN.json --data DIR --out RUN_DIR [flags]\n"
    "\n"
    "Trains an Anycost GAN on a folder of images (PNG/JPEG, searched recursively), stage by stage: StyleGAN2,\n"
    "multi-resolution, adaptive channels (see examples/configs/*.json for the keys and their defaults).\n"
    "Prints a progress line every few seconds; writes RUN_DIR/checkpoints/ckpt-*.safetensors, sample grids in\n"
    "RUN_DIR/samples/ and, at the end, RUN_DIR/generator.safetensors (g_ema, for 'anycost generate --model').\n"
    "Ctrl-C (SIGINT) or SIGTERM writes a checkpoint and stops; --resume continues exactly.\n"
    "\n"
    "  --config FILE           the run's JSON config (with --resume: optional, must match the run's)\n"
    "  --data DIR              the image folder\n"
    "  --out DIR               the run folder (created; must not hold a run unless --resume)\n"
    "  --resume                continue the run in --out from its newest checkpoint\n"
    "  --device cpu|cuda       where to train (default cpu)\n"
    "  --threads K             CPU threads (default: all); the same K gives bit-identical runs\n"
    "  --help                  this text\n"
    "\n"
    "example:\n"
    "  anycost train --config examples/configs/tiny.json --data my_images --out runs/tiny\n";

std::atomic<bool> stop_requested{false};

int run_train(const std::vector<std::string>& args) {
  std::string config, data, out;
  bool resume = false;
  Device device = Device::cpu();
  int threads = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      std::cout << train_usage;
      return 0;
    } else if (a == "--config") {
      config = value();
    } else if (a == "--data") {
      data = value();
    } else if (a == "--out") {
      out = value();
    } else if (a == "--resume") {
      resume = true;
    } else if (a == "--device") {
      const std::string v = value();
      try {
        device = parse_device(v);
      } catch (const Error&) {
        throw UsageError("--device: '" + v + "' is not cpu, cuda or cuda:N");
      }
    } else if (a == "--threads") {
      threads = parse_number<int>(a, value());
      if (threads < 1) throw UsageError("--threads must be >= 1");
    } else {
      throw UsageError("unknown flag '" + a + "'");
    }
  }
  if (data.empty()) throw UsageError("train: --data DIR is required");
  if (out.empty()) throw UsageError("train: --out RUN_DIR is required");
  if (config.empty() && !resume) throw UsageError("train: --config FILE is required (optional only with --resume)");
  if (threads > 0) set_num_threads(threads);
  train::TrainConfig cfg;
  if (!config.empty()) {
    cfg = train::load_train_config(config);
  } else {
    const auto ckpts = train::list_checkpoints(std::filesystem::path(out) / "checkpoints");
    if (ckpts.empty()) throw UsageError("train --resume: no checkpoint in '" + out + "/checkpoints'");
    cfg = train::parse_train_config(train::stored_config(io::load_safetensors(ckpts.back())));
  }
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  train::TrainerOptions opts;
  opts.data = data;
  opts.out = out;
  opts.resume = resume;
  opts.device = device;
  opts.stop = &stop_requested;
  train::Trainer trainer(cfg, opts);
  trainer.run();
  return 0;
}

}  // namespace

// Process-wide tuning of this program (not of the library):
//  - OpenMP waits passively. The library's kernels run on libgomp while OpenBLAS runs its own threads; with
//    libgomp's default spin-waiting, idle OpenMP workers keep spinning on the cores OpenBLAS needs (2-3x slower
//    on a 2-core machine). The policy is read when libgomp starts, so the program re-executes itself once with
//    OMP_WAIT_POLICY=passive unless the user chose a policy (OMP_WAIT_POLICY or GOMP_SPINCOUNT).
//  - Large allocations stay in the heap instead of fresh mmap()s, which every op would otherwise page-fault in
//    and unmap again (feature maps are megabytes).
static void tune_process(char** argv) {
  if (!std::getenv("OMP_WAIT_POLICY") && !std::getenv("GOMP_SPINCOUNT")) {
    ::setenv("OMP_WAIT_POLICY", "passive", 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: carry on with the default policy
  }
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

int main(int argc, char** argv) {
  tune_process(argv);
  std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      std::cout << top_usage;
      return args.empty() ? 2 : 0;
    }
    const std::string command = args[0];
    args.erase(args.begin());
    if (command == "generate") return run_generate(args);
    if (command == "train") return run_train(args);
    throw UsageError("unknown command '" + command + "'");
  } catch (const UsageError& e) {
    std::cerr << "anycost: " << e.what() << "\n(run 'anycost --help' or 'anycost <command> --help')\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "anycost: error: " << e.what() << "\n";
    return 1;
  }
}
