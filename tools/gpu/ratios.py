#!/usr/bin/env python3
"""Prints anycost's CUDA timings (Google Benchmark JSON) next to PyTorch's: one row per benchmark, ratio =
anycost / PyTorch (below 1: anycost is faster). Benchmarks "<name>/anycost" pair with the PyTorch results
"<name>": bench_cuda with tools/gpu/torch_ops_bench.py (ops), `bench_models --device=cuda` with
tools/gpu/torch_generator_bench.py ("<model>/r<ratio>/res<R>/b<B>").

    python3 tools/gpu/ratios.py bench_cuda.json torch_ops.json
    python3 tools/gpu/ratios.py bench_models_cuda.json torch_generator.json
"""
import json
import os
import sys

UNIT_TO_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}


def load_anycost(path):
    with open(path) as f:
        data = json.load(f)
    out = {}
    for b in data.get("benchmarks", []):
        if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
            continue
        name = b["name"]
        for suffix in ("/manual_time", "/real_time"):
            if name.endswith(suffix):
                name = name[: -len(suffix)]
        if not name.endswith("/anycost"):
            continue
        ms = b["real_time"] * UNIT_TO_MS[b.get("time_unit", "ns")]
        # bench_cuda counts flop per iteration; bench_models reports a rate ("GFLOP/s", in FLOP/s).
        flop = b.get("flop", 0) or b.get("GFLOP/s", 0) * ms * 1e-3
        out[name[: -len("/anycost")]] = {"ms": ms, "flop": flop}
    return out, data.get("context", {})


def main(argv):
    if len(argv) != 3:
        print(__doc__)
        return 2
    ours, context = load_anycost(argv[1])
    try:
        with open(argv[2]) as f:
            torch = json.load(f)
    except (OSError, ValueError):
        torch = {"results": {}}
    ref = torch.get("results", {})
    print("anycost (%s) vs PyTorch %s (CUDA %s, cuDNN %s, TF32 %s) on %s" %
          (os.path.basename(context.get("executable", "-")), torch.get("torch", "-"), torch.get("cuda", "-"),
           torch.get("cudnn", "-"), torch.get("tf32", "-"), torch.get("device", "-")))
    print("%-40s %12s %12s %8s %12s" % ("benchmark", "anycost", "PyTorch", "ratio", "GFLOP/s"))
    print("-" * 88)
    for name in sorted(set(ours) | set(ref)):
        a, t = ours.get(name), ref.get(name)
        a_ms = "%.4f ms" % a["ms"] if a else "-"
        t_ms = "%.4f ms" % t["ms"] if t else "-"
        ratio = "%.2f" % (a["ms"] / t["ms"]) if a and t and t["ms"] > 0 else "-"
        flop = (a or {}).get("flop") or (t or {}).get("flop") or 0
        gflops = "%.0f" % (flop / a["ms"] * 1e-6) if a and flop else ""
        print("%-40s %12s %12s %8s %12s" % (name, a_ms, t_ms, ratio, gflops))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
