#!/usr/bin/env python3
"""Reference values for anycost's foundation ops, computed with PyTorch and written as small JSON files.

Run by hand (never by the build) from the repository root:

    /usr/bin/python3 tools/golden/make_foundation_goldens.py            # writes tests/data/foundation/*.json
    /usr/bin/python3 tools/golden/make_foundation_goldens.py --check    # regenerates in memory, diffs the files

Needs python3-torch (Debian 12 ships 1.13) and python3-numpy. The output is deterministic: inputs come from
numpy's PCG64 generator with fixed seeds, are rounded to float32 (the values stored in the files), and every
reference is then computed from those float32 values in float64 and stored rounded to float32, printed with 9
significant digits: a reader must round each decimal to float32 to recover the exact value. Tests in
tests/ops/torch_golden_test.cpp and tests/core/rng_test.cpp read the files through tests/support/golden.hpp.

Each op case stores its inputs, the output, a fixed random projection r, and the gradients of sum(out * r)
with respect to every differentiable input ("grads"). The R1 case (r1_discriminator.json) is a double
backward: R1 = mean over the batch of sum((d sum D(x) / dx)^2) for a small conv discriminator, and the
gradients of R1 with respect to every parameter of D. The Philox values (philox.json) are computed here from
the Philox4x32-10 definition with Python integers, independently of the C++ code.

upfirdn2d is implemented here from its definition (zero-stuff, pad or crop, convolve with the kernel, keep
every down-th sample), with torch ops so that autograd differentiates it to any order.
"""

import argparse
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "foundation")
GENERATOR = "tools/golden/make_foundation_goldens.py"

torch.set_default_dtype(torch.float64)


# ---- helpers -------------------------------------------------------------------------------------------------
def f32(values):
    """Rounds to float32 and returns plain Python floats that print with at most 9 significant digits."""
    arr = np.asarray(values, dtype=np.float64).astype(np.float32).ravel()
    return [float("%.9g" % v) for v in arr.tolist()]


def tensor_json(t):
    t = t.detach().to(torch.float64)
    return {"shape": list(t.shape), "data": f32(t.numpy())}


class Inputs:
    """Deterministic float32-valued inputs (held as float64 tensors so torch computes in double)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def normal(self, *shape, scale=1.0):
        a = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        return torch.tensor(a.astype(np.float64))

    def positive(self, *shape, low=0.5, high=2.0):
        a = self.rng.uniform(low, high, size=shape).astype(np.float32)
        return torch.tensor(a.astype(np.float64))


def projected_case(name, fn, inputs, differentiable, gen, params=None):
    """Runs fn(**inputs), projects the output on a random r and records the gradients of sum(out * r)."""
    leaves = {k: (v.clone().requires_grad_(k in differentiable)) for k, v in inputs.items()}
    out = fn(**leaves)
    r = gen.normal(*out.shape)
    loss = (out * r).sum()
    wrt = [k for k in inputs if k in differentiable]
    grads = torch.autograd.grad(loss, [leaves[k] for k in wrt], allow_unused=True)
    case = {"name": name}
    if params:
        case["params"] = params
    case["inputs"] = {k: tensor_json(v) for k, v in inputs.items()}
    case["output"] = tensor_json(out)
    case["projection"] = tensor_json(r)
    case["grads"] = {}
    for k, g in zip(wrt, grads):
        case["grads"][k] = tensor_json(g if g is not None else torch.zeros_like(inputs[k]))
    return case


def document(op, cases, **extra):
    doc = {"op": op, "generator": GENERATOR, "torch_version": torch.__version__.split("a")[0]}
    doc.update(extra)
    doc["cases"] = cases
    return doc


# ---- upfirdn2d from its definition ---------------------------------------------------------------------------
def upfirdn2d(x, k, up=1, down=1, pad=(0, 0, 0, 0)):
    """x [N, C, H, W], k [kh, kw]; pad = (y0, y1, x0, x1), negative values crop."""
    n, c, h, w = x.shape
    kh, kw = k.shape
    y0, y1, x0, x1 = pad
    p = x.reshape(n * c, 1, h, w)
    # 1. zero-stuff: U[u*i, u*j] = X[i, j], size uH x uW (trailing zeros included)
    if up > 1:
        u = p.new_zeros(n * c, 1, h * up, w * up)
        u[:, :, ::up, ::up] = p
        p = u
    # 2. pad (positive) and crop (negative)
    p = F.pad(p, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
    p = p[:, :, max(-y0, 0): p.shape[2] - max(-y1, 0), max(-x0, 0): p.shape[3] - max(-x1, 0)]
    # 3. FIR: convolution with k (correlation with k flipped)
    p = F.conv2d(p, torch.flip(k, [0, 1]).reshape(1, 1, kh, kw))
    # 4. decimate
    p = p[:, :, ::down, ::down]
    return p.reshape(n, c, p.shape[2], p.shape[3])


def blur_kernel(scale):
    a = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = torch.outer(a, a)
    return k / k.sum() * scale


# ---- the files -----------------------------------------------------------------------------------------------
def elementwise():
    gen = Inputs(101)
    cases = []
    x = gen.normal(3, 4)
    pos = gen.positive(3, 4)
    unary = [
        ("neg", lambda a: -a, x),
        ("exp", torch.exp, x),
        ("log", torch.log, pos),
        ("sqrt", torch.sqrt, pos),
        ("rsqrt", torch.rsqrt, pos),
        ("square", torch.square, x),
        ("reciprocal", torch.reciprocal, pos),
        ("abs", torch.abs, x),
        ("sigmoid", torch.sigmoid, x),
        ("softplus", F.softplus, x),
        ("tanh", torch.tanh, x),
        ("lrelu", lambda a: F.leaky_relu(a, 0.2), x),
        ("relu", F.relu, x),
        ("clamp", lambda a: torch.clamp(a, -0.5, 0.5), x),
        ("pow", lambda a: torch.pow(a, 2.5), pos),
    ]
    for name, fn, inp in unary:
        cases.append(projected_case(name, lambda a, fn=fn: fn(a), {"a": inp}, {"a"}, gen))
    a = gen.normal(2, 3, 4)
    b = gen.normal(3, 1)
    c = gen.positive(4)
    cases.append(projected_case("add_broadcast", lambda a, b: a + b, {"a": a, "b": b}, {"a", "b"}, gen))
    cases.append(projected_case("sub_broadcast", lambda a, b: a - b, {"a": a, "b": b}, {"a", "b"}, gen))
    cases.append(projected_case("mul_broadcast", lambda a, b: a * b, {"a": a, "b": b}, {"a", "b"}, gen))
    cases.append(projected_case("div_broadcast", lambda a, c: a / c, {"a": a, "c": c}, {"a", "c"}, gen))
    # A fused expression: three leaves, broadcasting, a Var used twice, scalars on both sides.
    cases.append(projected_case(
        "fused_bias_lrelu",
        lambda a, b, c: F.leaky_relu(a * b + c, 0.2) * math.sqrt(2.0) + 1.5 / (1.0 + a * a),
        {"a": a, "b": b, "c": c}, {"a", "b", "c"}, gen))
    return document("elementwise", cases)


def views_reductions():
    gen = Inputs(202)
    cases = []
    x = gen.normal(2, 3, 4)
    cases.append(projected_case("sum_all", lambda x: x.sum(), {"x": x}, {"x"}, gen))
    cases.append(projected_case("sum_dims_1_2", lambda x: x.sum(dim=(1, 2)), {"x": x}, {"x"}, gen,
                                {"dims": [1, 2], "keepdim": False}))
    cases.append(projected_case("sum_dim_neg1_keepdim", lambda x: x.sum(dim=-1, keepdim=True), {"x": x}, {"x"}, gen,
                                {"dims": [-1], "keepdim": True}))
    cases.append(projected_case("mean_dim_0", lambda x: x.mean(dim=0), {"x": x}, {"x"}, gen,
                                {"dims": [0], "keepdim": False}))
    cases.append(projected_case("mean_all", lambda x: x.mean(), {"x": x}, {"x"}, gen, {"dims": [], "keepdim": False}))
    # A chain of views ending in an elementwise op (so the gradient is not a plain permutation).
    cases.append(projected_case(
        "view_chain", lambda x: torch.square(x.permute(2, 0, 1)[1:3].reshape(2, 6).t()), {"x": x}, {"x"}, gen))
    y = gen.normal(2, 2, 4)
    cases.append(projected_case("cat_dim1", lambda x, y: torch.cat([x, y * y], 1), {"x": x, "y": y}, {"x", "y"}, gen,
                                {"dim": 1}))
    return document("views_reductions", cases)


def linalg():
    gen = Inputs(303)
    cases = []
    a = gen.normal(3, 5)
    b = gen.normal(5, 4)
    cases.append(projected_case("matmul_2d", lambda a, b: a @ b, {"a": a, "b": b}, {"a", "b"}, gen))
    ab = gen.normal(2, 3, 5)
    bb = gen.normal(2, 5, 4)
    cases.append(projected_case("matmul_batched", lambda a, b: a @ b, {"a": ab, "b": bb}, {"a", "b"}, gen))
    cases.append(projected_case("matmul_broadcast_b", lambda a, b: a @ b, {"a": ab, "b": b}, {"a", "b"}, gen))
    cases.append(projected_case("matmul_broadcast_a", lambda a, b: a @ b, {"a": a, "b": bb}, {"a", "b"}, gen))
    # Transposed operands: a given as [5, 3] and b as [4, 5], used transposed.
    at = gen.normal(5, 3)
    bt = gen.normal(4, 5)
    cases.append(projected_case("matmul_transposed", lambda a, b: a.t() @ b.t(), {"a": at, "b": bt}, {"a", "b"}, gen))
    x = gen.normal(2, 3, 6)
    w = gen.normal(4, 6)
    bias = gen.normal(4)
    cases.append(projected_case("linear_bias", lambda x, w, bias: F.linear(x, w, bias),
                                {"x": x, "w": w, "bias": bias}, {"x", "w", "bias"}, gen))
    return document("linalg", cases)


def conv():
    gen = Inputs(404)
    cases = []
    x = gen.normal(2, 4, 7, 6)
    for name, stride, pad, groups, cout in [
        ("conv2d_3x3_pad1", 1, 1, 1, 5),
        ("conv2d_3x3_stride2_pad0", 2, 0, 1, 5),
        ("conv2d_3x3_stride2_pad1_groups2", 2, 1, 2, 6),
    ]:
        w = gen.normal(cout, 4 // groups, 3, 3)
        cases.append(projected_case(
            name, lambda x, w, s=stride, p=pad, g=groups: F.conv2d(x, w, stride=s, padding=p, groups=g),
            {"x": x, "w": w}, {"x", "w"}, gen, {"stride": stride, "padding": pad, "groups": groups}))
    w1 = gen.normal(5, 4, 1, 1)
    cases.append(projected_case("conv2d_1x1", lambda x, w: F.conv2d(x, w), {"x": x, "w": w1}, {"x", "w"}, gen,
                                {"stride": 1, "padding": 0, "groups": 1}))
    # Transposed convolution as in the generator's up-conv: stride 2, padding 0, weight [Cin, Cout, 3, 3].
    z = gen.normal(2, 3, 4, 3)
    wt = gen.normal(3, 2, 3, 3)
    cases.append(projected_case(
        "conv_transpose2d_stride2", lambda z, w: F.conv_transpose2d(z, w, stride=2), {"z": z, "w": wt}, {"z", "w"},
        gen, {"stride": 2, "padding": 0, "groups": 1, "output_padding": 0}))
    cases.append(projected_case(
        "conv_transpose2d_stride2_pad1_outpad1",
        lambda z, w: F.conv_transpose2d(z, w, stride=2, padding=1, output_padding=1), {"z": z, "w": wt},
        {"z", "w"}, gen, {"stride": 2, "padding": 1, "groups": 1, "output_padding": 1}))
    return document("conv2d", cases)


def upfirdn():
    gen = Inputs(505)
    cases = []
    x = gen.normal(2, 2, 6, 5)
    configs = [
        ("g_upconv_blur", blur_kernel(4), 1, 1, (1, 1, 1, 1)),
        ("g_torgb_upsample", blur_kernel(4), 2, 1, (2, 1, 2, 1)),
        ("d_conv3x3_preblur", blur_kernel(1), 1, 1, (2, 2, 2, 2)),
        ("d_skip1x1_preblur", blur_kernel(1), 1, 1, (1, 1, 1, 1)),
        ("down2", blur_kernel(1), 1, 2, (1, 1, 1, 1)),
    ]
    asym = gen.normal(3, 2)
    configs.append(("asymmetric_negative_pads", asym, 2, 3, (1, 0, -1, 2)))
    for name, k, up, down, pad in configs:
        cases.append(projected_case(
            name, lambda x, k=k, up=up, down=down, pad=pad: upfirdn2d(x, k, up, down, pad), {"x": x}, {"x"}, gen,
            {"up": up, "down": down, "pad_y0": pad[0], "pad_y1": pad[1], "pad_x0": pad[2], "pad_x1": pad[3],
             "kernel": tensor_json(k)}))
    return document("upfirdn2d", cases)


def r1_discriminator():
    """R1 for a small D: fromRGB 1x1 -> 3x3 conv -> blur + 3x3 stride-2 conv -> linear head (StyleGAN2's residual D, Karras et al. 2020, Fig. 7c)."""
    gen = Inputs(606)
    x = gen.normal(2, 3, 8, 8)
    params = {
        "w0": gen.normal(4, 3, 1, 1), "b0": gen.normal(4, scale=0.1),
        "w1": gen.normal(4, 4, 3, 3), "b1": gen.normal(4, scale=0.1),
        "w2": gen.normal(6, 4, 3, 3), "b2": gen.normal(6, scale=0.1),
        "wl": gen.normal(1, 6 * 4 * 4), "bl": gen.normal(1, scale=0.1),
    }
    k = blur_kernel(1)

    def act(h, b):
        return F.leaky_relu(h + b.reshape(1, -1, 1, 1), 0.2) * math.sqrt(2.0)

    def D(x, p):
        h = act(F.conv2d(x, p["w0"] * (1 / math.sqrt(3 * 1 * 1))), p["b0"])
        h = act(F.conv2d(h, p["w1"] * (1 / math.sqrt(4 * 3 * 3)), padding=1), p["b1"])
        h = upfirdn2d(h, k, 1, 1, (2, 2, 2, 2))
        h = act(F.conv2d(h, p["w2"] * (1 / math.sqrt(4 * 3 * 3)), stride=2), p["b2"])
        h = h.reshape(h.shape[0], -1)
        return F.linear(h, p["wl"] * (1 / math.sqrt(h.shape[1])), p["bl"])

    xs = x.clone().requires_grad_(True)
    ps = {n: v.clone().requires_grad_(True) for n, v in params.items()}
    d = D(xs, ps)
    (gx,) = torch.autograd.grad(d.sum(), [xs], create_graph=True)
    r1 = gx.pow(2).reshape(gx.shape[0], -1).sum(1).mean()
    names = list(params)
    # The last bias does not reach dD/dx at all (unused), and the other biases only move the leaky-ReLU masks,
    # which are piecewise constant: their R1 gradients are zero. Both are stored as zeros.
    gp = torch.autograd.grad(r1, [ps[n] for n in names], allow_unused=True)
    gp = [g if g is not None else torch.zeros_like(params[n]) for n, g in zip(names, gp)]
    doc = {
        "op": "r1_discriminator",
        "generator": GENERATOR,
        "torch_version": torch.__version__.split("a")[0],
        "description": "D(x) = linear(flatten(act(conv2d(blur(act(conv2d(act(conv2d(x, w0*c0), b0), w1*c1, pad 1), "
                       "b1), pad (2,2)), w2*c2, stride 2), b2)), wl*cl, bl) with act(h, b) = lrelu(h + b, 0.2)*sqrt(2), "
                       "c = 1/sqrt(fan_in), blur = upfirdn2d(k2d [1,3,3,1], up 1, down 1, pad (2,2)); "
                       "R1 = mean over batch of sum((d sum D / dx)^2)",
        "inputs": {"x": tensor_json(x)},
        "params": {n: tensor_json(v) for n, v in params.items()},
        "blur_kernel": tensor_json(k),
        "d_out": tensor_json(d),
        "grad_x": tensor_json(gx),
        "r1": f32([r1.item()])[0],
        "r1_grads": {n: tensor_json(g) for n, g in zip(names, gp)},
    }
    return doc


# ---- Philox4x32-10, from its definition ----------------------------------------------------------------------
M0, M1 = 0xD2511F53, 0xCD9E8D57
W0, W1 = 0x9E3779B9, 0xBB67AE85
MASK = 0xFFFFFFFF


def philox4x32_10(counter, key):
    """counter = (c0, c1, c2, c3), key = (k0, k1): Salmon et al., 'Parallel random numbers: as easy as 1, 2, 3'."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    for _ in range(10):
        p0 = M0 * c0
        p1 = M1 * c2
        hi0, lo0 = p0 >> 32, p0 & MASK
        hi1, lo1 = p1 >> 32, p1 & MASK
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
        k0 = (k0 + W0) & MASK
        k1 = (k1 + W1) & MASK
    return [c0, c1, c2, c3]


def anycost_block(seed, block, stream=0):
    """anycost's mapping (core/rng.hpp): counter (block lo, block hi, stream lo, stream hi), key (seed lo, hi)."""
    return philox4x32_10((block & MASK, block >> 32, stream & MASK, stream >> 32), (seed & MASK, seed >> 32))


def box_muller(x):
    """Four normals from one block: lanes (0, 1) and (2, 3); u1 = (2*x0 + 1) / 2^33, angle 2*pi*x1 / 2^32."""
    out = []
    for p in range(2):
        u1 = (2 * x[2 * p] + 1) / 2.0 ** 33
        t = x[2 * p + 1] / 2.0 ** 32
        r = math.sqrt(-2.0 * math.log(u1))
        out += [r * math.cos(2 * math.pi * t), r * math.sin(2 * math.pi * t)]
    return out


def philox():
    # Sanity check of this implementation against the published Random123 known-answer vectors (kat_vectors).
    assert philox4x32_10((0, 0, 0, 0), (0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8]
    assert philox4x32_10((MASK, MASK, MASK, MASK), (MASK, MASK)) == [0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD]
    assert philox4x32_10((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0)) == [
        0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1]
    blocks = []
    for seed, block, stream in [(0, 0, 0), (42, 0, 0), (42, 1, 0), (42, 7, 0), (1234, 5, 0),
                                (0xDEADBEEFCAFEF00D, 0x0123456789ABCDEF, 0), (7, 3, 0x100000002),
                                (2**64 - 1, 2**64 - 1, 2**64 - 1)]:
        x = anycost_block(seed, block, stream)
        blocks.append({"seed": str(seed), "block": str(block), "stream": str(stream), "x": x,
                       "uniform": [(v >> 8) / 16777216.0 for v in x], "normal": f32(box_muller(x))})
    # randn(shape, Rng(seed)) after an earlier draw: element i is lane i % 4 of block first_block + i / 4.
    draws = []
    for seed, skip, n in [(42, 0, 10), (7, 3, 6)]:
        first = (skip + 3) // 4
        vals = []
        for i in range(n):
            vals.append(box_muller(anycost_block(seed, first + i // 4))[i % 4])
        draws.append({"seed": seed, "skip_elements": skip, "count": n, "normal": f32(vals)})
    return {"op": "philox4x32_10", "generator": GENERATOR,
            "description": "Philox4x32-10 blocks from the definition (M0=0xD2511F53, M1=0xCD9E8D57, W0=0x9E3779B9, "
                           "W1=0xBB67AE85); counter (block lo, block hi, stream lo, stream hi), key (seed lo, seed hi). "
                           "uniform = (x >> 8) / 2^24; normal = Box-Muller in double: lanes (0,1), (2,3), "
                           "u1 = (2 x0 + 1) / 2^33, angle 2 pi x1 / 2^32, outputs (r cos, r sin). 64-bit numbers are "
                           "decimal strings.",
            "blocks": blocks, "draws": draws}


FILES = {
    "elementwise.json": elementwise,
    "views_reductions.json": views_reductions,
    "linalg.json": linalg,
    "conv2d.json": conv,
    "upfirdn2d.json": upfirdn,
    "r1_discriminator.json": r1_discriminator,
    "philox.json": philox,
}


def render(doc):
    return json.dumps(doc, separators=(",", ":")) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="regenerate in memory and report files that differ")
    ap.add_argument("--out", default=OUT_DIR, help="output folder (default tests/data/foundation)")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    os.makedirs(args.out, exist_ok=True)
    differ = 0
    for name, make in FILES.items():
        text = render(make())
        path = os.path.join(args.out, name)
        if args.check:
            old = open(path).read() if os.path.exists(path) else None
            if old != text:
                differ += 1
                print("differs:", path)
            continue
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)
        print("wrote %s (%d bytes)" % (os.path.relpath(path), len(text)))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
