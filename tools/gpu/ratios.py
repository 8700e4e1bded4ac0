#!/usr/bin/env python3
"""Prints anycost's CUDA op timings (Google Benchmark JSON from bench_cuda) next to PyTorch's
(tools/gpu/torch_ops_bench.py JSON): one row per op, ratio = anycost / PyTorch (below 1: anycost is faster).

    python3 tools/gpu/ratios.py bench_cuda.json torch_ops.json
"""
import json
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
        out[name[: -len("/anycost")]] = {"ms": b["real_time"] * UNIT_TO_MS[b.get("time_unit", "ns")],
                                         "flop": b.get("flop", 0)}
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
    print("anycost CUDA ops vs PyTorch %s (CUDA %s, cuDNN %s, TF32 %s) on %s" %
          (torch.get("torch", "-"), torch.get("cuda", "-"), torch.get("cudnn", "-"), torch.get("tf32", "-"),
           torch.get("device", "-")))
    print("%-40s %12s %12s %8s %12s" % ("op", "anycost", "PyTorch", "ratio", "GFLOP/s"))
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
