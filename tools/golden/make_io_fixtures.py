#!/usr/bin/env python3
"""Writes the io-layer fixtures in tests/data/io/ with the Python standard library only (struct, json, zlib).

Run by hand from the repository root: python3 tools/golden/make_io_fixtures.py
The output is deterministic; tests/io/*_test.cpp read these files and compare against the values below.

reference_f32_f64.safetensors
    Laid out as the reference safetensors writer lays out a file: "__metadata__" first, tensors sorted by
    dtype (F64 before F32) and then by name, compact JSON (no spaces) padded with spaces to a multiple of
    8 bytes. The C++ writer, given the same tensors in the same order, must produce identical bytes.
half_and_int.safetensors (+ half_and_int.expected.json)
    F16, BF16, integer and BOOL tensors with chosen bit patterns, at unaligned offsets, with the header
    keys in reverse file order. The expected float32 values come from struct's own binary16 decoder ('e')
    and from the bfloat16 definition (the upper half of a float32), written as float.hex strings.
rgb8_3x2.png, gray16_2x2.png, rgba8_2x1.png
    Tiny PNGs built with zlib, so the image reader is checked against an encoder other than its own.
"""
import json
import math
import os
import struct
import zlib

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "io")


def safetensors_bytes(entries, metadata=None):
    """entries: list of (name, dtype, shape, raw bytes) in file order; the header lists them in that order
    unless `header_order` reorders them."""
    return safetensors_bytes_ordered(entries, [e[0] for e in entries], metadata)


def safetensors_bytes_ordered(entries, header_order, metadata=None):
    header = {}
    if metadata:
        header["__metadata__"] = dict(sorted(metadata.items()))
    offsets = {}
    pos = 0
    for name, dtype, shape, raw in entries:
        offsets[name] = (dtype, shape, [pos, pos + len(raw)])
        pos += len(raw)
    for name in header_order:
        dtype, shape, off = offsets[name]
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": off}
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(e[3] for e in entries)


def reference_fixture():
    b_weight = [i * 0.5 - 1.0 for i in range(6)]  # F64 [2, 3]
    a_bias = [1.5, -2.25, 3.0]  # F32 [3]
    scalar = [42.0]  # F32 []
    entries = [  # reference order: F64 first, then F32 by name
        ("b.weight", "F64", [2, 3], struct.pack("<6d", *b_weight)),
        ("a.bias", "F32", [3], struct.pack("<3f", *a_bias)),
        ("empty", "F32", [0, 4], b""),
        ("scalar", "F32", [], struct.pack("<f", *scalar)),
    ]
    return safetensors_bytes(entries, {"format": "pt", "step": "1000"})


F16_BITS = [0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00, 0xFC00, 0x3555, 0x0400, 0x7E00]
BF16_BITS = [0x3F80, 0xC0A0, 0x4049, 0x0001, 0x7F80, 0xFF80, 0x7FC0]
F32_VALUES = [0.1, -7.5, 3.0e38]
I64_VALUES = [-(1 << 24), 0, 1 << 24]
I32_VALUES = [-5, 123456, 7]
U8_VALUES = [0, 128, 255]
BOOL_VALUES = [1, 0, 1]
I8_VALUES = [-128, 127]


def half_fixture():
    entries = [
        ("f16", "F16", [2, 5], struct.pack("<10H", *F16_BITS)),            # [0, 20)
        ("bf16", "BF16", [7], struct.pack("<7H", *BF16_BITS)),             # [20, 34)
        ("f32_unaligned", "F32", [3], struct.pack("<3f", *F32_VALUES)),    # [34, 46): not 4-byte aligned
        ("i64", "I64", [3], struct.pack("<3q", *I64_VALUES)),              # [46, 70)
        ("i32", "I32", [3, 1], struct.pack("<3i", *I32_VALUES)),           # [70, 82)
        ("u8", "U8", [3], struct.pack("<3B", *U8_VALUES)),                 # [82, 85)
        ("bool", "BOOL", [3], struct.pack("<3B", *BOOL_VALUES)),           # [85, 88)
        ("i8", "I8", [2], struct.pack("<2b", *I8_VALUES)),                 # [88, 90)
    ]
    data = safetensors_bytes_ordered(entries, [e[0] for e in reversed(entries)])

    def f16(bits):
        return struct.unpack("<e", struct.pack("<H", bits))[0]

    def bf16(bits):
        return struct.unpack("<f", struct.pack("<I", bits << 16))[0]

    def f32(v):
        return struct.unpack("<f", struct.pack("<f", v))[0]

    def hexes(values):
        return ["nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else v.hex())
                for v in values]

    expected = {
        "order": [e[0] for e in entries],
        "f16": hexes([f16(b) for b in F16_BITS]),
        "bf16": hexes([bf16(b) for b in BF16_BITS]),
        "f32_unaligned": hexes([f32(v) for v in F32_VALUES]),
        "i64": hexes([float(v) for v in I64_VALUES]),
        "i32": hexes([float(v) for v in I32_VALUES]),
        "u8": hexes([float(v) for v in U8_VALUES]),
        "bool": hexes([float(v) for v in BOOL_VALUES]),
        "i8": hexes([float(v) for v in I8_VALUES]),
    }
    return data, json.dumps(expected, indent=1) + "\n"


def png_bytes(width, height, bit_depth, color_type, rows):
    """rows: list of raw scanlines (without the filter byte); filter 0 (None) everywhere."""
    def chunk(kind, payload):
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    raw = b"".join(b"\x00" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw, 9))
            + chunk(b"IEND", b""))


# Pixel values the image tests check (row-major, RGB triples / gray / RGBA).
RGB8_3X2 = [[(255, 0, 0), (0, 255, 0), (0, 0, 255)], [(0, 0, 0), (255, 255, 255), (10, 128, 200)]]
GRAY16_2X2 = [[0, 65535], [32768, 1000]]
RGBA8_2X1 = [[(200, 100, 50, 0), (1, 2, 3, 255)]]


def main():
    os.makedirs(OUT, exist_ok=True)

    def write(name, data, mode="wb"):
        with open(os.path.join(OUT, name), mode) as f:
            f.write(data)

    write("reference_f32_f64.safetensors", reference_fixture())
    data, expected = half_fixture()
    write("half_and_int.safetensors", data)
    write("half_and_int.expected.json", expected, "w")
    write("rgb8_3x2.png", png_bytes(3, 2, 8, 2, [bytes(c for px in row for c in px) for row in RGB8_3X2]))
    write("gray16_2x2.png", png_bytes(2, 2, 16, 0, [struct.pack(">2H", *row) for row in GRAY16_2X2]))
    write("rgba8_2x1.png", png_bytes(2, 1, 8, 6, [bytes(c for px in row for c in px) for row in RGBA8_2X1]))


if __name__ == "__main__":
    main()
