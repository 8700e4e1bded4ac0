// Shared helpers of the anycost tool (examples/anycost.cpp): flag helpers, Outputs, the model flag, report text.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include <anycost/anycost.hpp>
#include <anycost/io/safetensors.hpp>
#include <anycost/models.hpp>
#include <anycost/util/atomic_file.hpp>

namespace anycost_cli {

using namespace anycost;
using namespace anycost::models;

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

// ---- the model flag and the report helpers (shared by the commands) ----------------------------------------

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

}  // namespace anycost_cli
