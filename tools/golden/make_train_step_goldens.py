#!/usr/bin/env python3
"""PyTorch golden of ONE complete stage-3 Anycost training iteration (D step, R1 step, G step with
distillation, EMA), computed with the official modules of mit-han-lab/anycost-gan (run by hand).

    mkdir -p DIR
    git --git-dir=<bare mirror of mit-han-lab/anycost-gan> archive HEAD models utils cuda_op tools \\
        | tar -x -C DIR
    /usr/bin/python3 tools/golden/make_train_step_goldens.py --official DIR
    /usr/bin/python3 tools/golden/make_train_step_goldens.py --official DIR --check

writes tests/data/train/stage3_step.safetensors (float32 tensors) and tests/data/train/stage3_step.json
(the scalars, hyper-parameters, provenance and the choices made where the official code leaves room).
--check regenerates in memory and reports whether the committed files differ (byte for byte).

What is official and what is re-created
---------------------------------------
Generator, DiscriminatorMultiRes (models/anycost_gan.py, models/ops.py with FORCE_NATIVE=1 so that
cuda_op/op_native.py supplies fused_leaky_relu and upfirdn2d in plain PyTorch), set_uniform_channel_ratio /
reset_generator (models/dynamic_channel.py), get_g_arch / get_teacher_multi_res / accumulate / requires_grad
(utils/train_utils.py) and d_logistic_loss / d_r1_loss / g_nonsaturating_loss (utils/losses.py) are imported
and run unchanged. Only the loop body of tools/train_gan.py (train(), lines 63-191) is re-created here,
because the script itself needs horovod, a dataset and lpips; each step below names the lines it follows.
The random draws of that loop (mixing z, noise, inject_index, the sampled ratio, the resolutions) are
replaced by fixed, stored values, so the C++ side can replay them.

Tiny configuration: resolution 16, style_dim 32, n_mlp 2, widths 4:32 8:32 16:16 for G and D, made the way
the official code makes every width table: its config-F table G_CHANNEL_CONFIG (4 -> 4096, ..., 1024 -> 16),
untouched, times channel_multiplier = 1/64, capped at channel_max = 32. set_uniform_channel_ratio then
computes the sub-network widths min(32, int(base(r) * ratio * 1/64)) -- e.g. ratio 0.25 keeps 16 channels
at 4x4 -- which is the rule anycost's ChannelTable::uniform follows. No official file or module state is
edited.

Arithmetic: every weight and input is drawn in float32 (torch.Generator, fixed seed), stored as float32,
and the models then run in float64 on exactly those values; stored outputs are the float64 results
rounded to float32. Single-threaded CPU torch, so the output bytes are reproducible.
"""

import argparse
import copy
import hashlib
import json
import math
import os
import random
import sys
import tempfile

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, ".."))
from convert_checkpoint import save_safetensors  # noqa: E402

OUT_DIR = os.path.join(REPO, "tests", "data", "train")
SCRIPT = "tools/golden/make_train_step_goldens.py"
OFFICIAL_COMMIT = "ffb09fde2d2fdeae2fc4b9a0b863ddc27872be19"
OFFICIAL_FILES = ["models/anycost_gan.py", "models/ops.py", "models/dynamic_channel.py", "cuda_op/op_native.py",
                  "utils/train_utils.py", "utils/losses.py", "tools/train_gan.py"]

# ---- configuration (stage-3 flags of scripts/train_anycost_multires_adach_ffhq.sh, shrunk) ----------------
RESOLUTION = 16
STYLE_DIM = 32
N_MLP = 2
CHANNEL_MULTIPLIER = 1 / 64   # exact in binary: int(4096 / 64) = 64, capped to 32
CHANNEL_MAX = 32
CHANNELS = {4: 32, 8: 32, 16: 16}  # what the two give at resolutions 4, 8, 16
N_RES = 2                 # D inputs 16 and 8
N_SAMPLED_RES = 2
BATCH = 4
LR = 0.002
BETAS = (0.0, 0.99)
EPS = 1e-8
R1_GAMMA = 10.0           # train_gan.py --r1 default
D_REG_EVERY = 16          # train_gan.py --d_reg_every default
GLOBAL_IDX = 16           # the iteration replayed: 16 % 16 == 0, so the R1 step runs
DISTILL_ALPHA = 2.0       # train_gan.py --distill_loss_alpha default
HALF_LIFE_KIMG = 10.0     # train_gan.py --half_life_kimg default
HVD_SIZE = 1              # one worker: hvd.DistributedOptimizer's allreduce-average is the identity
EMA_DECAY = 0.5 ** (BATCH * HVD_SIZE / (HALF_LIFE_KIMG * 1000.0))  # train_gan.py line 52

# The fixed "random" draws. Input index convention (also for picked and r1.index): 0 -> 16x16, 1 -> 8x8,
# i.e. DiscriminatorMultiRes.res2idx.
D_RATIO, D_REAL_RATIO, D_INJECT, D_PICKED = 0.5, 0.25, 2, [1, 0]
R1_INDEX = 1
G_RATIO, G_INJECT, G_PICKED = 0.75, 4, [0, 1]
SEED = 20210619
G_ARCH_LEN = 4 * (2 * int(math.log2(RESOLUTION)) - 2)  # one-hot over 4 ratios per style slot (n_style = 6)


def load_official(root):
    os.environ["FORCE_NATIVE"] = "1"  # models/ops.py line 8: use cuda_op/op_native.py
    sys.path.insert(0, root)
    import models.anycost_gan as ag
    import models.dynamic_channel as dc
    import utils.losses as losses
    import utils.train_utils as tu
    from cuda_op import op_native
    import models.ops as ops
    assert ops.fused_leaky_relu is op_native.fused_leaky_relu, "official ops did not fall back to op_native"
    blobs = {}
    for f in OFFICIAL_FILES:
        with open(os.path.join(root, f), "rb") as fh:
            data = fh.read()
        blobs[f] = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git blob id
    return ag, dc, losses, tu, blobs


def randomize_(module, gen):
    """Random float32 weights with non-zero biases, noise strengths and FiLM layers (the official init leaves
    biases at 0 or 1 and noise weights at 0, which would hide errors in those paths)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            shape = p.shape
            randn = torch.randn(shape, generator=gen, dtype=torch.float32)
            if "weight_mapping" in name or "bias_mapping" in name:
                # nn.Linear default init bound 1/sqrt(fan_in) (weights and biases); fan_in = the g_arch length
                bound = 1.0 / math.sqrt(G_ARCH_LEN)
                p.copy_((torch.rand(shape, generator=gen, dtype=torch.float32) * 2 - 1) * bound)
            elif name.endswith("noise.weight"):
                p.copy_(0.3 * randn)
            elif name.startswith("style.") and name.endswith("weight"):
                p.copy_(randn / 0.01)                          # EqualLinear(lr_mul=0.01): randn / lr_mul
            elif name.startswith("style.") and name.endswith("bias"):
                p.copy_(10.0 * randn)                          # effective bias = 0.01 * this
            elif name.endswith("modulation.bias"):
                p.copy_(1.0 + 0.2 * randn)                     # official bias_init=1
            elif name.endswith("bias"):
                p.copy_(0.2 * randn)
            else:
                p.copy_(randn)                                 # official: torch.randn for every weight
        for name, b in module.named_buffers():
            if name.startswith("noises."):
                b.copy_(torch.randn(b.shape, generator=gen, dtype=torch.float32))
    return module


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--official", required=True, help="checkout of mit-han-lab/anycost-gan (models, utils, cuda_op)")
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--check", action="store_true", help="regenerate in memory and compare with the files")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(0)  # the official constructors draw with the global RNG; everything is overwritten below
    random.seed(0)
    ag, dc, losses, tu, blobs = load_official(os.path.abspath(args.official))
    gen = torch.Generator().manual_seed(SEED)

    # ---- models (train_gan.py lines 398-417, 456-467) ------------------------------------------------------
    generator = randomize_(ag.Generator(RESOLUTION, STYLE_DIM, N_MLP, channel_multiplier=CHANNEL_MULTIPLIER,
                                              channel_max=CHANNEL_MAX), gen)
    discriminator = randomize_(ag.DiscriminatorMultiRes(RESOLUTION, channel_multiplier=CHANNEL_MULTIPLIER,
                                                        channel_max=CHANNEL_MAX, n_res=N_RES, modulate=True), gen)
    g_sd0 = {k: v.clone() for k, v in generator.state_dict().items()}
    d_sd0 = {k: v.clone() for k, v in discriminator.state_dict().items()}
    generator.double()
    discriminator.double()
    n_style = generator.n_style
    n_layers = generator.num_layers
    g_ema = copy.deepcopy(generator).eval()       # line 457: accumulate(g_ema, generator, 0) copies the params
    teacher = copy.deepcopy(generator).eval()     # lines 463-467: stage 3's teacher = the stage-2 G G starts from
    generator.train()                             # line 42
    discriminator.train()                         # line 43

    # ---- inputs ----------------------------------------------------------------------------------------------
    def rnd(*shape):
        return torch.randn(shape, generator=gen, dtype=torch.float32)

    real_16 = (torch.rand((BATCH, 3, 16, 16), generator=gen, dtype=torch.float32) * 2 - 1)
    real_8 = F.avg_pool2d(real_16.double(), 2).float()  # = bilinear, align_corners=False, at exactly 1/2
    inputs = {"real_16": real_16, "real_8": real_8}
    noise_size = [2 ** ((l + 5) // 2) for l in range(n_layers)]  # Generator.__init__ lines 69-72
    inputs["dstep.z1"], inputs["dstep.z2"] = rnd(BATCH, STYLE_DIM), rnd(BATCH, STYLE_DIM)
    inputs["dstep.inject"] = torch.tensor(float(D_INJECT))
    for l, s in enumerate(noise_size):
        # D step: G runs with noise=None (randomize_noise), so NoiseInjection draws [batch, 1, H, W] maps
        inputs[f"dstep.noise_{l}"] = rnd(BATCH, 1, s, s)
    d_ratios = [D_RATIO] * len(dc.get_full_channel_configs(generator))
    d_real_ratios = [D_REAL_RATIO] * len(d_ratios)
    inputs["dstep.ratio"] = torch.tensor(D_RATIO)
    inputs["dstep.arch"] = tu.get_g_arch(d_ratios, device="cpu")
    inputs["dstep.real_ratio"] = torch.tensor(D_REAL_RATIO)
    inputs["dstep.real_arch"] = tu.get_g_arch(d_real_ratios, device="cpu")
    inputs["dstep.picked"] = torch.tensor([float(i) for i in D_PICKED])
    inputs["r1.index"] = torch.tensor(float(R1_INDEX))
    inputs["gstep.z1"], inputs["gstep.z2"] = rnd(BATCH, STYLE_DIM), rnd(BATCH, STYLE_DIM)
    inputs["gstep.inject"] = torch.tensor(float(G_INJECT))
    for l, s in enumerate(noise_size):
        # G step: generator.make_noise() (line 134) draws ONE [1, 1, H, W] map per layer, shared by the batch
        inputs[f"gstep.noise_{l}"] = rnd(1, 1, s, s)
    g_ratios = [G_RATIO] * len(d_ratios)
    inputs["gstep.ratio"] = torch.tensor(G_RATIO)
    inputs["gstep.arch"] = tu.get_g_arch(g_ratios, device="cpu")
    inputs["gstep.picked"] = torch.tensor([float(i) for i in G_PICKED])

    x = {k: v.double() for k, v in inputs.items()}
    real_img = [x["real_8"], x["real_16"]]      # utils/datasets.py MultiResize: "always low to high"
    by_index = {0: 16, 1: 8}                     # input index -> resolution (DiscriminatorMultiRes.res2idx)
    d_optim = torch.optim.Adam(discriminator.parameters(), lr=LR, betas=BETAS, eps=EPS)  # line 479
    g_optim = torch.optim.Adam(generator.parameters(), lr=LR, betas=BETAS, eps=EPS)      # line 478
    d_names = [n for n, _ in discriminator.named_parameters()]
    g_names = [n for n, _ in generator.named_parameters()]
    out, grads, scalars = {}, {}, {}

    # ---- 1. D step (lines 70-110) ------------------------------------------------------------------------------
    tu.requires_grad(generator, False)                                   # line 71
    tu.requires_grad(discriminator, True)                                # line 72
    z = torch.stack([x["dstep.z1"], x["dstep.z2"]], 1)                   # line 74: get_mixing_z, 2 latents
    with torch.no_grad():                                                # line 75
        dc.set_uniform_channel_ratio(generator, D_RATIO)                 # lines 77-81, uniform mode
        noise = [x[f"dstep.noise_{l}"] for l in range(n_layers)]
        _, all_rgbs = generator(z, noise=noise, inject_index=D_INJECT, return_rgbs=True)  # line 82
        all_rgbs = all_rgbs[-N_RES:]                                     # line 83 (low to high: 8, 16)
        dc.reset_generator(generator)                                    # line 84
    sampled_res = [by_index[i] for i in D_PICKED]                        # line 87 (random.sample, fixed)
    d_loss = 0.                                                          # line 88
    g_arch = x["dstep.arch"]                                             # line 89
    rand_g_arch = x["dstep.real_arch"]                                   # lines 90-92
    for ri, fi in zip(real_img, all_rgbs):                               # lines 93-97: low to high, so the
        if ri.shape[-1] in sampled_res:                                  # sum order ignores the draw order
            real_pred = discriminator(ri, rand_g_arch)
            fake_pred = discriminator(fi, g_arch)
            d_loss += losses.d_logistic_loss(real_pred, fake_pred)
    discriminator.zero_grad()                                            # line 108
    d_loss.backward()                                                    # line 109
    grads["grad_d"] = {n: p.grad.clone() for n, p in discriminator.named_parameters()}
    d_optim.step()                                                       # line 110
    scalars["loss.d"] = d_loss.item()
    out["after_d"] = {n: p.detach().clone() for n, p in discriminator.named_parameters()}

    # ---- R1 step (lines 112-126): GLOBAL_IDX % D_REG_EVERY == 0 ------------------------------------------------
    assert GLOBAL_IDX % D_REG_EVERY == 0
    reg_img = [x["real_16"], x["real_8"]][R1_INDEX].clone()              # line 114 (random.choice, fixed)
    reg_img.requires_grad = True                                         # line 115
    real_pred = discriminator(reg_img, g_arch)                           # line 118: the D step's FAKE arch
    r1_loss = losses.d_r1_loss(real_pred, reg_img)                       # line 121
    discriminator.zero_grad()                                            # line 123 (torch 1.13: grads -> 0)
    (R1_GAMMA / 2 * r1_loss * D_REG_EVERY + 0 * real_pred[0]).backward()  # line 124
    grads["grad_r1"] = {n: (p.grad.clone() if p.grad is not None else torch.zeros_like(p))
                        for n, p in discriminator.named_parameters()}
    d_optim.step()                                                       # line 125: same optimiser, step 2
    scalars["loss.r1"] = r1_loss.item()
    out["after_r1"] = {n: p.detach().clone() for n, p in discriminator.named_parameters()}

    # ---- 2. G step (lines 128-169) -----------------------------------------------------------------------------
    tu.requires_grad(generator, True)                                    # line 129
    tu.requires_grad(discriminator, False)                               # line 130
    z = torch.stack([x["gstep.z1"], x["gstep.z2"]], 1)                   # line 132
    noises = [x[f"gstep.noise_{l}"] for l in range(n_layers)]            # line 134: make_noise()
    inject_index = G_INJECT                                              # line 135 (randint(1, n_style-1))
    assert 1 <= inject_index <= n_style - 1 and 1 <= D_INJECT <= n_style - 1
    dc.set_uniform_channel_ratio(generator, G_RATIO)                     # lines 137-140
    _, all_rgbs = generator(z, noise=noises, inject_index=inject_index, return_rgbs=True)  # line 141
    all_rgbs = all_rgbs[-N_RES:]                                         # line 142 (8, 16)
    dc.reset_generator(generator)                                        # line 143
    rgb_of = {16: all_rgbs[-1], 8: all_rgbs[-2]}
    sampled_rgbs = [rgb_of[by_index[i]] for i in G_PICKED]               # line 147 (random.sample, fixed)
    g_arch = x["gstep.arch"]                                             # line 148
    g_adv = sum([losses.g_nonsaturating_loss(discriminator(r, g_arch)) for r in sampled_rgbs])  # line 149
    with torch.no_grad():                                                # lines 155-156: full width and res
        teacher_out, _ = teacher(z, noise=noises, inject_index=inject_index)
    teacher_rgbs = tu.get_teacher_multi_res(teacher_out, N_RES)          # line 157 (bilinear, align_corners)
    distill_loss1 = sum([nn.MSELoss()(sr, tr) for sr, tr in zip(all_rgbs, teacher_rgbs)])  # line 158
    # lines 159-160 (LPIPS-VGG term) are left out: the LPIPS weight is 0 in this golden
    distill_loss = distill_loss1                                         # line 161
    g_loss = g_adv + distill_loss * DISTILL_ALPHA                        # line 162
    generator.zero_grad()                                                # line 167
    g_loss.backward()                                                    # line 168
    grads["grad_g"] = {n: p.grad.clone() for n, p in generator.named_parameters()}
    g_optim.step()                                                       # line 169
    # D is frozen: its .grad still holds the R1 step's gradients, untouched by the G step
    assert all(torch.equal(p.grad, grads["grad_r1"][n]) for n, p in discriminator.named_parameters())
    scalars["loss.g_adv"] = g_adv.item()
    scalars["loss.mse"] = distill_loss1.item()
    scalars["loss.g_total"] = g_loss.item()
    out["after_g"] = {n: p.detach().clone() for n, p in generator.named_parameters()}

    # ---- EMA (line 191; lines 171-188 are the stage-1 path-length step, off for n_res > 1) --------------------
    tu.accumulate(g_ema, generator, EMA_DECAY)
    out["ema"] = {n: p.detach().clone() for n, p in g_ema.named_parameters()}

    # ---- files ------------------------------------------------------------------------------------------------
    tensors = {}
    tensors.update({f"g.{k}": v for k, v in g_sd0.items()})
    tensors.update({f"d.{k}": v for k, v in d_sd0.items()})
    tensors.update(inputs)
    for k, v in scalars.items():
        tensors[k] = torch.tensor(v, dtype=torch.float64)
    for stage in ("after_d", "after_r1", "after_g", "ema"):
        tensors.update({f"{stage}.{k}": v for k, v in out[stage].items()})
    for stage in ("grad_d", "grad_g"):  # grad_r1 is left out: after_r1 (Adam step 2) already depends on it
        tensors.update({f"{stage}.{k}": v for k, v in grads[stage].items()})
    tensors = {k: v.detach().to(torch.float32) for k, v in tensors.items()}
    meta = {"format": "anycost-train-step-golden", "script": SCRIPT, "official_commit": OFFICIAL_COMMIT,
            "torch": torch.__version__}

    info = {
        "script": SCRIPT,
        "official": {"repository": "mit-han-lab/anycost-gan", "commit": OFFICIAL_COMMIT,
                     "git_blob_ids": blobs},
        "torch": torch.__version__,
        "scalars": {k: float("%.17g" % v) for k, v in scalars.items()},
        "scalars_float32": {k: float("%.9g" % float(torch.tensor(v, dtype=torch.float32))) for k, v in
                            scalars.items()},
        "hyper_parameters": {
            "resolution": RESOLUTION, "style_dim": STYLE_DIM, "n_mlp": N_MLP, "lr_mlp": 0.01,
            "channels": {str(k): v for k, v in CHANNELS.items()}, "channel_multiplier": CHANNEL_MULTIPLIER,
            "channel_max": CHANNEL_MAX, "n_style": n_style, "num_layers": n_layers,
            "g_arch_len": 4 * n_style, "d": "DiscriminatorMultiRes(n_res=2, modulate=True): inputs 16 and 8",
            "batch": BATCH, "hvd_size": HVD_SIZE, "adam": {"lr": LR, "betas": list(BETAS), "eps": EPS,
                                                           "weight_decay": 0},
            "r1_gamma": R1_GAMMA, "d_reg_every": D_REG_EVERY, "global_idx": GLOBAL_IDX,
            "r1_loss_weight": R1_GAMMA / 2 * D_REG_EVERY, "distill_alpha": DISTILL_ALPHA, "lpips_weight": 0,
            "half_life_kimg": HALF_LIFE_KIMG, "ema_decay": EMA_DECAY, "mixing": "two latents in both steps",
            "dstep": {"ratio": D_RATIO, "real_ratio": D_REAL_RATIO, "inject": D_INJECT, "picked": D_PICKED},
            "r1_index": R1_INDEX,
            "gstep": {"ratio": G_RATIO, "inject": G_INJECT, "picked": G_PICKED},
            "seed": SEED,
        },
        "keys": {
            "g.<key>, d.<key>": "initial state_dicts (parameters and buffers), official key names; "
                                "teacher and g_ema start as g",
            "index convention": "picked and r1.index: 0 -> the 16x16 input, 1 -> the 8x8 input (res2idx)",
            "after_d/after_r1/after_g/ema.<key>": "parameters after each Adam step / the EMA update",
            "grad_d/grad_g.<key>": "the gradient the D step's / G step's Adam update consumed (after_d and "
                                   "after_g alone record little more than sign(grad): with beta1 = 0, Adam's "
                                   "first step is lr*g/(|g|+eps)); after_r1 is step 2, which depends on the "
                                   "magnitudes",
            "ema.<key>": "differs from g.<key> by at most (1-beta)*2*lr ~ 1.1e-6, a few float32 ulps",
            "loss.mse": "sum over the 2 resolutions of the MSE, before alpha",
            "loss.g_total": "loss.g_adv + alpha * loss.mse",
        },
        "notes": [
            "Channel table: the official config-F G_CHANNEL_CONFIG, untouched, with channel_multiplier=1/64 and "
            "channel_max=32 (widths 4:32 8:32 16:16); uniform sub-networks follow the official "
            "set_uniform_channel_ratio rule min(32, int(base * ratio / 64)): ratio 0.5 -> 32 32 16 16 8 8, "
            "ratio 0.75 -> 32 32 24 24 12 12 (width entries). No official file or module state is edited.",
            "LPIPS is left out (train_gan.py lines 159-160): the consistency loss is MSE only.",
            "D loss: the official code sums (d_loss += ...) the logistic losses of the sampled resolutions, "
            "in low-to-high order of the inputs (lines 93-97), not in draw order; n_sampled_res = n_res = 2, "
            "so both resolutions always take part.",
            "Real images use an independently drawn architecture code (get_random_g_arch, lines 90-92): "
            "stored as dstep.real_ratio / dstep.real_arch (ratio 0.25). Fake images and R1 use dstep.arch.",
            "R1 reuses the D step's optimiser: its Adam update is step 2 of d_optim (state from the D step). "
            "r1.index = 1 (the 8x8 input) leaves convs.0 (the 16x16 fromRGB) out of the R1 graph; torch 1.13 "
            "zero_grad() keeps a zero gradient there, so Adam steps it with g = 0 and, as beta1 = 0, leaves "
            "it unchanged.",
            "R1 loss backpropagated: r1/2 * d_reg_every * R1 + 0 * real_pred[0] (line 124); loss.r1 is the raw "
            "penalty mean_b sum (dD/dx)^2.",
            "G adversarial loss: sum (not mean) over the 2 sampled outputs, in draw order (line 149), each "
            "with gstep.arch. D is frozen (requires_grad False) and gets no gradient.",
            "Distillation: teacher (a deep copy of the initial G, full width, full resolution, same z, noise "
            "and inject_index) output at 16 and F.interpolate(size=8, bilinear, align_corners=True) of it "
            "(get_teacher_multi_res); MSE over both resolutions every step; alpha = 2.",
            "Noise: the D step's G runs with noise=None in the official code, so each layer draws per-sample "
            "[4,1,s,s] maps (stored as dstep.noise_<l>); the G step uses generator.make_noise(), one "
            "[1,1,s,s] map per layer shared by the batch (stored as gstep.noise_<l>, shape [1,1,s,s]); the "
            "teacher gets the same gstep noise.",
            "Layer sizes of the 5 noise maps: 4, 8, 8, 16, 16.",
            "EMA: accumulate(g_ema, G, beta) over named_parameters only; beta = 0.5^(4*1/10000) (batch 4, one "
            "worker: hvd.size() = 1). Buffers (noises.*, blur kernels) are not averaged.",
            "Horovod: with one worker DistributedOptimizer's gradient averaging is the identity.",
            "real_8 = avg_pool2d(real_16, 2), equal to bilinear align_corners=False resizing at exactly 1/2; "
            "it is only an input.",
            "sort_pretrain (sort_channel, once before training) is not part of an iteration and is not "
            "applied; the teacher is a deep copy of G taken before any update.",
            "Weights: official-like random init (randn weights, mapping randn/lr_mul) plus non-zero biases "
            "(0.2*randn; modulation 1+0.2*randn; mapping 10*randn, effective 0.1*randn), noise strengths "
            "0.3*randn, FiLM nn.Linear uniform(+-1/sqrt(24)) weights and biases.",
        ],
    }
    info_text = json.dumps(info, indent=1) + "\n"

    os.makedirs(args.out, exist_ok=True)
    st_path = os.path.join(args.out, "stage3_step.safetensors")
    js_path = os.path.join(args.out, "stage3_step.json")
    if args.check:
        with tempfile.TemporaryDirectory() as tmp:
            save_safetensors(os.path.join(tmp, "s.safetensors"), tensors, meta)
            with open(os.path.join(tmp, "s.safetensors"), "rb") as f:
                new_st = f.read()
        differ = []
        for path, new in ((st_path, new_st), (js_path, info_text.encode())):
            old = open(path, "rb").read() if os.path.exists(path) else None
            if old != new:
                differ.append(os.path.relpath(path, REPO))
        print("differ:" if differ else "identical", *differ)
        sys.exit(1 if differ else 0)
    save_safetensors(st_path, tensors, meta)
    with open(js_path, "w") as f:
        f.write(info_text)

    # ---- sensitivity summary ----------------------------------------------------------------------------------
    print(f"wrote {os.path.relpath(st_path, REPO)} ({os.path.getsize(st_path) / 1024:.0f} KiB, "
          f"{len(tensors)} tensors) and {os.path.relpath(js_path, REPO)}")
    for k, v in scalars.items():
        print(f"  {k} = {v:.9g}")

    def diff(a, b):
        return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)
    g0 = {k: g_sd0[k] for k in g_names}
    d0 = {k: d_sd0[k] for k in d_names}
    print(f"  max|after_d - d| = {diff(out['after_d'], d0):.3g}   max|after_r1 - after_d| = "
          f"{diff(out['after_r1'], out['after_d']):.3g}")
    print(f"  max|after_g - g| = {diff(out['after_g'], g0):.3g}   max|ema - g| = {diff(out['ema'], g0):.3g}")
    for stage, gr in grads.items():
        flat = torch.cat([v.flatten() for v in gr.values()]).abs()
        nz = flat[flat > 0]
        print(f"  {stage}: {flat.numel()} elements, {int((flat == 0).sum())} exactly 0, non-zero |g| in "
              f"[{float(nz.min()):.3g}, {float(nz.max()):.3g}], {int((nz < 1e-5).sum())} below 1e-5")


if __name__ == "__main__":
    main()
