"""Shared benchmark helpers: timing medians, thread limits and the optional
PyTorch peer (SqueezeNet 1.1 rebuilt in torch from our own parameters, so both
sides run the very same weights).  torch is never a dependency of minicnn:
``pip install torch==2.13.0`` installs the local CPU wheel for comparisons.

Time each side in its own block (warm-up, then repeats), never call by call:
OpenBLAS and OpenMP worker threads spin after each call and steal the other
library's cores.
"""
import argparse
import contextlib
import os
import statistics
import time

__all__ = ["median_time", "threads", "try_import_torch", "TorchSqueezeNet", "ratio_str",
           "set_threads_from_argv"]


def set_threads_from_argv(default=2, argv=None):
    """Read ``--threads`` from the command line (other options are left alone) and
    export it as OMP/OpenBLAS/MKL_NUM_THREADS.  Call it before NumPy is imported:
    this module imports neither NumPy nor minicnn at import time."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--threads", type=int, default=default)
    n = pre.parse_known_args(argv)[0].threads
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)
    return n


def median_time(fn, repeat=7, warmup=2, min_time=0.0, return_times=False):
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs after ``warmup``
    (and ``(median, times)`` with ``return_times``)."""
    for _ in range(warmup):
        fn()
    times = []
    t_start = time.perf_counter()
    while len(times) < repeat or time.perf_counter() - t_start < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return (statistics.median(times), times) if return_times else statistics.median(times)


@contextlib.contextmanager
def threads(n):
    """Limit BLAS and OpenMP threads (NumPy, our kernels and torch) to ``n``."""
    from threadpoolctl import threadpool_limits
    torch = try_import_torch()
    old = torch.get_num_threads() if torch else None
    if torch:
        torch.set_num_threads(n)
    with threadpool_limits(limits=n):
        yield
    if torch:
        torch.set_num_threads(old)


def try_import_torch():
    """torch, or None.  minicnn's kernels are imported first: loading torch's
    OpenMP runtime before ours made minicnn's parallel kernels ~15x slower."""
    import minicnn.fast_layers  # noqa: F401  (loads the OpenMP kernels first)
    try:
        import torch
    except ImportError:
        return None
    return torch


def ratio_str(ours, peer):
    return "n/a" if peer is None else f"{ours / peer:.2f}x"


class TorchSqueezeNet:
    """SqueezeNet 1.1 in PyTorch with the weights of a minicnn model (float32).

    ``forward(x, end=None)`` mirrors minicnn's named blocks; ``features(x, names)``
    returns the outputs of several blocks in one pass.
    """

    def __init__(self, cnn):
        import torch
        self.torch = torch
        self.cnn = cnn
        self.p = {k: torch.from_numpy(v.astype("float32")) for k, v in cnn.params.items()}

    def block(self, layer, h):
        import torch.nn.functional as F
        name, p = layer["name"], self.p
        if layer["type"] == "conv":
            return F.relu(F.conv2d(h, p[name + "/W"], p[name + "/b"], stride=layer["stride"],
                                   padding=layer["pad"]))
        if layer["type"] == "maxpool":
            return F.max_pool2d(h, layer["kernel"], layer["stride"], layer["pad"],
                                ceil_mode=layer["ceil_mode"])
        if layer["type"] == "fire":
            s = F.relu(F.conv2d(h, p[name + "/squeeze1x1/W"], p[name + "/squeeze1x1/b"]))
            e1 = F.relu(F.conv2d(s, p[name + "/expand1x1/W"], p[name + "/expand1x1/b"]))
            e3 = F.relu(F.conv2d(s, p[name + "/expand3x3/W"], p[name + "/expand3x3/b"],
                                 padding=1))
            return self.torch.cat([e1, e3], 1)
        return h.mean(dim=(2, 3))

    def features(self, x, names):
        """{name: output} for the given block names, stopping at the deepest one."""
        last = max(self.cnn.layer_index(n) for n in names)
        out, h = {}, x
        for layer in self.cnn.layers[:last + 1]:
            h = self.block(layer, h)
            if layer["name"] in names:
                out[layer["name"]] = h
        return out

    def forward(self, x, end=None):
        end = self.cnn.layer_names[-1] if end is None else end
        return self.features(x, [end])[end]
