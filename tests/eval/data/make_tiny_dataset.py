#!/usr/bin/env python3
"""Writes the tiny labelled image folder of the `anycost train-classifier` / `anycost eval` CLI tests:
16 PNGs of 32x32 (a red or blue disc or square on white, at a few offsets) and labels.json in the format of
tools/make_emoji_dataset.py (categories = shape and colour, skin_tone = index % 3). Deterministic:

    cd tests/eval/data && /usr/bin/python3 make_tiny_dataset.py
"""
import json
import os

from PIL import Image, ImageDraw

os.makedirs("images", exist_ok=True)
entries = []
for i in range(16):
    shape = "disc" if i % 2 == 0 else "square"
    colour = "red" if (i // 2) % 2 == 0 else "blue"
    fill = (220, 30, 30) if colour == "red" else (30, 60, 220)
    img = Image.new("RGB", (32, 32), (255, 255, 255))
    d = ImageDraw.Draw(img)
    o = 4 + (i // 4) * 2
    box = (o, o, o + 18, o + 18)
    (d.ellipse if shape == "disc" else d.rectangle)(box, fill=fill)
    name = f"images/{i:04d}_{colour}_{shape}.png"
    img.save(name, optimize=True)
    entries.append({"file": name, "glyph": f"{colour}_{shape}", "codepoints": [], "names": [],
                    "skin_tone": i % 3, "kind": "single", "categories": [shape, colour]})
with open("labels.json", "w") as f:
    json.dump({"source": "make_tiny_dataset.py", "size": 32, "count": len(entries), "images": entries}, f, indent=1)
