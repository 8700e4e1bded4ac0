#!/usr/bin/env python3
"""A minimal pkg-config for machines without one (the GPU check's fallback).

Answers the queries CMake's FindPkgConfig makes (--version, --exists, --modversion, --variable=NAME,
--cflags[-only-I|-only-other], --libs[-only-L|-only-l|-only-other], --print-errors, --short-errors, --static)
from the .pc files found on PKG_CONFIG_PATH. Enough for stb.pc as tools/gpu/prepare_deps.sh writes it.
"""
import os
import re
import sys


def find_pc(module):
    for d in os.environ.get("PKG_CONFIG_PATH", "").split(os.pathsep):
        path = os.path.join(d, module + ".pc")
        if d and os.path.isfile(path):
            return path
    return None


def parse(path):
    variables = {"pcfiledir": os.path.dirname(os.path.abspath(path))}
    fields = {}

    def expand(value):
        for _ in range(16):
            new = re.sub(r"\$\{(\w+)\}", lambda m: variables.get(m.group(1), ""), value)
            if new == value:
                break
            value = new
        return value

    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"^(\w[\w.]*)\s*=\s*(.*)$", line)
            if m:
                variables[m.group(1)] = expand(m.group(2))
                continue
            m = re.match(r"^([\w.]+)\s*:\s*(.*)$", line)
            if m:
                fields[m.group(1)] = expand(m.group(2))
    return variables, fields


def main(argv):
    opts = [a for a in argv if a.startswith("--")]
    modules = [a for a in argv if not a.startswith("--") and not re.match(r"^[<>=!]+$", a)]
    # Drop version constraints ("stb >= 0.0" arrives as separate words).
    modules = [m for m in modules if not re.match(r"^[0-9.]+$", m)]
    if "--version" in opts:
        print("0.29.2")
        return 0
    out = []
    for module in modules:
        path = find_pc(module)
        if path is None:
            if "--print-errors" in opts:
                sys.stderr.write("Package %s was not found in the pkg-config search path.\n" % module)
            return 1
        variables, fields = parse(path)
        cflags = fields.get("Cflags", "").split()
        libs = fields.get("Libs", "").split()
        for o in opts:
            if o.startswith("--variable="):
                out.append(variables.get(o.split("=", 1)[1], ""))
            elif o == "--modversion":
                out.append(fields.get("Version", ""))
            elif o == "--cflags":
                out += cflags
            elif o == "--cflags-only-I":
                out += [c for c in cflags if c.startswith("-I")]
            elif o == "--cflags-only-other":
                out += [c for c in cflags if not c.startswith("-I")]
            elif o == "--libs":
                out += libs
            elif o == "--libs-only-L":
                out += [l for l in libs if l.startswith("-L")]
            elif o == "--libs-only-l":
                out += [l for l in libs if l.startswith("-l")]
            elif o == "--libs-only-other":
                out += [l for l in libs if not l.startswith("-L") and not l.startswith("-l")]
    if out:
        print(" ".join(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
