#!/usr/bin/env python3
"""Converts an official Anycost GAN / StyleGAN2 (rosinality) generator checkpoint to safetensors for anycost.

    python3 tools/convert_checkpoint.py generator_anycost-ffhq-config-f.pt generator.safetensors
    python3 tools/convert_checkpoint.py --entry d training_checkpoint.pt discriminator.safetensors
    python3 tools/convert_checkpoint.py --entry encoder encoder_anycost-ffhq-config-f.pt encoder.safetensors
    python3 tools/convert_checkpoint.py --self-test DIR

The input is a torch pickle holding either a training checkpoint (the generator state dict under `g_ema`,
or under --key) or a bare generator state dict. The output holds every tensor of that state dict, under its
own key (`style.1.weight`, `convs.3.conv.weight`, `noises.noise_5`, ...), as little-endian float32 in the
safetensors format (written here with struct/json; no safetensors package needed), plus metadata
(format, source file, lr_mlp). The C++ loader (include/anycost/models/checkpoint.hpp) infers the
architecture from the names and shapes.

--self-test DIR builds a tiny generator with random weights using the independent reference implementation
(tools/reference/anycost_generator.py), saves it as DIR/tiny_generator.pt in the official layout ({'g_ema':
state_dict}), converts it to DIR/tiny_generator.safetensors, reads the result back and compares every
tensor, and writes DIR/tiny_reference.safetensors with latents and the reference's images for the C++ side
to compare against (ctest "models: converter round trip"). Exit code 77 when torch is missing.

--entry d converts the discriminator of a training checkpoint ({'g', 'd', 'g_ema', ...}) instead: its state
dict under its own keys (`convs.0.0.weight`, `blocks.3.conv2.1.weight`, ...; the C++ loader
include/anycost/models/discriminator_checkpoint.hpp infers single/multi-resolution, inputs, conditioning and
widths from them). The self-test also wraps the discriminator fixture tests/data/discriminator/d_multi.safetensors
(written from the official DiscriminatorMultiRes by tools/golden/make_discriminator_goldens.py) in a training
checkpoint, converts its `d` entry to DIR/tiny_discriminator.safetensors and checks it; test_models
"[converted]" then compares that file's logits with PyTorch's.

--entry encoder converts a projection encoder (the official encoder_*.pt holds its state dict under
`state_dict`, or is the bare state dict): the ResNet names (`conv1.weight`, `bn1.running_var`,
`layer1.0.downsample.1.weight`, ..., `fc.weight`, `mean_latent`), every tensor as float32 (the int64
`num_batches_tracked` included), metadata format "anycost-encoder" and resolution (--resolution, default 256,
the official input size). The C++ loader (include/anycost/models/encoder_checkpoint.hpp) infers depth, width
and W+ shape from the names and shapes. The self-test also saves a tiny random encoder of the plain-PyTorch
reference (tools/reference/anycost_encoder.py) as {'state_dict': ...}, converts it to DIR/tiny_encoder.safetensors,
checks every tensor, and writes DIR/tiny_encoder_reference.safetensors (inputs and eval-mode outputs) for
test_models "[converted]".
"""

import argparse
import json
import os
import struct
import sys
import tempfile

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

TOOLS_DIR = os.path.dirname(os.path.abspath(__file__))


# ---- safetensors, by hand -------------------------------------------------------------------------------------
def _tensor_bytes(t):
    t = t.detach().to("cpu").contiguous()
    if t.dtype == torch.float64:
        return "F64", t.numpy().astype("<f8").tobytes()
    return "F32", t.to(torch.float32).numpy().astype("<f4").tobytes()


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} (insertion order) atomically: temporary file in the same directory, then rename."""
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    for name, t in tensors.items():
        dtype, blob = _tensor_bytes(t)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for blob in blobs:
                f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_safetensors(path):
    """Reads a safetensors file written by save_safetensors (F32/F64) into ({name: tensor}, metadata)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dt = {"F32": torch.float32, "F64": torch.float64}[e["dtype"]]
        buf = bytearray(data[8 + n + b:8 + n + end])
        out[name] = torch.frombuffer(buf, dtype=dt).reshape(e["shape"]).clone() if end > b else \
            torch.zeros(e["shape"], dtype=dt)
    return out, meta


# ---- conversion -------------------------------------------------------------------------------------------------
def extract_state_dict(obj, key=None, source="checkpoint"):
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise SystemExit(f"{source}: no entry '{key}' (top-level keys: {sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__})")
        obj = obj[key]
    elif isinstance(obj, dict) and "g_ema" in obj:
        obj = obj["g_ema"]
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or "style.1.weight" not in obj:
        keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise SystemExit(f"{source}: not a generator state dict (no 'style.1.weight'; found {keys}); "
                         "pass --key to name the entry that holds it")
    bad = [k for k, v in obj.items() if not torch.is_tensor(v)]
    if bad:
        raise SystemExit(f"{source}: entries that are not tensors: {bad[:5]}")
    return obj


def extract_discriminator_state_dict(obj, source="checkpoint"):
    if not isinstance(obj, dict) or "d" not in obj:
        keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise SystemExit(f"{source}: no entry 'd' (a training checkpoint holds g, d, g_ema, ...; found {keys})")
    obj = obj["d"]
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    if not isinstance(obj, dict) or "convs.0.0.weight" not in obj:
        keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        raise SystemExit(f"{source}: entry 'd' is not a discriminator state dict (no 'convs.0.0.weight'; found {keys})")
    bad = [k for k, v in obj.items() if not torch.is_tensor(v)]
    if bad:
        raise SystemExit(f"{source}: entries that are not tensors: {bad[:5]}")
    return obj


def convert_discriminator(src, dst):
    obj = torch.load(src, map_location="cpu")
    sd = extract_discriminator_state_dict(obj, src)
    tensors = {k: v.to(torch.float32) for k, v in sd.items()}
    save_safetensors(dst, tensors, {"format": "anycost-discriminator", "source": os.path.basename(src)})
    return tensors


def extract_encoder_state_dict(obj, key=None, source="checkpoint"):
    if key is not None:
        if not isinstance(obj, dict) or key not in obj:
            raise SystemExit(f"{source}: no entry '{key}'")
        obj = obj[key]
    elif isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if hasattr(obj, "state_dict") and not isinstance(obj, dict):
        obj = obj.state_dict()
    # checkpoints saved from nn.DataParallel prefix every key with "module."
    if isinstance(obj, dict) and obj and all(k.startswith("module.") for k in obj):
        obj = {k[len("module."):]: v for k, v in obj.items()}
    needed = ["conv1.weight", "fc.weight", "mean_latent"]
    if not isinstance(obj, dict) or any(k not in obj for k in needed):
        keys = sorted(obj)[:10] if isinstance(obj, dict) else type(obj).__name__
        missing = [k for k in needed if not isinstance(obj, dict) or k not in obj]
        raise SystemExit(f"{source}: not an encoder state dict (no {missing}; found {keys}); "
                         "pass --key to name the entry that holds it")
    bad = [k for k, v in obj.items() if not torch.is_tensor(v)]
    if bad:
        raise SystemExit(f"{source}: entries that are not tensors: {bad[:5]}")
    return obj


def convert_encoder(src, dst, key=None, resolution=256):
    obj = torch.load(src, map_location="cpu")
    sd = extract_encoder_state_dict(obj, key, src)
    tensors = {k: v.to(torch.float32) for k, v in sd.items()}
    save_safetensors(dst, tensors, {"format": "anycost-encoder", "source": os.path.basename(src),
                                    "resolution": str(int(resolution))})
    return tensors


def convert(src, dst, key=None, lr_mlp=0.01):
    obj = torch.load(src, map_location="cpu")
    sd = extract_state_dict(obj, key, src)
    tensors = {k: v.to(torch.float32) for k, v in sd.items()}
    meta = {"format": "anycost-generator", "source": os.path.basename(src), "lr_mlp": repr(float(lr_mlp))}
    save_safetensors(dst, tensors, meta)
    return tensors


# ---- self test ---------------------------------------------------------------------------------------------------
def self_test(directory):
    sys.path.insert(0, os.path.join(TOOLS_DIR, "reference"))
    import anycost_generator as ref

    os.makedirs(directory, exist_ok=True)
    gen = torch.Generator().manual_seed(20210303)
    torch.manual_seed(5)
    g = ref.randomize_(ref.Generator(16, style_dim=8, n_mlp=2, lr_mlp=0.01, widths=[16, 12, 8]), gen).eval()
    pt = os.path.join(directory, "tiny_generator.pt")
    st = os.path.join(directory, "tiny_generator.safetensors")
    torch.save({"g_ema": g.state_dict(), "epoch": 0}, pt)
    converted = convert(pt, st)
    back, meta = load_safetensors(st)
    sd = g.state_dict()
    assert list(back) == list(sd), "key order changed"
    for k, v in sd.items():
        assert back[k].shape == v.shape and torch.equal(back[k], v.float()), f"tensor {k} changed"
    assert meta["format"] == "anycost-generator" and float(meta["lr_mlp"]) == 0.01
    assert len(converted) == len(sd)
    # Reference outputs for the C++ side: the full generator and uniform 0.5 at 8x8.
    z = torch.randn(2, 8, generator=gen)
    with torch.no_grad():
        full = g(z)
        half = g(z, channels=g.uniform_channels(0.5), target_res=8)
    save_safetensors(os.path.join(directory, "tiny_reference.safetensors"),
                     {"z": z, "full": full, "uniform_0.5_res8": half,
                      "channels_uniform_0.5": torch.tensor(g.uniform_channels(0.5), dtype=torch.float32)})
    print(f"self-test: {len(sd)} tensors converted and verified in {directory}")
    self_test_discriminator(directory, g.state_dict())
    self_test_encoder(directory)


def self_test_encoder(directory):
    sys.path.insert(0, os.path.join(TOOLS_DIR, "reference"))
    import anycost_encoder as ref

    gen = torch.Generator().manual_seed(77)
    e = ref.randomize_(ref.Encoder(blocks=(1, 2), base_width=4, n_style=3, style_dim=8), gen).eval()
    pt = os.path.join(directory, "tiny_encoder.pt")
    st = os.path.join(directory, "tiny_encoder.safetensors")
    torch.save({"state_dict": e.state_dict()}, pt)
    converted = convert_encoder(pt, st, resolution=16)
    back, meta = load_safetensors(st)
    sd = e.state_dict()
    assert list(back) == list(sd), "encoder key order changed"
    for k, v in sd.items():
        assert back[k].shape == v.shape and torch.equal(back[k], v.float()), f"encoder tensor {k} changed"
    assert meta["format"] == "anycost-encoder" and meta["resolution"] == "16" and len(converted) == len(sd)
    x = torch.rand(2, 3, 16, 16, generator=gen) * 2 - 1
    with torch.no_grad():
        w = e(x)
    save_safetensors(os.path.join(directory, "tiny_encoder_reference.safetensors"), {"x": x, "wplus": w})
    print(f"self-test: {len(sd)} encoder tensors converted and verified in {directory}")


def self_test_discriminator(directory, g_sd):
    fixture = os.path.join(TOOLS_DIR, "..", "tests", "data", "discriminator", "d_multi.safetensors")
    d_sd, _ = load_safetensors(fixture)
    pt = os.path.join(directory, "tiny_training.pt")
    st = os.path.join(directory, "tiny_discriminator.safetensors")
    torch.save({"g": g_sd, "d": d_sd, "g_ema": g_sd, "g_optim": {}, "d_optim": {}}, pt)
    converted = convert_discriminator(pt, st)
    back, meta = load_safetensors(st)
    assert list(back) == list(d_sd), "discriminator key order changed"
    for k, v in d_sd.items():
        assert back[k].shape == v.shape and torch.equal(back[k], v.float()), f"tensor {k} changed"
    assert meta["format"] == "anycost-discriminator" and len(converted) == len(d_sd)
    print(f"self-test: {len(d_sd)} discriminator tensors converted and verified in {directory}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("input", nargs="?", help="official generator checkpoint (.pt)")
    p.add_argument("output", nargs="?", help="output .safetensors")
    p.add_argument("--key", help="entry holding the state dict (default: g_ema when present, else the whole file)")
    p.add_argument("--entry", choices=["g", "d", "encoder"], default="g",
                   help="g: a generator (default); d: the discriminator of a training checkpoint; "
                        "encoder: a projection encoder")
    p.add_argument("--resolution", type=int, default=256,
                   help="--entry encoder: the encoder's input resolution recorded in the metadata (default 256)")
    p.add_argument("--lr-mlp", type=float, default=0.01, help="mapping lr multiplier recorded in the metadata")
    p.add_argument("--self-test", metavar="DIR", help="round-trip a tiny generated checkpoint in DIR")
    a = p.parse_args()
    if torch is None:
        print("convert_checkpoint.py needs PyTorch (Debian: apt install python3-torch)", file=sys.stderr)
        sys.exit(77)
    if a.self_test:
        self_test(a.self_test)
        return
    if not a.input or not a.output:
        p.error("give INPUT.pt and OUTPUT.safetensors (or --self-test DIR)")
    if a.entry == "d":
        tensors = convert_discriminator(a.input, a.output)
    elif a.entry == "encoder":
        tensors = convert_encoder(a.input, a.output, a.key, a.resolution)
    else:
        tensors = convert(a.input, a.output, a.key, a.lr_mlp)
    print(f"{a.output}: {len(tensors)} tensors")


if __name__ == "__main__":
    main()
