"""Style and texture benchmarks: minicnn vs. the same procedure in PyTorch (when importable).

    python benchmarks/bench_style.py                       # every block
    python benchmarks/bench_style.py --only transformer_step,stylize --repeats 5
    python benchmarks/bench_style.py --no-torch --json out/bench_style.json

Each block runs each side in its own fresh process (``--side minicnn`` and
``--side torch``, one after the other, never side by side), so neither side's
threads, allocator state or caches affect the other; 2 threads, set before NumPy
and torch are imported; medians reported, and the ratio minicnn / PyTorch.
``--rounds R`` alternates the sides R times (minicnn, torch, minicnn, ...) and
reports the median of each side and the median (and range) of the R per-round
ratios: on a shared virtual machine the speed of the whole machine drifts by
20-30% over minutes, which moves a single pair's ratio as much.

Blocks:

- ``style_transfer``: cs231n's Composition VII preset on tubingen.jpg (content
  short side 192, style image 512 px), 200 Adam iterations including the
  content/style targets; minicnn runs one forward pass to fire5 and one
  backward with the injected gradients per iteration.  The PyTorch peer runs
  the same loop (cs231n's code structure, autograd) on SqueezeNet 1.1 written
  with ``torch.nn.functional`` from ``cnn.params`` (no torchvision here).
  The ratio minicnn / PyTorch should be <= 1.0.
- ``transformer_step``: one training step of the full-width fast style transfer
  network (Johnson et al. 2016: widths 32/64/128, 5 residual blocks, 9x9 first
  and last convs), batch 4, 256x256, Adam, SqueezeNet perceptual losses (Starry
  Night preset).  The PyTorch peer builds the same network with
  ``torch.nn.functional`` from the same initial weights.  Target: ratio <= 1.0.
- ``stylize``: stylizing a photo with a shipped network (Starry Night) at 512x384
  and 1024x768 (chelsea resized), the forward pass only; the PyTorch peer runs the
  same network and weights under ``torch.no_grad()``.  Target: ratio <= 1.0.
- ``efros_leung``: a 64x64 colour texture from a 64x64 source (brick.png),
  window 11, seed 0: Cython window-search kernel vs. its NumPy twin (the
  outputs are checked identical) and the speed-up.

To add a block: write ``def bench_NAME(ctx, args) -> list of result dicts``
and register it in :data:`BLOCKS`.  A result dict has ``block``, ``what``,
``seconds`` and optionally ``peer_seconds`` and ``note``.
"""
import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import TorchSqueezeNet, median_time, set_threads_from_argv  # noqa: E402  (no NumPy import)

if __name__ == "__main__":          # before NumPy is imported anywhere
    set_threads_from_argv(default=2)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Context:
    def __init__(self, args):
        self.args = args
        self._cnn = None

    @property
    def cnn(self):
        if self._cnn is None:
            import minicnn
            self._cnn = minicnn.load_squeezenet(fetch=False)
        return self._cnn

    def torch(self):
        if self.args.no_torch:
            return None
        try:
            import torch
        except ImportError:
            return None
        torch.set_num_threads(self.args.threads)
        return torch


# --------------------------------------------------------------------------- PyTorch peer
def torch_style_transfer(torch, features, content, style, params, iterations=200):
    """cs231n's style-transfer loop in PyTorch (autograd), from preprocessed arrays."""
    def gram(f):
        n, c, h, w = f.shape
        f = f.reshape(n, c, h * w)
        return torch.bmm(f, f.transpose(1, 2)) / (c * h * w)

    layers, weights = params["style_layers"], params["style_weights"]
    cl = params["content_layer"]
    content_t = torch.from_numpy(content)
    with torch.no_grad():
        target = features(content_t, [cl])[cl]
        feats = features(torch.from_numpy(style), list(layers))
        grams = [gram(feats[name]) for name in layers]
    img = content_t.clone().requires_grad_(True)
    opt = torch.optim.Adam([img], lr=3.0)
    for t in range(iterations):
        if t < 190:
            img.data.clamp_(-1.5, 1.5)
        opt.zero_grad()
        feats = features(img, list(layers) + [cl])
        loss = params["content_weight"] * ((feats[cl] - target) ** 2).sum()
        for name, w, a in zip(layers, weights, grams):
            loss = loss + w * ((gram(feats[name]) - a) ** 2).sum()
        loss = loss + params["tv_weight"] * (
            ((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2).sum()
            + ((img[:, :, :, 1:] - img[:, :, :, :-1]) ** 2).sum())
        loss.backward()
        if t == 180:
            opt = torch.optim.Adam([img], lr=0.1)
        opt.step()
    return img.detach().numpy()


# --------------------------------------------------------------------------- blocks
def bench_style_transfer(ctx, args):
    from minicnn.techniques.style import PRESETS, prepare_image, style_transfer
    cnn = ctx.cnn
    params = dict(PRESETS["composition_vii"])
    content = prepare_image(cnn, params.pop("content"), params["image_size"])
    style = prepare_image(cnn, params.pop("styles"), params["style_size"])
    iters = args.iterations
    row = {"block": "style_transfer",
           "what": f"Composition VII preset, content {content.shape[2]}x{content.shape[3]}, "
                   f"style {style.shape[2]}x{style.shape[3]}, {iters} iterations"}
    if args.side == "torch":
        torch = ctx.torch()
        features = TorchSqueezeNet(cnn).features
        row["seconds"] = median_time(
            lambda: torch_style_transfer(torch, features, content, style, params, iters),
            args.repeats, warmup=0)
        return [row]
    history = []

    def ours():
        history.clear()
        style_transfer(cnn, content, style, iterations=iters, history=history, **params)

    row["seconds"] = median_time(ours, args.repeats, warmup=0)
    row["note"] = f"style loss -{1 - history[-1]['style'] / history[0]['style']:.1%}"
    return [row]


def bench_efros_leung(ctx, args):
    from minicnn.data import center_crop, data_dir, load_image, resize_short_side
    from minicnn.techniques import texture as T
    root = data_dir(required=True)
    src = center_crop(resize_short_side(load_image(root / "images/textures/brick.png"), 64), 64)
    rows, outputs, secs = [], {}, {}
    impls = [("numpy", T.window_ssd_numpy)]
    try:
        from minicnn._texture import window_ssd as cy
        impls.insert(0, ("cython", cy))
    except ImportError:
        pass
    saved = T.window_ssd
    try:
        for name, fn in impls:
            T.window_ssd = fn
            reps = args.repeats if name == "cython" else max(1, min(args.repeats, 3))
            secs[name] = median_time(
                lambda: outputs.__setitem__(name, T.efros_leung(src, 64, window=11, rng=0)),
                reps, warmup=0)
    finally:
        T.window_ssd = saved
    same = len(outputs) < 2 or np.array_equal(outputs["cython"], outputs["numpy"])
    for name in secs:
        rows.append({"block": "efros_leung", "seconds": secs[name],
                     "what": f"Efros-Leung 64x64 colour from 64x64 brick, window 11 ({name})"})
    if "cython" in secs:
        rows[0]["note"] = (f"speed-up vs NumPy twin {secs['numpy'] / secs['cython']:.1f}x, "
                           f"outputs {'identical' if same else 'DIFFER'}")
    return rows


def torch_transformer_step(torch, features, net, params, x, grams, preset, layers, cl):
    """A closure running one Johnson training step in PyTorch (autograd + torch Adam) on
    the same architecture as ``net`` (reflection pad, conv, instance norm, ReLU,
    residual blocks, nearest upsampling, tanh scaling) with SqueezeNet as loss network."""
    p = {k: torch.from_numpy(v.copy()).requires_grad_(True) for k, v in params.items()}
    opt = torch.optim.Adam(list(p.values()), lr=1e-3)
    xt = torch.from_numpy(x)
    grams = [torch.from_numpy(g) for g in grams]
    transformer = torch_transformer(torch, net, p)

    def gram(f):
        n, c, hh, ww = f.shape
        f = f.reshape(n, c, hh * ww)
        return torch.bmm(f, f.transpose(1, 2)) / (c * hh * ww)

    def step():
        opt.zero_grad()
        n = xt.shape[0]
        with torch.no_grad():
            target = features(xt, [cl])[cl]
        y = transformer(xt)
        feats = features(y, list(layers) + [cl])
        loss = preset["content_weight"] / n * ((feats[cl] - target) ** 2).sum()
        for name, w, a in zip(layers, preset["style_weights"], grams):
            loss = loss + w / n * ((gram(feats[name]) - a) ** 2).sum()
        loss = loss + preset["tv_weight"] / n * (((y[:, :, 1:] - y[:, :, :-1]) ** 2).sum()
                                                 + ((y[..., 1:] - y[..., :-1]) ** 2).sum())
        loss.backward()
        opt.step()
        return loss.item()
    return step


def bench_transformer_step(ctx, args):
    """One training step of the full-width Johnson transformer (32/64/128, 5 residual
    blocks, 9x9 first/last convs), batch 4, 256x256, Starry Night preset."""
    from minicnn.models.transformer import TransformerNet
    from minicnn.techniques.fast_style import (STYLE_LAYERS, STYLE_PRESETS, style_image_path,
                                               style_targets, train_step)
    from minicnn.data import load_image
    cnn = ctx.cnn
    net = TransformerNet((32, 64, 128), 5, rng=np.random.default_rng(0))
    preset = STYLE_PRESETS["starry_night"]
    grams = style_targets(cnn, load_image(style_image_path("starry_night")),
                          preset["style_size"])
    x = np.random.default_rng(1).uniform(-2, 2, (4, 3, 256, 256)).astype(np.float32)
    row = {"block": "transformer_step",
           "what": f"Johnson transformer 32/64/128, 5 res blocks ({net.num_params():,} "
                   f"params), batch 4, 256x256, one Adam step with SqueezeNet losses"}
    if args.side == "torch":
        torch = ctx.torch()
        features = TorchSqueezeNet(cnn).features
        step = torch_transformer_step(torch, features, net, net.params, x, grams, preset,
                                      STYLE_LAYERS, "fire2")
        row["seconds"] = median_time(step, args.repeats, warmup=1)
        return [row]
    adam = {}
    row["seconds"] = median_time(lambda: train_step(net, cnn, x, grams, preset, adam),
                                 args.repeats, warmup=1)
    return [row]


def torch_transformer(torch, net, p=None):
    """The forward pass of ``net`` (a TransformerNet, single style) in PyTorch, on the
    tensors ``p`` (name -> tensor; default: copies of ``net.params``)."""
    import torch.nn.functional as F
    if p is None:
        p = {k: torch.from_numpy(v.copy()) for k, v in net.params.items()}
    scale = torch.from_numpy(net.out_scale.copy()).reshape(1, 3, 1, 1)
    shift = torch.from_numpy(net.out_shift.copy()).reshape(1, 3, 1, 1)

    def unit(h, name, k, stride, relu=True):
        h = F.conv2d(F.pad(h, (k // 2,) * 4, mode="reflect"), p[name + "/W"], stride=stride)
        h = F.instance_norm(h, weight=p[name + "/gamma"], bias=p[name + "/beta"], eps=1e-5)
        return F.relu(h) if relu else h

    def forward(h):
        for b in net.blocks:
            name = b["name"]
            if b["kind"] == "conv":
                h = unit(h, name, b["k"], b["stride"])
            elif b["kind"] == "res":
                h = h + unit(unit(h, name + "/a", 3, 1), name + "/b", 3, 1, relu=False)
            elif b["kind"] == "up":
                h = unit(F.interpolate(h, scale_factor=2, mode="nearest"), name, 3, 1)
            else:
                h = F.conv2d(F.pad(h, (4, 4, 4, 4), mode="reflect"), p["out/W"], p["out/b"])
                h = scale * torch.tanh(h) + shift
        return h
    return forward


def bench_stylize(ctx, args):
    """Stylize chelsea resized to 512x384 and 1024x768 with the shipped Starry Night
    network (preprocess, forward, deprocess on our side; the forward in PyTorch)."""
    from minicnn.data import find_image, load_image
    from PIL import Image
    from minicnn.techniques.fast_style import load_transformer
    net, _ = load_transformer("starry_night")
    img = load_image(find_image("chelsea"))
    rows = []
    for w, h in ((512, 384), (1024, 768)):
        photo = np.asarray(Image.fromarray(img).resize((w, h), Image.BILINEAR))
        row = {"block": "stylize", "what": f"stylize {w}x{h} ({net!r})"}
        if args.side == "torch":
            torch = ctx.torch()
            forward = torch_transformer(torch, net)
            x = torch.from_numpy(net.preprocess(photo))

            def run():
                with torch.no_grad():
                    return forward(x).numpy()
            row["seconds"] = median_time(run, args.repeats, warmup=1)
        else:
            row["seconds"] = median_time(lambda: net.stylize(photo), args.repeats, warmup=1)
        rows.append(row)
    return rows


#: benchmark blocks in run order
BLOCKS = {
    "style_transfer": bench_style_transfer,
    "efros_leung": bench_efros_leung,
    "transformer_step": bench_transformer_step,
    "stylize": bench_stylize,
}
#: blocks with a PyTorch peer (efros_leung compares our Cython and NumPy twins)
PEERED = ("style_transfer", "transformer_step", "stylize")


def run_side(name, side, args):
    """Run one block's one side in a fresh process -> its result rows."""
    import subprocess
    cmd = [sys.executable, str(Path(__file__).resolve()), "--only", name, "--side", side,
           "--repeats", str(args.repeats), "--iterations", str(args.iterations),
           "--threads", str(args.threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} ({side}) failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default=None,
                        help=f"comma-separated blocks ({', '.join(BLOCKS)})")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per side (median)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="alternate the two sides this many times (fresh processes "
                             "each); report the medians over rounds and the median of "
                             "the per-round ratios (a shared machine drifts in speed)")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch peer")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    parser.add_argument("--side", choices=("minicnn", "torch"), default=None,
                        help=argparse.SUPPRESS)           # internal: one side, JSON to stdout
    args = parser.parse_args(argv)
    names = list(BLOCKS) if args.only is None else args.only.split(",")
    unknown = [n for n in names if n not in BLOCKS]
    if unknown:
        parser.error(f"unknown blocks {unknown}; choose from {', '.join(BLOCKS)}")
    ctx = Context(args)
    if args.side is not None:                            # child process: one side
        rows = [r for n in names for r in BLOCKS[n](ctx, args)]
        print(json.dumps(rows))
        return 0
    has_torch = not args.no_torch and ctx.torch() is not None
    results = []
    print(f"threads={args.threads} repeats={args.repeats} rounds={args.rounds} "
          f"(each side in its own process)")
    for name in names:
        rows, peered = None, has_torch and name in PEERED
        for _ in range(max(1, args.rounds)):                 # minicnn, torch, minicnn, ...
            mine = run_side(name, "minicnn", args)
            theirs = run_side(name, "torch", args) if peered else [{}] * len(mine)
            if rows is None:
                rows = [dict(r, rounds=[]) for r in mine]
            for row, m, t in zip(rows, mine, theirs):
                row["rounds"].append({"seconds": m["seconds"],
                                      "peer_seconds": t.get("seconds")})
        for row in rows:
            rs = row["rounds"]
            row["seconds"] = float(np.median([r["seconds"] for r in rs]))
            if peered:
                ratios = [r["seconds"] / r["peer_seconds"] for r in rs]
                row["peer_seconds"] = float(np.median([r["peer_seconds"] for r in rs]))
                row["ratio"] = float(np.median(ratios))
                row["ratio_range"] = (min(ratios), max(ratios))
        for row in rows:
            results.append(row)
            peer = row.get("peer_seconds")
            ratio = f"  PyTorch {peer:.2f} s  ratio {row['ratio']:.2f}" if peer else ""
            if peer and len(row["rounds"]) > 1:
                ratio += " (rounds {:.2f}-{:.2f})".format(*row["ratio_range"])
            note = f"  [{row['note']}]" if row.get("note") else ""
            print(f"{row['block']:16s} {row['seconds']:8.3f} s{ratio}  {row['what']}{note}",
                  flush=True)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
