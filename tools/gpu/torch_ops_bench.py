#!/usr/bin/env python3
"""Times, with PyTorch CUDA on the same GPU, the ops that benchmarks/cuda/ops_cuda_bench.cpp times for anycost.

Names match "<group>/<case>" of the C++ benchmark, so tools/gpu/ratios.py can print anycost / PyTorch. Timing
uses CUDA events around each call (warm-up first), like the C++ side; the median over iterations is reported.
TF32 is off by default because anycost's FP32 GEMMs are strict FP32 (pass --tf32 to see PyTorch's default on
Ampere+ for convolutions).

    python3 tools/gpu/torch_ops_bench.py --out torch_ops.json [--min-time 0.2] [--filter conv2d]
"""
import argparse
import json
import math
import statistics
import sys
import time


def upfirdn2d(x, k, up, down, pad0, pad1):
    """upfirdn2d as anycost defines it (backend/params.hpp), from plain PyTorch ops: zero-stuff by `up`, pad
    (negative pads crop), correlate with the flipped kernel, keep every `down`-th sample."""
    import torch
    import torch.nn.functional as F

    n, c, h, w = x.shape
    kh, kw = k.shape
    y = x.reshape(n * c, 1, h, 1, w, 1)
    y = F.pad(y, [0, up - 1, 0, 0, 0, up - 1])
    y = y.reshape(n * c, 1, h * up, w * up)
    y = F.pad(y, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    y = y[:, :, max(-pad0, 0): y.shape[2] - max(-pad1, 0), max(-pad0, 0): y.shape[3] - max(-pad1, 0)]
    y = F.conv2d(y, torch.flip(k, [0, 1]).reshape(1, 1, kh, kw))
    y = y[:, :, ::down, ::down]
    return y.reshape(n, c, y.shape[2], y.shape[3])


def cases(torch):
    F = torch.nn.functional
    dev = "cuda"

    def randn(*shape):
        return torch.randn(*shape, device=dev, dtype=torch.float32)

    out = []
    for n in (512, 2048):
        a, b = randn(n, n), randn(n, n)
        out.append(("gemm/%d^3" % n, lambda a=a, b=b: torch.mm(a, b), 2.0 * n ** 3))
    a, b = randn(8, 512, 512), randn(8, 512, 512)
    out.append(("gemm/batched_8x512^3", lambda: torch.bmm(a, b), 2.0 * 8 * 512 ** 3))

    for name, n, c, hw in (("n4_c512_16x16", 4, 512, 16), ("n4_c256_64x64", 4, 256, 64),
                           ("n4_c64_256x256", 4, 64, 256)):
        flop = 2.0 * n * c * c * 9 * hw * hw
        x, w, g = randn(n, c, hw, hw), randn(c, c, 3, 3), randn(n, c, hw, hw)
        out.append(("conv2d/" + name, lambda x=x, w=w: F.conv2d(x, w, padding=1), flop))
        out.append(("conv2d_input_grad/" + name, lambda g=g, w=w: F.conv_transpose2d(g, w, padding=1), flop))
        out.append(("conv2d_weight_grad/" + name,
                    lambda x=x, g=g, w=w: torch.nn.grad.conv2d_weight(x, w.shape, g, padding=1), flop))
    xm, wm = randn(1, 4 * 512, 32, 32), randn(4 * 512, 512, 3, 3)
    out.append(("conv2d/modulated_n4_c512_32x32", lambda: F.conv2d(xm, wm, padding=1, groups=4),
                2.0 * 4 * 512 * 512 * 9 * 32 * 32))

    blur = torch.tensor([1, 3, 3, 1], dtype=torch.float32, device=dev)
    blur = torch.outer(blur, blur)
    x64, x128 = randn(4, 256, 64, 64), randn(4, 256, 128, 128)
    out.append(("upfirdn2d/blur_n4_c256_64x64", lambda: upfirdn2d(x64, blur, 1, 1, 2, 1), 0))
    out.append(("upfirdn2d/up2_n4_c256_64x64", lambda: upfirdn2d(x64, blur, 2, 1, 2, 1), 0))
    out.append(("upfirdn2d/down2_n4_c256_128x128", lambda: upfirdn2d(x128, blur, 1, 2, 1, 1), 0))

    bias = randn(1, 256, 1, 1)
    out.append(("elementwise/bias_lrelu_n4_c256_64x64",
                lambda: F.leaky_relu(x64 + bias, 0.2) * math.sqrt(2.0), 0))
    p, q, r = randn(1 << 24), randn(1 << 24), randn(1 << 24)
    out.append(("elementwise/mul_add_16M", lambda: p * q + r, 0))
    out.append(("sum/channels_n4_c256_64x64", lambda: x64.sum((0, 2, 3)), 0))
    out.append(("sum/all_16M", lambda: p.sum(), 0))
    out.append(("fill/16M", lambda: torch.full((1 << 24,), 0.5, device=dev), 0))
    big = randn(4096, 4096)
    out.append(("copy/flip_4096x4096", lambda: torch.flip(big, (0, 1)), 0))
    out.append(("copy/permute_n4_c256_64x64", lambda: x64.permute(0, 2, 3, 1).contiguous(), 0))
    out.append(("randn/16M", lambda: torch.randn(1 << 24, device=dev), 0))
    return out


def time_case(torch, fn, min_time, max_iters=10000):
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    fn()
    torch.cuda.synchronize()
    times = []
    t0 = time.perf_counter()
    while (time.perf_counter() - t0 < min_time or len(times) < 5) and len(times) < max_iters:
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop))
    return statistics.median(times), len(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="torch_ops.json")
    ap.add_argument("--min-time", type=float, default=0.2, help="seconds per op")
    ap.add_argument("--filter", default="", help="substring of the op names to run")
    ap.add_argument("--tf32", action="store_true", help="allow TF32 in cuBLAS/cuDNN (PyTorch's conv default)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch_ops_bench: PyTorch is not installed; nothing to compare")
        return 0
    if not torch.cuda.is_available():
        print("torch_ops_bench: PyTorch sees no CUDA device; nothing to compare")
        return 0
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cudnn.benchmark = True
    results = {}
    with torch.no_grad():
        for name, fn, flop in cases(torch):
            if args.filter and args.filter not in name:
                continue
            ms, iters = time_case(torch, fn, args.min_time)
            results[name] = {"ms": ms, "iterations": iters, "flop": flop}
            gflops = " %8.1f GFLOP/s" % (flop / ms * 1e-6) if flop else ""
            print("%-44s %10.4f ms%s" % (name, ms, gflops))
            sys.stdout.flush()
    info = {"device": torch.cuda.get_device_name(0), "torch": torch.__version__, "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(), "tf32": args.tf32, "results": results}
    with open(args.out, "w") as f:
        json.dump(info, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
