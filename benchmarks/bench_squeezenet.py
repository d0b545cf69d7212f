"""SqueezeNet 1.1 speed: forward, and forward + backward to the input
(``param_grads=False``), 224x224, batch 1 and 8, 1 and 2 threads.

Prints medians in ms, GFLOP/s (0.70 GFLOP forward per image; the backward to
the input costs about as much again), the fraction of the float32 GEMM peak
measured in the same run, the ratio to PyTorch (when installed; timed in its
own process, with its own OpenMP defaults) and a per-block time breakdown.

    python benchmarks/bench_squeezenet.py [--repeat 15] [--no-layers]
"""
import argparse
import json
import os
import subprocess
import sys

if "--peer" in sys.argv:      # the PyTorch side runs in its own process, torch loaded
    import torch  # noqa: F401  first with its own OpenMP defaults (see benchmarks/common.py)

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from common import TorchSqueezeNet, median_time, ratio_str, threads, try_import_torch  # noqa: E402

import minicnn  # noqa: E402

GFLOP_FORWARD = 0.70          # per 224x224 image (349 M multiply-adds)


def gemm_peak(n=2048):
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    t = median_time(lambda: a @ a, repeat=5)
    return 2 * n ** 3 / t / 1e9


def ours(cnn, x, backward):
    if not backward:
        return lambda: cnn.forward(x)
    def run():
        out, cache = cnn.forward(x)
        cnn.backward(np.ones_like(out), cache, param_grads=False)
    return run


def peer(tnet, x, backward):
    torch = tnet.torch
    xt = torch.from_numpy(x)
    if not backward:
        def run():
            with torch.no_grad():
                tnet.forward(xt)
        return run
    def run():
        xg = xt.clone().requires_grad_(True)
        tnet.forward(xg).sum().backward()
    return run


def peer_timings(repeat):
    """Time the PyTorch peer in a separate process: minicnn's kernels set a
    passive OpenMP wait policy that a torch loaded afterwards would inherit."""
    if try_import_torch() is None:
        return {}
    out = subprocess.run([sys.executable, __file__, "--peer", "--repeat", str(repeat)],
                         check=True, capture_output=True, text=True).stdout
    return {tuple(json.loads(k)): v for k, v in json.loads(out.splitlines()[-1]).items()}


def run_peer(repeat):
    cnn = minicnn.load_squeezenet()
    tnet = TorchSqueezeNet(cnn)
    rng = np.random.default_rng(0)
    res = {}
    for nthreads in (1, 2):
        with threads(nthreads):
            for batch in (1, 8):
                x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
                for backward in (False, True):
                    t = median_time(peer(tnet, x, backward), repeat=repeat)
                    res[json.dumps([nthreads, batch, backward])] = t
    print(json.dumps(res))


def layer_breakdown(cnn, x, repeat):
    """Median ms per block: forward, and backward to the input."""
    rows = []
    h = x
    for name in cnn.layer_names:
        out, cache = cnn.forward(h, start=name, end=name)
        d = np.ones_like(out)
        f = median_time(lambda: cnn.forward(h, start=name, end=name), repeat=repeat)
        b = median_time(lambda: cnn.backward(d, cache, param_grads=False), repeat=repeat)
        rows.append((name, f * 1e3, b * 1e3))
        h = out
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--no-layers", action="store_true")
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return run_peer(args.repeat)
    torch = try_import_torch()
    peer_times = peer_timings(args.repeat)
    cnn = minicnn.load_squeezenet()
    minicnn.show_config()
    print(f"torch: {torch.__version__ if torch else 'not installed (no ratios)'}")
    rng = np.random.default_rng(0)
    results = []
    for nthreads in (1, 2):
        with threads(nthreads):
            peak = gemm_peak()
            print(f"\n== {nthreads} thread(s): float32 GEMM peak {peak:.0f} GFLOP/s")
            print(f"{'workload':28s} {'minicnn ms':>10s} {'GFLOP/s':>8s} {'%peak':>6s} "
                  f"{'torch ms':>9s} {'ratio':>6s}")
            for batch in (1, 8):
                x = rng.standard_normal((batch, 3, 224, 224)).astype(np.float32)
                for backward in (False, True):
                    label = f"{'fwd+bwd(input)' if backward else 'forward'} batch {batch}"
                    t_ours = median_time(ours(cnn, x, backward), repeat=args.repeat)
                    t_peer = peer_times.get((nthreads, batch, backward))
                    gflop = GFLOP_FORWARD * batch * (2 if backward else 1)
                    rate = gflop / t_ours
                    print(f"{label:28s} {t_ours * 1e3:10.1f} {rate:8.0f} {rate / peak:6.0%} "
                          f"{t_peer * 1e3 if t_peer else float('nan'):9.1f} "
                          f"{ratio_str(t_ours, t_peer):>6s}")
                    results.append((nthreads, label, t_ours, t_peer))
            if not args.no_layers and nthreads == 2:
                x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
                rows = layer_breakdown(cnn, x, args.repeat)
                total_f = sum(r[1] for r in rows)
                total_b = sum(r[2] for r in rows)
                print("\nper-block breakdown, batch 1, 2 threads (median ms)")
                print(f"{'block':8s} {'forward':>8s} {'backward':>9s}")
                for name, f, b in rows:
                    print(f"{name:8s} {f:8.2f} {b:9.2f}")
                print(f"{'sum':8s} {total_f:8.2f} {total_b:9.2f}")
                full, dx_only = param_grads_cost(cnn, x, args.repeat)
                print(f"\nbackward, batch 1, 2 threads: with weight gradients {full * 1e3:.1f} ms, "
                      f"param_grads=False {dx_only * 1e3:.1f} ms (ratio {dx_only / full:.2f})")
    return results


def param_grads_cost(cnn, x, repeat):
    """Median seconds of a whole-network backward with and without the weight
    gradients (what ``param_grads=False`` saves; formerly a timed assertion in the
    tests)."""
    out, cache = cnn.forward(x)
    d = np.ones_like(out)
    full = median_time(lambda: cnn.backward(d, cache), repeat=repeat)
    dx_only = median_time(lambda: cnn.backward(d, cache, param_grads=False), repeat=repeat)
    return full, dx_only


if __name__ == "__main__":
    main()
