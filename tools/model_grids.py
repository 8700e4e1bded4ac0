#!/usr/bin/env python3
"""The sample grids of a model card: the same latents rendered by `anycost generate` at several channel
ratios (full resolution) and several output resolutions (full width), one row per configuration, lower
resolutions enlarged by pixel repetition so that every row has the same size.

    tools/model_grids.py --anycost build/examples/anycost --model examples/models/emoji64/generator.safetensors \
        --out examples/models/emoji64/samples.png [--n 8] [--seed 0]

Needs numpy and Pillow (Debian: python3-numpy, python3-pil)."""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image


def read_images(path):
    """The float32 tensor `images` [N, 3, H, W] of a safetensors file written by anycost generate."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    t = header["images"]
    if t["dtype"] != "F32":
        sys.exit(f"{path}: images are {t['dtype']}, expected F32")
    start, end = t["data_offsets"]
    return np.frombuffer(data[start:end], dtype="<f4").reshape(t["shape"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--anycost", required=True, help="the anycost program")
    ap.add_argument("--model", required=True, help="generator checkpoint")
    ap.add_argument("--out", required=True, help="the PNG to write")
    ap.add_argument("--ratios", default="1,0.75,0.5,0.25")
    ap.add_argument("--res", default="32,16", help="lower output resolutions (full width)")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        configs = [["--ratio", r] for r in args.ratios.split(",")] + [["--res", r] for r in args.res.split(",")]
        for k, flags in enumerate(configs):
            out = os.path.join(tmp, f"{k}.safetensors")
            cmd = [args.anycost, "generate", "--model", args.model, "--n", str(args.n), "--seed", str(args.seed),
                   "--threads", "2", "--out", out] + flags
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(f"{' '.join(cmd)} failed:\n{run.stdout}{run.stderr}")
            rows.append(read_images(out))
    size = max(r.shape[2] for r in rows)
    pad = 2
    grid = np.zeros((3, len(rows) * (size + pad) + pad, args.n * (size + pad) + pad), dtype=np.float32) - 1
    for i, r in enumerate(rows):
        k = size // r.shape[2]
        for j in range(args.n):
            img = np.repeat(np.repeat(r[j], k, axis=1), k, axis=2)
            y, x = pad + i * (size + pad), pad + j * (size + pad)
            grid[:, y:y + size, x:x + size] = img
    pixels = np.clip((grid + 1) * 127.5 + 0.5, 0, 255).astype(np.uint8).transpose(1, 2, 0)
    tmp_out = args.out + ".tmp"
    Image.fromarray(pixels).save(tmp_out, format="PNG")
    os.replace(tmp_out, args.out)  # never leave a half-written PNG
    print(f"wrote {args.out}: rows {' | '.join(' '.join(c) for c in configs)}")


if __name__ == "__main__":
    main()
