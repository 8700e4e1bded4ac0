#!/usr/bin/env python3
"""Writes tests/data/lpips/path_length.safetensors: the path-length regulariser of the OFFICIAL code
(utils/losses.py: g_path_regularize) through the OFFICIAL generator (models/anycost_gan.py, FORCE_NATIVE=1,
pure PyTorch ops), float64 on the CPU, for the tiny generator tests/data/generator/model.safetensors (run by hand):

    git --git-dir=<mirror of mit-han-lab/anycost-gan> archive HEAD models cuda_op utils | tar -x -C /tmp/official
    /usr/bin/python3 tools/golden/make_path_length_goldens.py --official /tmp/official

The model's widths (4:32 8:24 16:16 32:16) are not a channel_multiplier of the official G_CHANNEL_CONFIG, so the
table is replaced before the generator is built (the code reads it only there). The projection noise is given:
torch.randn_like inside g_path_regularize is replaced by a fixed draw, and the file stores the scaled projection
y = randn / sqrt(H W) that the C++ overload takes.

   wplus [2, n_style, 16], noise_<l>      inputs (W+ through input_is_style=True; fixed noise maps)
   y                                      the projection (already divided by sqrt(H W))
   mean_in                                the running mean passed in (0.5)
   penalty, mean, lengths                 g_path_regularize's outputs
   grad.<name>                            d penalty / d parameter, official state_dict names
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from convert_checkpoint import load_safetensors, save_safetensors  # noqa: E402

DATA = os.path.join(HERE, "..", "..", "tests", "data")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--official", required=True, help="a checkout (or archive) of mit-han-lab/anycost-gan")
    a = p.parse_args()
    os.environ["FORCE_NATIVE"] = "1"
    sys.path.insert(0, a.official)
    import models.anycost_gan as ag
    from utils import losses

    torch.set_num_threads(1)
    sd, _ = load_safetensors(os.path.join(DATA, "generator", "model.safetensors"))
    ag.G_CHANNEL_CONFIG = {4: 32, 8: 24, 16: 16, 32: 16}
    g = ag.Generator(32, style_dim=16, n_mlp=2, channel_multiplier=1, lr_mlp=0.01)
    missing, unexpected = g.load_state_dict(sd, strict=False)
    assert not unexpected and all(k.endswith("kernel") for k in missing), (missing, unexpected)
    g = g.double()

    gen = torch.Generator().manual_seed(99)
    b = 2
    wplus = torch.randn(b, g.n_style, 16, generator=gen, dtype=torch.float64).float().double()
    noise = [torch.randn(b, 1, 2 ** ((l + 5) // 2), 2 ** ((l + 5) // 2), generator=gen,
                         dtype=torch.float64).float().double() for l in range(g.num_layers)]
    y_raw = torch.randn(b, 3, 32, 32, generator=gen, dtype=torch.float64).float().double()
    mean_in = 0.5

    w = wplus.clone().requires_grad_(True)
    img, latents = g(w, input_is_style=True, noise=noise, return_styles=True)
    real_randn_like = torch.randn_like
    torch.randn_like = lambda t: y_raw.clone()
    try:
        penalty, path_mean, lengths = losses.g_path_regularize(img, latents, mean_in)
    finally:
        torch.randn_like = real_randn_like
    names = [n for n, _ in g.named_parameters()]
    grads = torch.autograd.grad(penalty, [p for _, p in g.named_parameters()], allow_unused=True)
    out = {"wplus": wplus, "y": y_raw / (32 * 32) ** 0.5, "mean_in": torch.tensor([mean_in], dtype=torch.float64),
           "penalty": penalty.detach().reshape(1), "mean": torch.tensor([path_mean], dtype=torch.float64),
           "lengths": lengths.detach()}
    for l, n in enumerate(noise):
        out[f"noise_{l}"] = n
    for n, gr in zip(names, grads):
        if gr is not None:
            out[f"grad.{n}"] = gr
    save_safetensors(os.path.join(DATA, "lpips", "path_length.safetensors"), out)
    print(f"penalty {penalty.item():.9g} mean {path_mean:.9g} lengths {lengths.tolist()}; "
          f"{sum(1 for x in grads if x is not None)} of {len(names)} parameters get a gradient")


if __name__ == "__main__":
    main()
