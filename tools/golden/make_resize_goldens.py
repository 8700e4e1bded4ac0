#!/usr/bin/python3
"""Golden values for include/anycost/io/resize_image.hpp and the sample preparation of io/image_folder.hpp.

Run by hand (Debian 12: python3-pil 9.4, python3-torchvision 0.14, python3-numpy):

    /usr/bin/python3 tools/golden/make_resize_goldens.py          # writes tests/data/resize/*
    /usr/bin/python3 tools/golden/make_resize_goldens.py --check  # regenerates in memory, reports a difference

resize_goldens.json, "inputs" (by name, [C,H,W] as "shape" and "data") and "cases": an input image (fixed numpy seed: a smooth gradient plus noise, so both the
filter's shape and its edge handling show) resized with PIL's Image.resize((w, h), Image.BILINEAR):
  * kind "uint8": an RGB image, PIL's 8-bit fixed-point path; values are bytes.
  * kind "float": three mode "F" (float32) images, one per channel, PIL's float path; values are float32
    printed with 9 significant digits.
  * kind "pipeline": torchvision's Resize(size) then CenterCrop(size) on an RGB image (the official
    single-resolution transform, tools/train_gan.py, plus the crop for non-square images), uint8.
pipeline_45x30.png + "folder" in the JSON: a 45-wide, 30-high RGB PNG written by PIL, and what the official
multi-resolution transform (utils/datasets.py: MultiResize, each resolution resized from the original with
PIL bilinear) gives for resolutions 16, 8, 5, then a centre crop (torchvision CenterCrop), as uint8 [3,r,r].
"""
import io
import json
import os
import sys

import numpy as np
import torchvision
from PIL import Image
from torchvision import transforms

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "resize")


def test_image(h, w, seed):
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x / max(w - 1, 1), y / max(h - 1, 1), (x + y) / max(h + w - 2, 1)], axis=-1) * 200.0
    img = base + rng.uniform(-55, 55, size=(h, w, 3))
    return np.clip(np.round(img), 0, 255).astype(np.uint8)  # [h, w, 3]


def chw_list(arr_hwc):
    return [int(v) for v in np.transpose(arr_hwc, (2, 0, 1)).reshape(-1)]


def f32(v):
    return float("%.9g" % v)


def uint8_case(name, key, img, oh, ow):
    out = np.asarray(Image.fromarray(img, "RGB").resize((ow, oh), Image.BILINEAR))
    return {"name": name, "kind": "uint8", "input": key, "out_shape": [3, oh, ow], "expected": chw_list(out)}


def float_case(name, key, img_f32, oh, ow):
    outs = []
    for c in range(img_f32.shape[0]):
        outs.append(np.asarray(Image.fromarray(img_f32[c], "F").resize((ow, oh), Image.BILINEAR)))
    out = np.stack(outs)
    return {"name": name, "kind": "float", "input": key, "out_shape": list(out.shape),
            "expected": [f32(v) for v in out.reshape(-1)]}


def pipeline_case(name, key, img, size):
    t = transforms.Compose([transforms.Resize(size, interpolation=transforms.InterpolationMode.BILINEAR),
                            transforms.CenterCrop(size)])
    out = np.asarray(t(Image.fromarray(img, "RGB")))
    return {"name": name, "kind": "pipeline", "input": key, "size": size, "out_shape": [3, size, size],
            "expected": chw_list(out)}


def u8_input(img):
    return {"shape": [3, img.shape[0], img.shape[1]], "data": chw_list(img)}


def build():
    a = test_image(37, 23, 1)
    b = test_image(16, 16, 2)
    cases = [
        uint8_case("down_fractional", "a", a, 16, 10),
        uint8_case("down_by_2", "b", b, 8, 8),
        uint8_case("down_by_4", "b", b, 4, 4),
        uint8_case("down_to_1", "b", b, 1, 1),
        uint8_case("up", "b", b, 23, 29),
        uint8_case("up_w_down_h", "a", a, 11, 40),
        uint8_case("height_only", "a", a, 20, 23),
        uint8_case("width_only", "a", a, 37, 9),
    ]
    fa = (a.transpose(2, 0, 1).astype(np.float32) / np.float32(127.5) - np.float32(1)).astype(np.float32)
    fa = fa + np.float32(0.001) * np.random.RandomState(3).standard_normal(fa.shape).astype(np.float32)
    fa = fa.astype(np.float32)
    cases += [
        float_case("float_down_fractional", "fa", fa, 16, 10),
        float_case("float_up_w_down_h", "fa", fa, 11, 40),
        float_case("float_down_by_3", "fa", fa, 12, 7),
    ]
    wide = test_image(30, 45, 4)
    tall = test_image(41, 24, 5)
    cases += [
        pipeline_case("pipeline_wide", "wide", wide, 16),
        pipeline_case("pipeline_tall_odd_crop", "tall", tall, 13),
        pipeline_case("pipeline_wide_up", "wide", wide, 33),
    ]
    inputs = {"a": u8_input(a), "b": u8_input(b), "wide": u8_input(wide), "tall": u8_input(tall),
              "fa": {"shape": list(fa.shape), "data": [f32(v) for v in fa.reshape(-1)]}}
    # The image-folder fixture: PIL writes the PNG, MultiResize semantics give the expected samples.
    png = io.BytesIO()
    Image.fromarray(wide, "RGB").save(png, format="PNG")
    folder = []
    for r in (16, 8, 5):
        t = transforms.Compose([transforms.Resize(r, interpolation=transforms.InterpolationMode.BILINEAR),
                                transforms.CenterCrop(r)])
        folder.append({"resolution": r, "expected": chw_list(np.asarray(t(Image.open(io.BytesIO(png.getvalue()))
                                                                            .convert("RGB"))))})
    doc = {
        "generator": "tools/golden/make_resize_goldens.py",
        "pillow": Image.__version__,
        "torchvision": torchvision.__version__,
        "inputs": inputs,
        "cases": cases,
        "folder": {"file": "pipeline_45x30.png", "samples": folder},
    }
    return {"resize_goldens.json": (json.dumps(doc, separators=(",", ":")) + "\n").encode(),
            "pipeline_45x30.png": png.getvalue()}


def main():
    files = build()
    if "--check" in sys.argv[1:]:
        differ = 0
        for name, data in files.items():
            path = os.path.join(OUT_DIR, name)
            try:
                with open(path, "rb") as f:
                    same = f.read() == data
            except OSError:
                same = False
            differ += not same
            print(("unchanged: " if same else "DIFFERS: ") + os.path.normpath(path), file=sys.stderr)
        sys.exit(1 if differ else 0)
    os.makedirs(OUT_DIR, exist_ok=True)
    for name, data in files.items():
        path = os.path.join(OUT_DIR, name)
        with open(path + ".tmp", "wb") as f:
            f.write(data)
        os.replace(path + ".tmp", path)  # atomic: readers never see a half-written file
        print(f"wrote {os.path.normpath(path)} ({len(data)} bytes)", file=sys.stderr)


if __name__ == "__main__":
    main()
