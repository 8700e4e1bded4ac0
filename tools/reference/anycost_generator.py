"""A PyTorch implementation of the Anycost generator (Lin et al., CVPR 2021, "Anycost GANs for Interactive Image
Synthesis and Editing", Sec. 3, on StyleGAN2 config F, Karras et al. 2020), written as an independent
reference for anycost's C++ generator (include/anycost/models/generator.hpp). It is deliberately plain: the
per-sample weights and the grouped convolution of StyleGAN2's weight demodulation (Sec. 2.2, Eqs. 1-3),
upfirdn2d as zero-stuffing + padding + a depthwise FIR exactly as include/anycost/ops/upfirdn2d.hpp defines
it, and sub-networks passed per call (`channels`, `target_res`) instead of module attributes.

Module and parameter names follow the official state_dict keys (tools/convert_checkpoint.py): `style.1.weight`,
`input.input`, `conv1.conv.weight`, `convs.N.conv.blur.kernel`, `to_rgbs.b.upsample.kernel`,
`noises.noise_l`, ... so `Generator.state_dict()` is an official-format generator state dict.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn


def base_channels(res):
    return 16384 // res


def make_kernel(taps=(1, 3, 3, 1), gain=1.0):
    a = torch.tensor(taps, dtype=torch.float64)
    k = torch.outer(a, a)
    return (k / k.sum() * gain).to(torch.float32)


def upfirdn2d(x, kernel, up=1, down=1, pad=(0, 0)):
    """Zero-stuff by `up`, pad (pad0 before, pad1 after), FIR, keep every `down`-th (ops/upfirdn2d.hpp)."""
    n, c, h, w = x.shape
    if up > 1:
        u = x.new_zeros(n, c, h * up, w * up)
        u[:, :, ::up, ::up] = x
    else:
        u = x
    u = F.pad(u, [pad[0], pad[1], pad[0], pad[1]])
    kh, kw = kernel.shape
    # convolution with the kernel = correlation with the kernel rotated by 180 degrees
    k = torch.flip(kernel.to(x.dtype), [0, 1]).view(1, 1, kh, kw).repeat(c, 1, 1, 1)
    out = F.conv2d(u, k, groups=c)
    return out[:, :, ::down, ::down]


class EqualLinear(nn.Module):
    def __init__(self, in_dim, out_dim, bias_init=0.0, lr_mul=1.0, activation=False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x):
        out = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        if self.activation:
            out = F.leaky_relu(out, 0.2) * math.sqrt(2)
        return out


class PixelNorm(nn.Module):
    def forward(self, x):
        return x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + 1e-8)


class KernelBuffer(nn.Module):
    """Holds a FIR kernel under the buffer name `kernel` (`...blur.kernel`, `...upsample.kernel`)."""

    def __init__(self, gain):
        super().__init__()
        self.register_buffer("kernel", make_kernel(gain=gain))


class ModulatedConv2d(nn.Module):
    def __init__(self, in_ch, out_ch, k, style_dim, demodulate=True, upsample=False):
        super().__init__()
        self.in_ch, self.out_ch, self.k = in_ch, out_ch, k
        self.demodulate, self.upsample = demodulate, upsample
        self.scale = 1 / math.sqrt(in_ch * k * k)  # the full fan-in, always
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, k, k))
        self.modulation = EqualLinear(style_dim, in_ch, bias_init=1)
        if upsample:
            self.blur = KernelBuffer(gain=4)

    def forward(self, x, style, k_out=None):
        b, c_in, h, w = x.shape
        k_out = self.out_ch if k_out is None else k_out
        s = self.modulation(style)[:, :c_in]  # full width, then truncated (as the official code)
        weight = self.scale * self.weight[:, :k_out, :c_in] * s.view(b, 1, c_in, 1, 1)
        if self.demodulate:
            d = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8)
            weight = weight * d.view(b, k_out, 1, 1, 1)
        xg = x.reshape(1, b * c_in, h, w)
        if self.upsample:
            # transposed conv, weights as [C_in, k_out, k, k] per sample (axes swapped, no spatial flip)
            wt = weight.transpose(1, 2).reshape(b * c_in, k_out, self.k, self.k)
            out = F.conv_transpose2d(xg, wt, stride=2, padding=0, groups=b)
            out = out.view(b, k_out, out.shape[2], out.shape[3])
            return upfirdn2d(out, self.blur.kernel, pad=(1, 1))
        wg = weight.reshape(b * k_out, c_in, self.k, self.k)
        out = F.conv2d(xg, wg, padding=self.k // 2, groups=b)
        return out.view(b, k_out, h, w)


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x, noise):
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        c = x.shape[1]
        return F.leaky_relu(x + self.bias[:c].view(1, c, 1, 1), 0.2) * math.sqrt(2)


class StyledConv(nn.Module):
    def __init__(self, in_ch, out_ch, style_dim, upsample=False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, demodulate=True, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x, style, noise, k_out=None):
        out = self.conv(x, style, k_out)
        if noise is not None:
            out = self.noise(out, noise)
        return self.activate(out)


class ToRGB(nn.Module):
    def __init__(self, in_ch, style_dim, upsample=True):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        if upsample:
            self.upsample = KernelBuffer(gain=4)
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)

    def forward(self, x, style, skip=None):
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + upfirdn2d(skip, self.upsample.kernel, up=2, pad=(2, 1))
        return out


class ConstantInput(nn.Module):
    def __init__(self, channels, size=4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch, k=None):
        out = self.input.repeat(batch, 1, 1, 1)
        return out if k is None else out[:, :k]


class Generator(nn.Module):
    def __init__(self, resolution, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=512, lr_mlp=0.01,
                 widths=None):
        super().__init__()
        self.resolution, self.style_dim = resolution, style_dim
        self.log_res = int(math.log2(resolution))
        res_list = [2 ** i for i in range(2, self.log_res + 1)]
        if widths is None:
            widths = [min(channel_max, int(base_channels(r) * channel_multiplier)) for r in res_list]
        self.channels = dict(zip(res_list, widths))
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation=True)
                                                  for _ in range(n_mlp)])
        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, style_dim)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False)
        self.convs, self.to_rgbs = nn.ModuleList(), nn.ModuleList()
        prev = c4
        for r in res_list[1:]:
            c = self.channels[r]
            self.convs.append(StyledConv(prev, c, style_dim, upsample=True))
            self.convs.append(StyledConv(c, c, style_dim))
            self.to_rgbs.append(ToRGB(c, style_dim))
            prev = c
        self.num_layers = 2 * (self.log_res - 2) + 1
        self.n_style = 2 * self.log_res - 2
        self.noises = nn.Module()
        for l in range(self.num_layers):
            s = 2 ** ((l + 5) // 2)
            self.noises.register_buffer(f"noise_{l}", torch.randn(1, 1, s, s))

    # ---- sub-network configurations (include/anycost/models/channel_table.hpp) ----
    def n_entries(self):
        return self.n_style

    def entry_res(self, i):
        return 4 if i < 2 else 2 ** ((i - 2) // 2 + 3)

    def full_channels(self):
        return [self.channels[self.entry_res(i)] for i in range(self.n_entries())]

    def uniform_channels(self, ratio):
        org_mult = self.channels[self.resolution] / base_channels(self.resolution)
        return [min(self.channels[self.entry_res(i)], int(base_channels(self.entry_res(i)) * ratio * org_mult))
                for i in range(self.n_entries())]

    def mean_latent(self, n):
        return self.style(torch.randn(n, self.style_dim, dtype=self.input.input.dtype)).mean(0)

    def forward(self, styles, input_is_style=False, truncation=1.0, truncation_latent=None, inject_index=None,
                noise=None, channels=None, target_res=None, return_rgbs=False):
        """styles: [B, style_dim] or [B, n_lat, style_dim] with n_lat in {1, 2, n_style}."""
        if styles.dim() == 2:
            styles = styles.unsqueeze(1)
        if not input_is_style:
            styles = self.style(styles)
        if truncation != 1:
            styles = truncation_latent + truncation * (styles - truncation_latent)
        b, n_lat, _ = styles.shape
        if n_lat == 1:
            wplus = styles.repeat(1, self.n_style, 1)
        elif n_lat == 2:
            m = inject_index
            wplus = torch.cat([styles[:, :1].repeat(1, m, 1), styles[:, 1:2].repeat(1, self.n_style - m, 1)], 1)
        else:
            assert n_lat == self.n_style
            wplus = styles
        if noise is None:
            noise = [getattr(self.noises, f"noise_{l}") for l in range(self.num_layers)]
        ch = self.full_channels() if channels is None else channels
        target_res = self.resolution if target_res is None else target_res
        out = self.input(b, ch[0])
        out = self.conv1(out, wplus[:, 0], noise[0], ch[1])
        skip = self.to_rgb1(out, wplus[:, 1])
        rgbs = [skip]
        for blk in range(len(self.to_rgbs)):
            if 2 ** (blk + 3) > target_res:
                break
            out = self.convs[2 * blk](out, wplus[:, 2 * blk + 1], noise[2 * blk + 1], ch[2 * blk + 2])
            out = self.convs[2 * blk + 1](out, wplus[:, 2 * blk + 2], noise[2 * blk + 2], ch[2 * blk + 3])
            skip = self.to_rgbs[blk](out, wplus[:, 2 * blk + 3], skip)
            rgbs.append(skip)
        return (skip, rgbs) if return_rgbs else skip


def randomize_(g, generator=None):
    """Random values everywhere, non-zero biases and noise weights included (for parity tests)."""
    with torch.no_grad():
        for name, p in g.named_parameters():
            if name.endswith("modulation.bias"):
                p.copy_(1 + 0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith("noise.weight"):
                p.copy_(0.3 * torch.randn(p.shape, generator=generator))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=generator))
            elif name.startswith("style."):
                lr_mul = g.style[1].lr_mul
                p.copy_(torch.randn(p.shape, generator=generator) / lr_mul)
            else:
                p.copy_(torch.randn(p.shape, generator=generator))
        for name, b in g.named_buffers():
            if name.startswith("noises."):
                b.copy_(torch.randn(b.shape, generator=generator))
    return g
