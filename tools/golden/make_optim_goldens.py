#!/usr/bin/python3
"""Golden values for tests/optim: the first steps of torch.optim.Adam and torch.optim.SGD.

Run by hand with PyTorch (Debian's python3-torch 1.13 is /usr/bin/python3):

    /usr/bin/python3 tools/golden/make_optim_goldens.py          # writes tests/data/optim/optim_goldens.json
    /usr/bin/python3 tools/golden/make_optim_goldens.py --check  # regenerates in memory, reports a difference

Each case lists the options, the initial parameters, the gradient fed at every step (null: the parameter
has no gradient at that step and must be skipped), the parameters after every step, and the final
optimiser state under anycost's state keys ("<param>.exp_avg", "<param>.step", ...). Gradients are given,
not computed, so the check covers the optimiser alone. The "lazy_interval" cases apply StyleGAN2's lazy
regularisation correction here (lr * c, betas ** c with c = k / (k + 1)); the C++ test applies it with
AdamOptions::lazy_regularized(k) to "base_options" and checks it reproduces "options".
"""
import json
import os
import sys

import torch

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "data", "optim",
                   "optim_goldens.json")

STEPS = 6
SHAPES = [("w", [3, 4]), ("b", [5]), ("tiny", [2, 3])]


def flat(t):
    return [float(x) for x in t.detach().reshape(-1).tolist()]


def make_inputs(seed, dtype):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(shape, generator=g, dtype=torch.float64).to(dtype) for _, shape in SHAPES]
    grads = []
    for step in range(STEPS):
        row = []
        for i, (name, shape) in enumerate(SHAPES):
            x = torch.randn(shape, generator=g, dtype=torch.float64)
            if name == "tiny":
                x = x * 1e-7  # gradients near eps: the eps term matters
            if name == "b" and step == 2:
                row.append(None)  # no gradient: skipped, its step count does not advance
            else:
                row.append(x.to(dtype))
        grads.append(row)
    return params, grads


def run(kind, options, dtype, seed):
    params0, grads = make_inputs(seed, dtype)
    params = [p.clone().requires_grad_(True) for p in params0]
    if kind == "adam":
        opt = torch.optim.Adam(params, lr=options["lr"], betas=(options["beta1"], options["beta2"]),
                               eps=options["eps"], weight_decay=options["weight_decay"], foreach=False)
    else:
        opt = torch.optim.SGD(params, lr=options["lr"], momentum=options["momentum"],
                              dampening=options["dampening"], weight_decay=options["weight_decay"],
                              nesterov=options["nesterov"], foreach=False)
    expected = []
    for row in grads:
        for p, gr in zip(params, row):
            p.grad = None if gr is None else gr.clone()
        opt.step()
        expected.append([flat(p) for p in params])
    state = {}
    for (name, _), p in zip(SHAPES, params):
        st = opt.state[p]
        if kind == "adam":
            state[name + ".exp_avg"] = flat(st["exp_avg"])
            state[name + ".exp_avg_sq"] = flat(st["exp_avg_sq"])
            state[name + ".step"] = [float(st["step"])]
        elif options["momentum"] != 0:
            state[name + ".momentum_buffer"] = flat(st["momentum_buffer"])
    return {
        "params": [{"name": n, "shape": s, "init": flat(p)} for (n, s), p in zip(SHAPES, params0)],
        "grads": [[None if gr is None else flat(gr) for gr in row] for row in grads],
        "expected": expected,
        "expected_state": state,
    }


def adam_options(lr, beta1, beta2, eps=1e-8, weight_decay=0.0):
    return {"lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}


def lazy(options, k):
    c = k / (k + 1)
    out = dict(options)
    out["lr"] = options["lr"] * c
    out["beta1"] = options["beta1"] ** c
    out["beta2"] = options["beta2"] ** c
    return out


def main():
    torch.set_num_threads(1)  # deterministic reductions
    cases = []
    seed = 0

    def add(name, kind, options, dtypes=("float64", "float32"), **extra):
        nonlocal seed
        seed += 1
        for dt in dtypes:
            case = {"name": f"{name}_{dt}", "optimizer": kind, "dtype": dt, "options": options}
            case.update(extra)
            case.update(run(kind, options, torch.float64 if dt == "float64" else torch.float32, seed))
            cases.append(case)

    add("adam_default", "adam", adam_options(1e-3, 0.9, 0.999))
    add("adam_stylegan2", "adam", adam_options(2e-3, 0.0, 0.99))
    add("adam_weight_decay", "adam", adam_options(1e-2, 0.8, 0.95, eps=1e-6, weight_decay=0.1), dtypes=("float64",))
    base = adam_options(2e-3, 0.0, 0.99)
    add("adam_stylegan2_lazy16", "adam", lazy(base, 16), base_options=base, lazy_interval=16)
    base = adam_options(2e-3, 0.9, 0.999)
    add("adam_lazy4", "adam", lazy(base, 4), dtypes=("float64",), base_options=base, lazy_interval=4)

    def sgd_options(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
        return {"lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weight_decay,
                "nesterov": nesterov}

    add("sgd_plain", "sgd", sgd_options(0.1), dtypes=("float64",))
    add("sgd_momentum", "sgd", sgd_options(0.05, momentum=0.9))
    add("sgd_dampening_wd", "sgd", sgd_options(0.05, momentum=0.9, dampening=0.3, weight_decay=0.01),
        dtypes=("float64",))
    add("sgd_nesterov", "sgd", sgd_options(0.05, momentum=0.9, weight_decay=0.05, nesterov=True),
        dtypes=("float64",))

    doc = {
        "generator": "tools/golden/make_optim_goldens.py",
        "torch": torch.__version__,
        "steps": STEPS,
        "cases": cases,
    }
    text = json.dumps(doc, separators=(",", ":")) + "\n"
    if "--check" in sys.argv[1:]:
        try:
            with open(OUT) as f:
                same = f.read() == text
        except OSError:
            same = False
        print(("unchanged: " if same else "DIFFERS: ") + os.path.normpath(OUT), file=sys.stderr)
        sys.exit(0 if same else 1)
    tmp = OUT + ".tmp"
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, OUT)  # atomic: readers never see a half-written file
    print(f"wrote {len(cases)} cases to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
