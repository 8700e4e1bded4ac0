#!/usr/bin/env python3
"""Writes the encoder parity fixtures tests/data/encoder/*.safetensors (run by hand; needs PyTorch):

    /usr/bin/python3 tools/golden/make_encoder_goldens.py [--out tests/data/encoder]

The reference is tools/reference/anycost_encoder.py (plain PyTorch, the official state_dict layout), run in
float64 on weights rounded to float32 (what the file holds and the C++ side loads).

encoder.safetensors   a small encoder, every parameter and statistic random: blocks 2,1,1 (layer1 has a
                      downsampling first block and a plain second one; layer2 and layer3 downsample by 2),
                      base width 4, W+ 4 x 8, input 32 x 32; metadata format/resolution as save_encoder writes
cases.safetensors     x [3, 3, 32, 32] in [-1, 1] (float32)
                      eval         the output with running statistics (eval mode)        [3, 4, 8]
                      train        the output with batch statistics (train mode)         [3, 4, 8]
                      r            a fixed random weighting [3, 4, 8] of the train-mode output
                      grad.<p>     d sum(r * train) / d p for some parameters, grad.x for the input
                      after.<b>    running statistics after that one train-mode forward (momentum 0.1)
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
from convert_checkpoint import save_safetensors  # noqa: E402
import anycost_encoder as ref  # noqa: E402

GRADS = ["conv1.weight", "bn1.weight", "bn1.bias", "layer1.0.conv2.weight", "layer1.1.bn3.weight",
         "layer2.0.downsample.1.weight", "layer3.0.downsample.0.weight", "fc.weight", "fc.bias"]
AFTER = ["bn1", "layer1.0.downsample.1", "layer3.0.bn3"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "data", "encoder"))
    a = p.parse_args()
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)
    gen = torch.Generator().manual_seed(2021)
    enc = ref.randomize_(ref.Encoder(blocks=(2, 1, 1), base_width=4, n_style=4, style_dim=8), gen)
    sd32 = {k: v.to(torch.float32) for k, v in enc.state_dict().items()}
    save_safetensors(os.path.join(a.out, "encoder.safetensors"), sd32,
                     {"format": "anycost-encoder", "resolution": "32"})
    enc = enc.double()
    with torch.no_grad():
        for k, v in enc.state_dict().items():
            v.copy_(sd32[k].double())
    x32 = (torch.rand(3, 3, 32, 32, generator=gen) * 2 - 1).float()
    x = x32.double()
    enc.eval()
    with torch.no_grad():
        out_eval = enc(x)
    enc.train()
    xg = x.clone().requires_grad_(True)
    out_train = enc(xg)
    r = torch.randn(out_train.shape, generator=gen, dtype=torch.float64)
    params = dict(enc.named_parameters())
    grads = torch.autograd.grad((r * out_train).sum(), [xg] + [params[n] for n in GRADS])
    cases = {"x": x32, "eval": out_eval, "train": out_train.detach(), "r": r, "grad.x": grads[0]}
    for n, g in zip(GRADS, grads[1:]):
        cases["grad." + n] = g
    bufs = dict(enc.named_buffers())
    for b in AFTER:
        for s in ("running_mean", "running_var", "num_batches_tracked"):
            cases[f"after.{b}.{s}"] = bufs[f"{b}.{s}"].double()
    # float64 where it is a reference value (save_safetensors keeps F64)
    save_safetensors(os.path.join(a.out, "cases.safetensors"), cases)
    print(f"wrote {a.out}: {len(sd32)} encoder tensors, {len(cases)} cases")


if __name__ == "__main__":
    main()
