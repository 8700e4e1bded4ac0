#!/usr/bin/env python3
"""Writes the discriminator parity fixtures tests/data/discriminator/*.safetensors (run by hand; needs PyTorch
and a checkout of the official code, github.com/mit-han-lab/anycost-gan, whose modules it imports and runs).

    FORCE_NATIVE=1 /usr/bin/python3 tools/golden/make_discriminator_goldens.py --official PATH/TO/anycost-gan \
        [--out tests/data/discriminator]

The official models run on the CPU in float64 with FORCE_NATIVE=1 (their pure-PyTorch ops), from weights
rounded to float32 (what the files hold and the C++ side loads). Every parameter is random, biases included.

d_single.safetensors   Discriminator(32, channel_multiplier=1/64, channel_max=16): widths 4:16 8:16 16:16 32:8
d_multi.safetensors    DiscriminatorMultiRes(same, n_res=3, modulate=True): inputs 32/16/8, code length 32
g.safetensors          Generator(32, style_dim=16, n_mlp=2, channel_multiplier=1/64, channel_max=16)
cases.safetensors      inputs and references (float64; parameter gradients float32):
   img_<r>                          [8, 3, r, r] images (float32), r = 32, 16, 8 (batch b uses the first b)
   code_<c>, ratios_<c>             architecture codes [1, 32] (get_g_arch) for c = u0.25, u0.5, u0.75, u1, flex
   single_b<b>                      single-res D logits of img_32[:b], b = 1, 2, 4, 8
   multi_r<r>_<c>_b<b>              multi-res D logits of img_r[:b] with code c
   dlogistic, dlogistic.grad.<p>    d_logistic_loss(D(img_32[:4], code_u1), D(img_32[4:], code_u0.5)) and dL/dp
                                    (parameters the loss does not use, other fromRGBs, have no entry)
   r1_<r>, r1_<r>.grad.<p>          d_r1_loss(D(img_r[:4], code_u0.5), .) and its gradients (double backward)
   z                                [4, 16] latents (float32)
   gloss_<w>, gloss_<w>.grad.<p>    g_nonsaturating_loss(D(G(z), code)) at width w = full (code_u1) and half
                                    (uniform 0.5, code_u0.5), fixed noise; grads over G's (g.<p>) and D's (d.<p>)
"""

import argparse
import os
import sys

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from convert_checkpoint import save_safetensors  # noqa: E402

FLEX = [1.0, 0.75, 0.5, 0.25, 1.0, 0.5, 0.25, 0.75]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--official", required=True, help="checkout of mit-han-lab/anycost-gan")
    p.add_argument("--out", default=os.path.join(HERE, "..", "..", "tests", "data", "discriminator"))
    a = p.parse_args()
    if not os.environ.get("FORCE_NATIVE"):
        raise SystemExit("set FORCE_NATIVE=1 (the official pure-PyTorch ops)")
    sys.path.insert(0, os.path.abspath(a.official))
    from models.anycost_gan import Discriminator, DiscriminatorMultiRes, Generator
    from models.dynamic_channel import set_uniform_channel_ratio, reset_generator
    from utils.losses import d_logistic_loss, d_r1_loss, g_nonsaturating_loss
    from utils.train_utils import get_g_arch
    torch.set_num_threads(1)
    os.makedirs(a.out, exist_ok=True)

    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(2021)

    def randomize(m, scale=0.5, bias_scale=0.2):
        with torch.no_grad():
            for name, v in m.named_parameters():
                if name.endswith("bias") or "noise.weight" in name:
                    v.copy_(torch.randn(v.shape, generator=gen) * bias_scale + (1.0 if "modulation.bias" in name else 0.0))
                elif "_mapping" in name:
                    v.copy_(torch.randn(v.shape, generator=gen) * 0.1)
                else:
                    v.copy_(torch.randn(v.shape, generator=gen) * (100.0 if name.startswith("style.") else 1.0))
        m = m.double().eval()
        with torch.no_grad():  # the C++ side loads float32: compute from exactly those values
            for v in list(m.parameters()) + list(m.buffers()):
                v.copy_(v.float().double())
        return m

    mult, cmax = 1 / 64, 16
    d1 = randomize(Discriminator(32, channel_multiplier=mult, channel_max=cmax))
    dm = randomize(DiscriminatorMultiRes(32, channel_multiplier=mult, channel_max=cmax, n_res=3, modulate=True))
    g = randomize(Generator(32, style_dim=16, n_mlp=2, channel_multiplier=mult, channel_max=cmax))
    for name, m in (("d_single", d1), ("d_multi", dm), ("g", g)):
        meta = {"format": "anycost-generator", "lr_mlp": "0.01"} if name == "g" else {"format": "anycost-discriminator"}
        save_safetensors(os.path.join(a.out, name + ".safetensors"), {k: v.float() for k, v in m.state_dict().items()}, meta)

    cases = {}
    imgs = {r: torch.randn(8, 3, r, r, generator=gen).double() for r in (32, 16, 8)}  # float32 values
    for r, x in imgs.items():
        cases[f"img_{r}"] = x.float()
    ratios = {"u0.25": [0.25] * 8, "u0.5": [0.5] * 8, "u0.75": [0.75] * 8, "u1": [1.0] * 8, "flex": FLEX}
    codes = {c: get_g_arch(rs, device="cpu").double().view(1, -1) for c, rs in ratios.items()}
    for c in ratios:
        cases[f"code_{c}"] = codes[c]
        cases[f"ratios_{c}"] = torch.tensor(ratios[c], dtype=torch.float64)

    with torch.no_grad():
        for b in (1, 2, 4, 8):
            cases[f"single_b{b}"] = d1(imgs[32][:b])
            for r in (32, 16, 8):
                for c in ratios:
                    cases[f"multi_r{r}_{c}_b{b}"] = dm(imgs[r][:b], codes[c])

    def grads(prefix, loss, named):
        gs = torch.autograd.grad(loss, [v for _, v in named], allow_unused=True)
        for (n, _), gv in zip(named, gs):
            if gv is not None:  # unused: the fromRGB layers of other resolutions
                cases[f"{prefix}.grad.{n}"] = gv.float()

    dnamed = list(dm.named_parameters())
    loss = d_logistic_loss(dm(imgs[32][:4], codes["u1"]), dm(imgs[32][4:], codes["u0.5"]))
    cases["dlogistic"] = loss.detach().view(1)
    grads("dlogistic", loss, dnamed)

    for r in (32, 16):
        x = imgs[r][:4].clone().requires_grad_(True)
        pen = d_r1_loss(dm(x, codes["u0.5"]), x)
        cases[f"r1_{r}"] = pen.detach().view(1)
        grads(f"r1_{r}", pen, dnamed)

    z = torch.randn(4, 16, generator=gen).double()
    cases["z"] = z.float()
    gnamed = [("g." + n, v) for n, v in g.named_parameters()] + [("d." + n, v) for n, v in dnamed]
    for w, ratio, c in (("full", None, "u1"), ("half", 0.5, "u0.5")):
        reset_generator(g)
        if ratio is not None:
            set_uniform_channel_ratio(g, ratio)
        img, _ = g(z.view(4, 1, 16), randomize_noise=False)
        loss = g_nonsaturating_loss(dm(img, codes[c]))
        cases[f"gloss_{w}"] = loss.detach().view(1)
        grads(f"gloss_{w}", loss, gnamed)
    reset_generator(g)

    save_safetensors(os.path.join(a.out, "cases.safetensors"), cases,
                     {"script": "tools/golden/make_discriminator_goldens.py", "torch": torch.__version__})
    print(f"{a.out}: {len(cases)} cases")


if __name__ == "__main__":
    main()
