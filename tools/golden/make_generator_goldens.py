#!/usr/bin/env python3
"""Writes the generator parity fixtures tests/data/generator/*.safetensors (run by hand; needs PyTorch).

    /usr/bin/python3 tools/golden/make_generator_goldens.py [--out tests/data/generator]

model.safetensors    a 32x32 generator (style_dim 16, n_mlp 2, widths 4:32 8:24 16:16 32:16) with random
                     weights, non-zero biases and noise weights, in the reference state_dict layout
cases.safetensors    latents, the configurations used, and the reference images (float32), computed in
                     float64 by tools/reference/anycost_generator.py (an independent float64 implementation):
   z, z2, wplus_in, w_avg, noise_<l>         inputs
   w                                         mapping(z)
   full, full_rgb_<r>                        full width, 32x32, and the intermediate ToRGB images
   uniform_0.5, uniform_0.25                 uniform sub-networks (channels_* hold the widths)
   flexible                                  per-layer widths channels_flexible
   half_res                                  full width stopped at 16x16
   truncation_0.5                            psi = 0.5 toward w_avg
   mixing_3                                  z / z2 style mixing at inject_index 3
   wplus                                     W+ input (input_is_style) at uniform 0.5
   given_noise                               explicit per-sample noise maps noise_<l>
latents_wplus.safetensors   wplus_in alone, an input for `anycost generate --latents`
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(HERE, "..", "reference"))
import anycost_generator as ref  # noqa: E402
from convert_checkpoint import save_safetensors  # noqa: E402

FLEXIBLE = [20, 24, 16, 24, 8, 16, 12, 4]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "data", "generator"))
    out = p.parse_args().out
    os.makedirs(out, exist_ok=True)

    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(0)
    g = ref.randomize_(ref.Generator(32, style_dim=16, n_mlp=2, lr_mlp=0.01, widths=[32, 24, 16, 16]), gen)
    g = g.double().eval()
    sd = g.state_dict()
    save_safetensors(os.path.join(out, "model.safetensors"), {k: v.float() for k, v in sd.items()},
                     {"format": "anycost-generator", "lr_mlp": "0.01"})
    # The C++ side runs the float32 weights: compute the reference from exactly those values.
    with torch.no_grad():
        for v in list(g.parameters()) + list(g.buffers()):
            v.copy_(v.float().double())

    b, s = 2, g.style_dim
    z = torch.randn(b, s, generator=gen, dtype=torch.float64)
    z2 = torch.randn(b, s, generator=gen, dtype=torch.float64)
    wplus_in = torch.randn(b, g.n_style, s, generator=gen, dtype=torch.float64)
    noise = [torch.randn(b, 1, 2 ** ((l + 5) // 2), 2 ** ((l + 5) // 2), generator=gen, dtype=torch.float64)
             for l in range(g.num_layers)]
    cases = {"z": z, "z2": z2, "wplus_in": wplus_in}
    with torch.no_grad():
        w_avg = g.style(torch.randn(4096, s, generator=gen, dtype=torch.float64)).mean(0)
        cases["w_avg"] = w_avg
        for l, n in enumerate(noise):
            cases[f"noise_{l}"] = n
        cases["w"] = g.style(z)
        full, rgbs = g(z, return_rgbs=True)
        cases["full"] = full
        for r in rgbs[:-1]:
            cases[f"full_rgb_{r.shape[-1]}"] = r
        for ratio in (0.5, 0.25):
            ch = g.uniform_channels(ratio)
            cases[f"channels_uniform_{ratio}"] = torch.tensor(ch, dtype=torch.float64)
            cases[f"uniform_{ratio}"] = g(z, channels=ch)
        cases["channels_flexible"] = torch.tensor(FLEXIBLE, dtype=torch.float64)
        cases["flexible"] = g(z, channels=FLEXIBLE)
        cases["half_res"] = g(z, target_res=16)
        cases["truncation_0.5"] = g(z, truncation=0.5, truncation_latent=w_avg)
        cases["mixing_3"] = g(torch.stack([z, z2], 1), inject_index=3)
        cases["wplus"] = g(wplus_in, input_is_style=True, channels=g.uniform_channels(0.5))
        cases["given_noise"] = g(z, noise=noise)
    save_safetensors(os.path.join(out, "cases.safetensors"), {k: v.float() for k, v in cases.items()})
    # An `anycost generate --latents` input (the CLI wants exactly one of z, w, wplus).
    save_safetensors(os.path.join(out, "latents_wplus.safetensors"), {"wplus": wplus_in.float()})
    total = sum(os.path.getsize(os.path.join(out, f)) for f in os.listdir(out))
    print(f"wrote {out}: {total / 1024:.0f} KiB; full image range [{full.min():.3f}, {full.max():.3f}]")


if __name__ == "__main__":
    main()
