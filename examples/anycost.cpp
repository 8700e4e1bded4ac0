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
//   anycost studio [flags]     the browser editor: previews on a sub-generator, final on the full one (examples/studio)
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
//
// The commands live in examples/cli/: common.hpp (the shared helpers) and one header per command
// (<command>.hpp: its flags struct, add_<command> and run_<command>; eval.hpp holds train-classifier too).
#include <malloc.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/common.hpp"
#include "cli/directions.hpp"
#include "cli/edit.hpp"
#include "cli/eval.hpp"
#include "cli/export.hpp"
#include "cli/generate.hpp"
#include "cli/project.hpp"
#include "cli/search.hpp"
#include "cli/studio.hpp"
#include "cli/train.hpp"
#include "cli/train_encoder.hpp"

using namespace anycost_cli;

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
  StudioFlags studio_flags;
  const CLI::App* studio = add_studio(app, studio_flags);

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
    if (*studio) return run_studio(studio_flags);
    return usage_error("no command given: generate, train, search, project, edit, directions, export, "
                       "train-classifier, eval, train-encoder or studio");
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
