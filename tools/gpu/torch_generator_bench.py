#!/usr/bin/env python3
"""Times the PyTorch reference generator (tools/reference/anycost_generator.py) on the models, uniform ratios,
resolutions and batches that `bench_models --device=cuda` times for anycost, so that tools/gpu/ratios.py can
print anycost / PyTorch per "<model>/r<ratio>/res<R>/b<B>".

The reference is the plain PyTorch formulation (per-sample weights, grouped convolution, upfirdn2d from
standard ops), not the official repository's custom CUDA kernels. Each iteration is timed on the wall clock up
to a device synchronisation, as bench_models does; the median is reported. Runs on CUDA when PyTorch sees a
device, on the CPU otherwise (a smoke test of the script). TF32 is off unless --tf32: anycost's FP32 is strict.

    python3 tools/gpu/torch_generator_bench.py --out torch_generator.json [--min-time 0.1] [--quick]
                                               [--batches 1,16] [--filter res64/r0.50] [--device cpu]
"""
import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))

# The models of benchmarks/models/generator_bench.cpp.
MODELS = {
    "res64": dict(resolution=64, style_dim=256, n_mlp=8, channel_max=256),
    "cfgF256": dict(resolution=256, style_dim=512, n_mlp=8, channel_max=512),
}
RATIOS = (1.0, 0.75, 0.5, 0.25)


def cases(batches, quick):
    """(name, model, ratio, resolution, batch) in bench_models' naming ("r%.2f" ratios)."""
    out = []
    for model, spec in MODELS.items():
        top = spec["resolution"]
        for batch in batches:
            if quick and batch != 1:
                continue
            for ratio in RATIOS:
                res = 4
                while res <= top:
                    if not quick or res >= top // 2:
                        out.append(("%s/r%.2f/res%d/b%d" % (model, ratio, res, batch), model, ratio, res, batch))
                    res *= 2
    return out


def time_case(torch, fn, device, min_time, max_iters=10000):
    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    fn()  # warm-up: allocator, cuDNN autotuning
    sync()
    times = []
    t0 = time.perf_counter()
    while (time.perf_counter() - t0 < min_time or len(times) < 3) and len(times) < max_iters:
        start = time.perf_counter()
        fn()
        sync()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="torch_generator.json")
    ap.add_argument("--min-time", type=float, default=0.1, help="seconds per case")
    ap.add_argument("--batches", default="1,16", help="comma-separated batch sizes (bench_models on CUDA: 1,16)")
    ap.add_argument("--quick", action="store_true", help="batch 1, the model's resolution and half (as bench_models)")
    ap.add_argument("--filter", default="", help="substring of the case names to run")
    ap.add_argument("--device", default="auto", help="auto (CUDA when available), cuda or cpu")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in cuBLAS/cuDNN")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_generator_bench: PyTorch is not installed; nothing to compare")
        return 0
    import anycost_generator as ref
    if args.device == "auto":
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = args.tf32
        torch.backends.cudnn.allow_tf32 = args.tf32
        torch.backends.cudnn.benchmark = True
    else:
        print("torch_generator_bench: running on the CPU (no CUDA device), a smoke run only")

    selected = [c for c in cases([int(b) for b in args.batches.split(",")], args.quick) if args.filter in c[0]]
    generators = {}
    results = {}
    torch.manual_seed(0)
    with torch.no_grad():
        for name, model, ratio, res, batch in selected:
            if model not in generators:  # built only when a case needs it (cfgF256 is 30M parameters)
                generators[model] = ref.randomize_(ref.Generator(**MODELS[model])).to(device).eval()
            g = generators[model]
            channels = g.uniform_channels(ratio)
            z = torch.randn(batch, g.style_dim, device=device)
            ms, iters = time_case(torch, lambda: g(z, channels=channels, target_res=res), device, args.min_time)
            results[name] = {"ms": ms, "iterations": iters, "flop": 0}
            print("%-32s %10.3f ms  (%.3f ms/image, %d iterations)" % (name, ms, ms / batch, iters))
            sys.stdout.flush()
    info = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version() if device.type == "cuda" else None,
            "tf32": args.tf32 if device.type == "cuda" else None, "results": results}
    with open(args.out, "w") as f:
        json.dump(info, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
