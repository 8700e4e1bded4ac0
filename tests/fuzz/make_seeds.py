#!/usr/bin/python3
"""Writes the seed corpus of tests/fuzz (corpus/<target>/): a few small valid inputs per target, each covering
a feature of the format, and a few near misses. Run once; the files are checked in (a few KB per target)."""
import io, json, os, struct, sys

import numpy as np
from PIL import Image

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(root, target, name), "wb") as f:
        f.write(data)


def safetensors(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape, bytes)."""
    header, offset, blob = {}, 0, b""
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, data in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blob += data
    text = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + blob


f32 = np.arange(6, dtype="<f4").tobytes()
put("safetensors", "f32_2x3", safetensors([("w", "F32", [2, 3], f32)]))
put("safetensors", "mixed_dtypes_unaligned", safetensors([
    ("a", "F16", [3], np.array([1, -2, 0.5], dtype="<f2").tobytes()),
    ("b", "BF16", [1], b"\x80\x3f"),
    ("c", "I32", [2], np.array([7, -7], dtype="<i4").tobytes()),
    ("d", "BOOL", [3], b"\x00\x01\x01"),
    ("e", "U8", [1], b"\xff"),
    ("f", "F64", [2], np.array([1.5, -0.25], dtype="<f8").tobytes()),
    ("g", "I64", [1], np.array([1 << 20], dtype="<i8").tobytes()),
    ("h", "U16", [1], b"\x01\x02"), ("i", "I8", [1], b"\xfe"), ("j", "I16", [1], b"\x00\x80"),
    ("k", "U32", [1], b"\x01\x00\x00\x00"), ("l", "U64", [1], b"\x02" + b"\x00" * 7)]))
put("safetensors", "metadata_scalar_empty", safetensors(
    [("s", "F32", [], b"\x00\x00\x80\x3f"), ("z", "F32", [0, 4], b"")], {"format": "pt", "k": "v"}))
put("safetensors", "empty_header", safetensors([], pad=False))
put("safetensors", "overlap", struct.pack("<Q", 80) + json.dumps(
    {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
     "b": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}, separators=(",", ":")).encode().ljust(80) + f32[:4])
put("safetensors", "bad_int", safetensors([("x", "I32", [1], struct.pack("<i", 1 << 25))]))

# Images: PNG in every colour type and depth stb reads, baseline and progressive JPEG.
rng = np.random.default_rng(0)
def png(img, **kw):
    b = io.BytesIO(); img.save(b, "PNG", **kw); return b.getvalue()
rgb = Image.fromarray(rng.integers(0, 256, (4, 5, 3), dtype=np.uint8), "RGB")
put("image", "rgb8.png", png(rgb))
put("image", "rgba8.png", png(Image.fromarray(rng.integers(0, 256, (3, 2, 4), dtype=np.uint8), "RGBA")))
put("image", "gray8.png", png(rgb.convert("L")))
put("image", "gray16.png", png(Image.fromarray(rng.integers(0, 65536, (2, 3), dtype=np.uint16).astype(np.int32), "I").convert("I;16")))
put("image", "palette.png", png(rgb.convert("P")))
put("image", "rgb8_9x7.png", png(rgb.resize((9, 7))))
def jpeg(img, **kw):
    b = io.BytesIO(); img.save(b, "JPEG", **kw); return b.getvalue()
put("image", "baseline.jpg", jpeg(rgb.resize((8, 8)), quality=50))
put("image", "progressive.jpg", jpeg(rgb.resize((9, 7)), quality=40, progressive=True))
put("image", "gray.jpg", jpeg(rgb.convert("L").resize((8, 8)), quality=50, subsampling=0))

# Evolve configs for the harness's 32x32 table (ChannelTable::stylegan2(32, 1.0, 64): 8 entries, width 64).
full = [64] * 8
put("evolve_config", "two_budgets.json", json.dumps(
    {"15G": {"channels": full, "res": 32, "macs": 14901895481, "dist": 0.1544},
     "3M": {"channels": [64, 64, 32, 32, 16, 16, 8, 8], "res": 16, "macs": 3000000, "dist": 0.5}}, indent=1))
put("evolve_config", "no_macs.json", json.dumps({"1M": {"channels": full, "res": 4}}))
put("evolve_config", "empty.json", "{}")
put("evolve_config", "bad_res.json", json.dumps({"1M": {"channels": full, "res": 24, "dist": 1e300}}))

# Training configs (JSON with comments).
put("train_config", "minimal.json", '{"steps": {"1": 10}}')
put("train_config", "tiny.json", open(os.path.join(os.path.dirname(root), "..", "..", "examples", "configs", "tiny.json")).read())
put("train_config", "every_key.json", """// every section
{ "steps": {"1": 1, "2": 2, "3": 3}, "batch": 8, "seed": 7, "mixing": 0.5, /* block comment */
  "generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channels": [16, 16, 8], "lr_mlp": 0.1},
  "discriminator": {"channels": [16, 16, 8]},
  "optimizer": {"lr": 0.001, "beta1": 0.1, "beta2": 0.9, "eps": 1e-6, "lazy_regularization": true},
  "r1": {"gamma": 1, "interval": 4}, "path_length": {"weight": 1, "interval": 2, "batch_shrink": 4, "decay": 0.1},
  "multi_res": {"n_res": 2, "n_sampled": 1},
  "channels": {"sampler": "flexible", "min_channel": 4, "divided_by": 2, "sort_samples": 100},
  "distill": {"alpha": 1.5, "lpips": "vgg.safetensors"}, "ema": {"half_life_kimg": 2},
  "init": {"generator": "/abs/g.safetensors", "discriminator": "d.safetensors", "teacher": "t.safetensors"},
  "checkpoint": {"every": 3, "keep": 2}, "samples": {"every": 4, "n": 2}, "log": {"every_seconds": 0},
  "data": {"workers": 1, "prefetch": 2, "cache_mb": 0, "xflip": false}}""")
put("train_config", "multiplier.json", '{"steps": {"2": 5}, "generator": {"resolution": 64, "channel_multiplier": 0.25, "channel_max": 64}}')

# Studio edit histories for the harness's shape (model "fuzz", W+ 2 x 3, directions age and smile).
history = {"format": "anycost-studio-history", "version": 1, "model": "fuzz", "position": 1,
           "bases": [{"source": "seed", "seed": 42, "wplus": [[0.5, -1, 2], [0, 0.25, -0.125]]},
                     {"source": "upload", "wplus": [[1, 1, 1], [-1, -1, -1]]}],
           "entries": [{"base": 0, "edits": {}}, {"base": 0, "edits": {"smile": 1.5, "age": -2}},
                       {"base": 1, "edits": {"age": 0}}]}
put("edit_history", "three_entries.json", json.dumps(history))
put("edit_history", "one_entry.json", json.dumps(dict(history, position=0, bases=history["bases"][:1],
                                                      entries=history["entries"][:1])))
put("edit_history", "bad_index.json", json.dumps(dict(history, entries=[{"base": 7, "edits": {}}], position=0)))
put("edit_history", "bad_strength.json", json.dumps(dict(history, entries=[{"base": 0, "edits": {"smile": 99}}], position=0)))
put("edit_history", "other_model.json", json.dumps(dict(history, model="other")))

# Latency tables (search/latency_table.hpp), version 2.
table = {"format": "anycost-latency-table", "version": 2, "device": "Intel(R) Xeon(R) Processor", "threads": 2,
         "batch": 1, "model": "64px s256 m8 w256,256,256,256,256 float32", "scale": 1.07,
         "layers": {"conv 256>256 @8": 0.412, "up 256>256 @16": 1.5, "rgb_skip 256>3 @32": 0.0625}}
put("latency_table", "three_layers.json", json.dumps(table, indent=2))
put("latency_table", "empty_layers.json", json.dumps(dict(table, layers={})))
put("latency_table", "bad_time.json", json.dumps(dict(table, layers={"conv": -1})))
put("latency_table", "float_threads.json", json.dumps(dict(table, threads=1e10)))
