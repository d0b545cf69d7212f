"""Technique benchmarks: minicnn vs. the same procedure in PyTorch (when importable).

    python benchmarks/bench_techniques.py                  # every workload
    python benchmarks/bench_techniques.py --only saliency --repeats 7
    python benchmarks/bench_techniques.py --no-torch

Each workload is an entry of :data:`WORKLOADS`: a name mapped to a ``Workload``
with a description, a ``minicnn(ctx)`` and an optional ``torch(ctx)`` builder.  A
builder prepares its inputs and returns a zero-argument function that runs the
procedure once; that function is timed ``--repeats`` times after one warm-up,
and the median is reported.  minicnn and PyTorch run in separate blocks (all
minicnn repeats, then all PyTorch repeats), both on 2 threads (set before NumPy
and torch are imported; ``--threads`` changes it).  The ratio is
minicnn / PyTorch: below 1 minicnn is faster.  ``target`` is the ratio a
workload should stay under.

To add a workload: write the two builders and add one ``WORKLOADS[name] =
Workload(...)`` line.  ``ctx`` (a :class:`Context`) lazily provides the
pretrained model (``ctx.cnn``), a PyTorch SqueezeNet 1.1 built from the same
weights (``ctx.torch_model``, a ``common.TorchSqueezeNet``: ``forward(x, end=None)``)
and labelled ImageNet photos (``ctx.photos(n)`` -> (x (n, 3, 224, 224), labels)).

PyTorch is an optional peer only (``pip install torch``); there is no
torchvision here, so ``benchmarks/common.py`` writes SqueezeNet 1.1 with
``torch.nn.functional`` from ``cnn.params``.
"""
import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TorchSqueezeNet, median_time, set_threads_from_argv  # noqa: E402  (no NumPy import)

if __name__ == "__main__":          # before NumPy is imported anywhere
    set_threads_from_argv(default=2)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# Load minicnn's OpenMP kernels before torch: when torch (and its OpenMP runtime) is
# imported first, minicnn's forward + backward runs ~15x slower (measured 243 vs 14 ms).
import minicnn.fast_layers  # noqa: E402,F401


# --------------------------------------------------------------------------- PyTorch peer
def torch_available():
    try:
        import torch  # noqa: F401
        return True
    except ImportError:
        return False


class Context:
    """Shared, lazily built inputs of the workloads."""

    def __init__(self, threads=2):
        self.threads = threads
        self._cnn = self._torch_model = None
        self._photos = {}

    @property
    def cnn(self):
        if self._cnn is None:
            import minicnn
            self._cnn = minicnn.load_squeezenet()
        return self._cnn

    @property
    def torch_model(self):
        if self._torch_model is None:
            import torch
            torch.set_num_threads(self.threads)
            self._torch_model = TorchSqueezeNet(self.cnn)
        return self._torch_model

    def photos(self, n):
        if n not in self._photos:
            from minicnn.data import imagenet_sample, load_image
            paths, labels = imagenet_sample(limit=n)
            self._photos[n] = (self.cnn.preprocess([load_image(p) for p in paths]), labels)
        return self._photos[n]


@dataclass
class Workload:
    description: str
    minicnn: Callable                  # ctx -> run()
    torch: Optional[Callable] = None   # ctx -> run()
    target: Optional[float] = None     # ratio minicnn / torch to stay under
    reference: str = ""                # PyTorch time measured on the reference machine


# --------------------------------------------------------------------------- saliency
def saliency_minicnn(ctx):
    from minicnn.techniques import saliency_map
    x, y = ctx.photos(5)
    return lambda: saliency_map(ctx.cnn, x, y)


def saliency_torch(ctx):
    import torch
    model = ctx.torch_model
    x0, y = ctx.photos(5)
    yt = torch.from_numpy(np.asarray(y))[:, None]

    def run():
        x = torch.from_numpy(x0).requires_grad_(True)
        model.forward(x).gather(1, yt).sum().backward()
        return x.grad.abs().amax(dim=1).numpy()
    return run


WORKLOADS = {
    "saliency": Workload("saliency maps of 5 photos at 224 px (one forward + backward "
                         "to the pixels)", saliency_minicnn, saliency_torch, target=1.3,
                         reference="95 ms"),
}


# --------------------------------------------------------------------------- synthesis
def _torch_blur(x, sigma):
    """cs231n's blur_image: scipy's gaussian_filter1d on the image's numpy view."""
    import torch
    from minicnn.techniques.regularizers import gaussian_blur
    return torch.from_numpy(gaussian_blur(x.detach().numpy(), sigma))


def classviz_minicnn(ctx):
    from minicnn.techniques import class_visualization
    return lambda: class_visualization(ctx.cnn, 76, rng=0)


def classviz_torch(ctx, target=76, iters=100, lr=25.0, l2_reg=1e-3, blur_every=10,
                   max_jitter=16):
    """cs231n's create_class_visualization, same settings as minicnn's."""
    import torch
    from minicnn.techniques.regularizers import pixel_range
    net = ctx.torch_model
    lo, hi = (torch.from_numpy(a) for a in pixel_range(ctx.cnn))

    def run():
        rng = np.random.default_rng(0)
        img = torch.from_numpy(rng.standard_normal((1, 3, 224, 224)).astype(np.float32))
        for t in range(iters):
            oy, ox = (int(v) for v in rng.integers(0, max_jitter + 1, size=2))
            x = torch.roll(img, (oy, ox), dims=(2, 3)).requires_grad_(True)
            obj = net.forward(x)[0, target] - l2_reg * (x * x).sum()
            obj.backward()
            g = torch.roll(x.grad, (-oy, -ox), dims=(2, 3))
            img = torch.max(torch.min(img + lr * g / g.norm(), hi), lo)
            if t % blur_every == 0:
                img = _torch_blur(img, 0.5)
        return img
    return run


def _sky(ctx, size=512):
    from minicnn.data import data_dir, load_image
    img = load_image(data_dir(required=True) / "images" / "sky.jpg")
    return ctx.cnn.preprocess(img, size=size, crop=size)       # 512 x 512


def deepdream_minicnn(ctx):
    from minicnn.techniques import deepdream
    x = _sky(ctx)
    return lambda: deepdream(ctx.cnn, x, "fire5", iterations=10, octaves=3, rng=0)


def deepdream_torch(ctx, layer="fire5", iters=10, octaves=3, scale=1.4, lr=1.5, jitter=32):
    """The original DeepDream loop in PyTorch, same octaves, resizing and settings."""
    import torch
    from minicnn.techniques.regularizers import pixel_range, pixel_scale
    from minicnn.techniques.synthesis import _resize
    net = ctx.torch_model
    lo, hi = (torch.from_numpy(a) for a in pixel_range(ctx.cnn))
    lr = torch.from_numpy((lr / pixel_scale(ctx.cnn)).astype(np.float32))   # pixel levels
    x0 = _sky(ctx)
    shapes = [tuple(int(round(s / scale ** k)) for s in x0.shape[2:]) for k in range(octaves)]
    bases = [x0] + [_resize(x0, s) for s in shapes[1:]]

    def run():
        rng = np.random.default_rng(0)
        detail = np.zeros_like(bases[-1])
        for base in bases[::-1]:
            detail = _resize(detail, base.shape[2:])
            img = torch.from_numpy(base + detail)
            for _ in range(iters):
                oy, ox = (int(v) for v in rng.integers(-jitter, jitter + 1, size=2))
                x = torch.roll(img, (oy, ox), dims=(2, 3)).requires_grad_(True)
                a = net.forward(x, end=layer)
                a.backward(a.detach())                   # gradient of 0.5 ||a||^2 is a
                g = torch.roll(x.grad, (-oy, -ox), dims=(2, 3))
                img = torch.max(torch.min(img + lr * g / g.abs().mean(), hi), lo)
            detail = img.numpy() - base
        return img
    return run


WORKLOADS["classviz"] = Workload("class visualization, 100 iterations at 224 px (cs231n "
                                 "settings)", classviz_minicnn, classviz_torch, target=1.0,
                                 reference="2.6 s")
WORKLOADS["deepdream"] = Workload("DeepDream at fire5, 3 octaves x 10 iterations up to 512 px "
                                  "(sky.jpg)", deepdream_minicnn, deepdream_torch, target=1.3,
                                  reference="1.3 s")


# --------------------------------------------------------------------------- timing
def _fmt(t):
    return "-" if t is None else (f"{t * 1e3:8.1f} ms" if t < 1 else f"{t:8.2f} s ")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None,
                        help=f"comma-separated workloads (default all: {', '.join(WORKLOADS)})")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the minicnn and PyTorch blocks this many times and "
                             "report medians over rounds (ratio: median of the per-round "
                             "ratios) -- steadier on a shared, loaded machine")
    args = parser.parse_args(argv)
    names = list(WORKLOADS) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in WORKLOADS]
    if unknown:
        parser.error(f"unknown workload(s) {unknown}; choose from {', '.join(WORKLOADS)}")
    use_torch = not args.no_torch and torch_available()
    ctx = Context(args.threads)
    print(f"threads {args.threads}, repeats {args.repeats} (medians), "
          f"PyTorch {'on' if use_torch else 'off'}")
    rows = []
    for name in names:
        w = WORKLOADS[name]
        print(f"\n[{name}] {w.description}")
        ours, theirs = [], []
        for _ in range(max(args.rounds, 1)):
            t_ours, all_ours = median_time(w.minicnn(ctx), args.repeats, warmup=1, return_times=True)  # block 1: minicnn
            print(f"  minicnn {_fmt(t_ours)}  (runs: {', '.join(f'{t:.3f}' for t in all_ours)})")
            ours.append(t_ours)
            if use_torch and w.torch is not None:                          # block 2: PyTorch
                t_torch, all_torch = median_time(w.torch(ctx), args.repeats, warmup=1, return_times=True)
                print(f"  pytorch {_fmt(t_torch)}  (runs: "
                      f"{', '.join(f'{t:.3f}' for t in all_torch)})")
                theirs.append(t_torch)
        t_ours = float(np.median(ours))
        t_torch = float(np.median(theirs)) if theirs else None
        ratio = None if not theirs else float(np.median(np.divide(ours, theirs)))
        rows.append((name, t_ours, t_torch, ratio, w.target, w.reference))
    print(f"\n{'workload':<12} {'minicnn':>11} {'pytorch':>11} {'ratio':>7} {'target':>7}  "
          f"reference")
    for name, a, b, r, target, ref in rows:
        ok = "" if r is None or target is None else ("  ok" if r <= target else "  SLOWER")
        print(f"{name:<12} {_fmt(a):>11} {_fmt(b):>11} "
              f"{'-' if r is None else f'{r:.2f}':>7} "
              f"{'-' if target is None else f'<={target:g}':>7}  {ref}{ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
