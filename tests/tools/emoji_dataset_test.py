#!/usr/bin/env python3
"""ctest "tools: emoji dataset": tools/make_emoji_dataset.py on a few glyphs of the real font.

    python3 emoji_dataset_test.py <tools/make_emoji_dataset.py> <scratch dir>

Checks the images (count, size, mode, the background in the corners, the glyph in the middle), the labels
(fields, code points of known glyphs, skin tones, kinds), that a second run writes the same bytes, and that
bad arguments exit with status 2 and a message naming the argument.
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys

from PIL import Image

tool, scratch = sys.argv[1], sys.argv[2]
shutil.rmtree(scratch, ignore_errors=True)
failures = []


def check(ok, what):
    if not ok:
        failures.append(what)
        print("FAILED:", what)


def run(*args):
    return subprocess.run([sys.executable, tool, *args], capture_output=True, text=True)


def digest(folder):
    h = hashlib.sha256()
    for root, _, files in sorted(os.walk(folder)):
        for f in sorted(files):
            with open(os.path.join(root, f), "rb") as fh:
                h.update(f.encode() + fh.read())
    return h.hexdigest()


a, b = os.path.join(scratch, "a"), os.path.join(scratch, "b")
r = run("--out", a, "--size", "32", "--limit", "12", "--background", "10,20,30")
check(r.returncode == 0, f"tool failed: {r.stderr}")
labels = json.load(open(os.path.join(a, "labels.json")))
images = labels["images"]
check(labels["count"] == 12 and len(images) == 12, f"12 images expected, labels say {labels['count']}")
check(sorted(os.listdir(os.path.join(a, "images"))) == sorted(os.path.basename(i["file"]) for i in images),
      "the image folder holds exactly the labelled files")
for item in images:
    for key in ("file", "glyph", "codepoints", "names", "skin_tone", "kind", "categories"):
        check(key in item, f"{item.get('glyph')}: label field '{key}'")
    im = Image.open(os.path.join(a, item["file"]))
    check(im.size == (32, 32) and im.mode == "RGB", f"{item['file']}: 32x32 RGB, got {im.size} {im.mode}")
    check(im.getpixel((0, 0)) == (10, 20, 30), f"{item['file']}: corner is the background, got {im.getpixel((0, 0))}")
    centre = [im.getpixel((x, y)) for x in range(12, 20) for y in range(12, 20)]
    check(any(p != (10, 20, 30) for p in centre), f"{item['file']}: the glyph covers the centre")
# The font's first glyphs are the keycap bases '#', '*', '0'...: their code points are known.
by_glyph = {i["glyph"]: i for i in images}
check(by_glyph.get("numbersign", {}).get("codepoints") == ["U+0023"], "numbersign is U+0023")
check(by_glyph.get("zero", {}).get("codepoints") == ["U+0030"], "zero is U+0030")
check(all(i["skin_tone"] == 0 for i in images), "no skin tones among the first glyphs")

r = run("--out", b, "--size", "32", "--limit", "12", "--background", "10,20,30")
check(r.returncode == 0 and digest(a) == digest(b), "a second run writes identical files")

# Labels of the whole font: skin-tone variants, flags and ZWJ sequences are reached through GSUB.
full = os.path.join(scratch, "full")
r = run("--out", full, "--size", "4")
check(r.returncode == 0, f"full run failed: {r.stderr}")
every = json.load(open(os.path.join(full, "labels.json")))["images"]
check(len(every) > 3000, f"more than 3000 glyphs reached, got {len(every)}")
tones = {t: sum(1 for i in every if i["skin_tone"] == t) for t in range(6)}
check(all(tones[t] > 100 for t in range(1, 6)), f"every skin tone is used: {tones}")
kinds = {i["kind"] for i in every}
check({"single", "zwj", "flag", "keycap"} <= kinds, f"kinds: {kinds}")
wave = [i for i in every if i["codepoints"][:1] == ["U+1F44B"]]
check(sorted(i["skin_tone"] for i in wave) == [0, 1, 2, 3, 4, 5], "waving hand in 6 tones")
check(all("hand" in i["categories"] for i in wave), "the waving hand is a hand")

for args, needle in ((["--size", "2"], "--size"), (["--background", "1,2"], "--background"),
                     (["--limit", "-1"], "--limit"), (["--font", os.path.join(scratch, "none.ttf")], "none.ttf")):
    r = run("--out", os.path.join(scratch, "bad"), *args)
    check(r.returncode == 2 and needle in r.stderr, f"{args}: exit 2 naming {needle}, got {r.returncode} {r.stderr!r}")

print("emoji dataset tool:", "FAILED" if failures else "ok")
sys.exit(1 if failures else 0)
