"""Per-layer timings of minicnn.fast_layers on SqueezeNet 1.1 shapes (224x224 input).

    python benchmarks/bench_layers.py                    # batch 1 and 8, 2 threads
    python benchmarks/bench_layers.py --batch 1 --torch  # also time PyTorch (optional peer)
    python benchmarks/bench_layers.py --cpu-time         # 1 thread, per-thread CPU time

For every layer: forward, backward with param_grads=False (dx only) and with
param_grads=True (dx, dw, db), median milliseconds over ``--repeat`` runs after
a warm-up.  Each implementation is timed in its own block (all minicnn runs of
a layer, then all torch runs), never interleaved, because OpenBLAS and OpenMP
worker threads keep spinning for a while after each call.

On a shared machine wall-clock medians are noisy.  ``--cpu-time`` runs one
thread (OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1, torch.set_num_threads(1)) and
reports the calling thread's CPU time (``time.thread_time``), which other
processes hardly disturb: a fair single-core comparison of the two libraries.

torch is only a peer for comparison (``pip install torch``), never a dependency.
"""
import argparse
import os
import sys


def _parse():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=0, help="runs per measurement "
                    "(default: 60 at batch 1, 20 otherwise)")
    ap.add_argument("--torch", action="store_true", help="also time PyTorch if installed")
    ap.add_argument("--cpu-time", action="store_true",
                    help="1 thread, report per-thread CPU time instead of wall clock")
    ap.add_argument("--only", default="", help="comma-separated layer names")
    return ap.parse_args()


ARGS = _parse() if __name__ == "__main__" else None
if ARGS is not None:
    nthreads = "1" if ARGS.cpu_time else str(ARGS.threads)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = nthreads      # before numpy / the kernels load their thread pools

import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from minicnn import _kernels  # noqa: E402
from minicnn import fast_layers as fl  # noqa: E402

POOL = {"pool_height": 3, "pool_width": 3, "stride": 2, "ceil_mode": True}

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


def minicnn_fns(spec, n, rng):
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


def main(args):
    use_torch = False
    if args.torch:
        try:
            import torch
            torch.set_num_threads(1 if args.cpu_time else args.threads)
            use_torch = True
        except ImportError:
            print("torch not installed: timing minicnn only")
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    clock = "per-thread CPU time, 1 thread" if args.cpu_time else \
        f"wall clock, {args.threads} threads"
    print(f"minicnn kernels: {_kernels.BACKEND}; float32; median ms ({clock})")
    cols = ("fwd", "bwd", "bwd+dW")
    for n in args.batch:
        repeat = args.repeat or (60 if n == 1 else 20)
        head = f"{'batch ' + str(n):22s}" + "".join(f"{c:>9s}" for c in cols)
        if use_torch:
            head += "  |" + "".join(f"{'torch ' + c:>13s}" for c in cols) + "  |  ratio fwd/bwd"
        print("\n" + head)
        totals = {"ours": dict.fromkeys(cols, 0.0), "torch": dict.fromkeys(cols, 0.0)}
        for spec in LAYERS:
            if only and spec[0].split()[0] not in only and spec[0] not in only:
                continue
            rng = np.random.default_rng(0)
            ours = {c: measure(f, repeat, args.cpu_time)
                    for c, f in minicnn_fns(spec, n, rng).items()}
            line = f"{spec[0]:22s}" + "".join(
                f"{ours[c]:9.3f}" if c in ours else f"{'':9s}" for c in cols)
            for c in ours:
                totals["ours"][c] += ours[c]
            if use_torch:
                theirs = {c: measure(f, repeat, args.cpu_time)
                          for c, f in torch_fns(spec, n, np.random.default_rng(0)).items()}
                for c in theirs:
                    totals["torch"][c] += theirs[c]
                line += "  |" + "".join(
                    f"{theirs[c]:13.3f}" if c in theirs else f"{'':13s}" for c in cols)
                line += f"  |  {ours['fwd'] / theirs['fwd']:5.2f} {ours['bwd'] / theirs['bwd']:5.2f}"
            print(line, flush=True)
        line = f"{'sum of the rows':22s}" + "".join(f"{totals['ours'][c]:9.3f}" for c in cols)
        if use_torch:
            line += "  |" + "".join(f"{totals['torch'][c]:13.3f}" for c in cols)
        print(line)


if __name__ == "__main__":
    main(ARGS)
