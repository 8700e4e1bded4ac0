#!/usr/bin/env python3
"""Writes the LPIPS / resize / pool / consistency fixtures tests/data/lpips/* (run by hand; needs PyTorch,
torchvision and the lpips 0.1.4 wheel unzipped on PYTHONPATH, which ships the linear heads):

    PYTHONPATH=/path/to/unzipped/lpips-wheel /usr/bin/python3 tools/golden/make_lpips_goldens.py

ops.json                  F.interpolate(mode='bilinear', align_corners=True/False) and F.max_pool2d values and
                          input gradients of sum(out * r), float64 on float32-rounded inputs
heads.safetensors         the package's v0.1 linear heads, <net>.lin<k>.model.1.weight
lpips_<net>.safetensors   lpips.LPIPS(net=<net>) with the shipped heads and the backbone anycost's
                          losses::Lpips(net, seed=SEED) draws (rebuilt here from the Philox uniforms, see
                          include/anycost/losses/lpips.hpp), in float64: images a_<s>, b_<s>, distances d_<s> and
                          the gradients ga_<s>, gb_<s> of sum(d) with respect to a and b, sizes 32 and 64
consistency.safetensors   the distillation loss of tools/train_gan.py (official code) with the VGG LPIPS above:
                          student images s_<r> (r = 16, 32, 64, 128), teacher t (128), loss values mse, lpips,
                          total (alpha 2) and gradients g_<r> of total; adaptive_downsample256 with 32 in place of
                          256 (LPIPS_MAX) so that the rule is exercised on small images
The torchvision backbones are never downloaded: the weights are the seeded ones, passed through
tools/convert_lpips.py (a torch.save'd backbone + the head file), which this script thereby checks.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
from convert_checkpoint import load_safetensors, save_safetensors  # noqa: E402

# lpips/__init__.py imports its trainer, which needs scipy.ndimage.zoom and tqdm; the metric needs neither, so
# stand-ins are registered when they are not installed.
for _name, _attr in (("scipy", None), ("scipy.ndimage", "zoom"), ("tqdm", "tqdm")):
    try:
        __import__(_name)
    except ImportError:
        import types
        _mod = types.ModuleType(_name)
        if _attr:
            setattr(_mod, _attr, None)
        sys.modules[_name] = _mod
import lpips  # noqa: E402

SEED = 7
LPIPS_MAX = 32
OUT = os.path.join(HERE, "..", "..", "tests", "data", "lpips")
MASK = np.uint64(0xFFFFFFFF)


def philox_blocks(seed, first, count):
    """anycost's Philox4x32-10 (core/rng.hpp) for blocks first..first+count-1, vectorised: [count, 4] uint32."""
    b = np.arange(first, first + count, dtype=np.uint64)
    c0, c1 = b & MASK, b >> np.uint64(32)
    c2 = np.zeros_like(b)
    c3 = np.zeros_like(b)
    k0, k1 = np.uint64(seed & 0xFFFFFFFF), np.uint64(seed >> 32)
    for _ in range(10):
        p0 = np.uint64(0xD2511F53) * c0
        p1 = np.uint64(0xCD9E8D57) * c2
        hi0, lo0 = p0 >> np.uint64(32), p0 & MASK
        hi1, lo1 = p1 >> np.uint64(32), p1 & MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + np.uint64(0x9E3779B9)) & MASK
        k1 = (k1 + np.uint64(0xBB67AE85)) & MASK
    return np.stack([c0, c1, c2, c3], 1)


class Uniform:
    """rand(shape, Rng(seed)): element i is lane i % 4 of block first + i / 4, (x >> 8) / 2^24."""

    def __init__(self, seed):
        self.seed, self.offset = seed, 0

    def __call__(self, shape):
        n = int(np.prod(shape))
        blocks = (n + 3) // 4
        x = philox_blocks(self.seed, self.offset, blocks).reshape(-1)[:n]
        self.offset += blocks
        return ((x >> np.uint64(8)).astype(np.float64) / 16777216.0).reshape(shape)


def seeded_lpips_state(model, seed):
    """The values losses::Lpips(net, seed) draws, in its (state_dict) order, as float32 tensors."""
    u = Uniform(seed)
    out = {}
    for k, v in model.state_dict().items():
        if k.startswith("scaling_layer") or k.startswith("lins."):  # lins.<k> aliases lin<k>
            continue
        if k.endswith("bias"):
            lo, hi = -0.1, 0.1
        elif k.startswith("lin"):
            lo, hi = 0.0, 0.1
        else:
            b = np.sqrt(6.0 / (v.shape[1] * v.shape[2] * v.shape[3]))
            lo, hi = -b, b
        out[k] = torch.from_numpy((lo + (hi - lo) * u(tuple(v.shape))).astype(np.float32))
    return out


def make_lpips(net, tmp):
    """lpips.LPIPS with the seeded backbone (through tools/convert_lpips.py) and the shipped heads, float64."""
    m = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)
    seeded = seeded_lpips_state(m, SEED)
    import torchvision
    tv = (torchvision.models.alexnet if net == "alex" else torchvision.models.vgg16)()
    feats = {}
    for k in seeded:
        if k.startswith("net."):
            _, _, i, p = k.split(".")
            feats[f"features.{i}.{p}"] = seeded[k]
    sd = tv.state_dict()
    sd.update(feats)
    backbone = os.path.join(tmp, f"{net}_backbone.pth")
    torch.save(sd, backbone)
    heads = os.path.join(os.path.dirname(lpips.__file__), "weights", "v0.1", f"{net}.pth")
    conv = os.path.join(tmp, f"{net}.safetensors")
    subprocess.run([sys.executable, os.path.join(HERE, "..", "convert_lpips.py"), "--heads", heads, "--backbone",
                    backbone, "--out", conv], check=True, stdout=subprocess.DEVNULL)
    converted, _ = load_safetensors(conv)
    for k, v in feats.items():
        _, i, p = k.split(".")
        key = next(n for n in converted if n.startswith("net.") and n.endswith(f".{i}.{p}"))
        assert torch.equal(converted[key], v), key
    missing, unexpected = m.load_state_dict(converted, strict=False)
    assert not unexpected and all(k.startswith("lins.") for k in missing), (missing, unexpected)
    return m.double().eval()


def rounded(t):
    return t.float().double()


def tensor_json(t):
    return {"shape": list(t.shape), "data": [float(f"{v:.9g}") for v in t.reshape(-1).tolist()]}


def ops_json():
    gen = torch.Generator().manual_seed(11)
    x = rounded(torch.randn(2, 3, 7, 9, generator=gen, dtype=torch.float64))
    cases = []
    for (h, w) in [(4, 5), (13, 11), (1, 3), (7, 4)]:
        for align in (True, False):
            xi = x.clone().requires_grad_(True)
            y = F.interpolate(xi, size=(h, w), mode="bilinear", align_corners=align)
            r = rounded(torch.randn(y.shape, generator=gen, dtype=torch.float64))
            (g,) = torch.autograd.grad((y * r).sum(), xi)
            cases.append({"name": f"resize_{h}x{w}_{'align' if align else 'noalign'}", "out_h": h, "out_w": w,
                          "align_corners": align, "r": tensor_json(r), "out": tensor_json(y.detach()),
                          "grad": tensor_json(g)})
    xp = rounded(torch.randn(2, 3, 9, 10, generator=gen, dtype=torch.float64))
    for k, s, p in [(3, 2, 0), (2, 2, 0), (3, 1, 1), (3, 3, 1)]:
        xi = xp.clone().requires_grad_(True)
        y = F.max_pool2d(xi, k, s, p)
        r = rounded(torch.randn(y.shape, generator=gen, dtype=torch.float64))
        (g,) = torch.autograd.grad((y * r).sum(), xi)
        cases.append({"name": f"pool_k{k}_s{s}_p{p}", "kernel": k, "stride": s, "padding": p, "r": tensor_json(r),
                      "out": tensor_json(y.detach()), "grad": tensor_json(g)})
    return {"op": "resize_bilinear, max_pool2d", "generator": "tools/golden/make_lpips_goldens.py, torch " +
            torch.__version__, "inputs": {"resize": tensor_json(x), "pool": tensor_json(xp)}, "cases": cases}


def adaptive_downsample(img):
    """utils/train_utils.py adaptive_downsample256 of the official code, with LPIPS_MAX for 256."""
    img = img.clamp(-1, 1)
    if img.shape[-1] > LPIPS_MAX:
        return F.interpolate(img, size=(LPIPS_MAX, LPIPS_MAX), mode="bilinear", align_corners=True)
    return img


def main():
    torch.set_num_threads(1)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "ops.json"), "w") as f:
        json.dump(ops_json(), f, separators=(",", ":"))
    gen = torch.Generator().manual_seed(5)
    heads = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = {net: make_lpips(net, tmp) for net in ("alex", "vgg")}
    for net, m in models.items():
        for k in range(5):
            heads[f"{net}.lin{k}.model.1.weight"] = m.state_dict()[f"lin{k}.model.1.weight"].float()
        cases = {}
        for size, batch in [(32, 2), (64, 1)]:
            a = rounded(torch.rand(batch, 3, size, size, generator=gen, dtype=torch.float64) * 2 - 1)
            b = rounded((a + 0.3 * torch.randn(a.shape, generator=gen, dtype=torch.float64)).clamp(-1, 1))
            a.requires_grad_(True)
            b.requires_grad_(True)
            d = m(a, b).reshape(-1)
            ga, gb = torch.autograd.grad(d.sum(), [a, b])
            cases.update({f"a_{size}": a.detach().float(), f"b_{size}": b.detach().float(), f"d_{size}": d.detach(),
                          f"ga_{size}": ga.float(), f"gb_{size}": gb.float()})
            print(f"{net} {size}: d = {d.tolist()}")
        save_safetensors(os.path.join(OUT, f"lpips_{net}.safetensors"), cases, {"seed": str(SEED)})
    save_safetensors(os.path.join(OUT, "heads.safetensors"), heads)

    # Consistency loss (tools/train_gan.py, G step): teacher targets by get_teacher_multi_res, alpha = 2.
    vgg = models["vgg"]
    t = rounded(torch.randn(1, 3, 128, 128, generator=gen, dtype=torch.float64) * 0.6)
    students = []
    for r in (16, 32, 64, 128):
        target = F.interpolate(t, size=r, mode="bilinear", align_corners=True) if r < 128 else t
        s = rounded(target + 0.3 * torch.randn(target.shape, generator=gen, dtype=torch.float64))
        students.append(s.requires_grad_(True))
    teacher_rgbs = [F.interpolate(t, size=s.shape[-1], mode="bilinear", align_corners=True) if s.shape[-1] < 128
                    else t for s in students]
    mse = sum(torch.nn.MSELoss()(s, tr) for s, tr in zip(students, teacher_rgbs))
    lp = sum(vgg(adaptive_downsample(s), adaptive_downsample(tr)).mean() for s, tr in zip(students, teacher_rgbs))
    total = (mse + lp) * 2.0
    grads = torch.autograd.grad(total, students)
    out = {"t": t.float(), "mse": mse.detach().reshape(1), "lpips": lp.detach().reshape(1),
           "total": total.detach().reshape(1)}
    for s, g in zip(students, grads):
        out[f"s_{s.shape[-1]}"] = s.detach().float()
        out[f"g_{s.shape[-1]}"] = g.float()
    print(f"consistency: mse {mse.item():.6f} lpips {lp.item():.6f} total {total.item():.6f}")
    save_safetensors(os.path.join(OUT, "consistency.safetensors"), out, {"lpips_max": str(LPIPS_MAX)})


if __name__ == "__main__":
    main()
