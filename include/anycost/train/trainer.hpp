// Trainer: the stage-wise Anycost GAN training run (Lin et al. 2021, Sec. 3) over an image folder.
//
//   stage 1  StyleGAN2: single-resolution D, R1, path length, style mixing, EMA generator
//   stage 2  multi-resolution: D sees R, R/2, ... (n_res); 2 sampled per step; distillation from the frozen
//            teacher (g_ema at the end of stage 1, or init.teacher / init.generator)
//   stage 3  adaptive channels: channels sorted first (Sec. 2.5), a sampled sub-network per step, the
//            generator-conditioned D, consistency loss against the teacher
// At a stage boundary G restarts from g_ema, the teacher becomes a frozen copy of it, D is transferred
// (Sec. 3.5) and both optimisers start afresh, as the official stage scripts do.
//
// The run folder (TrainerOptions::out) holds config.json, checkpoints/ckpt-<iteration>.safetensors (every
// checkpoint_every iterations, at the start and at exit; the newest checkpoint_keep are kept), samples/
// (PNG grids of fixed latents from g_ema: full width, ratios 0.5 and 0.25, and every lower resolution) and,
// at the end, generator.safetensors (g_ema, for `anycost generate --model`) and discriminator.safetensors.
//
// Failure handling: a non-finite loss or gradient in any step rolls the run back to the newest checkpoint,
// marks the iteration as skipped (its batch is consumed, nothing else happens) and replays; three failing
// iterations in a row stop the run with a TrainingError. Resuming (TrainerOptions::resume) continues from the
// newest readable checkpoint and gives the same weights, bit for bit, as a run that was never interrupted
// (same thread count).
//
// Data-parallel training (TrainerOptions::comm, train/communicator.hpp; `mpirun -np K anycost train`): every
// rank builds the same models from the same seeds, reads only its shard of the rows of each global batch of
// the data order (io::LoaderOptions::rows) and draws the random numbers of the whole batch (steps.hpp);
// gradients and losses are averaged over the ranks before every optimiser step, so the ranks hold the same
// weights throughout (checked at every checkpoint). Rank 0 alone logs, writes
// samples, checkpoints and the final files; the others wait for each checkpoint to be complete (a barrier),
// so a roll-back or a resume finds the same newest checkpoint on every rank (the run folder must be on a
// file system every rank sees). The global batch ("batch") must be divisible by K, and batch / K by 4 (the
// discriminator's minibatch-stddev group), or the constructor throws a ValueError.
#pragma once

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "anycost/io/atomic_write.hpp"
#include "anycost/io/image_folder.hpp"
#include "anycost/io/image_grid.hpp"
#include "anycost/models/channel_sort.hpp"
#include "anycost/models/stage_transfer.hpp"
#include "anycost/train/communicator.hpp"
#include "anycost/train/progress.hpp"
#include "anycost/train/state.hpp"
#include "anycost/train/steps.hpp"

ANYCOST_NAMESPACE_BEGIN
namespace train {

// A run that cannot go on (repeated non-finite values).
class TrainingError : public Error {
 public:
  using Error::Error;
};

struct TrainerOptions {
  std::filesystem::path data;  // image folder
  std::filesystem::path out;   // run folder
  bool resume = false;
  Device device = Device::cpu();
  std::ostream* log = &std::cout;
  const std::atomic<bool>* stop = nullptr;  // set (e.g. by SIGINT): checkpoint and return
  // Called after the steps of each iteration with its losses, before they are checked (tests use it to make
  // a value non-finite).
  std::function<void(std::int64_t iteration, StepLosses&)> inspect = {};
  // Data-parallel ranks (MpiCommunicator, ...); null: one process. Not owned.
  Communicator* comm = nullptr;
};

class Trainer {
 public:
  Trainer(TrainConfig config, TrainerOptions options) : c_(std::move(config)), o_(std::move(options)) {
    if (o_.comm && o_.comm->size() > 1) {
      comm_ = o_.comm;
      if (!comm_->is_root()) o_.log = &null_log_;
      rows_ = shard_rows(c_.batch, comm_->rank(), comm_->size(), models::Discriminator::stddev_group);
      const std::int64_t path_batch = std::max<std::int64_t>(1, c_.batch / c_.pl_batch_shrink);
      ANYCOST_CHECK(c_.pl_weight <= 0 || path_batch % comm_->size() == 0, ValueError,
                    "data-parallel training: the path-length batch (batch / path_length.batch_shrink = ", path_batch,
                    ") is not divisible by the ", comm_->size(), " ranks");
    }
    int max_stage = 1;
    for (int s = 1; s <= 3; ++s)
      if (c_.steps[s - 1] > 0) max_stage = s;
    // Unit-buffered: a log redirected to a file (a background run) shows each line as it is written.
    o_.log->setf(std::ios_base::unitbuf);
    folder_.emplace(io::ImageFolderOptions{o_.data, c_.resolutions(max_stage),
                                           static_cast<std::size_t>(c_.cache_mb) << 20});
    log() << "data: " << folder_->size() << " images in '" << o_.data.string() << "'\n";
    if (comm_)
      log() << "data-parallel: " << comm_->describe() << ", global batch " << c_.batch << " = " << comm_->size()
            << " x " << c_.batch / comm_->size() << "\n";
    for (const std::string& s : folder_->skipped()) log() << "data: skipped " << s << "\n";
    if (!c_.lpips.empty()) {
      lpips_.emplace(losses::Lpips::load(c_.lpips));
      lpips_->to(o_.device);  // the consistency loss compares device images
    }
    if (o_.resume)
      resume();
    else
      start();
  }

  const TrainState& state() const { return s_; }
  const TrainConfig& config() const { return c_; }
  std::filesystem::path checkpoint_dir() const { return o_.out / "checkpoints"; }

  // Trains to the end of the schedule (or until *stop); returns the iterations done.
  std::int64_t run() {
    Progress progress(c_.total_steps(), c_.batch, c_.log_every_seconds);
    StepLosses last;
    while (s_.iteration < c_.total_steps()) {
      bool stop = o_.stop && o_.stop->load();
      if (comm_) stop = comm_->any(stop);  // every rank stops at the same iteration
      if (stop) {
        log() << "stopping at iteration " << s_.iteration << " (resume with --resume)\n";
        break;
      }
      const std::int64_t it = s_.iteration;
      const int stage = c_.stage_at(it);
      if (stage != s_.stage) enter_stage(stage);
      const io::Batch batch = loader_->next();
      if (s_.is_skipped(it))
        last = {};
      else if (!iterate(it, batch, last))
        continue;  // rolled back to a checkpoint
      s_.data = batch.next;
      ++s_.iteration;
      if (const std::string line = progress.record(s_.stage, s_.iteration, last); !line.empty()) log() << line << "\n";
      if (s_.iteration % c_.sample_every == 0) write_samples();
      if (s_.iteration % c_.checkpoint_every == 0) checkpoint();
    }
    checkpoint();
    if (s_.iteration >= c_.total_steps()) finish();
    return s_.iteration;
  }

 private:
  std::ostream& log() { return *o_.log; }

  // One iteration's steps; false after a failure (the state was rolled back).
  bool iterate(std::int64_t it, const io::Batch& batch, StepLosses& out) {
    std::vector<Tensor> real;
    for (const Tensor& t : batch.images) real.push_back(t.to(o_.device));  // this rank's rows (loader_options)
    out = {};
    const StepContext ctx{c_, s_.stage, it, s_.g, s_.d, s_.has_teacher() ? &s_.teacher : nullptr,
                          lpips_ ? &*lpips_ : nullptr, comm_};
    bool ok = train_iteration(ctx, real, *s_.g_optim, *s_.d_optim, s_.mean_path_length, out);
    if (o_.inspect) o_.inspect(it, out);
    ok = ok && all_finite(out);
    if (comm_) ok = !comm_->any(!ok);  // the losses are reduced already; this covers a local `inspect` too
    if (!ok) {
      roll_back(it, out);
      return false;
    }
    s_.ema->update();
    return true;
  }

  // The D and G losses run every iteration and must be finite; the other terms are NaN when they did not
  // run, so for them only an infinity counts (a NaN in a term that ran already failed its step).
  static bool all_finite(const StepLosses& l) {
    for (double v : {l.r1, l.path, l.mse, l.lpips})
      if (std::isinf(v)) return false;
    return std::isfinite(l.d) && std::isfinite(l.g);
  }

  void roll_back(std::int64_t it, const StepLosses& l) {
    streak_ = (it == last_failure_ + 1) ? streak_ + 1 : 1;
    last_failure_ = it;
    const std::vector<std::filesystem::path> ckpts = list_checkpoints(checkpoint_dir());
    const std::string where = ckpts.empty() ? std::string("(none)") : ckpts.back().string();
    log() << "iteration " << it << ": non-finite value (d " << l.d << ", g " << l.g << ", r1 " << l.r1 << ", path "
          << l.path << ", mse " << l.mse << ", lpips " << l.lpips << "); rolling back to " << where
          << " and skipping this batch\n";
    if (streak_ >= 3)
      ::anycost::detail::raise<TrainingError>("training stopped: iterations ", it - 2, ", ", it - 1, " and ", it,
                                              " in a row gave non-finite losses or gradients; the last good checkpoint "
                                              "is ", where, " (try a lower learning rate or check the data)");
    std::vector<std::int64_t> skipped = s_.skipped;
    skipped.insert(std::upper_bound(skipped.begin(), skipped.end(), it), it);
    if (ckpts.empty())
      ::anycost::detail::raise<TrainingError>("training stopped: non-finite value at iteration ", it,
                                              " and no checkpoint to roll back to");
    load(ckpts.back());
    for (std::int64_t k : s_.skipped)
      if (!std::binary_search(skipped.begin(), skipped.end(), k)) skipped.insert(std::upper_bound(skipped.begin(), skipped.end(), k), k);
    s_.skipped = std::move(skipped);
  }

  // ---- set-up --------------------------------------------------------------------------------------------
  void start() {
    if (is_root()) {
      ANYCOST_CHECK(list_checkpoints(checkpoint_dir()).empty(), ValueError, "train: '", o_.out.string(),
                    "' already holds a run (", checkpoint_dir().string(),
                    "); pass --resume to continue it or choose another output folder");
      std::filesystem::create_directories(checkpoint_dir());
      io::write_atomically(o_.out / "config.json", "train", [&](std::ostream& os) { os << c_.source.dump(2) << "\n"; });
    }
    const int first = c_.stage_at(0);
    build_initial(first);
    checkpoint();
  }

  void resume() {
    if (comm_) {
      // Rank 0 picks the checkpoint; every rank loads that file.
      std::string chosen;
      if (is_root()) {
        resume_newest();
        chosen = resumed_from_.string();
      }
      chosen = comm_->broadcast_string(chosen);
      if (!is_root()) {
        check_same_config(chosen);
        load(chosen);
      }
      return;
    }
    resume_newest();
  }

  void resume_newest() {
    std::vector<std::filesystem::path> ckpts = list_checkpoints(checkpoint_dir());
    ANYCOST_CHECK(!ckpts.empty(), IoError, "train --resume: no checkpoint in '", checkpoint_dir().string(), "'");
    for (auto p = ckpts.rbegin(); p != ckpts.rend(); ++p) {
      try {
        check_same_config(*p);
        load(*p);
        resumed_from_ = *p;
        log() << "resumed from " << p->string() << " at iteration " << s_.iteration << "\n";
        return;
      } catch (const FormatError& e) {
        log() << "warning: cannot use checkpoint " << p->string() << ": " << e.what() << "\n";
      }
    }
    ::anycost::detail::raise<FormatError>("train --resume: no readable checkpoint in '", checkpoint_dir().string(), "'");
  }

  // The run's config must not change on resume, except for its length and its logging/checkpoint cadence.
  void check_same_config(const std::filesystem::path& p) const {
    nlohmann::json a = stored_config(io::load_safetensors(p)), b = c_.source;
    for (const char* k : {"steps", "log", "samples", "checkpoint", "data"}) {
      a.erase(k);
      b.erase(k);
    }
    ANYCOST_CHECK(a == b, ValueError, "train --resume: the config differs from the one the run in '", o_.out.string(),
                  "' was started with (only steps, log, samples, checkpoint and data may change):\n  run:   ", a.dump(),
                  "\n  given: ", b.dump());
  }

  void load(const std::filesystem::path& p) {
    s_ = load_train_state(p, c_);
    to_device();
    loader_.reset();
    loader_.emplace(*folder_, c_.batch, c_.seed, s_.data, loader_options());
  }

  io::LoaderOptions loader_options() const {
    io::LoaderOptions lo;
    lo.workers = c_.workers;
    lo.prefetch = c_.prefetch;
    lo.xflip = c_.xflip;
    if (comm_) lo.rows = rows_;  // each rank decodes only its shard of every global batch
    return lo;
  }

  // Moves the models to the run's device; optimisers and the average are rebuilt there (their CPU state, if
  // any, is carried over).
  void to_device() {
    if (o_.device == Device::cpu()) return;
    optim::StateDict gs, ds;
    if (s_.g_optim) {
      gs = s_.g_optim->state_dict();
      ds = s_.d_optim->state_dict();
    }
    s_.g.to(o_.device);
    s_.g_ema.to(o_.device);
    if (s_.has_teacher()) s_.teacher.to(o_.device);
    nn::to_device(s_.d, o_.device);
    if (!s_.g_optim) return;
    s_.make_optimisers(c_);
    s_.g_optim->load_state_dict(gs);
    s_.d_optim->load_state_dict(ds);
  }

  models::DiscriminatorConfig d_config(int stage) const {
    models::DiscriminatorConfig dc = models::DiscriminatorConfig::matching(c_.generator, stage == 1 ? 1 : c_.n_res, stage == 3);
    dc.channel_multiplier = c_.d_channel_multiplier;
    dc.channel_max = c_.d_channel_max;
    dc.channels = c_.d_channels;
    return dc;
  }

  // The models of a run that starts at `stage`, from the init files or from scratch.
  void build_initial(int stage) {
    s_ = TrainState{};
    if (!c_.init_generator.empty()) {
      s_.g = models::load_generator(c_.init_generator);
      for (const optim::NamedParameter& p : optim::named_parameters(s_.g)) Var(p.var).set_requires_grad(true);
      ANYCOST_CHECK(s_.g.resolution() == c_.generator.resolution, ValueError, "train: init.generator '",
                    c_.init_generator.string(), "' is ", s_.g.resolution(), "x", s_.g.resolution(),
                    ", the config trains ", c_.generator.resolution, "x", c_.generator.resolution);
      s_.g = nn::deep_copy(s_.g);  // writable copies (the loaded tensors may alias a read-only mapping)
    } else {
      s_.g = models::Generator(c_.generator, c_.seed);
      if (stage > 1) log() << "warning: stage " << stage << " starts from an untrained generator (no init.generator)\n";
    }
    if (stage > 1) {
      if (!c_.init_teacher.empty())
        s_.teacher = nn::deep_copy(models::load_generator(c_.init_teacher));
      else if (!c_.init_generator.empty())
        s_.teacher = nn::deep_copy(s_.g);
      else
        log() << "warning: no teacher (init.teacher / init.generator): training without the consistency loss\n";
    }
    if (stage == 3) sort(s_.g);
    s_.g_ema = nn::deep_copy(s_.g);
    Rng rng = stream(c_.seed, 0, Stream::samples);
    if (!c_.init_discriminator.empty()) {
      s_.d = models::load_discriminator(c_.init_discriminator);
      s_.d = nn::deep_copy(s_.d);
      for (const optim::NamedParameter& p : optim::named_parameters(s_.d)) Var(p.var).set_requires_grad(true);
      transfer_d(stage, rng);
    } else {
      s_.d = models::Discriminator(d_config(stage), c_.seed + 1);
    }
    s_.stage = stage;
    s_.iteration = c_.stage_begin(stage);
    s_.skipped.clear();
    announce(stage);
    finish_setup();
  }

  // Single-res -> multi-res -> conditioned, as far as `stage` needs.
  void transfer_d(int stage, Rng& rng) {
    if (stage >= 2 && s_.d.input_resolutions().size() == 1) s_.d = models::to_multi_res(s_.d, c_.n_res, rng);
    if (stage == 3 && !s_.d.conditioned())
      s_.d = models::to_conditioned(s_.d, models::DiscriminatorConfig::matching(c_.generator, c_.n_res, true).arch_dim, rng);
  }

  void sort(models::Generator& g) {
    models::ChannelSortOptions so;
    so.samples = c_.sort_samples;
    so.seed = c_.seed;
    models::sort_channels(g, so);
  }

  // A stage boundary inside the run (see the header comment).
  void enter_stage(int stage) {
    if (s_.stage == 0) return build_initial(stage);
    s_.teacher = nn::deep_copy(s_.g_ema);
    s_.g = nn::deep_copy(s_.g_ema);
    for (const optim::NamedParameter& p : optim::named_parameters(s_.g)) Var(p.var).set_requires_grad(true);
    if (stage == 3) sort(s_.g);
    s_.g_ema = nn::deep_copy(s_.g);
    Rng rng = stream(c_.seed, c_.stage_begin(stage), Stream::samples);
    transfer_d(stage, rng);
    s_.stage = stage;
    announce(stage);
    finish_setup();
  }

  void finish_setup() {
    s_.g_optim.reset();
    s_.d_optim.reset();
    to_device();
    s_.make_optimisers(c_);
    if (!loader_) loader_.emplace(*folder_, c_.batch, c_.seed, s_.data, loader_options());
    if (s_.stage > 1 && !lpips_ && !warned_lpips_) {
      warned_lpips_ = true;
      log() << "WARNING: no LPIPS weights (distill.lpips): the consistency loss is MSE alone. Convert VGG LPIPS "
               "weights with tools/convert_lpips.py and set distill.lpips for the paper's loss.\n";
    }
  }
  void announce(int stage) {
    static const char* names[] = {"", "StyleGAN2 (single-resolution D, R1, path length)",
                                  "multi-resolution (distillation from the teacher)",
                                  "adaptive channels (sorted channels, conditioned D, consistency loss)"};
    log() << "stage " << stage << ": " << names[stage] << ", iterations " << c_.stage_begin(stage) << ".."
          << c_.stage_begin(stage) + c_.steps[stage - 1] << ", batch " << c_.batch << ", D inputs";
    for (int r : s_.d.input_resolutions()) log() << " " << r;
    log() << (s_.d.conditioned() ? ", conditioned" : "") << (s_.has_teacher() ? ", teacher" : ", no teacher") << "\n";
  }

  // ---- outputs -------------------------------------------------------------------------------------------
  void checkpoint() {
    if (s_.iteration == last_checkpoint_) return;
    if (comm_) check_ranks_agree();
    if (is_root()) {
      save_train_state(checkpoint_path(checkpoint_dir(), s_.iteration), s_, c_);
      prune_checkpoints(checkpoint_dir(), c_.checkpoint_keep);
    }
    if (comm_) comm_->barrier();  // the checkpoint is complete before any rank may look for it
    last_checkpoint_ = s_.iteration;
  }

  // Every rank must hold rank 0's weights (the reductions give every rank the same bits); a rank that
  // drifted would silently train another model, so the job stops instead.
  void check_ranks_agree() {
    std::uint64_t h = 1469598103934665603ull;  // FNV-1a over the bytes of G, D and G_ema
    auto add = [&](const optim::NamedParameters& ps) {
      for (const optim::NamedParameter& p : ps) {
        const Tensor t = p.var.data().to(Device::cpu()).contiguous();
        const auto* b = static_cast<const unsigned char*>(t.raw_data());
        for (std::size_t i = 0, n = static_cast<std::size_t>(t.numel()) * dtype_size(t.dtype()); i < n; ++i)
          h = (h ^ b[i]) * 1099511628211ull;
      }
    };
    add(optim::named_parameters(s_.g));
    add(optim::named_parameters(s_.d));
    add(optim::named_parameters(s_.g_ema));
    std::uint64_t root = h;
    comm_->broadcast(&root, sizeof root);
    if (comm_->any(root != h))
      ::anycost::detail::raise<TrainingError>("data-parallel training: at iteration ", s_.iteration,
                                              " the weights of some rank differ from rank 0's (the collective "
                                              "engine did not give every rank the same sums)");
  }

  void write_samples() {
    if (!is_root()) return;
    NoGradGuard no_grad;
    const models::Generator& g = s_.g_ema;
    Rng rng = stream(c_.seed, 0, Stream::samples);
    const Var z(randn({c_.sample_count, g.style_dim()}, rng, g.dtype(), g.device()));
    const Var wplus = g.broadcast_styles(g.map(z));
    const int r = g.resolution();
    std::vector<Tensor> rows;
    for (double ratio : {1.0, 0.5, 0.25})
      rows.push_back(g.synthesize(wplus, g.channel_table().uniform(ratio)).image.data().to(Device::cpu()));
    for (int lower = r / 2; lower >= 8; lower /= 2)
      rows.push_back(upsample_nearest(g.synthesize(wplus, g.channel_table().full(lower)).image.data().to(Device::cpu()),
                                      r / lower));
    Tensor all = Tensor::empty({static_cast<std::int64_t>(rows.size()) * c_.sample_count, 3, r, r});
    for (std::size_t i = 0; i < rows.size(); ++i)
      all.narrow(0, static_cast<std::int64_t>(i) * c_.sample_count, c_.sample_count).copy_(rows[i].to(DType::float32));
    std::filesystem::create_directories(o_.out / "samples");
    std::string n = std::to_string(s_.iteration);
    n = std::string(n.size() < 9 ? 9 - n.size() : 0, '0') + n;
    io::save_image_grid(o_.out / "samples" / ("iter-" + n + ".png"), all, c_.sample_count);
  }

  // x [N, C, h, w] (CPU) -> [N, C, h*f, w*f] float32, each pixel repeated f x f (lower resolutions in the grid).
  static Tensor upsample_nearest(const Tensor& x, std::int64_t f) {
    const std::vector<float> v = x.to(DType::float32).to_vector<float>();
    const std::int64_t planes = x.size(0) * x.size(1), h = x.size(2), w = x.size(3);
    std::vector<float> out(static_cast<std::size_t>(planes * h * f * w * f));
    std::size_t k = 0;
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t i = 0; i < h * f; ++i)
        for (std::int64_t j = 0; j < w * f; ++j) out[k++] = v[static_cast<std::size_t>((p * h + i / f) * w + j / f)];
    return Tensor::from_vector(out, {x.size(0), x.size(1), h * f, w * f});
  }

  void finish() {
    write_samples();
    if (!is_root()) return;
    models::save_generator(o_.out / "generator.safetensors", s_.g_ema);
    models::save_discriminator(o_.out / "discriminator.safetensors", s_.d);
    log() << "done: " << s_.iteration << " iterations; wrote " << (o_.out / "generator.safetensors").string()
          << " (g_ema) and " << (o_.out / "discriminator.safetensors").string() << "\n";
  }

  bool is_root() const { return !comm_ || comm_->is_root(); }

  TrainConfig c_;
  TrainerOptions o_;
  Communicator* comm_ = nullptr;      // set with more than one rank
  std::vector<std::int64_t> rows_;    // this rank's rows of every global batch
  std::ostream null_log_{nullptr};    // the log of ranks other than 0
  std::filesystem::path resumed_from_;
  std::optional<io::ImageFolder> folder_;
  std::optional<io::BatchLoader> loader_;
  std::optional<losses::Lpips> lpips_;
  TrainState s_;
  std::int64_t last_checkpoint_ = -1, last_failure_ = -10;
  int streak_ = 0;
  bool warned_lpips_ = false;
};

}  // namespace train
ANYCOST_NAMESPACE_END
