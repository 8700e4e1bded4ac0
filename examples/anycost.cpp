// anycost: the command-line tool. Commands:
//
//   anycost generate [flags]   images from a generator at any width and resolution
//   anycost train [flags]      stage-wise Anycost GAN training on an image folder (anycost/train/trainer.hpp)
//   anycost search [flags]     sub-generators per MACs or latency budget (anycost/search.hpp), as evolve configs
//   anycost project [flags]    the W+ latents of real images (anycost/projection/project.hpp)
//   anycost train-encoder      the projection encoder, image -> W+ (anycost/projection/encoder_train.hpp)
//   anycost edit [flags]       W+ latents moved along attribute directions (anycost/editing/)
//   anycost directions [flags] edit directions for a classifier's labels (anycost/editing/sample_directions.hpp)
//   anycost export CKPT --out  one generator of a training checkpoint as a generator file
//   anycost train-classifier   the evaluation classifier (anycost/eval/classifier_train.hpp)
//   anycost eval [flags]       FD, PSNR/LPIPS vs full, latency and MACs per sub-network (anycost/eval/evaluate.hpp)
//
// `anycost --help` and `anycost <command> --help` list the flags. The flags are declared with CLI11
// (libcli11-dev), next to the struct each command fills; run_generate and run_train do the work.
//
// Without --model, `generate` runs the model that ships with anycost (examples/models/emoji64: a 64x64
// generator trained here on the Noto colour emoji), found next to the installed tool
// (<prefix>/share/anycost/models) or in the source tree it was built from. `--model untrained` is a seeded
// random generator (64x64, style_dim 256, n_mlp 8, channel_max 256) for tests and timing.
//
// Exit status: 0 on success, 1 on errors (files, formats, devices), 2 for bad flags (the message names the flag).
// Outputs are all or nothing (class Outputs): a command that fails leaves every file that existed before
// byte-identical. Input files holding NaN or infinity (models, latents, directions) are refused by name.
// tests/hostile_inputs.md lists the hostile inputs the tests feed this tool and what it answers.
#include <fcntl.h>
#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <csignal>

#include <algorithm>
#include <chrono>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/anycost.hpp>
#include <anycost/io/image_grid.hpp>
#include <anycost/io/safetensors.hpp>
#include <anycost/models.hpp>
#include <anycost/search.hpp>
#include <anycost/projection.hpp>
#include <anycost/train.hpp>
#include <anycost/util/atomic_file.hpp>
#ifdef ANYCOST_WITH_MPI
#include <anycost/train/mpi_communicator.hpp>
#endif

using namespace anycost;
using namespace anycost::models;

namespace {

// ---- flag helpers (CLI11) ----------------------------------------------------------------------------------

// A bad flag found only once the model is loaded (a sub-network it cannot run, latents of the wrong shape):
// reported like CLI11's parse errors, exit status 2.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---- outputs: all or nothing ------------------------------------------------------------------------------
// A command's files are written (each atomically, by the io writers) under staging names beside their
// destinations and renamed into place only when every one is complete, so a failure anywhere (a bad input
// found late, a full disk, an unwritable folder, a bad flag noticed after the first file) leaves every file
// that existed before byte-identical, and the staged files are removed. (Outputs are staged when written,
// after every flag has been checked: a bad flag is reported as such even when --out is unwritable too.)
// An output that is a symbolic link is written through (util::resolve_output_path), like every io writer.
class Outputs {
 public:
  Outputs() = default;
  Outputs(const Outputs&) = delete;
  Outputs& operator=(const Outputs&) = delete;
  ~Outputs() {
    for (const Entry& e : entries_) ::unlink(e.staged.c_str());
  }

  // The path to write `out` (given by `flag`) to; the same path when `out` is staged already.
  std::filesystem::path stage(const std::string& out, const std::string& flag) {
    for (const Entry& e : entries_)
      if (e.out == out) return e.staged;
    std::filesystem::path target;
    try {
      target = util::resolve_output_path(out);
    } catch (const std::system_error& e) {
      anycost::detail::raise<IoError>(flag, " ", out, ": ", e.what());
    }
    std::error_code ec;
    if (std::filesystem::is_directory(target, ec)) anycost::detail::raise<IoError>(flag, " ", out, ": is a directory");
    std::filesystem::path staged = target;
    staged.replace_filename("." + target.filename().string() + ".staged." + std::to_string(::getpid()));
    const int fd = ::open(staged.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
      const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : ".";
      anycost::detail::raise<IoError>(flag, " ", out, ": cannot create a file in '", folder.string(),
                                      "': ", std::strerror(errno));
    }
    ::close(fd);
    entries_.push_back({out, flag, target, staged});
    return staged;
  }

  // Runs write(path) for `out`; a failure names the flag and the file.
  template <class Write>
  void write(const std::string& out, const std::string& flag, Write&& fn) {
    const std::filesystem::path staged = stage(out, flag);
    try {
      fn(staged);
    } catch (const IoError& e) {
      anycost::detail::raise<IoError>(flag, " ", out, ": ", e.what());
    }
  }

  // Moves every staged file into place; a file replaced keeps its permission bits.
  void commit() {
    for (const Entry& e : entries_) {
      struct ::stat old {};
      if (::stat(e.target.c_str(), &old) == 0 && S_ISREG(old.st_mode)) ::chmod(e.staged.c_str(), old.st_mode & 07777);
      if (::rename(e.staged.c_str(), e.target.c_str()) != 0)
        anycost::detail::raise<IoError>(e.flag, " ", e.out, ": cannot move the finished file into place: ",
                                        std::strerror(errno));
    }
    entries_.clear();
  }

 private:
  struct Entry {
    std::string out, flag;
    std::filesystem::path target, staged;
  };
  std::vector<Entry> entries_;
};

// A latent, direction or mean from a file: every value finite, else an error naming the flag and the file.
void require_finite(const Tensor& t, const std::string& flag, const std::string& file, const std::string& name) {
  if (const auto bad = non_finite_value(t))
    anycost::detail::raise<FormatError>(flag, " ", file, ": tensor '", name, "' holds ", *bad);
}

// A check that the value, read as a T, satisfies `ok`; the error reads "--flag: must be <rule>, not '<value>'".
// A value that is no T at all passes here and fails CLI11's conversion (the same lexical_cast), whose error
// names the flag too.
template <class T, class Ok>
CLI::Validator must_be(const std::string& rule, Ok ok) {
  return CLI::Validator(
      [rule, ok](std::string& v) -> std::string {
        T x{};
        if (!CLI::detail::lexical_cast(v, x) || ok(x)) return {};
        return "must be " + rule + ", not '" + v + "'";
      },
      "");  // no description: the flag's help text states the rule
}

const CLI::Validator at_least_one = must_be<std::int64_t>(">= 1", [](std::int64_t k) { return k >= 1; });

// A flag taking one of the names in `choices`, stored in `target` as the matching value.
template <class E>
CLI::Option* add_choice(CLI::App& cmd, const std::string& flag, E& target,
                        const std::vector<std::pair<std::string, E>>& choices, const std::string& help) {
  std::vector<std::string> names;
  for (const auto& c : choices) names.push_back(c.first);
  const auto store = [&target, choices](const std::string& v) {
    for (const auto& [name, value] : choices)
      if (name == v) target = value;
  };
  return cmd.add_option_function<std::string>(flag, store, help)
      ->check(CLI::IsMember(names))
      ->option_text(CLI::detail::join(names, "|"));
}

// --device cpu|cuda|cuda:N, read by the library's parse_device.
CLI::Option* add_device(CLI::App& cmd, Device& target, const std::string& help) {
  const CLI::Validator known(
      [](std::string& v) -> std::string {
        try {
          parse_device(v);
          return {};
        } catch (const Error&) {
          return "'" + v + "' is not cpu, cuda or cuda:N";
        }
      },
      "");
  return cmd.add_option_function<std::string>("--device", [&target](const std::string& v) { target = parse_device(v); },
                                              help)
      ->check(known)
      ->option_text("cpu|cuda");
}

// ---- anycost generate --------------------------------------------------------------------------------------

constexpr const char* untrained_model = "untrained";

// The shipped model: next to an installed tool first (<prefix>/bin/anycost -> <prefix>/share/anycost/models),
// then in the source tree this binary was built from (ANYCOST_SOURCE_MODELS_DIR, set by examples/CMakeLists.txt).
std::filesystem::path default_model() {
  const std::filesystem::path rel = "emoji64/generator.safetensors";
  std::vector<std::filesystem::path> tried;
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) tried.push_back(exe.parent_path().parent_path() / "share/anycost/models" / rel);
#ifdef ANYCOST_SOURCE_MODELS_DIR
  tried.push_back(std::filesystem::path(ANYCOST_SOURCE_MODELS_DIR) / rel);
#endif
  std::string where;
  for (const auto& p : tried) {
    if (std::filesystem::is_regular_file(p, ec)) return p;
    where += "\n  " + p.string();
  }
  throw IoError("the shipped model was not found; looked in:" + where +
                "\n(give --model FILE, or --model untrained for random weights)");
}

// --model FILE | untrained; empty: the shipped model.
void add_model_flag(CLI::App& cmd, std::string& model) {
  cmd.add_option("--model", model,
                 "generator checkpoint (.safetensors, e.g. from tools/convert_checkpoint.py);\n"
                 "default: the shipped emoji model (64x64, examples/models/emoji64);\n"
                 "'untrained': seeded random weights (64x64, style_dim 256, channel_max 256)")
      ->check(CLI::Validator(
          [](std::string& v) { return v == untrained_model ? std::string() : CLI::ExistingFile(v); }, ""))
      ->option_text("FILE");
}

// Nearest-neighbour upscaling by an integer factor (pixel repetition): a preview shown at the full size
// without blurring what the sub-network actually produced.
Tensor upscale_nearest(const Tensor& x, std::int64_t k) {
  if (k == 1) return x;
  const std::int64_t n = x.size(0), c = x.size(1), h = x.size(2), w = x.size(3);
  return x.contiguous().reshape({n, c, h, 1, w, 1}).expand({n, c, h, k, w, k}).contiguous().reshape({n, c, h * k, w * k});
}

// Mean over images of the PSNR (peak-to-peak 2, images in [-1, 1]) between `sub` and `full` brought to sub's
// resolution by bilinear downsampling (align_corners, as the consistency loss of training compares them).
double mean_psnr(const Tensor& sub, const Tensor& full) {
  const std::vector<double> pa = sub.to_vector<double>();
  const std::vector<double> pb =
      resize_bilinear(Var(full.to(DType::float64)), sub.size(2), sub.size(3), AlignCorners::yes).data().to_vector<double>();
  const std::int64_t n = sub.size(0), per = sub.numel() / n;
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    double se = 0;
    for (std::int64_t j = 0; j < per; ++j) {
      const double d = std::clamp(pa[i * per + j], -1.0, 1.0) - std::clamp(pb[i * per + j], -1.0, 1.0);
      se += d * d;
    }
    sum += 10.0 * std::log10(4.0 / std::max(se / static_cast<double>(per), 1e-20));
  }
  return sum / static_cast<double>(n);
}

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
  std::string evolve_config, budget;
  std::optional<int> res;
  std::vector<std::string> outs;
  bool all_res = false;
  bool compare = false;
  std::int64_t batch = 1;
  nn::ModulationPath path = nn::ModulationPath::automatic;
};

CLI::App* add_generate(CLI::App& app, GenerateFlags& f) {
  CLI::App* cmd =
      app.add_subcommand("generate", "generate images with an Anycost generator at any width and resolution");
  cmd->footer(
      "Generates images with an Anycost GAN generator, full or any sub-network of it, and writes them as a PNG\n"
      "grid and/or as safetensors. Prints the configuration, its MACs per image (the paper's torchprofile\n"
      "convention and the true multiply-add count) and the time per image.\n"
      "\n"
      "examples:\n"
      "  anycost generate --ratio 0.5 --res 32 --compare --out sample.png\n"
      "  anycost generate --model generator.safetensors --ratio 0.5 --res 256 --n 4 --out preview.png\n"
      "  anycost generate --model generator.safetensors --channels 512,512,...,16 --truncation 0.7 \\\n"
      "                   --out faces.png --out faces.safetensors\n"
      "  anycost generate --model generator.safetensors --evolve-config configs.json --budget 15G --out fast.png");

  cmd->option_defaults()->group("model");
  add_model_flag(*cmd, f.model);
  add_device(*cmd, f.device, "where to run (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");

  cmd->option_defaults()->group("latents");
  cmd->add_option("--seed", f.seed, "draw z from this seed (default 0)")->option_text("S");
  CLI::Option* n = cmd->add_option("--n", f.n, "number of images (default 16)")->check(at_least_one)->option_text("N");
  cmd->add_option("--latents", f.latents,
                  "a .safetensors file with one tensor: z [N, style_dim], w [N, style_dim] or\n"
                  "wplus [N, n_style, style_dim] (replaces --seed/--n)")
      ->check(CLI::ExistingFile)
      ->excludes(n)
      ->option_text("FILE");
  CLI::Option* truncation =
      cmd->add_option("--truncation", f.truncation,
                      "truncate toward the mean w: w_avg + T (w - w_avg) (default 1: none)")
          ->check(must_be<double>("a finite number", [](double t) { return std::isfinite(t); }))
          ->option_text("T");
  cmd->add_option("--w-avg", f.w_avg, "the mean w (tensor w_avg [style_dim]); default: estimated from 4096 seeded z")
      ->check(CLI::ExistingFile)
      ->needs(truncation)
      ->option_text("FILE");
  add_choice(*cmd, "--noise", f.noise, {{"fixed", NoiseMode::fixed}, {"random", NoiseMode::random}},
             "the model's fixed noise maps, or fresh ones from --seed (default fixed)");

  cmd->option_defaults()->group("sub-network");
  CLI::Option* ratio =
      cmd->add_option("--ratio", f.ratio, "uniform channel ratio in (0, 1], e.g. 0.25 0.5 0.75 (default 1)")
          ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
          ->option_text("R");
  CLI::Option* channels =
      cmd->add_option("--channels", f.channels,
                      "per-layer widths: ConstantInput, conv1, convs.0, convs.1, ... (one per W+ row)")
          ->delimiter(',')
          ->excludes(ratio)
          ->option_text("c1,c2,...");
  CLI::Option* budget =
      cmd->add_option("--budget", f.budget, "the sub-network a search chose for this budget label (with\n"
                                            "--evolve-config), e.g. 15G")
          ->excludes(ratio)
          ->excludes(channels)
          ->option_text("LABEL");
  cmd->add_option("--evolve-config", f.evolve_config,
                  "searched sub-networks per budget (the official evolve_configs JSON format)")
      ->check(CLI::ExistingFile)
      ->needs(budget)
      ->option_text("FILE");
  budget->needs("--evolve-config");
  cmd->add_option("--res", f.res, "output resolution, a power of two up to the model's (default: the model's)")
      ->option_text("R");

  cmd->option_defaults()->group("output");
  const CLI::Validator png_or_safetensors(
      [](std::string& v) -> std::string {
        const std::filesystem::path ext = std::filesystem::path(v).extension();
        if (ext == ".png" || ext == ".safetensors") return {};
        return "'" + v + "': the file name must end in .png or .safetensors";
      },
      "");
  cmd->add_option("--out", f.outs,
                  "FILE.png: an image grid; FILE.safetensors: tensors `images` (float32\n"
                  "[N, 3, H, W], the raw generator output in about [-1, 1]) and `wplus` (the W+\n"
                  "latents rendered, for 'anycost edit'); may be repeated")
      ->allow_extra_args(false)  // one file per --out
      ->check(png_or_safetensors)
      ->option_text("FILE");
  cmd->add_flag("--compare", f.compare,
                "also render the full generator on the same latents and noise: each row of\n"
                "sub-network images sits under its row of full renders (upscaled by pixel\n"
                "repetition), and the mean PSNR of sub-network vs full is printed");
  cmd->add_flag("--all-res", f.all_res,
                "also every lower resolution: tensors images_4, images_8, ..., and PNG grids\n"
                "FILE_4.png, FILE_8.png, ...");
  cmd->add_option("--batch", f.batch, "images per forward pass (default 1)")->check(at_least_one)->option_text("B");
  add_choice(*cmd, "--path", f.path,
             {{"automatic", nn::ModulationPath::automatic},
              {"weights", nn::ModulationPath::weights},
              {"activations", nn::ModulationPath::activations}},
             "how styles modulate the convolutions (default automatic)");
  return cmd;
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

// The seeded random generator of `--model untrained`.
GeneratorConfig builtin_config() {
  GeneratorConfig c;
  c.resolution = 64;
  c.style_dim = 256;
  c.n_mlp = 8;
  c.channel_multiplier = 2;
  c.channel_max = 256;
  return c;
}

// The generator a --model flag names: a file, "untrained", or (empty) the shipped model; `text` describes it.
Generator load_model_flag(const std::string& flag, std::string& text) {
  if (flag == untrained_model) {
    text = "UNTRAINED generator (seeded random weights; images are patterns)";
    return Generator(builtin_config(), 0);
  }
  const std::filesystem::path path = flag.empty() ? default_model() : std::filesystem::path(flag);
  text = path.string() + (flag.empty() ? " (the shipped emoji model)" : "");
  return load_generator(path);
}

int run_generate(const GenerateFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;
  Outputs outputs;

  // ---- model ----
  std::string model_text;
  Generator g = load_model_flag(f.model, model_text);
  if (!f.device.is_cpu()) g.to(f.device);
  const ChannelTable& table = g.channel_table();

  // ---- sub-network ----
  const int res = f.res.value_or(g.resolution());
  std::optional<SubnetConfig> cfg_holder;
  std::string cfg_kind;
  try {
    if (!f.budget.empty()) {
      const std::vector<EvolveEntry> entries = read_evolve_configs(f.evolve_config, table);
      const EvolveEntry& e = find_budget(entries, f.budget);
      cfg_holder = f.res ? table.flexible(e.config.channels(), *f.res) : e.config;
      cfg_kind = "searched for " + f.budget + " (" + f.evolve_config + ")";
    } else if (!f.channels.empty()) {
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
      require_finite(t, "--latents", f.latents, "wplus");
      if (!(t.dim() == 3 && t.size(1) == g.n_style() && t.size(2) == g.style_dim()))
        throw UsageError("--latents: wplus has shape " + anycost::detail::concat(t.shape()) + ", expected [N, " +
                         std::to_string(g.n_style()) + ", " + std::to_string(g.style_dim()) + "]");
      latents = Var(t.to(g.dtype()).to(g.device()));
      space = LatentSpace::w;
      latent_text = "W+ from " + f.latents;
    } else {
      const bool is_z = file.contains("z");
      const Tensor& t = file.at(is_z ? "z" : "w");
      require_finite(t, "--latents", f.latents, is_z ? "z" : "w");
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
      require_finite(t, "--w-avg", f.w_avg, "w_avg");
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

  // --compare renders the full generator too, on the same latents (and, by default, the model's fixed noise).
  const SubnetConfig full_cfg = table.full(g.resolution());
  Rng full_noise_rng(f.seed ^ 0x9e3779b97f4a7c15ull);
  GenerateOptions full_opts = opts;
  full_opts.synthesis.return_rgbs = false;
  full_opts.synthesis.rng = &full_noise_rng;
  std::vector<Tensor> full_parts;
  double full_seconds = 0;

  std::vector<std::vector<Tensor>> parts;  // per resolution, per batch
  std::vector<Tensor> wplus_parts;          // per batch
  const bool tty = isatty(fileno(stderr));
  const auto start = std::chrono::steady_clock::now();
  for (std::int64_t i = 0; i < n; i += f.batch) {
    const std::int64_t b = std::min(f.batch, n - i);
    const SynthesisResult r = g.generate(narrow(latents, 0, i, b), cfg, opts);
    wplus_parts.push_back(r.wplus.data().to(Device::cpu()));
    std::vector<Var> outs = f.all_res ? r.rgbs : std::vector<Var>{r.image};
    if (parts.empty()) parts.resize(outs.size());
    for (std::size_t k = 0; k < outs.size(); ++k) parts[k].push_back(outs[k].data().to(Device::cpu()));
    if (f.compare) {
      const auto t0 = std::chrono::steady_clock::now();
      full_parts.push_back(g.generate(narrow(latents, 0, i, b), full_cfg, full_opts).image.data().to(Device::cpu()));
      full_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    const double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - full_seconds;
    const std::int64_t done = i + b;
    if (n > b && (tty || done == n || done * 10 / n != i * 10 / n))
      std::fprintf(stderr, "%s  [%lld/%lld] %.1f ms/image, %.1f s left%s", tty ? "\r" : "",
                   static_cast<long long>(done), static_cast<long long>(n), el * 1e3 / static_cast<double>(done),
                   el / static_cast<double>(done) * static_cast<double>(n - done), tty && done < n ? "" : "\n");
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() - full_seconds;
  std::printf("  time        %.2f ms/image (%lld images in %.3f s, mapping and synthesis)\n",
              seconds * 1e3 / static_cast<double>(n), static_cast<long long>(n), seconds);

  // ---- write ----
  std::vector<Tensor> images;
  for (auto& p : parts) {
    std::vector<Var> vs(p.begin(), p.end());
    images.push_back(vs.size() == 1 ? p[0] : cat(vs, 0).data());
  }
  Tensor full_images;
  if (f.compare) {
    std::vector<Var> vs(full_parts.begin(), full_parts.end());
    full_images = vs.size() == 1 ? full_parts[0] : cat(vs, 0).data();
    std::printf("  compare     full generator %.2f ms/image; sub-network vs full on the same latents: mean PSNR\n"
                "              %.2f dB (full downsampled to %lld px)\n",
                full_seconds * 1e3 / static_cast<double>(n), mean_psnr(images.back(), full_images),
                static_cast<long long>(images.back().size(2)));
  }
  // The PNG grid: with --compare, rows of (up to) 8 full renders, each followed by its row of sub-network images.
  const auto grid_of = [&](const Tensor& sub) -> std::pair<Tensor, int> {
    const Tensor clamped = Var(clamp(Var(sub), -1.0, 1.0)).data();
    if (!f.compare) return {clamped, 0};
    const std::int64_t cols = std::min<std::int64_t>(n, 8), big = full_images.size(2);
    const Tensor up = upscale_nearest(clamped, big / sub.size(2));
    const Tensor fullc = Var(clamp(Var(full_images), -1.0, 1.0)).data();
    const std::int64_t rows = (n + cols - 1) / cols;
    const Tensor tiles = Tensor::full(Shape{2 * rows * cols, 3, big, big}, -1.0, up.dtype(), up.device());
    for (std::int64_t i = 0; i < n; ++i) {
      const std::int64_t r = i / cols, c = i % cols;
      tiles.select(0, 2 * r * cols + c).copy_(fullc.select(0, i));
      tiles.select(0, (2 * r + 1) * cols + c).copy_(up.select(0, i));
    }
    return {tiles, static_cast<int>(cols)};
  };
  for (const std::string& out : f.outs) {
    const std::filesystem::path path(out);
    if (path.extension() == ".safetensors") {
      std::vector<std::pair<std::string, Tensor>> items;
      items.emplace_back("images", images.back().to(DType::float32));
      if (f.all_res)
        for (std::size_t k = 0; k + 1 < images.size(); ++k)
          items.emplace_back("images_" + std::to_string(images[k].size(2)), images[k].to(DType::float32));
      if (f.compare) items.emplace_back("images_full", full_images.to(DType::float32));
      std::vector<Var> ws(wplus_parts.begin(), wplus_parts.end());
      items.emplace_back("wplus", (ws.size() == 1 ? wplus_parts[0] : cat(ws, 0).data()).to(DType::float32));
      outputs.write(out, "--out", [&](const std::filesystem::path& p) {
        io::save_safetensors(p, items, {{"sub-network", cfg.describe()}, {"model", model_text}});
      });
      std::printf("  wrote       %s (images [%lld, 3, %lld, %lld]%s, wplus)\n", out.c_str(), static_cast<long long>(n),
                  static_cast<long long>(images.back().size(2)), static_cast<long long>(images.back().size(3)),
                  f.all_res ? " and every lower resolution" : "");
    } else {
      const auto [grid_src, cols] = grid_of(images.back());
      outputs.write(out, "--out", [&](const std::filesystem::path& p) { io::save_image_grid(p, grid_src, cols); });
      std::printf("  wrote       %s%s\n", out.c_str(), f.compare ? " (full renders above their sub-network images)" : "");
      if (f.all_res)
        for (std::size_t k = 0; k + 1 < images.size(); ++k) {
          std::filesystem::path low = path;
          low.replace_filename(path.stem().string() + "_" + std::to_string(images[k].size(2)) + ".png");
          const auto [low_src, low_cols] = grid_of(images[k]);
          outputs.write(low.string(), "--out", [&](const std::filesystem::path& p) { io::save_image_grid(p, low_src, low_cols); });
          std::printf("  wrote       %s\n", low.string().c_str());
        }
    }
  }
  outputs.commit();
  if (f.outs.empty()) std::printf("  (no --out given: nothing written)\n");
  return 0;
}

// ---- anycost train -----------------------------------------------------------------------------------------

struct TrainFlags {
  std::string config, data, out;
  bool resume = false;
  Device device = Device::cpu();
  int threads = 0;
  std::string distributed = "auto";
};

CLI::App* add_train(CLI::App& app, TrainFlags& f) {
  CLI::App* cmd =
      app.add_subcommand("train", "train an Anycost generator on a folder of images (stage-wise, resumable)");
  cmd->footer(
      "Trains an Anycost GAN on a folder of images (PNG/JPEG, searched recursively), stage by stage: StyleGAN2,\n"
      "multi-resolution, adaptive channels (see examples/configs/*.json for the keys and their defaults).\n"
      "Prints a progress line every few seconds; writes RUN_DIR/checkpoints/ckpt-*.safetensors, sample grids in\n"
      "RUN_DIR/samples/ and, at the end, RUN_DIR/generator.safetensors (g_ema, for 'anycost generate --model').\n"
      "Ctrl-C (SIGINT) or SIGTERM writes a checkpoint and stops; --resume continues exactly.\n"
      "\n"
      "Data-parallel: under 'mpirun -np K' (OpenMPI, MPICH) each rank trains on batch / K of every global batch\n"
      "and the gradients are averaged; rank 0 prints and writes. batch must be a multiple of 4 K. A rank that\n"
      "fails or dies stops the job; --resume (under mpirun again) continues from the last checkpoint.\n"
      "\n"
      "example: one process, then 2 MPI ranks\n"
      "  anycost train --config examples/configs/tiny.json --data my_images --out runs/tiny\n"
      "  mpirun -np 2 anycost train --config examples/configs/tiny.json --data my_images --out runs/tiny2 --threads 1");
  cmd->add_option("--config", f.config,
                  "the run's JSON config (required; with --resume: optional, must match the run's)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--data", f.data, "the image folder (required)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
  cmd->add_option("--out", f.out, "the run folder (required; created; must not hold a run unless --resume)")
      ->required()
      ->option_text("RUN_DIR");
  cmd->add_flag("--resume", f.resume, "continue the run in --out from its newest checkpoint");
  add_device(*cmd, f.device, "where to train (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all); the same K gives bit-identical runs")
      ->check(at_least_one)
      ->option_text("K");
  cmd->add_option("--distributed", f.distributed,
                  "data-parallel engine: auto (MPI when started by mpirun with more than one rank; default), "
                  "mpi, or none")
      ->check(CLI::IsMember({"auto", "mpi", "none"}))
      ->option_text("auto|mpi|none");
  return cmd;
}

// The communicator --distributed asks for (null: one process).
std::unique_ptr<train::Communicator> make_communicator(const std::string& mode) {
#ifdef ANYCOST_WITH_MPI
  if (mode == "mpi" || (mode == "auto" && train::MpiCommunicator::launched()))
    return std::make_unique<train::MpiCommunicator>();
#else
  if (mode == "mpi") throw UsageError("--distributed mpi: this anycost was built without MPI (install libopenmpi-dev and rebuild)");
  if (mode == "auto" && std::getenv("OMPI_COMM_WORLD_SIZE") && std::atoi(std::getenv("OMPI_COMM_WORLD_SIZE")) > 1)
    throw UsageError("started by mpirun with several ranks, but this anycost was built without MPI (install "
                     "libopenmpi-dev and rebuild, or pass --distributed none to train one independent run per rank)");
#endif
  return nullptr;
}

std::atomic<bool> stop_requested{false};

int run_train_on(const TrainFlags& f, train::Communicator* comm);

int run_train(const TrainFlags& f) {
  if (f.config.empty() && !f.resume) throw UsageError("--config is required (optional only with --resume)");
  if (f.threads > 0) set_num_threads(f.threads);
  const std::unique_ptr<train::Communicator> comm = make_communicator(f.distributed);
  if (!comm || comm->size() == 1) return run_train_on(f, comm.get());
  // Several ranks: an error on one must end all of them (the others would wait in a collective forever).
  try {
    return run_train_on(f, comm.get());
  } catch (const std::exception& e) {
    comm->abort(std::string("anycost: error: ") + e.what() + "\n(data-parallel run: all ranks stopped)", 1);
  }
  return 1;  // not reached: abort() ends the process
}

int run_train_on(const TrainFlags& f, train::Communicator* comm) {
  train::TrainConfig cfg;
  if (!f.config.empty()) {
    cfg = train::load_train_config(f.config);
  } else {
    const auto ckpts = train::list_checkpoints(std::filesystem::path(f.out) / "checkpoints");
    if (ckpts.empty()) throw UsageError("--resume: no checkpoint in '" + f.out + "/checkpoints'");
    cfg = train::parse_train_config(train::stored_config(io::load_safetensors(ckpts.back())));
  }
  std::signal(SIGINT, [](int) { stop_requested = true; });
  std::signal(SIGTERM, [](int) { stop_requested = true; });
  train::TrainerOptions opts;
  opts.data = f.data;
  opts.out = f.out;
  opts.resume = f.resume;
  opts.device = f.device;
  opts.stop = &stop_requested;
  opts.comm = comm;
  train::Trainer trainer(cfg, opts);
  trainer.run();
  return 0;
}


// ---- anycost search ----------------------------------------------------------------------------------------
// Evolutionary search of per-layer widths and output resolution under MACs or measured-latency budgets
// (anycost/search.hpp); writes the official evolve-config JSON that `generate --evolve-config` reads.

struct SearchFlags {
  std::string model;
  std::vector<std::string> budget_macs;
  std::vector<double> budget_ms;
  search::MacsConvention convention = search::MacsConvention::profile;
  int population = 50, generations = 30;
  std::int64_t samples = 16;
  int eval_res = 0;
  std::vector<int> resolutions;
  int divided_by = 8;
  std::string lpips, out, pareto, latency_table;
  int validate = 20;
  int threads = 0;
  std::uint64_t seed = 0;
  Device device = Device::cpu();
};

CLI::App* add_search(CLI::App& app, SearchFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "search", "search sub-generators (per-layer widths, resolution) under MACs or latency budgets");
  cmd->footer(
      "Evolves per-layer channel widths (multiples of --divided-by from {1/4, 1/2, 3/4, 1} of each layer's\n"
      "width, above the uniform-1/4 floor) and the output resolution, minimising the distance to the full\n"
      "generator's images on fixed latents and noise (LPIPS with --lpips, else the mean squared pixel error),\n"
      "under each budget: MACs per image, or milliseconds predicted from a per-layer latency table timed on\n"
      "this machine (cached in --latency-table, checked against measured times of --validate-latency random\n"
      "sub-networks). Prints progress (generation, best distance, ETA) and, per budget, the best uniform-ratio\n"
      "sub-network within it for comparison. Writes the official evolve-config JSON (--out), which\n"
      "'anycost generate --evolve-config FILE --budget LABEL' runs, and a cost-vs-distance plot (--pareto:\n"
      "grey every scored sub-network, blue the uniform ratios, red the results).\n"
      "\n"
      "examples:\n"
      "  anycost search --budget-macs 1G,500M --out configs.json --pareto pareto.png\n"
      "  anycost search --model generator.safetensors --budget-ms 40 --latency-table latency.json --out fast.json");
  cmd->option_defaults()->group("model");
  add_model_flag(*cmd, f.model);
  add_device(*cmd, f.device, "where to run (default cpu)");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all; part of the latency table's key)")
      ->check(at_least_one)
      ->option_text("K");
  cmd->option_defaults()->group("budgets");
  CLI::Option* macs = cmd->add_option("--budget-macs", f.budget_macs, "MACs per image, e.g. 15G,8G (labels of the output)")
                          ->delimiter(',')
                          ->option_text("M1,M2,...");
  CLI::Option* ms = cmd->add_option("--budget-ms", f.budget_ms, "milliseconds per forward pass on this device, e.g. 40")
                        ->delimiter(',')
                        ->check(must_be<double>("> 0", [](double v) { return v > 0 && std::isfinite(v); }))
                        ->excludes(macs)
                        ->option_text("T1,T2,...");
  macs->excludes(ms);
  add_choice(*cmd, "--macs", f.convention,
             {{"profile", search::MacsConvention::profile}, {"arithmetic", search::MacsConvention::arithmetic}},
             "which MAC count the budget limits: the paper's (profile, default) or true multiply-adds");
  cmd->add_option("--latency-table", f.latency_table, "cache of the per-layer latency table (read if its key matches, written)")
      ->option_text("FILE");
  cmd->add_option("--validate-latency", f.validate, "random sub-networks to check predicted vs measured latency (default 20)")
      ->check(must_be<int>(">= 0", [](int k) { return k >= 0; }))
      ->option_text("K");
  cmd->option_defaults()->group("search");
  cmd->add_option("--population", f.population, "population size (default 50; the reference uses 100)")
      ->check(must_be<int>(">= 2", [](int k) { return k >= 2; }))
      ->option_text("N");
  cmd->add_option("--generations", f.generations, "generations (default 30; the reference uses 500)")
      ->check(must_be<int>(">= 0", [](int k) { return k >= 0; }))
      ->option_text("N");
  cmd->add_option("--samples", f.samples, "latents in the fixed evaluation set (default 16)")->check(at_least_one)->option_text("N");
  cmd->add_option("--eval-res", f.eval_res, "resolution the distance is computed at (default min(256, model))")
      ->option_text("R");
  cmd->add_option("--res", f.resolutions, "output resolutions to search over (default: the model's)")
      ->delimiter(',')
      ->option_text("R1,R2,...");
  cmd->add_option("--divided-by", f.divided_by, "widths are multiples of this (default 8)")->check(at_least_one)->option_text("D");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py) for the distance; default: MSE")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--seed", f.seed, "seed of the latents, noise and the search (default 0)")->option_text("S");
  cmd->option_defaults()->group("output");
  cmd->add_option("--out", f.out, "the evolve-config JSON to write (required)")->required()->option_text("FILE");
  cmd->add_option("--pareto", f.pareto, "a PNG plot of cost against distance")->option_text("FILE.png");
  return cmd;
}

int run_search(const SearchFlags& f) {
  if (f.budget_macs.empty() && f.budget_ms.empty()) throw UsageError("give --budget-macs or --budget-ms");
  Outputs outputs;
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;
  std::string model_text;
  Generator g = load_model_flag(f.model, model_text);
  if (!f.device.is_cpu()) g.to(f.device);
  const ChannelTable& table = g.channel_table();

  std::vector<std::int64_t> macs_limits;
  for (const std::string& b : f.budget_macs) {
    try {
      macs_limits.push_back(search::parse_macs(b));
    } catch (const ValueError& e) {
      throw UsageError(std::string("--budget-macs: ") + e.what());
    }
  }
  std::optional<search::ChannelSpace> space_holder;
  try {
    space_holder.emplace(table, search::SpaceOptions{.divided_by = f.divided_by, .resolutions = f.resolutions});
  } catch (const ValueError& e) {
    throw UsageError(std::string("--res: ") + e.what());
  }
  const search::ChannelSpace& space = *space_holder;
  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) {
    lpips.emplace(losses::Lpips::load(f.lpips));
    if (!f.device.is_cpu()) lpips->to(f.device);
  }
  if (f.eval_res && !(is_power_of_two(f.eval_res) && f.eval_res <= g.resolution()))
    throw UsageError("--eval-res: " + std::to_string(f.eval_res) + " is not a power of two up to " +
                     std::to_string(g.resolution()));

  std::printf("anycost search\n");
  std::printf("  model       %s (%dx%d, widths %s)\n", model_text.c_str(), g.resolution(), g.resolution(),
              widths_text(table).c_str());
  std::string res_text;
  for (int r : space.resolutions()) res_text += (res_text.empty() ? "" : ", ") + std::to_string(r);
  std::printf("  space       widths multiples of %d, resolutions %s\n", f.divided_by, res_text.c_str());
  std::printf("  device      %s, %d CPU threads\n", anycost::detail::concat(f.device).c_str(), get_num_threads());
  std::fflush(stdout);

  const auto t0 = std::chrono::steady_clock::now();
  const search::SubnetDistance dist(
      g, {.samples = f.samples, .batch = std::min<std::int64_t>(f.samples, 8), .seed = f.seed, .eval_resolution = f.eval_res,
          .lpips = lpips ? &*lpips : nullptr});
  std::printf("  distance    %s at %dx%d on %lld fixed latents and noise maps (full outputs cached in %.1f s)\n",
              lpips ? "LPIPS" : "mean squared pixel error ([-1, 1] scale)", dist.eval_resolution(),
              dist.eval_resolution(), static_cast<long long>(f.samples),
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());

  // ---- latency table (ms budgets) ----
  std::optional<search::GeneratorTimer> timer;
  std::optional<search::LatencyTable> latency;
  if (!f.budget_ms.empty()) {
    timer.emplace(g, 1, 5);
    std::string why;
    latency = search::LatencyTable::load_or_create(f.latency_table, timer->key(), &why);
    std::printf("  latency     %s; key: %s, %d threads, batch 1\n", why.c_str(), timer->key().device.c_str(),
                timer->key().threads);
    std::fflush(stdout);
    if (latency->size() == 0 || !latency->calibrated())
      timer->calibrate(*latency, {table.full(), table.uniform(0.5), table.uniform(0.25), space.config(space.smallest(space.resolutions().front()))});
    std::printf("              whole network / sum of its layers: %.3f, %zu layer shapes timed\n", latency->scale(),
                latency->size());
    if (f.validate > 0) {
      Rng vr(f.seed ^ 0x1a7e9c5ull);
      std::vector<SubnetConfig> cfgs;
      for (int i = 0; i < f.validate; ++i) cfgs.push_back(space.config(space.sample(vr)));
      const search::LatencyCheck c = search::validate_latency(*latency, *timer, cfgs);
      std::printf("  validation  predicted vs measured latency on %d random sub-networks: median error %.1f%%, max %.1f%% (%s)\n",
                  f.validate, 100 * c.median_error(), 100 * c.max_error(),
                  c.max_error() <= 0.10 ? "all within 10%" : "NOT all within 10%");
      for (std::size_t i = 0; i < cfgs.size(); ++i)
        std::printf("              %8.3f ms predicted, %8.3f ms measured  %s\n", c.predicted[i], c.measured[i],
                    cfgs[i].describe().c_str());
    }
    if (!f.latency_table.empty()) {
      latency->save(f.latency_table);
      std::printf("  wrote       %s\n", f.latency_table.c_str());
    }
    std::fflush(stdout);
  }

  // ---- one search per budget, sharing the score cache ----
  search::ScoreCache<search::Candidate> cache([&](const search::Candidate& c) { return dist(space.config(c)); });
  const bool by_ms = !f.budget_ms.empty();
  const std::size_t n_budgets = by_ms ? f.budget_ms.size() : macs_limits.size();
  std::vector<EvolveEntry> entries;
  search::PlotSeries scored, uniform_pts, found;
  scored.rgb[0] = scored.rgb[1] = scored.rgb[2] = 0.7f;
  uniform_pts.rgb[0] = 0.1f, uniform_pts.rgb[1] = 0.3f, uniform_pts.rgb[2] = 0.9f, uniform_pts.radius = 3;
  found.rgb[0] = 0.9f, found.rgb[1] = 0.1f, found.rgb[2] = 0.1f, found.radius = 3;
  // Cost on the plot: GMACs (the budget's convention) or predicted ms.
  std::function<double(const SubnetConfig&)> plot_cost;
  if (by_ms) {
    plot_cost = [&](const SubnetConfig& c) { timer->fill(*latency, c); return latency->predict(c); };
  } else {
    plot_cost = [&](const SubnetConfig& c) {
      const MacCount m = g.macs(c);
      return static_cast<double>(f.convention == search::MacsConvention::profile ? m.profile : m.arithmetic) / 1e9;
    };
  }
  // Uniform sub-networks: every ratio on a 1/8 grid at every resolution of the space.
  std::vector<std::pair<SubnetConfig, std::string>> uniforms;
  for (int r : space.resolutions())
    for (int k = 1; k <= 8; ++k) {
      std::ostringstream os;
      os << "uniform " << k / 8.0 << " @ " << r;
      uniforms.emplace_back(table.uniform(k / 8.0, r), os.str());
    }
  std::map<std::string, double> uniform_dist;
  for (const auto& [cfg, name] : uniforms) {
    uniform_dist[name] = dist(cfg);
    uniform_pts.points.emplace_back(plot_cost(cfg), uniform_dist[name]);
  }

  // The uniform sub-networks the space holds seed every search: its result is then never worse than theirs.
  std::vector<search::Candidate> seeds;
  for (const auto& u : uniforms) {
    try {
      seeds.push_back(space.candidate(u.first));
    } catch (const ValueError&) {  // widths off the space's grid (e.g. not multiples of 8)
    }
  }
  const search::EvolutionOptions eopts{.population = f.population, .generations = f.generations, .seed = f.seed};
  for (std::size_t b = 0; b < n_budgets; ++b) {
    std::string label;
    std::function<bool(const search::Candidate&)> feasible;
    std::function<double(const SubnetConfig&)> cost;
    std::string unit;
    if (by_ms) {
      std::ostringstream os;
      os << f.budget_ms[b] << "ms";
      label = os.str();
      auto budget = std::make_shared<search::LatencyBudget>(space, *latency, f.budget_ms[b], &*timer);
      feasible = [budget](const search::Candidate& c) { return (*budget)(c); };
      cost = [budget](const SubnetConfig& c) { return budget->cost(c); };
      unit = " ms";
    } else {
      label = f.budget_macs[b];
      auto budget = std::make_shared<search::MacsBudget>(space, g.style_dim(), g.config().n_mlp, macs_limits[b], f.convention);
      feasible = [budget](const search::Candidate& c) { return (*budget)(c); };
      cost = [budget](const SubnetConfig& c) { return static_cast<double>(budget->cost(c)) / 1e9; };
      unit = " G";
    }
    std::printf("  budget %s\n", label.c_str());
    std::fflush(stdout);
    search::EvolutionResult<search::Candidate> r;
    try {
      r = search::evolve<search::Candidate>(space, cache, feasible, eopts, [&](const search::GenerationReport& p) {
        std::fprintf(stderr, "  [%s] generation %d/%d  best %.6f  scored %lld (cache hits %lld)  %.1f s, ETA %.1f s\n",
                     label.c_str(), p.generation, p.generations, p.best, static_cast<long long>(p.evaluations),
                     static_cast<long long>(p.cache_hits), p.seconds, p.eta_seconds);
      }, seeds);
    } catch (const ValueError& e) {
      throw UsageError("budget " + label + ": " + e.what());
    }
    for (const auto& [c, d] : r.evaluated) scored.points.emplace_back(plot_cost(space.config(c)), d);
    const SubnetConfig best = space.config(r.best);
    found.points.emplace_back(plot_cost(best), r.best_fitness);
    entries.push_back(EvolveEntry{label, best, g.macs(best).profile, r.best_fitness});
    std::printf("    found     %s\n", best.describe().c_str());
    std::printf("              distance %.6f, cost %.4g%s (limit %s), MACs %s profile / %s true\n", r.best_fitness,
                cost(best), unit.c_str(), label.c_str(), fmt_macs(g.macs(best).profile).c_str(),
                fmt_macs(g.macs(best).arithmetic).c_str());
    // The best uniform sub-network within the same budget.
    const std::pair<SubnetConfig, std::string>* best_u = nullptr;
    for (const auto& u : uniforms)
      if (cost(u.first) <= (by_ms ? f.budget_ms[b] : static_cast<double>(macs_limits[b]) / 1e9) &&
          (!best_u || uniform_dist[u.second] < uniform_dist[best_u->second]))
        best_u = &u;
    if (best_u) {
      const double du = uniform_dist[best_u->second];
      std::printf("    uniform   %s: distance %.6f, cost %.4g%s -> the search is %.1f%% %s\n", best_u->second.c_str(), du,
                  cost(best_u->first), unit.c_str(), du > 0 ? 100 * std::abs(du - r.best_fitness) / du : 0.0,
                  r.best_fitness <= du ? "lower (better)" : "higher (worse)");
    } else {
      std::printf("    uniform   no uniform ratio (1/8 grid) fits this budget\n");
    }
    std::fflush(stdout);
  }

  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) { write_evolve_configs(p, entries); });
  std::printf("  wrote       %s (%zu budgets; run one with 'anycost generate --evolve-config %s --budget %s')\n",
              f.out.c_str(), entries.size(), f.out.c_str(), entries.front().label.c_str());
  if (!f.pareto.empty()) {
    outputs.write(f.pareto, "--pareto", [&](const std::filesystem::path& p) {
      search::save_scatter_png(p, {scored, uniform_pts, found});
    });
    std::printf("  wrote       %s (x: %s, y: distance; grey scored, blue uniform, red found)\n", f.pareto.c_str(),
                by_ms ? "predicted ms" : "GMACs");
  }
  outputs.commit();
  if (latency && !f.latency_table.empty()) latency->save(f.latency_table);  // layers timed during the search
  return 0;
}

// ---- anycost train-classifier / anycost eval (anycost/eval.hpp) -------------------------------------------

struct TrainClassifierFlags {
  std::string data, labels, out;
  evaluation::ClassifierTrainOptions opts;
  int res = 64;
  int threads = 0;
};

CLI::App* add_train_classifier(CLI::App& app, TrainClassifierFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "train-classifier", "train the small classifier whose features 'anycost eval' compares (an FID stand-in)");
  cmd->footer(
      "Trains a small CNN (strided 3x3 convolutions, global average pool, linear head) on an image folder and its\n"
      "labels.json (tools/make_emoji_dataset.py: categories and skin tone as multi-label targets), holding out a\n"
      "seeded fraction of the images. Prints progress and the held-out accuracy per label against the majority\n"
      "baseline; writes the classifier (safetensors) for 'anycost eval --classifier'.\n"
      "\n"
      "example:\n"
      "  anycost train-classifier --data data/emoji64/images --labels data/emoji64/labels.json \\\n"
      "                           --out classifier.safetensors --threads 2");
  cmd->add_option("--data", f.data, "the image folder (required)")->required()->check(CLI::ExistingDirectory)->option_text("DIR");
  cmd->add_option("--labels", f.labels, "labels.json of the folder (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--out", f.out, "the classifier file to write (required)")->required()->option_text("FILE");
  cmd->add_option("--res", f.res, "input resolution: images are resized to it (default 64)")
      ->check(must_be<int>("in 8..1024", [](int v) { return v >= 8 && v <= 1024; }))
      ->option_text("R");
  cmd->add_option("--epochs", f.opts.epochs, "passes over the training images (default 12)")
      ->check(at_least_one)
      ->option_text("N");
  cmd->add_option("--batch", f.opts.batch, "images per step (default 32)")->check(at_least_one)->option_text("B");
  cmd->add_option("--lr", f.opts.lr, "Adam learning rate, cosine-decayed to 0 (default 0.002)")
      ->check(must_be<double>("> 0", [](double v) { return v > 0 && std::isfinite(v); }))
      ->option_text("LR");
  cmd->add_option("--holdout", f.opts.holdout, "fraction of the images held out (default 0.1)")
      ->check(must_be<double>("in (0, 0.5]", [](double v) { return v > 0 && v <= 0.5; }))
      ->option_text("F");
  cmd->add_option("--channels", f.opts.channels, "widths of the strided convolutions (default 32,64,128,256)")
      ->delimiter(',')
      ->check(must_be<int>("in 1..4096", [](int v) { return v >= 1 && v <= 4096; }))
      ->option_text("c1,c2,...");
  cmd->add_option("--seed", f.opts.seed, "split, initialisation, order and flips (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  return cmd;
}

int run_train_classifier(const TrainClassifierFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  const evaluation::Labels labels = evaluation::read_labels(f.labels);
  const int res = f.res;
  io::ImageFolder folder(io::ImageFolderOptions{f.data, {res}});
  std::printf("anycost train-classifier\n");
  std::printf("  data        %s: %zu images at %dx%d\n", f.data.c_str(), folder.size(), res, res);
  std::printf("  labels      %s: %zu entries, %zu labels:", f.labels.c_str(), labels.size(), labels.n_labels());
  for (const std::string& n : labels.names()) std::printf(" %s", n.c_str());
  std::printf("\n");
  std::ostringstream widths;
  for (std::size_t i = 0; i < f.opts.channels.size(); ++i) widths << (i ? ", " : "") << f.opts.channels[i];
  std::printf("  network     3x3 stride-2 convolutions [%s], average pool, linear head\n", widths.str().c_str());
  std::printf("  training    %d epochs, batch %lld, Adam lr %g (cosine), holdout %g, seed %llu, %d CPU threads\n",
              f.opts.epochs, static_cast<long long>(f.opts.batch), f.opts.lr, f.opts.holdout,
              static_cast<unsigned long long>(f.opts.seed), get_num_threads());
  std::fflush(stdout);
  const evaluation::ClassifierTrainResult r =
      evaluation::train_classifier(folder, labels, f.opts, [](const evaluation::ClassifierProgress& p) {
        std::printf("  epoch %d/%d | step %lld/%lld | loss %.4f | acc %.4f | %.1f img/s | ETA %s", p.epoch, p.epochs,
                    static_cast<long long>(p.step), static_cast<long long>(p.steps), p.loss, p.accuracy,
                    p.images_per_second, train::format_duration(p.eta_seconds).c_str());
        if (p.epoch_end) std::printf(" | held-out acc %.4f", p.heldout_accuracy);
        std::printf("\n");
        std::fflush(stdout);
      });
  const evaluation::HeldoutReport& h = r.heldout;
  std::printf("  held-out    %lld images (trained on %lld), %.1f s\n", static_cast<long long>(r.n_heldout),
              static_cast<long long>(r.n_train), r.seconds);
  std::printf("  | label | held-out positives | accuracy | majority baseline | balanced accuracy |\n"
              "  |---|---|---|---|---|\n");
  for (const evaluation::LabelAccuracy& l : h.labels)
    std::printf("  | %s | %lld | %.4f | %.4f | %.4f |\n", l.name.c_str(), static_cast<long long>(l.positives),
                l.accuracy, l.majority, l.balanced);
  std::printf("  | mean | | %.4f | %.4f | |\n", h.mean_accuracy, h.mean_majority);
  std::printf("  all labels right on %.4f of the held-out images; held-out loss %.4f\n", h.exact_match, h.loss);
  std::ostringstream acc, maj;
  acc << h.mean_accuracy;
  maj << h.mean_majority;
  evaluation::save_classifier(f.out, r.classifier,
                              {{"data", f.data},
                               {"labels_file", f.labels},
                               {"seed", std::to_string(f.opts.seed)},
                               {"epochs", std::to_string(f.opts.epochs)},
                               {"heldout_images", std::to_string(r.n_heldout)},
                               {"heldout_mean_accuracy", acc.str()},
                               {"heldout_majority_accuracy", maj.str()}});
  std::printf("  wrote       %s\n", f.out.c_str());
  return 0;
}

struct EvalFlags {
  std::string model, classifier, data, lpips, json;
  std::vector<double> ratios = {1.0, 0.75, 0.5, 0.25};
  std::vector<int> res;
  bool grid = false;
  evaluation::EvalOptions opts;
  int threads = 0;
};

CLI::App* add_eval(CLI::App& app, EvalFlags& f) {
  CLI::App* cmd = app.add_subcommand(
      "eval", "measure a generator: FD vs real images, PSNR/LPIPS vs full, latency and MACs per sub-network");
  cmd->footer(
      "For each configuration (every --ratios at the model's resolution, full width at every other --res; with\n"
      "--grid every ratio at every resolution): a Frechet distance between classifier features of --n generated\n"
      "and of all real images at that resolution (the classifier of 'anycost train-classifier' stands in for\n"
      "Inception, whose weights are not available here: the numbers are not FIDs), PSNR (and LPIPS with\n"
      "--lpips) against the full generator on the same latents and noise, the median batch-1 latency and the\n"
      "MACs. Prints a markdown table; --json writes the report.\n"
      "\n"
      "example:\n"
      "  anycost eval --model generator.safetensors --classifier classifier.safetensors \\\n"
      "               --data data/emoji64/images --threads 2 --json eval.json");
  cmd->add_option("--model", f.model, "generator checkpoint, or a training checkpoint (its g_ema) (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--classifier", f.classifier, "from 'anycost train-classifier' (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--data", f.data, "the real image folder (required)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->option_text("DIR");
  cmd->add_option("--n", f.opts.n, "generated images per configuration (default 2000)")
      ->check(must_be<std::int64_t>(">= 2", [](std::int64_t v) { return v >= 2; }))
      ->option_text("N");
  cmd->add_option("--ratios", f.ratios, "uniform channel ratios (default 1,0.75,0.5,0.25)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--res", f.res, "output resolutions (default: the model's, its half and its quarter)")
      ->delimiter(',')
      ->option_text("R1,R2,...");
  cmd->add_flag("--grid", f.grid, "every ratio at every resolution");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py); default: no LPIPS column")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--batch", f.opts.batch, "images per forward pass (default 16)")->check(at_least_one)->option_text("B");
  cmd->add_option("--latency-runs", f.opts.latency_runs, "batch-1 timings per configuration, median (default 20; 0: none)")
      ->check(must_be<int>(">= 0", [](int v) { return v >= 0; }))
      ->option_text("K");
  cmd->add_option("--seed", f.opts.seed, "latents, noise and the real-image halves (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  cmd->add_option("--json", f.json, "also write the report as JSON")->option_text("FILE");
  return cmd;
}

int run_eval(const EvalFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  NoGradGuard inference;
  std::string model_text;
  const Generator g = evaluation::load_eval_generator(f.model, &model_text);
  const evaluation::Classifier classifier = evaluation::load_classifier(f.classifier);
  std::vector<int> res = f.res;
  if (res.empty())
    for (int r = g.resolution(); r >= 8 && res.size() < 3; r /= 2) res.push_back(r);
  for (int r : res)
    if (!(r >= 4 && r <= g.resolution() && is_power_of_two(r)))
      throw UsageError("--res: " + std::to_string(r) + " is not a power of two from 4 to the model's " +
                       std::to_string(g.resolution()));
  const std::vector<evaluation::EvalConfig> configs = evaluation::eval_configs(f.ratios, res, g.resolution(), f.grid);
  std::vector<int> folder_res;
  for (const auto& c : configs) folder_res.push_back(c.resolution);
  std::sort(folder_res.begin(), folder_res.end(), std::greater<>());
  folder_res.erase(std::unique(folder_res.begin(), folder_res.end()), folder_res.end());
  io::ImageFolder real(io::ImageFolderOptions{f.data, folder_res});
  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) lpips.emplace(losses::Lpips::load(f.lpips));

  std::printf("anycost eval\n");
  std::printf("  model       %s\n", model_text.c_str());
  std::printf("  generator   %dx%d, style_dim %lld, n_mlp %d, widths %s\n", g.resolution(), g.resolution(),
              static_cast<long long>(g.style_dim()), g.config().n_mlp, widths_text(g.channel_table()).c_str());
  std::printf("  classifier  %s: %lld features at %dx%d, %lld labels\n", f.classifier.c_str(),
              static_cast<long long>(classifier.feature_dim()), classifier.resolution(), classifier.resolution(),
              static_cast<long long>(classifier.n_labels()));
  std::printf("  real        %s: %zu images\n", f.data.c_str(), real.size());
  std::printf("  samples     %lld per configuration, seed %llu, batch %lld, %zu configurations, %d CPU threads\n",
              static_cast<long long>(f.opts.n), static_cast<unsigned long long>(f.opts.seed),
              static_cast<long long>(f.opts.batch), configs.size(), get_num_threads());
  std::fflush(stdout);
  const bool tty = isatty(fileno(stderr));
  int last_decile = -1;
  const char* last_phase = "";
  const evaluation::EvalReport rep = evaluation::evaluate(
      g, classifier, real, configs, f.opts, lpips ? &*lpips : nullptr, [&](const evaluation::EvalProgress& p) {
        const int decile = static_cast<int>(p.done * 10 / p.total);
        if (std::string(p.phase) != last_phase) last_decile = -1;
        last_phase = p.phase;
        if (!tty && decile == last_decile) return;
        last_decile = decile;
        std::fprintf(stderr, "%s  [%s %lld/%lld] %.1f s%s", tty ? "\r" : "", p.phase, static_cast<long long>(p.done),
                     static_cast<long long>(p.total), p.seconds, tty && p.done < p.total ? "" : "\n");
      });
  std::printf("\n%s\n", evaluation::markdown_table(rep).c_str());
  std::printf(
      "FD: Frechet distance between the features of the classifier (%s), trained on the dataset's\n"
      "labels: Inception weights cannot be downloaded here, so these are not FIDs. Generated images are clamped\n"
      "to [-1, 1] and, like the real ones (at the row's resolution), resized bilinearly to %dx%d.\n"
      "PSNR%s: against the full generator's image (same latents and noise) downsampled bilinearly\n"
      "(align corners, as the consistency loss) to the row's resolution.\n"
      "Latency: median of %d batch-1 runs on %d threads. %lld generated images per row, %lld real images; %.1f s.\n",
      f.classifier.c_str(), classifier.resolution(), classifier.resolution(),
      lpips ? " and LPIPS" : " (LPIPS: n/a, no --lpips weights)", f.opts.latency_runs, rep.threads,
      static_cast<long long>(rep.n), static_cast<long long>(rep.n_real), rep.seconds);
  if (!f.json.empty()) {
    evaluation::write_eval_json(f.json, rep,
                                {{"model", model_text},
                                 {"classifier", f.classifier},
                                 {"data", f.data},
                                 {"lpips", f.lpips.empty() ? "none" : f.lpips},
                                 {"seed", std::to_string(f.opts.seed)},
                                 {"feature_space",
                                  "penultimate features of a classifier trained on the dataset's labels "
                                  "(not Inception: its weights cannot be downloaded here)"}});
    std::printf("wrote %s\n", f.json.c_str());
  }
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

// ---- anycost project ----------------------------------------------------------------------------------------

struct ProjectFlags {
  std::string model;
  std::vector<std::string> images, positional_images;
  projection::Optimizer optimizer = projection::Optimizer::lbfgs;
  int steps = 100;
  double lr = 0, mse_weight = 1, sub_weight = 0;
  std::vector<double> sub_ratios{0.25, 0.5};
  std::string lpips, out, png, encoder;
  int threads = 0;
};

CLI::App* add_project(CLI::App& app, ProjectFlags& f) {
  CLI::App* cmd = app.add_subcommand("project", "find the W+ latent of real images (optimisation, consistency-aware)");
  cmd->footer(
      "Optimises W+ so that the generator renders each image (resized and centre-cropped to its resolution),\n"
      "with MSE (+ LPIPS when --lpips gives weights) and, with --sub-weight A, A times the same loss of the\n"
      "sub-generators at --sub-ratios, so that cheap previews of the latent match the image too.\n"
      "Writes tensor `wplus` [N, n_style, style_dim] for 'anycost generate --latents' and a PNG: each image,\n"
      "its full render and its previews.\n"
      "With --encoder E (from 'anycost train-encoder' or tools/convert_checkpoint.py --entry encoder) W+ starts\n"
      "at the encoder's guess (the image resized to the encoder's input) instead of the mean w; the PSNR of\n"
      "that guess is reported before the refinement.\n"
      "\n"
      "example:\n"
      "  anycost project --image face.png --sub-weight 1 --out face-wplus.safetensors --png face.png");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--image", f.images, "an image to project (PNG or JPEG); may be repeated")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("images", f.positional_images, "images to project, as --image (anycost project IMAGE... --out F)")
      ->check(CLI::ExistingFile)
      ->option_text("IMAGE...");
  add_choice(*cmd, "--optimizer", f.optimizer,
             {{"lbfgs", projection::Optimizer::lbfgs}, {"adam", projection::Optimizer::adam}},
             "L-BFGS (default, as the official projection) or Adam");
  cmd->add_option("--steps", f.steps, "iterations (default 100)")->check(at_least_one)->option_text("K");
  cmd->add_option("--lr", f.lr, "step size (default: L-BFGS 1, Adam 0.01)")
      ->check(must_be<double>("> 0", [](double v) { return v > 0; }))
      ->option_text("LR");
  cmd->add_option("--mse-weight", f.mse_weight, "weight of the MSE term (default 1)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("W");
  cmd->add_option("--sub-weight", f.sub_weight, "weight of the sub-generator term (default 0: off)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("A");
  cmd->add_option("--sub-ratios", f.sub_ratios, "uniform channel ratios of the sub-generators (default 0.25,0.5)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py) for the perceptual term")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--encoder", f.encoder, "an encoder whose W+ guess starts the optimisation (default: the mean w)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  cmd->add_option("--out", f.out, "the latents to write (.safetensors, tensor wplus)")->required()->option_text("FILE");
  cmd->add_option("--png", f.png, "also a PNG: image, full render, previews per row")->option_text("FILE");
  return cmd;
}

int run_project(const ProjectFlags& flags) {
  ProjectFlags f = flags;
  f.images.insert(f.images.end(), f.positional_images.begin(), f.positional_images.end());
  if (f.images.empty()) throw UsageError("no image to project: give IMAGE or --image FILE");
  if (f.threads > 0) set_num_threads(f.threads);
  Outputs outputs;
  std::string model;
  Generator g = load_model_flag(f.model, model);
  nn::set_requires_grad(g, false);  // only W+ is optimised
  const std::int64_t r = g.resolution();
  std::vector<Var> targets;
  for (const std::string& file : f.images)
    targets.emplace_back(io::resize_center_crop(io::read_image(file), r).unsqueeze(0));
  const Tensor x = cat(targets, 0).data();

  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) lpips = losses::Lpips::load(f.lpips);
  projection::ProjectOptions o;
  o.optimizer = f.optimizer;
  o.steps = f.steps;
  o.lr = f.lr;
  o.mse_weight = f.mse_weight;
  o.lpips = lpips ? &*lpips : nullptr;
  o.sub_weight = f.sub_weight;
  const ChannelTable& table = g.channel_table();
  try {
    for (double ratio : f.sub_ratios) o.sub_configs.push_back(table.uniform(ratio, static_cast<int>(r)));
    if (o.sub_weight > 0) o.sub_configs.push_back(table.full(static_cast<int>(r / 2)));
  } catch (const ValueError& e) {
    throw UsageError(e.what());
  }
  if (o.sub_weight == 0) o.sub_configs.clear();
  std::optional<Encoder> encoder;
  if (!f.encoder.empty()) {
    encoder = load_encoder(f.encoder);
    if (encoder->n_style() != g.n_style() || encoder->style_dim() != g.style_dim())
      throw UsageError("--encoder: '" + f.encoder + "' predicts W+ " + std::to_string(encoder->n_style()) + "x" +
                       std::to_string(encoder->style_dim()) + ", the generator takes " + std::to_string(g.n_style()) +
                       "x" + std::to_string(g.style_dim()));
  }
  std::printf("anycost project\n  model       %s\n  images      %zu, at %lldx%lld\n  objective   %g MSE%s", model.c_str(),
              f.images.size(), static_cast<long long>(r), static_cast<long long>(r), f.mse_weight,
              lpips ? " + LPIPS" : " (no --lpips: no perceptual term)");
  if (o.sub_weight > 0) {
    std::printf(" + %g x mean over", o.sub_weight);
    for (const SubnetConfig& c : o.sub_configs) std::printf(" [%s]", c.describe().c_str());
  }
  std::printf("\n  optimiser   %s, %d steps\n", f.optimizer == projection::Optimizer::lbfgs ? "L-BFGS" : "Adam", f.steps);
  if (encoder) {
    // The encoder sees the image at its own input resolution, as the official tools/project.py feeds it.
    NoGradGuard no_grad;
    const Encoder& e = *encoder;
    o.init = e.forward(encoder_input(Var(x), e.resolution()));
    const Tensor guess = g.synthesize(o.init, table.full(static_cast<int>(r))).image.data();
    const double mse = mean(square(clamp(Var(guess), -1.0, 1.0) - Var(x))).data().item();
    std::printf("  start       encoder %s (%dx%d input): mse %.5g (PSNR %.2f dB)\n", f.encoder.c_str(), e.resolution(),
                e.resolution(), mse, 10 * std::log10(4.0 / std::max(mse, 1e-20)));
  } else {
    // project() would start here too (the mean of mean_samples seeded z); computed here to report its PSNR.
    NoGradGuard no_grad;
    Rng rng(o.seed);
    const Var mean_w = g.mean_w(o.mean_samples, rng);
    o.init = Var(mean_w.data().reshape({1, 1, g.style_dim()}).expand({x.size(0), g.n_style(), g.style_dim()}).contiguous());
    const Tensor guess = g.synthesize(o.init, table.full(static_cast<int>(r))).image.data();
    const double mse = mean(square(clamp(Var(guess), -1.0, 1.0) - Var(x))).data().item();
    std::printf("  start       the mean w: mse %.5g (PSNR %.2f dB)\n", mse, 10 * std::log10(4.0 / std::max(mse, 1e-20)));
  }
  std::fflush(stdout);
  o.on_step = [&](const projection::ProjectStep& s) {
    if (s.step % 10 == 0 || s.step == f.steps)
      std::fprintf(stderr, "  step %d/%d  loss %.5g  mse %.5g  %.2f s/step  ETA %.0f s\n", s.step, f.steps, s.loss,
                   s.mse, s.seconds / s.step, s.seconds / s.step * (f.steps - s.step));
  };
  const projection::ProjectResult res = projection::project(g, x, o);
  const projection::ProjectStep& last = res.history.back();
  std::printf("  result      mse %.5g (PSNR %.2f dB) after %zu steps, %.1f s (%s)\n", res.mse,
              10 * std::log10(4.0 / std::max(res.mse, 1e-20)), res.history.size(), last.seconds, res.stop.c_str());
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    io::save_safetensors(p, {{"wplus", res.wplus.to(DType::float32)}}, {{"model", model}});
  });
  std::printf("  wrote       %s (wplus [%lld, %lld, %lld])\n", f.out.c_str(), static_cast<long long>(res.wplus.size(0)),
              static_cast<long long>(res.wplus.size(1)), static_cast<long long>(res.wplus.size(2)));
  if (!f.png.empty()) {
    // Per image: the target, the full render, and each uniform-ratio preview (at full resolution).
    NoGradGuard no_grad;
    std::vector<Var> tiles;
    const Var w(res.wplus);
    std::vector<Tensor> previews;
    for (double ratio : f.sub_ratios) previews.push_back(g.synthesize(w, table.uniform(ratio, static_cast<int>(r))).image.data());
    for (std::int64_t i = 0; i < x.size(0); ++i) {
      tiles.emplace_back(x.select(0, i).unsqueeze(0));
      tiles.emplace_back(res.image.select(0, i).unsqueeze(0));
      for (const Tensor& p : previews) tiles.emplace_back(p.select(0, i).unsqueeze(0));
    }
    outputs.write(f.png, "--png", [&](const std::filesystem::path& p) {
      io::save_image_grid(p, Var(clamp(cat(tiles, 0), -1.0, 1.0)).data(), static_cast<int>(2 + previews.size()));
    });
    std::printf("  wrote       %s (per row: image, full render, ratio", f.png.c_str());
    for (double ratio : f.sub_ratios) std::printf(" %g", ratio);
    std::printf(")\n");
  }
  outputs.commit();
  return 0;
}

// ---- anycost train-encoder ----------------------------------------------------------------------------------

struct TrainEncoderFlags {
  std::string model, out, lpips, init;
  projection::EncoderTrainOptions opts;
  std::vector<int> blocks{1, 1, 1, 1};
  int base_width = 16;
  std::optional<int> res;
  int threads = 0;
  int save_every = 500;
  std::int64_t eval_samples = 64;
  std::string layout = "small";
};

CLI::App* add_train_encoder(CLI::App& app, TrainEncoderFlags& f) {
  CLI::App* cmd = app.add_subcommand("train-encoder", "train the projection encoder (image -> W+) on the generator's samples");
  cmd->footer(
      "Trains a ResNet encoder that predicts the W+ latent of an image, the first guess of 'anycost project\n"
      "--encoder'. The objective is Anycost GAN's consistency-aware one: MSE (+ LPIPS with --lpips) of the full\n"
      "generator's render of E(x) against x, plus --sub-weight times the same for a random uniform sub-generator\n"
      "(--sub-ratios), on samples of the frozen generator (whose true W+ is known: --w-weight adds a W+ regression\n"
      "term). Adam; progress lines with step, rate, ETA and the loss terms; the encoder is written atomically\n"
      "every --save-every steps and at the end, with the held-out reconstruction PSNR before and after.\n"
      "--layout resnet50 is the official architecture (blocks 3,4,6,3, base width 64, 256x256 input).\n"
      "\n"
      "example:\n"
      "  anycost train-encoder --steps 2000 --batch 8 --out examples/models/emoji64/encoder.safetensors --threads 2");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--out", f.out, "the encoder file to write (required)")->required()->option_text("FILE");
  cmd->add_option("--init", f.init, "continue from this encoder file (its architecture wins)")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--steps", f.opts.steps, "Adam steps (default 1000)")->check(at_least_one)->option_text("N");
  cmd->add_option("--batch", f.opts.batch, "samples per step (default 8)")
      ->check(must_be<std::int64_t>(">= 2 (batch statistics)", [](std::int64_t b) { return b >= 2; }))
      ->option_text("B");
  cmd->add_option("--lr", f.opts.lr, "Adam learning rate (default 0.001)")
      ->check(must_be<double>("> 0", [](double v) { return v > 0 && std::isfinite(v); }))
      ->option_text("LR");
  cmd->add_option("--sub-weight", f.opts.sub_weight, "alpha, weight of the sub-generator term (default 1)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("A");
  cmd->add_option("--sub-ratios", f.opts.sub_ratios, "uniform channel ratios drawn from (default 0.25,0.5,0.75,1)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--w-weight", f.opts.w_weight, "weight of the W+ regression term (default 0: off)")
      ->check(must_be<double>(">= 0", [](double v) { return v >= 0; }))
      ->option_text("W");
  cmd->add_option("--lpips", f.lpips, "LPIPS weights (tools/convert_lpips.py) for the perceptual term")
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--layout", f.layout, "small (default: --blocks/--base-width) or resnet50 (the official encoder)")
      ->check(CLI::IsMember({"small", "resnet50"}))
      ->option_text("small|resnet50");
  cmd->add_option("--blocks", f.blocks, "bottlenecks per stage (default 1,1,1,1)")
      ->delimiter(',')
      ->check(must_be<int>("in 1..64", [](int v) { return v >= 1 && v <= 64; }))
      ->option_text("b1,b2,...");
  cmd->add_option("--base-width", f.base_width, "planes of the first stage (default 16)")
      ->check(must_be<int>("in 1..1024", [](int v) { return v >= 1 && v <= 1024; }))
      ->option_text("C");
  cmd->add_option("--res", f.res, "encoder input resolution (default: the generator's, at most 256)")
      ->check(must_be<int>("in 8..4096", [](int v) { return v >= 8 && v <= 4096; }))
      ->option_text("R");
  cmd->add_option("--save-every", f.save_every, "write the encoder every K steps (default 500)")
      ->check(at_least_one)
      ->option_text("K");
  cmd->add_option("--eval-samples", f.eval_samples, "held-out samples for the PSNR report (default 64)")
      ->check(at_least_one)
      ->option_text("N");
  cmd->add_option("--seed", f.opts.seed, "samples, initialisation and sub-generators (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  return cmd;
}

int run_train_encoder(const TrainEncoderFlags& f) {
  if (f.threads > 0) set_num_threads(f.threads);
  std::string model;
  Generator g = load_model_flag(f.model, model);
  nn::set_requires_grad(g, false);  // only the encoder learns
  std::optional<losses::Lpips> lpips;
  if (!f.lpips.empty()) lpips = losses::Lpips::load(f.lpips);
  projection::EncoderTrainOptions o = f.opts;
  o.lpips = lpips ? &*lpips : nullptr;
  Encoder e;
  if (!f.init.empty()) {
    e = load_encoder(f.init);
    o.init_mean_latent = false;
  } else {
    EncoderConfig cfg;
    if (f.layout == "small") {
      cfg.blocks = f.blocks;
      cfg.base_width = f.base_width;
    }
    cfg.resolution = f.res ? *f.res : std::min(g.resolution(), 256);
    cfg.n_style = g.n_style();
    cfg.style_dim = static_cast<int>(g.style_dim());
    try {
      cfg.validate();
    } catch (const ValueError& err) {
      throw UsageError(err.what());
    }
    Rng rng(f.opts.seed + 1);
    e = Encoder(cfg, rng);
  }
  if (e.n_style() != g.n_style() || e.style_dim() != g.style_dim())
    throw UsageError("--init: '" + f.init + "' predicts W+ " + std::to_string(e.n_style()) + "x" +
                     std::to_string(e.style_dim()) + ", the generator takes " + std::to_string(g.n_style()) + "x" +
                     std::to_string(g.style_dim()));
  try {  // bad --sub-ratios for this generator: a flag error
    for (double ratio : o.sub_ratios) (void)g.channel_table().uniform(ratio);
  } catch (const ValueError& err) {
    throw UsageError(err.what());
  }
  std::ostringstream blocks;
  for (std::size_t i = 0; i < e.config().blocks.size(); ++i) blocks << (i ? "," : "") << e.config().blocks[i];
  std::printf("anycost train-encoder\n  model       %s (%dx%d, W+ %dx%lld)\n", model.c_str(), g.resolution(),
              g.resolution(), g.n_style(), static_cast<long long>(g.style_dim()));
  std::printf("  encoder     ResNet blocks %s, base width %d, %dx%d input, %lld parameters%s\n", blocks.str().c_str(),
              e.config().base_width, e.resolution(), e.resolution(), static_cast<long long>(nn::parameter_count(e)),
              f.init.empty() ? "" : (" (from " + f.init + ")").c_str());
  std::printf("  objective   %g MSE%s + %g x sub-generator (ratios", o.mse_weight,
              lpips ? " + LPIPS" : " (no --lpips: no perceptual term)", o.sub_weight);
  for (double r : o.sub_ratios) std::printf(" %g", r);
  std::printf(")%s\n", o.w_weight > 0 ? (" + " + std::to_string(o.w_weight) + " x W+ MSE").c_str() : "");
  std::printf("  training    %d steps, batch %lld, Adam lr %g, seed %llu, %d CPU threads\n", o.steps,
              static_cast<long long>(o.batch), o.lr, static_cast<unsigned long long>(o.seed), get_num_threads());
  std::fflush(stdout);
  const auto save = [&](const Encoder& enc, int step, const std::string& extra_key = {}, const std::string& extra = {}) {
    std::map<std::string, std::string> meta{{"model", model}, {"step", std::to_string(step)},
                                            {"seed", std::to_string(o.seed)}};
    if (!extra_key.empty()) meta[extra_key] = extra;
    save_encoder(f.out, enc, meta);
  };
  o.checkpoint_every = f.save_every;
  o.on_checkpoint = [&](int step, const Encoder& enc) {
    save(enc, step);
    std::printf("  saved       %s (step %d)\n", f.out.c_str(), step);
    std::fflush(stdout);
  };
  const std::uint64_t eval_seed = o.seed + 12345;  // held out: never a training sample's stream
  if (o.init_mean_latent) {  // the fresh encoder's guess is the mean w: evaluate it with that mean in place
    Rng rng(o.seed);
    NoGradGuard no_grad;
    e.mean_latent = g.mean_w(o.mean_samples, rng).data().clone();
  }
  const projection::EncoderEvaluation before = projection::evaluate_encoder(e, g, f.eval_samples, eval_seed);
  std::printf("  before      held-out PSNR %.2f dB (mse %.5g); mean-w guess %.2f dB\n", before.psnr, before.mse,
              before.mean_w_psnr);
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  projection::train_encoder(e, g, o, [](const projection::EncoderTrainProgress& p) {
    std::printf("  step %d/%d | loss %.5f | mse %.5f", p.step, p.steps, p.loss.total, p.loss.mse);
    if (p.loss.lpips > 0) std::printf(" | lpips %.4f", p.loss.lpips);
    if (p.loss.sub_mse > 0) std::printf(" | sub mse %.5f", p.loss.sub_mse);
    if (p.loss.sub_lpips > 0) std::printf(" | sub lpips %.4f", p.loss.sub_lpips);
    if (p.loss.w_mse > 0) std::printf(" | w mse %.5f", p.loss.w_mse);
    std::printf(" | %.1f img/s | ETA %s\n", p.images_per_second, train::format_duration(p.eta_seconds).c_str());
    std::fflush(stdout);
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const projection::EncoderEvaluation after = projection::evaluate_encoder(e, g, f.eval_samples, eval_seed);
  std::printf("  after       held-out PSNR %.2f dB (mse %.5g); mean-w guess %.2f dB; %.1f s\n", after.psnr, after.mse,
              after.mean_w_psnr, seconds);
  std::ostringstream psnr;
  psnr << after.psnr;
  save(e, o.steps, "heldout_psnr", psnr.str());
  std::printf("  wrote       %s\n", f.out.c_str());
  return 0;
}

// ---- anycost edit -------------------------------------------------------------------------------------------

struct EditFlags {
  std::string model, latents, directions, out, png;
  std::vector<std::string> edits;
  std::int64_t n_change = -1;
  std::vector<double> ratios{1.0, 0.25};
};

CLI::App* add_edit(CLI::App& app, EditFlags& f) {
  CLI::App* cmd = app.add_subcommand("edit", "move W+ latents along attribute directions, preview and full render");
  cmd->footer(
      "Adds STRENGTH x direction to the first --n-change rows of each W+ latent (the demo's rule), writes the\n"
      "edited latents and a PNG: per latent, the original and the edit at each --ratios width.\n"
      "Directions: a .safetensors file with one [style_dim] tensor per attribute (unit length).\n"
      "\n"
      "example:\n"
      "  anycost edit --latents face-wplus.safetensors --directions dirs.safetensors --edit smiling=0.4 \\\n"
      "               --out edited.safetensors --png edited.png");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--latents", f.latents, "W+ latents (tensor wplus, e.g. from 'anycost project')")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--directions", f.directions, "attribute directions (.safetensors)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  cmd->add_option("--edit", f.edits, "NAME=STRENGTH; may be repeated (strengths add)")->required()->option_text("NAME=S");
  cmd->add_option("--n-change", f.n_change, "how many W+ rows change, from the coarsest (default: all)")
      ->check(at_least_one)
      ->option_text("K");
  cmd->add_option("--ratios", f.ratios, "channel ratios rendered in the PNG (default 1,0.25)")
      ->delimiter(',')
      ->check(must_be<double>("in (0, 1]", [](double r) { return r > 0 && r <= 1; }))
      ->option_text("r1,r2,...");
  cmd->add_option("--out", f.out, "the edited latents (.safetensors, tensor wplus)")->required()->option_text("FILE");
  cmd->add_option("--png", f.png, "also a PNG: original and edited renders")->option_text("FILE");
  return cmd;
}

int run_edit(const EditFlags& f) {
  Outputs outputs;
  std::string model;
  const Generator g = load_model_flag(f.model, model);
  const io::SafetensorsFile lat = io::load_safetensors(f.latents);
  if (!lat.contains("wplus")) throw UsageError("--latents " + f.latents + ": no tensor named wplus");
  const Tensor wplus = lat.at("wplus").to(DType::float32);
  require_finite(wplus, "--latents", f.latents, "wplus");
  if (!(wplus.dim() == 3 && wplus.size(1) == g.n_style() && wplus.size(2) == g.style_dim()))
    throw UsageError("--latents: wplus has shape " + anycost::detail::concat(wplus.shape()) + ", expected [N, " +
                     std::to_string(g.n_style()) + ", " + std::to_string(g.style_dim()) + "]");
  const io::SafetensorsFile dirs = io::load_safetensors(f.directions);
  std::vector<editing::Edit> edits;
  for (const std::string& e : f.edits) {
    const std::size_t eq = e.find('=');
    double strength = 0;
    if (eq == std::string::npos || !CLI::detail::lexical_cast(e.substr(eq + 1), strength) || !std::isfinite(strength))
      throw UsageError("--edit: expected NAME=STRENGTH, not '" + e + "'");
    const std::string name = e.substr(0, eq);
    if (!dirs.contains(name)) {
      std::string names;
      for (const auto& [k, t] : dirs.tensors) names += (names.empty() ? "" : ", ") + k;
      throw UsageError("--edit: no direction '" + name + "' in " + f.directions + " (there are: " + names + ")");
    }
    const Tensor d = dirs.at(name);
    require_finite(d, "--directions", f.directions, name);
    if (d.numel() != g.style_dim())
      throw UsageError("--edit: direction '" + name + "' has " + std::to_string(d.numel()) + " values, the model's w " +
                       std::to_string(g.style_dim()));
    edits.push_back({d.to_vector<double>(), strength});
  }
  if (f.n_change > g.n_style())
    throw UsageError("--n-change: " + std::to_string(f.n_change) + " exceeds the model's " + std::to_string(g.n_style()) +
                     " W+ rows");
  const Tensor edited = editing::apply_edits(wplus, edits, f.n_change);
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    io::save_safetensors(p, {{"wplus", edited}}, {{"model", model}});
  });
  std::printf("anycost edit\n  model       %s\n  latents     %lld from %s\n  edits      ", model.c_str(),
              static_cast<long long>(wplus.size(0)), f.latents.c_str());
  for (const std::string& e : f.edits) std::printf(" %s", e.c_str());
  std::printf(" (rows 0..%lld)\n  wrote       %s\n", static_cast<long long>(f.n_change < 0 ? g.n_style() - 1 : f.n_change - 1),
              f.out.c_str());
  if (!f.png.empty()) {
    NoGradGuard no_grad;
    const ChannelTable& table = g.channel_table();
    std::vector<Tensor> renders;  // per ratio: original, edited
    for (double ratio : f.ratios) {
      SubnetConfig cfg = table.full();
      try {
        cfg = table.uniform(ratio);
      } catch (const ValueError& e) {
        throw UsageError(std::string("--ratios: ") + e.what());
      }
      renders.push_back(g.synthesize(Var(wplus), cfg).image.data());
      renders.push_back(g.synthesize(Var(edited), cfg).image.data());
    }
    std::vector<Var> tiles;
    for (std::int64_t i = 0; i < wplus.size(0); ++i)
      for (const Tensor& r : renders) tiles.emplace_back(r.select(0, i).unsqueeze(0));
    outputs.write(f.png, "--png", [&](const std::filesystem::path& p) {
      io::save_image_grid(p, Var(clamp(cat(tiles, 0), -1.0, 1.0)).data(), static_cast<int>(renders.size()));
    });
    std::printf("  wrote       %s (per row, for each ratio:", f.png.c_str());
    for (double ratio : f.ratios) std::printf(" %g", ratio);
    std::printf(", the original then the edit)\n");
  }
  outputs.commit();
  return 0;
}

// ---- anycost directions ---------------------------------------------------------------------------------

struct DirectionsFlags {
  std::string model, classifier, out;
  editing::SampleDirectionOptions opts;
  int threads = 0;
};

CLI::App* add_directions(CLI::App& app, DirectionsFlags& f) {
  CLI::App* cmd = app.add_subcommand("directions", "edit directions in W for every label of a classifier");
  cmd->footer(
      "Samples --samples latents (w truncated toward the mean w by --truncation), renders them at full width,\n"
      "scores every label of --classifier (from 'anycost train-classifier') on the images, and per label fits a\n"
      "linear SVM between the top and the bottom --fraction of the samples (InterFaceGAN, as the official\n"
      "extract_edit_directions.py). Writes one unit [style_dim] tensor per label, for 'anycost edit'.\n"
      "\n"
      "example:\n"
      "  anycost directions --classifier examples/models/emoji64/classifier.safetensors --out dirs.safetensors\n"
      "  anycost edit --latents latents.safetensors --directions dirs.safetensors --edit animal=2 --out e.safetensors");
  add_model_flag(*cmd, f.model);
  cmd->add_option("--classifier", f.classifier, "the attribute predictor, from 'anycost train-classifier' (required)")
      ->required()
      ->check(CLI::ExistingFile)
      ->option_text("FILE");
  f.opts.samples = 10000;
  cmd->add_option("--samples", f.opts.samples, "sampled latents (default 10000)")->check(at_least_one)->option_text("N");
  cmd->add_option("--fraction", f.opts.fit.fraction, "of the samples, for each of positives and negatives (default 0.02)")
      ->check(must_be<double>("in (0, 0.5]", [](double v) { return v > 0 && v <= 0.5; }))
      ->option_text("F");
  cmd->add_option("--truncation", f.opts.truncation, "psi toward the mean w (default 0.7)")
      ->check(must_be<double>("in (0, 1]", [](double v) { return v > 0 && v <= 1; }))
      ->option_text("PSI");
  cmd->add_option("--batch", f.opts.batch, "images per forward pass (default 64)")->check(at_least_one)->option_text("B");
  cmd->add_option("--seed", f.opts.seed, "latents and the train/validation split (default 0)")->option_text("S");
  cmd->add_option("--threads", f.threads, "CPU threads (default: all)")->check(at_least_one)->option_text("K");
  cmd->add_option("--out", f.out, "the directions (.safetensors, one tensor per label)")->required()->option_text("FILE");
  return cmd;
}

int run_directions(DirectionsFlags f) {
  if (f.threads > 0) set_num_threads(f.threads);
  Outputs outputs;
  std::string model;
  const Generator g = load_model_flag(f.model, model);
  const evaluation::Classifier c = evaluation::load_classifier(f.classifier);
  f.opts.fit.seed = f.opts.seed;
  const std::int64_t per_class = static_cast<std::int64_t>(f.opts.fit.fraction * static_cast<double>(f.opts.samples));
  if (per_class < 4)
    throw UsageError("--samples " + std::to_string(f.opts.samples) + " x --fraction " + std::to_string(f.opts.fit.fraction) +
                     " leaves " + std::to_string(per_class) + " samples per class: need at least 4");
  std::printf("anycost directions\n  model       %s\n  classifier  %s: %lld labels at %dx%d\n", model.c_str(),
              f.classifier.c_str(), static_cast<long long>(c.n_labels()), c.resolution(), c.resolution());
  std::printf("  samples     %lld (psi %g, seed %llu), top and bottom %lld per label, %d CPU threads\n",
              static_cast<long long>(f.opts.samples), f.opts.truncation, static_cast<unsigned long long>(f.opts.seed),
              static_cast<long long>(per_class), get_num_threads());
  std::fflush(stdout);
  const auto start = std::chrono::steady_clock::now();
  const bool tty = isatty(fileno(stderr));
  int last_decile = -1;
  f.opts.on_batch = [&](std::int64_t done, std::int64_t total) {
    const int decile = static_cast<int>(done * 10 / total);
    if (!tty && decile == last_decile) return;
    last_decile = decile;
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "%s  [sampled %lld/%lld] %.1f s, ETA %.0f s%s", tty ? "\r" : "", static_cast<long long>(done),
                 static_cast<long long>(total), sec, sec / static_cast<double>(done) * static_cast<double>(total - done),
                 tty && done < total ? "" : "\n");
  };
  const auto predictor = [&](const Var& images) { return c.forward(evaluation::classifier_input(images, c.resolution())); };
  const std::vector<editing::Direction> dirs = editing::sample_directions(g, predictor, c.labels(), f.opts);

  std::vector<std::pair<std::string, Tensor>> tensors;
  nlohmann::json accuracy = nlohmann::json::object();
  std::printf("\n| label | held-out SVM accuracy | per class |\n|---|---|---|\n");
  for (const editing::Direction& d : dirs) {
    tensors.emplace_back(d.name, Tensor::from_vector<double>(d.d, {g.style_dim()}).to(DType::float32));
    accuracy[d.name] = d.val_accuracy;
    std::printf("| %s | %.1f%% | %lld |\n", d.name.c_str(), 100 * d.val_accuracy, static_cast<long long>(d.per_class));
  }
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    io::save_safetensors(p, tensors,
                         {{"format", "anycost-directions"},
                          {"model", model},
                          {"classifier", f.classifier},
                          {"samples", std::to_string(f.opts.samples)},
                          {"truncation", std::to_string(f.opts.truncation)},
                          {"val_accuracy", accuracy.dump()}});
  });
  outputs.commit();
  std::printf("\n  wrote       %s (%zu directions, unit length, in W)\n", f.out.c_str(), dirs.size());
  return 0;
}

// ---- anycost export -----------------------------------------------------------------------------------------

struct ExportFlags {
  std::string checkpoint, which = "g_ema", out;
};

CLI::App* add_export(CLI::App& app, ExportFlags& f) {
  CLI::App* cmd = app.add_subcommand("export", "write one generator of a training checkpoint as a generator file");
  cmd->footer(
      "Reads a training checkpoint (RUN_DIR/checkpoints/ckpt-*.safetensors of 'anycost train') and writes one of\n"
      "its generators as a generator file for 'anycost generate --model' (atomically).\n"
      "\n"
      "example:\n"
      "  anycost export runs/emoji64/checkpoints/ckpt-000028000.safetensors --out stage2.safetensors");
  cmd->add_option("checkpoint", f.checkpoint, "the training checkpoint")->required()->check(CLI::ExistingFile)->option_text("CKPT");
  cmd->add_option("--which", f.which, "g_ema (default), g or teacher")
      ->check(CLI::IsMember({"g_ema", "g", "teacher"}))
      ->option_text("NAME");
  cmd->add_option("--out", f.out, "the generator file to write (.safetensors)")->required()->option_text("FILE");
  return cmd;
}

int run_export(const ExportFlags& f) {
  Outputs outputs;
  const io::SafetensorsFile meta = io::load_safetensors(f.checkpoint);
  const Generator g = train::load_train_generator(f.checkpoint, f.which);
  const std::string iteration = meta.metadata.count("iteration") ? meta.metadata.at("iteration") : "?";
  const std::string stage = meta.metadata.count("stage") ? meta.metadata.at("stage") : "?";
  outputs.write(f.out, "--out", [&](const std::filesystem::path& p) {
    save_generator(p, g,
                   {{"source", std::filesystem::path(f.checkpoint).filename().string() + " (" + f.which + ")"},
                    {"iteration", iteration},
                    {"stage", stage}});
  });
  outputs.commit();
  std::printf("wrote %s: %s of %s (stage %s, iteration %s), %dx%d, style_dim %lld, widths %s\n", f.out.c_str(),
              f.which.c_str(), f.checkpoint.c_str(), stage.c_str(), iteration.c_str(), g.resolution(), g.resolution(),
              static_cast<long long>(g.style_dim()), widths_text(g.channel_table()).c_str());
  return 0;
}

int main(int argc, char** argv) {
  tune_process(argv);
  CLI::App app("anycost: Anycost GANs, generation at any width and resolution, and training", "anycost");
  app.get_formatter()->column_width(26);
  app.footer("Run 'anycost <command> --help' for the flags of a command.");
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // a repeated flag: the last wins
  GenerateFlags generate_flags;
  TrainFlags train_flags;
  const CLI::App* generate = add_generate(app, generate_flags);
  const CLI::App* train = add_train(app, train_flags);
  SearchFlags search_flags;
  const CLI::App* search_cmd = add_search(app, search_flags);
  ProjectFlags project_flags;
  const CLI::App* project = add_project(app, project_flags);
  EditFlags edit_flags;
  const CLI::App* edit = add_edit(app, edit_flags);
  DirectionsFlags directions_flags;
  const CLI::App* directions = add_directions(app, directions_flags);
  ExportFlags export_flags;
  const CLI::App* export_cmd = add_export(app, export_flags);
  TrainClassifierFlags train_classifier_flags;
  EvalFlags eval_flags;
  const CLI::App* train_classifier = add_train_classifier(app, train_classifier_flags);
  const CLI::App* eval_cmd = add_eval(app, eval_flags);
  TrainEncoderFlags train_encoder_flags;
  const CLI::App* train_encoder = add_train_encoder(app, train_encoder_flags);

  // Bad flags: the message, a pointer to the help of the command given, exit status 2.
  const auto usage_error = [&app](const std::string& message) {
    const std::vector<CLI::App*> given = app.get_subcommands();
    std::cerr << "anycost: " << message << "\n(run 'anycost " << (given.empty() ? "" : given[0]->get_name() + " ")
              << "--help')\n";
    return 2;
  };
  if (argc == 1 || (argc == 2 && std::string(argv[1]) == "help")) {
    std::cout << app.help();
    return argc == 1 ? 2 : 0;
  }
  try {
    app.parse(argc, argv);
    if (*generate) return run_generate(generate_flags);
    if (*train) return run_train(train_flags);
    if (*search_cmd) return run_search(search_flags);
    if (*project) return run_project(project_flags);
    if (*edit) return run_edit(edit_flags);
    if (*directions) return run_directions(directions_flags);
    if (*export_cmd) return run_export(export_flags);
    if (*train_classifier) return run_train_classifier(train_classifier_flags);
    if (*eval_cmd) return run_eval(eval_flags);
    if (*train_encoder) return run_train_encoder(train_encoder_flags);
    return usage_error("no command given: generate, train, search, project, edit, directions, export, "
                       "train-classifier, eval or train-encoder");
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help prints the help and succeeds
    return usage_error(e.what());
  } catch (const UsageError& e) {
    return usage_error(e.what());
  } catch (const std::exception& e) {
    std::cerr << "anycost: error: " << e.what() << "\n";
    return 1;
  }
}
