#!/usr/bin/env python3
"""Converts an LPIPS metric (lpips package 0.1) to one safetensors file for anycost's losses::Lpips::load.

    python3 tools/convert_lpips.py --heads vgg.pth --backbone vgg16-397923af.pth --out lpips_vgg.safetensors

--heads     the package's linear-head file (lpips/weights/v0.1/{alex,vgg}.pth: lin<k>.model.1.weight)
--backbone  torchvision's classifier weights (alexnet-owt-7be5be79.pth, vgg16-397923af.pth), a state dict with
            features.<i>.weight / .bias (a randomly initialised model saved with torch.save(m.state_dict()) works
            the same way); the classifier layers are dropped
The output holds the lpips state_dict keys: net.slice<s>.<i>.weight|bias (torchvision index i), lin<k>.model.1.weight
and the ScalingLayer constants scaling_layer.shift|scale, all float32. The trunk (AlexNet or VGG16) is inferred
from features.0.weight ([64, 3, 11, 11] or [64, 3, 3, 3]).
"""

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from convert_checkpoint import save_safetensors  # noqa: E402

# torchvision `features` index ranges of the five lpips slices (lpips/pretrained_networks.py).
SLICES = {
    "alex": [(1, range(0, 2)), (2, range(2, 5)), (3, range(5, 8)), (4, range(8, 10)), (5, range(10, 12))],
    "vgg": [(1, range(0, 4)), (2, range(4, 9)), (3, range(9, 16)), (4, range(16, 23)), (5, range(23, 30))],
}
TAPS = {"alex": [64, 192, 384, 256, 256], "vgg": [64, 128, 256, 512, 512]}


def load_state(path):
    obj = torch.load(path, map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    if not isinstance(obj, dict):
        raise SystemExit(f"{path}: expected a state dict, got {type(obj).__name__}")
    return obj


def convert(heads_path, backbone_path):
    heads, backbone = load_state(heads_path), load_state(backbone_path)
    backbone = {k[len("module."):] if k.startswith("module.") else k: v for k, v in backbone.items()}
    w0 = backbone.get("features.0.weight")
    if w0 is None:
        raise SystemExit(f"{backbone_path}: no 'features.0.weight': not a torchvision AlexNet/VGG16 state dict")
    shape = tuple(w0.shape)
    net = {(64, 3, 11, 11): "alex", (64, 3, 3, 3): "vgg"}.get(shape)
    if net is None:
        raise SystemExit(f"{backbone_path}: features.0.weight has shape {list(shape)}, expected AlexNet or VGG16")
    out = {"scaling_layer.shift": torch.tensor([-.030, -.088, -.188]).view(1, 3, 1, 1),
           "scaling_layer.scale": torch.tensor([.458, .448, .450]).view(1, 3, 1, 1)}
    for s, idx in SLICES[net]:
        for i in idx:
            for p in ("weight", "bias"):
                key = f"features.{i}.{p}"
                if key in backbone:
                    out[f"net.slice{s}.{i}.{p}"] = backbone[key].float()
    for k, c in enumerate(TAPS[net]):
        key = f"lin{k}.model.1.weight"
        if key not in heads:
            raise SystemExit(f"{heads_path}: no '{key}': not an lpips head file")
        if tuple(heads[key].shape) != (1, c, 1, 1):
            raise SystemExit(f"{heads_path}: '{key}' has shape {list(heads[key].shape)}, the {net} trunk needs "
                             f"[1, {c}, 1, 1] (head file of another network?)")
        out[key] = heads[key].float()
    return net, out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--heads", required=True)
    p.add_argument("--backbone", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    net, tensors = convert(a.heads, a.backbone)
    save_safetensors(a.out, tensors, {"format": "anycost-lpips", "net": net, "version": "0.1"})
    print(f"wrote {a.out}: {net} LPIPS, {len(tensors)} tensors")


if __name__ == "__main__":
    main()
