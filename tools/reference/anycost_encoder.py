"""An independent plain-PyTorch reference of the Anycost GAN projection encoder (the official models/encoder.py:
a torchvision ResNet trunk, global average pool, fc to n_style * style_dim, plus a `mean_latent` buffer), written
here from the architecture's description (torchvision ResNet v1.5 bottlenecks: stride on the 3x3 convolution).
Its state_dict has the official names: conv1.weight, bn1.*, layer<i>.<j>.{conv1,bn1,...,downsample.0,downsample.1}.*,
fc.weight, fc.bias, mean_latent. Used by tools/convert_checkpoint.py --self-test and
tools/golden/make_encoder_goldens.py.
"""

import torch
from torch import nn
import torch.nn.functional as F


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes * 4))

    def forward(self, x):
        h = F.relu(self.bn1(self.conv1(x)))
        h = F.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        identity = x if self.downsample is None else self.downsample(x)
        return F.relu(h + identity)


class Encoder(nn.Module):
    def __init__(self, blocks=(3, 4, 6, 3), base_width=64, n_style=18, style_dim=512):
        super().__init__()
        self.n_style, self.style_dim = n_style, style_dim
        self.conv1 = nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(base_width)
        inplanes = base_width
        for i, n in enumerate(blocks):
            planes = base_width * 2 ** i
            layer = []
            for j in range(n):
                layer.append(Bottleneck(inplanes, planes, 2 if (j == 0 and i > 0) else 1))
                inplanes = planes * 4
            setattr(self, f"layer{i + 1}", nn.Sequential(*layer))
        self.n_layers = len(blocks)
        self.fc = nn.Linear(inplanes, n_style * style_dim)
        self.register_buffer("mean_latent", torch.zeros(style_dim))

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(self.n_layers):
            h = getattr(self, f"layer{i + 1}")(h)
        h = h.mean((2, 3))
        return self.fc(h).view(-1, self.n_style, self.style_dim) + self.mean_latent


def randomize_(enc, gen):
    """Every parameter and batch-norm statistic random (float32-representable), so no term can hide."""
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if name.endswith("bn1.weight") or name.endswith("bn2.weight") or name.endswith("bn3.weight") \
                    or name.endswith("downsample.1.weight"):
                p.copy_(0.5 + torch.rand(p.shape, generator=gen))
            elif p.dim() == 4:
                fan_in = p.shape[1] * p.shape[2] * p.shape[3]
                p.copy_(torch.randn(p.shape, generator=gen) * (1.0 / fan_in) ** 0.5)
            else:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
        for name, b in enc.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.2)
            elif name.endswith("running_var"):
                b.copy_(0.5 + torch.rand(b.shape, generator=gen))
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)
            elif name == "mean_latent":
                b.copy_(torch.randn(b.shape, generator=gen))
    return enc
