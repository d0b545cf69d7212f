"""Per-layer timings of minicnn.fast_layers on SqueezeNet 1.1 shapes (224x224 input).

    python benchmarks/bench_layers.py                     # batch 1 and 8, 2 threads
    python benchmarks/bench_layers.py --torch             # also time PyTorch (optional peer)
    python benchmarks/bench_layers.py --model --torch     # plus the whole network
    python benchmarks/bench_layers.py --cpu-time --torch  # 1 thread, per-thread CPU time

For every layer: forward, backward with param_grads=False (dx only) and with
param_grads=True (dx, dw, db), median milliseconds over ``--repeat`` runs after
a warm-up.  ``--model`` adds the whole SqueezeNet: forward, and forward +
backward to the input with param_grads=False.

Fairness rules, learnt the hard way on a 2-core machine:

- Each implementation is timed in its own block, never interleaved: OpenBLAS
  and OpenMP worker threads keep spinning for milliseconds after each call.
- torch runs in its own process (this script re-launches itself with
  ``--torch-worker``).  torch bundles a ``libgomp.so.1``; whichever of torch and
  minicnn loads first decides the OpenMP wait policy for both (minicnn makes its
  workers passive; torch's default busy-waits), so a shared process is unfair to
  one of them.
- ``--tune-malloc`` applies ``minicnn._kernels.tune_malloc()`` (in both
  processes): without it every forward pass page-faults its fresh activations.
- On a shared machine wall-clock medians are noisy (NumPy's OpenBLAS waits with
  sched_yield, so one other busy process can slow a 2-thread GEMM tenfold).
  ``--cpu-time`` runs one thread (OMP/OPENBLAS_NUM_THREADS=1,
  torch.set_num_threads(1)) and reports the calling thread's CPU time
  (``time.thread_time``), which other processes hardly disturb.

torch is only a peer for comparison (``pip install torch``), never a dependency.
Setting OPENBLAS_CORETYPE=SkylakeX on AVX-512 CPUs that OpenBLAS mistakes for
Haswell (this VM's "AMD EPYC") roughly doubles NumPy's SGEMM speed.
"""
import argparse
import json
import os
import subprocess
import sys


def _parse(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=0, help="runs per measurement "
                    "(default: 60 at batch 1, 20 otherwise; a third of that for --model)")
    ap.add_argument("--torch", action="store_true", help="also time PyTorch if installed")
    ap.add_argument("--model", action="store_true", help="also time the whole SqueezeNet")
    ap.add_argument("--no-layers", action="store_true", help="skip the per-layer table")
    ap.add_argument("--cpu-time", action="store_true",
                    help="1 thread, report per-thread CPU time instead of wall clock")
    ap.add_argument("--tune-malloc", action="store_true",
                    help="apply minicnn._kernels.tune_malloc() (both processes)")
    ap.add_argument("--only", default="", help="comma-separated layer names (e.g. conv1,pool1)")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    _n = "1" if ARGS.cpu_time else str(ARGS.threads)
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[_var] = _n      # before numpy / the kernels load their thread pools

import time  # noqa: E402

import numpy as np  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

POOL = {"pool_height": 3, "pool_width": 3, "stride": 2, "ceil_mode": True}
COLS = ("fwd", "bwd", "bwd+dW")

#: (name, kind, C, H, F, k, stride, pad): the distinct layer shapes of SqueezeNet 1.1 at 224
LAYERS = [
    ("conv1 3x3/2", "conv", 3, 224, 64, 3, 2, 0),
    ("pool1 3x3/2c", "pool", 64, 111, 0, 3, 2, 0),
    ("fire2 squeeze1x1", "conv", 64, 55, 16, 1, 1, 0),
    ("fire2 expand1x1", "conv", 16, 55, 64, 1, 1, 0),
    ("fire2 expand3x3", "conv", 16, 55, 64, 3, 1, 1),
    ("pool3 3x3/2c", "pool", 128, 55, 0, 3, 2, 0),
    ("fire4 squeeze1x1", "conv", 128, 27, 32, 1, 1, 0),
    ("fire4 expand1x1", "conv", 32, 27, 128, 1, 1, 0),
    ("fire4 expand3x3", "conv", 32, 27, 128, 3, 1, 1),
    ("pool5 3x3/2c", "pool", 256, 27, 0, 3, 2, 0),
    ("fire6 squeeze1x1", "conv", 256, 13, 48, 1, 1, 0),
    ("fire6 expand3x3", "conv", 48, 13, 192, 3, 1, 1),
    ("fire9 expand3x3", "conv", 64, 13, 256, 3, 1, 1),
    ("conv10 1x1", "conv", 512, 13, 1000, 1, 1, 0),
]
WEIGHTS = os.path.join(os.environ.get("MINICNN_DATA", os.path.join(ROOT, "..", "shared", "data")),
                       "weights", "squeezenet1_1.npz")


def measure(fn, repeat, cpu_time):
    clock = time.thread_time if cpu_time else time.perf_counter
    for _ in range(max(3, repeat // 10)):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = clock()
        fn()
        ts.append(clock() - t0)
    return 1e3 * float(np.median(ts))


def _selected(args):
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    return [s for s in LAYERS if not only or s[0] in only or s[0].split()[0] in only]


def _repeat(args, n, model=False):
    r = args.repeat or (60 if n == 1 else 20)
    return max(5, r // 3) if model else r


def _model_params(rng):
    """The pretrained weights if available, else random ones of the right shapes."""
    if os.path.exists(WEIGHTS):
        with np.load(WEIGHTS) as z:
            return {k: z[k].astype(np.float32) for k in z.files}
    from minicnn.models.squeezenet import param_shapes
    return {k: (0.05 * rng.standard_normal(s)).astype(np.float32)
            for k, s in param_shapes().items()}


# --------------------------------------------------------------------------- minicnn
def minicnn_fns(spec, n, rng):
    from minicnn import fast_layers as fl
    name, kind, C, H, F, k, s, p = spec
    x = rng.standard_normal((n, C, H, H)).astype(np.float32)
    if kind == "pool":
        out, cache = fl.max_pool_forward(x, POOL)
        dout = rng.standard_normal(out.shape).astype(np.float32)
        return {"fwd": lambda: fl.max_pool_forward(x, POOL),
                "bwd": lambda: fl.max_pool_backward(dout, cache)}
    w = (0.1 * rng.standard_normal((F, C, k, k))).astype(np.float32)
    b = rng.standard_normal(F).astype(np.float32)
    cp = {"stride": s, "pad": p}
    out, cache = fl.conv_forward(x, w, b, cp)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    return {"fwd": lambda: fl.conv_forward(x, w, b, cp),
            "bwd": lambda: fl.conv_backward(dout, cache, param_grads=False),
            "bwd+dW": lambda: fl.conv_backward(dout, cache, param_grads=True)}


def minicnn_model_fns(n, rng):
    from minicnn.models.squeezenet import SqueezeNet
    cnn = SqueezeNet(_model_params(rng))
    x = rng.standard_normal((n, 3, 224, 224)).astype(np.float32)

    def fwd_bwd():
        scores, cache = cnn.forward(x)
        d = np.zeros_like(scores)
        d[:, 5] = 1
        cnn.backward(d, cache, param_grads=False)
    return {"fwd": lambda: cnn.forward(x), "bwd": fwd_bwd}


# --------------------------------------------------------------------------- torch
def torch_fns(spec, n, rng):
    import torch
    import torch.nn.functional as F_
    name, kind, C, H, F, k, s, p = spec
    x = torch.from_numpy(rng.standard_normal((n, C, H, H)).astype(np.float32))
    if kind == "pool":
        out, idx = F_.max_pool2d(x, 3, 2, ceil_mode=True, return_indices=True)
        g = torch.randn_like(out)
        bwd = torch.ops.aten.max_pool2d_with_indices_backward

        def fwd():
            with torch.no_grad():
                F_.max_pool2d(x, 3, 2, ceil_mode=True)
        return {"fwd": fwd,
                "bwd": lambda: bwd(g, x, [3, 3], [2, 2], [0, 0], [1, 1], True, idx)}
    w = torch.from_numpy((0.1 * rng.standard_normal((F, C, k, k))).astype(np.float32))
    b = torch.from_numpy(rng.standard_normal(F).astype(np.float32))
    out = F_.conv2d(x, w, b, s, p)
    g = torch.randn_like(out)
    cb = torch.ops.aten.convolution_backward

    def fwd():
        with torch.no_grad():
            F_.conv2d(x, w, b, s, p)
    return {"fwd": fwd,
            "bwd": lambda: cb(g, x, w, [F], [s, s], [p, p], [1, 1], False, [0, 0], 1,
                              [True, False, False]),
            "bwd+dW": lambda: cb(g, x, w, [F], [s, s], [p, p], [1, 1], False, [0, 0], 1,
                                 [True, True, True])}


def torch_model_fns(n, rng):
    import torch
    import torch.nn.functional as F_
    P = {k: torch.from_numpy(v) for k, v in _model_params(rng).items()}

    def conv(x, name, stride=1, pad=0):
        return F_.relu(F_.conv2d(x, P[name + "/W"], P[name + "/b"], stride, pad))

    def fire(x, f):
        s = conv(x, f + "/squeeze1x1")
        return torch.cat([conv(s, f + "/expand1x1"), conv(s, f + "/expand3x3", pad=1)], 1)

    def net(x):
        x = F_.max_pool2d(conv(x, "conv1", 2), 3, 2, ceil_mode=True)
        x = F_.max_pool2d(fire(fire(x, "fire2"), "fire3"), 3, 2, ceil_mode=True)
        x = F_.max_pool2d(fire(fire(x, "fire4"), "fire5"), 3, 2, ceil_mode=True)
        for f in ("fire6", "fire7", "fire8", "fire9"):
            x = fire(x, f)
        return conv(x, "conv10").mean((2, 3))

    x = torch.from_numpy(rng.standard_normal((n, 3, 224, 224)).astype(np.float32))

    def fwd():
        with torch.no_grad():
            net(x)

    def fwd_bwd():
        xx = x.clone().requires_grad_(True)
        net(xx)[:, 5].sum().backward()
    return {"fwd": fwd, "bwd": fwd_bwd}


def torch_worker(args):
    """Time torch only (in this separate process) and print JSON."""
    import torch
    torch.set_num_threads(1 if args.cpu_time else args.threads)
    res = {}
    for n in args.batch:
        if not args.no_layers:
            for spec in _selected(args):
                fns = torch_fns(spec, n, np.random.default_rng(0))
                res[f"{n}|{spec[0]}"] = {c: measure(f, _repeat(args, n), args.cpu_time)
                                         for c, f in fns.items()}
        if args.model:
            fns = torch_model_fns(n, np.random.default_rng(0))
            res[f"{n}|model"] = {c: measure(f, _repeat(args, n, True), args.cpu_time)
                                 for c, f in fns.items()}
    print(json.dumps(res))


def run_torch(args):
    argv = [sys.executable, os.path.abspath(__file__), "--torch-worker",
            "--batch", *map(str, args.batch), "--threads", str(args.threads),
            "--repeat", str(args.repeat), "--only", args.only]
    argv += [flag for flag, on in (("--cpu-time", args.cpu_time), ("--model", args.model),
                                   ("--no-layers", args.no_layers),
                                   ("--tune-malloc", args.tune_malloc)) if on]
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        print("torch worker failed (is torch installed?):\n" + r.stderr[-2000:])
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------- report
def main(args):
    if args.tune_malloc:
        from minicnn import _kernels
        _kernels.tune_malloc()
    if args.torch_worker:
        return torch_worker(args)
    from minicnn import _kernels
    clock = "per-thread CPU time, 1 thread" if args.cpu_time else \
        f"wall clock, {args.threads} threads"
    print(f"minicnn kernels: {_kernels.BACKEND}; float32; median ms ({clock}); malloc "
          f"{'tuned' if args.tune_malloc else 'default'}")
    ours = {}
    for n in args.batch:
        if not args.no_layers:
            for spec in _selected(args):
                fns = minicnn_fns(spec, n, np.random.default_rng(0))
                ours[f"{n}|{spec[0]}"] = {c: measure(f, _repeat(args, n), args.cpu_time)
                                          for c, f in fns.items()}
        if args.model:
            fns = minicnn_model_fns(n, np.random.default_rng(0))
            ours[f"{n}|model"] = {c: measure(f, _repeat(args, n, True), args.cpu_time)
                                  for c, f in fns.items()}
    theirs = run_torch(args) if args.torch else None

    for n in args.batch:
        head = f"{'batch ' + str(n):22s}" + "".join(f"{c:>9s}" for c in COLS)
        if theirs:
            head += "  |" + "".join(f"{'torch ' + c:>13s}" for c in COLS) + "  | ratio fwd  bwd"
        print("\n" + head)
        tot_o, tot_t = dict.fromkeys(COLS, 0.0), dict.fromkeys(COLS, 0.0)
        rows = [] if args.no_layers else [s[0] for s in _selected(args)]
        for name in rows + (["model"] if args.model else []):
            o = ours[f"{n}|{name}"]
            label = name if name != "model" else "SqueezeNet (bwd=f+b)"
            line = f"{label:22s}" + "".join(f"{o[c]:9.3f}" if c in o else f"{'':9s}"
                                            for c in COLS)
            if name != "model":
                for c in o:
                    tot_o[c] += o[c]
            if theirs:
                t = theirs[f"{n}|{name}"]
                if name != "model":
                    for c in t:
                        tot_t[c] += t[c]
                line += "  |" + "".join(f"{t[c]:13.3f}" if c in t else f"{'':13s}"
                                        for c in COLS)
                line += f"  | {o['fwd'] / t['fwd']:9.2f} {o['bwd'] / t['bwd']:4.2f}"
            if name == "model" and rows:
                print("-" * len(line))
            print(line, flush=True)
        if rows:
            line = f"{'sum of the rows':22s}" + "".join(f"{tot_o[c]:9.3f}" for c in COLS)
            if theirs:
                line += "  |" + "".join(f"{tot_t[c]:13.3f}" for c in COLS)
            print(line)


if __name__ == "__main__":
    main(ARGS)
