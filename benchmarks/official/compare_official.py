#!/usr/bin/env python3
"""Same-run speed comparison: anycost vs the official Anycost GAN code (PyTorch, FORCE_NATIVE=1) and vs ONNX
Runtime running the official generator exported to ONNX, on the same weights, after checking that all three
produce the same image.

    python3 benchmarks/official/compare_official.py --official PATH --anycost build/examples/anycost \\
        [--models cfgF256-cap256,res64] [--rounds 5] [--iters 5] [--threads 2] [--work DIR] [--out FILE.md]

PATH is a checkout of https://github.com/mit-han-lab/anycost-gan (its models/ and cuda_op/ are imported from
there, never copied into this repository), or a git directory of one (bare or not): then `git archive HEAD
models cuda_op` extracts those two folders into the work directory first. Needs PyTorch (Debian:
python3-torch) and ONNX Runtime (PyPI `onnxruntime`; see benchmarks/official/README.md). torchvision is not
needed: the official models/__init__.py (which imports it) is bypassed.

What it does, per model (the official Generator with random weights; `--models`):
  1. builds the official Generator (seeded randn weights as the official init, plus non-zero biases and noise
     weights so that every term takes part), saves its state_dict as {'g_ema': ...} and converts it with
     tools/convert_checkpoint.py to the safetensors file `anycost generate --model` reads;
  2. per configuration (uniform channel ratio x output resolution): sets it the official way
     (models/dynamic_channel.py: set_uniform_channel_ratio / reset_generator; forward(target_res=...)),
     exports that fixed sub-generator to ONNX (z -> image, the model's fixed noise maps baked in) and opens an
     ONNX Runtime session (CPU provider, intra_op_num_threads=--threads, inter-op 1, spinning off);
  3. equality check: one z, the model's fixed noise maps (official randomize_noise=False; anycost --noise
     fixed), the images of the official forward, ONNX Runtime and `anycost generate --out x.safetensors`
     must agree within --tol (max |difference| / max |official image|); the script stops otherwise;
  4. timing, in interleaved rounds: every round runs, for every configuration, the official forward, the ONNX
     Runtime session and one `anycost generate` process (the order of the three rotates from round to round);
     each side makes 1 warm-up call and then --iters timed calls at batch 1 (z -> image: mapping network and
     synthesis), and the round's time is their mean. The table gives, per configuration, the median over rounds
     with the min-max spread, and anycost/ORT and anycost/official as ratios of the medians.

Fairness: PyTorch and ONNX Runtime are timed in this process on a model built and a session opened once
(weights loaded, ORT graph optimised), as a server would hold them. anycost is timed inside its own process by
`anycost generate` itself, which loads the model, precomputes weight-derived constants (Generator::prepare,
once per process, like ORT's constant folding) and then reports per-image times: process start, model
load and prepare are excluded, the first image is the warm-up, and the round's time is the mean of the next
--iters images, taken from its output (total time minus the first image). Every side runs --threads threads,
batch 1, float32, with OMP_WAIT_POLICY=passive and OMP_NUM_THREADS=--threads unless they are set already;
torch.set_num_threads(--threads). Run the whole script under one `nice` level, on an otherwise idle machine
for numbers to publish; it prints the load average before and after.
"""

import argparse
import contextlib
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
CONVERTER = os.path.join(REPO, "tools", "convert_checkpoint.py")

# Models: the official Generator's constructor arguments. cfgF256-cap256 is the model of issue 14 (config-f
# channel table, channel_multiplier 2, capped at 256 channels, 256 px); res64 is the 64 px model of the CLI's
# built-in 'untrained' generator (style_dim 256, channel_max 256).
MODELS = {
    "cfgF256-cap256": dict(resolution=256, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=256,
                           configs=[(1.0, 256), (0.5, 256), (0.25, 256), (1.0, 64), (0.25, 64)]),
    "res64": dict(resolution=64, style_dim=256, n_mlp=8, channel_multiplier=2, channel_max=256,
                  configs=[(1.0, 64), (0.25, 64)]),
}
SIDES = ("official", "ort", "anycost")
SIDE_NAMES = {"official": "official PyTorch (FORCE_NATIVE=1)", "ort": "ONNX Runtime", "anycost": "anycost"}


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def config_name(ratio, res):
    return f"r{ratio:g} @{res}"


# ---- environment ----------------------------------------------------------------------------------------------------
def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except (OSError, subprocess.CalledProcessError):
        pass
    return platform.processor() or "unknown CPU"


def cpu_isa():
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")), [])
    except OSError:
        return "?"
    return "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"


def openblas_coretype():
    """Debian's OpenBLAS 0.3.21 does not know recent Xeons and falls back to its SSE3 "Prescott" kernels, which
    makes PyTorch (and our optional BLAS path) several times slower than the CPU allows. Unless the user set
    OPENBLAS_CORETYPE, name the kernels the CPU can run (SkylakeX for AVX-512, Haswell for AVX2) when the
    library's own choice is Prescott. Must run before torch is imported."""
    if "OPENBLAS_CORETYPE" in os.environ:
        return os.environ["OPENBLAS_CORETYPE"] + " (set by the user)"
    probe = subprocess.run([sys.executable, "-c", "import numpy; numpy.ones((64, 64)) @ numpy.ones((64, 64))"],
                           env=dict(os.environ, OPENBLAS_VERBOSE="2"), capture_output=True, text=True)
    detected = next((line.split(":", 1)[1].strip() for line in (probe.stdout + probe.stderr).splitlines()
                     if line.startswith("Core:")), None)
    isa = cpu_isa()
    if detected == "Prescott" and isa in ("AVX-512", "AVX2"):
        os.environ["OPENBLAS_CORETYPE"] = "SkylakeX" if isa == "AVX-512" else "Haswell"
        return f"{os.environ['OPENBLAS_CORETYPE']} (OpenBLAS detected Prescott on this {isa} CPU)"
    return detected or "not OpenBLAS / unknown"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def git_head(path):
    try:
        return subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def locate_official(path, work):
    """A directory holding models/anycost_gan.py, extracting it from a git directory when needed."""
    path = os.path.abspath(path)
    if os.path.isfile(os.path.join(path, "models", "anycost_gan.py")):
        return path, git_head(path)
    git_dir = path if os.path.isfile(os.path.join(path, "HEAD")) else os.path.join(path, ".git")
    if not os.path.isfile(os.path.join(git_dir, "HEAD")):
        sys.exit(f"--official {path}: neither a checkout of mit-han-lab/anycost-gan (no models/anycost_gan.py) nor a "
                 "git directory; get one with: git clone https://github.com/mit-han-lab/anycost-gan")
    dst = os.path.join(work, "official")
    shutil.rmtree(dst, ignore_errors=True)
    os.makedirs(dst)
    archive = subprocess.run(["git", "--git-dir", git_dir, "archive", "HEAD", "models", "cuda_op"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", dst], input=archive, check=True)
    head = subprocess.run(["git", "--git-dir", git_dir, "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    log(f"extracted models/ and cuda_op/ of {git_dir} (HEAD {head}) into {dst}")
    return dst, head


def import_official(root):
    """models.anycost_gan and models.dynamic_channel of the official code, with its pure-PyTorch ops."""
    os.environ["FORCE_NATIVE"] = "1"
    sys.path.insert(0, root)
    # models/__init__.py imports torchvision for get_pretrained(); register the package without running it.
    pkg = types.ModuleType("models")
    pkg.__path__ = [os.path.join(root, "models")]
    sys.modules["models"] = pkg
    with contextlib.redirect_stdout(sys.stderr):  # models/ops.py prints which ops it uses
        import models.anycost_gan as anycost_gan
        import models.dynamic_channel as dynamic_channel
    return anycost_gan, dynamic_channel


# ---- the three sides ------------------------------------------------------------------------------------------------
def build_official(torch, anycost_gan, spec, seed):
    torch.manual_seed(seed)  # the official init: randn weights, constant input and noise maps
    g = anycost_gan.Generator(spec["resolution"], style_dim=spec["style_dim"], n_mlp=spec["n_mlp"],
                              channel_multiplier=spec["channel_multiplier"], channel_max=spec["channel_max"])
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():  # non-zero biases and noise weights (zero at init), so that every term is compared
        for name, p in g.named_parameters():
            if name.endswith("modulation.bias"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("noise.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias") and not name.startswith("style."):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
    return g.eval()


def set_official_config(dynamic_channel, g, ratio):
    if ratio == 1.0:
        dynamic_channel.reset_generator(g)
    else:
        dynamic_channel.set_uniform_channel_ratio(g, ratio)
    return dynamic_channel.get_current_channel_config(g)


def make_fixed_module(torch, g, res):
    """The official generator at its current channel config and resolution as a module z [1, style] -> image."""

    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.g = g

        def forward(self, z):
            return self.g(z.unsqueeze(1), randomize_noise=False, target_res=res)[0]

    return Fixed().eval()


def register_onnx_convolutions(torch, opset):
    """Conv/ConvTranspose symbolics that leave kernel_shape to ONNX (it is optional: taken from W).

    The official ModulatedConv2d computes its weights from the style and reshapes them with sizes read from the
    activations, so the tracer knows no static kernel shape and torch 1.13's own symbolic refuses to export
    ("convolution for kernel of unknown shape"). The graph is otherwise the official forward, op for op."""
    from torch.onnx import symbolic_helper as sh

    def emit(g, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):
        args = [input, weight] + ([] if sh._is_none(bias) else [bias])
        kw = dict(strides_i=stride, pads_i=list(padding) + list(padding), dilations_i=dilation, group_i=groups)
        if transposed and any(o != 0 for o in output_padding):
            kw["output_padding_i"] = output_padding
        return g.op("ConvTranspose" if transposed else "Conv", *args, **kw)

    @sh.parse_args("v", "v", "v", "is", "is", "is", "i", "is", "i", "i", "i", "i", "i")
    def _convolution(g, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups,
                     benchmark, deterministic, cudnn_enabled, allow_tf32):
        return emit(g, input, weight, bias, stride, padding, dilation, transposed, output_padding, groups)

    @sh.parse_args("v", "v", "v", "is", "is", "is", "i")
    def conv2d(g, input, weight, bias, stride, padding, dilation, groups):
        return emit(g, input, weight, bias, stride, padding, dilation, False, (), groups)

    @sh.parse_args("v", "v", "v", "is", "is", "is", "i", "is")
    def conv_transpose2d(g, input, weight, bias, stride, padding, output_padding, groups, dilation):
        return emit(g, input, weight, bias, stride, padding, dilation, True, output_padding, groups)

    for name, fn in (("aten::_convolution", _convolution), ("aten::conv2d", conv2d),
                     ("aten::conv_transpose2d", conv_transpose2d)):
        torch.onnx.register_custom_op_symbolic(name, fn, opset)


def ort_session(ort, path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def anycost_cmd(args, model_file, ratio, res, latents):
    return [args.anycost, "generate", "--model", model_file, "--latents", latents, "--ratio", f"{ratio:g}",
            "--res", str(res), "--threads", str(args.threads), "--noise", "fixed", "--batch", "1"]


def run_anycost(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"anycost failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p


def anycost_round_ms(p):
    """Mean ms/image after the first (warm-up) image, from `anycost generate`'s own timing output."""
    total = re.search(r"time\s+([0-9.]+) ms/image \((\d+) images in ([0-9.]+) s", p.stdout)
    first = re.search(r"\[(\d+)/(\d+)\] ([0-9.]+) ms/image", p.stderr)
    if not total or not first:
        sys.exit(f"could not read the timing of anycost generate from its output:\n{p.stdout}\n{p.stderr}")
    n = int(total.group(2))
    k, avg_k = int(first.group(1)), float(first.group(3))
    total_ms = float(total.group(1)) * n
    return (total_ms - k * avg_k) / (n - k)


def time_calls(fn, iters):
    fn()  # warm-up
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) * 1e3 / iters


# ---- report ----------------------------------------------------------------------------------------------------------
def fmt_ms(v):
    return f"{v:.0f}" if v >= 100 else f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def widths_text(channels):
    """Run-length widths of the per-layer channel list, e.g. 256x9, 128x2, 64x2."""
    out, prev, count = [], None, 0
    for c in channels + [None]:
        if c == prev:
            count += 1
            continue
        if prev is not None:
            out.append(f"{prev}×{count}" if count > 1 else str(prev))
        prev, count = c, 1
    return ", ".join(out)


def table(model, spec, results, checks, widths):
    cfgs = spec["configs"]
    names = [config_name(r, s) for r, s in cfgs]
    lines = [f"| {model} | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines.append("| widths (layers used) | " + " | ".join(widths[c] for c in cfgs) + " |")
    med = {}
    for side in SIDES:
        row = []
        for c in cfgs:
            v = results[c][side]
            if not v:
                row.append("—")
                continue
            med[(c, side)] = statistics.median(v)
            row.append(f"{fmt_ms(med[(c, side)])} ({fmt_ms(min(v))}–{fmt_ms(max(v))})")
        lines.append(f"| {SIDE_NAMES[side]}, ms | " + " | ".join(row) + " |")
    for ref in ("ort", "official"):
        row = [f"{med[(c, 'anycost')] / med[(c, ref)]:.2f}" if (c, ref) in med and (c, "anycost") in med else "—"
               for c in cfgs]
        lines.append(f"| anycost / {SIDE_NAMES[ref].split(' (')[0]} | " + " | ".join(row) + " |")
    lines.append("| max abs diff vs official: ORT / anycost | " +
                 " | ".join(f"{checks[c]['ort']:.1e} / {checks[c]['anycost']:.1e}" for c in cfgs) + " |")
    return "\n".join(lines)


# ---- main ------------------------------------------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--official", required=True,
                    help="checkout (or git directory) of mit-han-lab/anycost-gan")
    ap.add_argument("--anycost", default=os.path.join(REPO, "build", "examples", "anycost"),
                    help="the anycost command-line tool (default: build/examples/anycost)")
    ap.add_argument("--models", default="cfgF256-cap256",
                    help=f"comma-separated, of: {', '.join(MODELS)} (default cfgF256-cap256)")
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    ap.add_argument("--iters", type=int, default=5, help="timed calls per side per round, after 1 warm-up (default 5)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every side (default 2)")
    ap.add_argument("--seed", type=int, default=14, help="seed of the weights and the latent (default 14)")
    ap.add_argument("--tol", type=float, default=1e-3,
                    help="equality: max |image - official| / max |official| must stay below (default 1e-3)")
    ap.add_argument("--opset", type=int, default=17, help="ONNX opset of the export (default 17)")
    ap.add_argument("--work", default=None, help="folder for the model, ONNX files and images (default: a temporary one)")
    ap.add_argument("--out", help="also write the markdown report to this file")
    args = ap.parse_args()

    for m in args.models.split(","):
        if m not in MODELS:
            ap.error(f"--models: unknown model '{m}' (known: {', '.join(MODELS)})")
    if args.rounds < 1 or args.iters < 1 or args.threads < 1:
        ap.error("--rounds, --iters and --threads must be at least 1")
    if not (os.path.isfile(args.anycost) and os.access(args.anycost, os.X_OK)):
        ap.error(f"--anycost {args.anycost}: not an executable (build it: cmake --build build --target example_anycost)")

    # Thread settings before torch (OpenMP) or ORT are loaded, inherited by the anycost processes.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    blas_core = openblas_coretype()
    log(f"OpenBLAS kernels: {blas_core}")
    try:
        import numpy  # noqa: F401  (torch.from_numpy, ORT inputs)
        import torch
    except ImportError as e:
        sys.exit(f"needs PyTorch and NumPy ({e}); Debian: apt install python3-torch python3-numpy")
    try:
        import onnxruntime as ort
    except ImportError:
        sys.exit("needs ONNX Runtime (not a Debian package). Install it, e.g. into a venv that sees Debian's torch:\n"
                 "  python3 -m venv --system-site-packages ~/ort-venv && ~/ort-venv/bin/pip install onnxruntime\n"
                 "  ~/ort-venv/bin/python benchmarks/official/compare_official.py ...\n"
                 "or: pip install --break-system-packages onnxruntime")
    sys.path.insert(0, os.path.dirname(CONVERTER))
    from convert_checkpoint import load_safetensors, save_safetensors

    torch.set_num_threads(args.threads)
    register_onnx_convolutions(torch, args.opset)
    work_ctx = contextlib.nullcontext(os.path.abspath(args.work)) if args.work else \
        tempfile.TemporaryDirectory(prefix="anycost-official-")
    with work_ctx as work:
        os.makedirs(work, exist_ok=True)
        official_root, official_head = locate_official(args.official, work)
        anycost_gan, dynamic_channel = import_official(official_root)

        load_before = loadavg()
        header = [
            "# anycost vs the official code and ONNX Runtime, same run",
            "",
            f"- CPU: {cpu_model()} ({cpu_isa()}), {os.cpu_count()} logical CPUs; load average before: {load_before}",
            f"- {args.threads} threads every side, batch 1, float32; OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']}, "
            f"OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}; {args.rounds} interleaved rounds × (1 warm-up + "
            f"{args.iters} timed calls) per side and configuration; ms per image (z → image): median over rounds "
            "(min–max)",
            f"- official: mit-han-lab/anycost-gan {official_head or '(no git)'}, FORCE_NATIVE=1, torch "
            f"{torch.__version__} ({torch.get_num_threads()} threads), OpenBLAS kernels {blas_core}",
            f"- ONNX Runtime {ort.__version__}: the official generator exported per configuration (torch.onnx, opset "
            f"{args.opset}), CPU provider, intra-op {args.threads}, inter-op 1, spinning off",
            f"- anycost: {args.anycost} (repository {git_head(REPO) or '?'}), `anycost generate --threads "
            f"{args.threads} --noise fixed`, timed by itself after model load and prepare, first image excluded",
        ]
        reports = []
        for model in args.models.split(","):
            spec = MODELS[model]
            log(f"== {model}: building the official generator, converting it")
            mdir = os.path.join(work, model)
            os.makedirs(mdir, exist_ok=True)
            g = build_official(torch, anycost_gan, spec, args.seed)
            pt, st = os.path.join(mdir, "generator.pt"), os.path.join(mdir, "generator.safetensors")
            torch.save({"g_ema": g.state_dict()}, pt)
            subprocess.run([sys.executable, CONVERTER, pt, st], check=True, stdout=subprocess.DEVNULL)
            z = torch.randn(1, spec["style_dim"], generator=torch.Generator().manual_seed(args.seed + 2))
            z_file, zrep_file = os.path.join(mdir, "z.safetensors"), os.path.join(mdir, "z_timing.safetensors")
            save_safetensors(z_file, {"z": z})
            save_safetensors(zrep_file, {"z": z.repeat(args.iters + 1, 1)})
            z_np = z.numpy()

            runners, checks, widths = {}, {}, {}
            for ratio, res in spec["configs"]:
                c = (ratio, res)
                name = config_name(ratio, res)
                channels = set_official_config(dynamic_channel, g, ratio)
                if not channels:  # full width: the official code keeps no list then
                    channels = dynamic_channel.get_full_channel_configs(g)
                n_layers = 2 * (res.bit_length() - 1) - 2  # ConstantInput + conv1, then 2 convs per resolution
                widths[c] = widths_text(channels[:n_layers])
                fixed = make_fixed_module(torch, g, res)
                with torch.no_grad():
                    ref = fixed(z).clone()

                def official_round(ratio=ratio, fixed=fixed):
                    # The configurations share one model: set this one's channels (once per round, not timed).
                    set_official_config(dynamic_channel, g, ratio)
                    with torch.no_grad():
                        return time_calls(lambda: fixed(z), args.iters)

                onnx_file = os.path.join(mdir, f"generator_r{ratio:g}_{res}.onnx")
                log(f"   {name}: exporting to ONNX")
                with torch.no_grad(), contextlib.redirect_stdout(sys.stderr), warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # tracer warnings about the official asserts, constant folding
                    torch.onnx.export(fixed, (z,), onnx_file, input_names=["z"], output_names=["image"],
                                      opset_version=args.opset, do_constant_folding=True)
                sess = ort_session(ort, onnx_file, args.threads)
                ort_img = torch.from_numpy(sess.run(None, {"z": z_np})[0])

                out_file = os.path.join(mdir, f"anycost_r{ratio:g}_{res}.safetensors")
                p = run_anycost(anycost_cmd(args, st, ratio, res, z_file) + ["--out", out_file])
                sub = re.search(r"sub-network\s+(.*)", p.stdout)
                listed = re.search(r"\[([0-9, ]+)\]", sub.group(1)) if sub else None
                if listed and [int(v) for v in listed.group(1).split(",")][:n_layers] != channels[:n_layers]:
                    sys.exit(f"{model} {name}: anycost runs widths {listed.group(1)}, the official code "
                             f"{channels[:n_layers]}")
                any_img = load_safetensors(out_file)[0]["images"]

                scale = ref.abs().max().item()
                checks[c] = {}
                for side, img in (("ort", ort_img), ("anycost", any_img)):
                    if tuple(img.shape) != tuple(ref.shape):
                        sys.exit(f"{model} {name}: {side} image has shape {tuple(img.shape)}, official "
                                 f"{tuple(ref.shape)}")
                    d = (img.float() - ref).abs().max().item()
                    checks[c][side] = d
                    if not d <= args.tol * scale:
                        sys.exit(f"{model} {name}: {side} differs from the official image by {d:.3g} (max |official| "
                                 f"{scale:.3g}, tolerance {args.tol:g} relative); not timing different computations")
                log(f"   {name}: widths {widths[c]}; anycost: {sub.group(1) if sub else '?'}")
                log(f"   {name}: max |official| {scale:.3f}; max |ORT - official| {checks[c]['ort']:.2e}, "
                    f"max |anycost - official| {checks[c]['anycost']:.2e} (tolerance {args.tol * scale:.2e})")

                runners[c] = {
                    "official": official_round,
                    "ort": lambda s=sess: time_calls(lambda: s.run(None, {"z": z_np}), args.iters),
                    "anycost": lambda cmd=anycost_cmd(args, st, ratio, res, zrep_file):
                        anycost_round_ms(run_anycost(cmd)),
                }

            results = {c: {s: [] for s in SIDES} for c in spec["configs"]}
            for r in range(args.rounds):
                order = SIDES[r % 3:] + SIDES[:r % 3]
                for c in spec["configs"]:
                    for side in order:
                        results[c][side].append(runners[c][side]())
                log(f"   round {r + 1}/{args.rounds}: " + "; ".join(
                    f"{config_name(*c)} " + "/".join(fmt_ms(results[c][s][-1]) for s in SIDES)
                    for c in spec["configs"]) + " ms (official/ORT/anycost)")
            reports.append(f"## {model}: {spec['resolution']} px, style_dim {spec['style_dim']}, n_mlp {spec['n_mlp']}, "
                           f"channel_multiplier {spec['channel_multiplier']}, channel_max {spec['channel_max']}\n\n" +
                           table(model, spec, results, checks, widths))
        header.append(f"- load average after: {loadavg()}")
        header.append(f"- equality: one z, the model's fixed noise maps; every image within {args.tol:g} × max "
                      "|official image| of the official one (last row: the max abs differences)")
        text = "\n".join(header) + "\n\n" + "\n\n".join(reports) + "\n"
        print(text)
        if args.out:
            with open(args.out, "w") as f:
                f.write(text)


if __name__ == "__main__":
    main()
