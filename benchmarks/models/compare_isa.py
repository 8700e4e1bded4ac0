#!/usr/bin/env python3
"""Generator speed per instruction set: `anycost generate` with the best SIMD path of this CPU against the same
program capped at a lower one (ANYCOST_CPU_ISA, include/anycost/backend/cpu/simd.hpp), interleaved; or, with
--baseline, against another build of the program (a before/after comparison of a change, both on the best path).

    python3 benchmarks/models/compare_isa.py --anycost build/examples/anycost --model G.safetensors \\
        [--configs 1@256,0.5@256,0.25@256,1@64] [--against avx2 | --baseline OLD/anycost] [--rounds 7] [--iters 5]
        [--threads 2]

Every round runs, per configuration (ratio@resolution), one `anycost generate` process per side (best, then
--against or the baseline, the order alternating from round to round) at batch 1, --threads threads, the model's
fixed noise.
Each process renders 1 + --iters images; its time is the mean of the last --iters (the first is the warm-up;
model load and Generator::prepare are excluded), read from the program's own timing output as
benchmarks/official/compare_official.py does. The table gives per configuration and side the median over rounds
with the min-max spread, the ratio of the medians (best / against: below 1, the best path is faster) and the
median with min-max of the per-round ratios (the two sides of a round ran back to back, under about the same
load). The
load average is printed before and after: on a shared machine the absolute times move, the interleaved ratio
much less. A model: any generator checkpoint, e.g. the one compare_official.py converts for cfgF256-cap256.
"""

import argparse
import os
import statistics
import subprocess
import sys

# The timing read from `anycost generate`'s output and the load average, as the official comparison reads them.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "official"))
from compare_official import anycost_round_ms, loadavg  # noqa: E402


def run(args, ratio, res, isa, program=None):
    cmd = [program or args.anycost, "generate", "--model", args.model, "--ratio", ratio, "--res", res, "--threads",
           str(args.threads), "--noise", "fixed", "--batch", "1", "--seed", "0", "--n", str(args.iters + 1)]
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "passive")
    env.setdefault("OMP_NUM_THREADS", str(args.threads))
    env.pop("ANYCOST_CPU_ISA", None)
    if isa:
        env["ANYCOST_CPU_ISA"] = isa
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.exit(f"anycost failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return anycost_round_ms(p)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--anycost", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--configs", default="1@256,0.5@256,0.25@256,1@64")
    ap.add_argument("--against", default="avx2", help="the capped instruction set (default avx2)")
    ap.add_argument("--baseline", help="another anycost program to compare with instead (both uncapped)")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--iters", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    configs = [c.split("@") for c in args.configs.split(",")]
    if args.baseline:
        args.against = "baseline"
    sides = ("best", args.against)
    times = {(r, s, side): [] for r, s in configs for side in sides}
    print(f"load average before: {loadavg()}", flush=True)
    for rnd in range(args.rounds):
        for ratio, res in configs:
            order = sides if rnd % 2 == 0 else sides[::-1]
            for side in order:
                if side == "best":
                    ms = run(args, ratio, res, None)
                elif args.baseline:
                    ms = run(args, ratio, res, None, args.baseline)
                else:
                    ms = run(args, ratio, res, side)
                times[(ratio, res, side)].append(ms)
                print(f"round {rnd + 1}: r{ratio} @{res} {side}: {ms:.1f} ms", file=sys.stderr, flush=True)
    print(f"load average after: {loadavg()}")
    print(f"\n| config | best path ms (min-max) | {args.against} ms (min-max) | best / {args.against} | per round (min-max) |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for ratio, res in configs:
        cells = []
        med = {}
        for side in sides:
            t = times[(ratio, res, side)]
            med[side] = statistics.median(t)
            cells.append(f"{med[side]:.1f} ({min(t):.1f}-{max(t):.1f})")
        paired = [b / a for b, a in zip(times[(ratio, res, "best")], times[(ratio, res, args.against)])]
        print(f"| r{ratio} @{res} | {cells[0]} | {cells[1]} | {med['best'] / med[args.against]:.3f} | "
              f"{statistics.median(paired):.3f} ({min(paired):.3f}-{max(paired):.3f}) |")


if __name__ == "__main__":
    main()
