"""Evaluate fast style transfer networks against Gatys optimization on held-out photos.

    MINICNN_DATA=../shared/data python benchmarks/eval_style_networks.py          # shipped
    python benchmarks/eval_style_networks.py --network out/train/starry_night.npz \
        --photos 5 --gatys-iterations 0                                           # quick look

For every network and style it stylizes the 20 evaluation photos
(:func:`minicnn.techniques.fast_style.evaluation_photos`: the 10 ImageNet-sample photos
held out of training, the cs231n content images and the embedded colour photos), resized
to ``--size`` (256) on the short side, and measures on the uint8 result, with the loss
network the networks were trained with (the torchvision SqueezeNet weights), the Gatys
objective of the style (``minicnn.techniques.style.PRESETS``):

- style loss / Gatys's (200 iterations of ``style_transfer`` with the same preset on the
  same photo; cached in ``--cache`` so that a rerun only stylizes), target <= 2;
- style loss / the content photo's own style loss, target <= 0.2 (80% below);
- content loss / Gatys's, target <= 2;
- the fraction of pixels saturated to pure black or white where the photo has none, < 1%;
- conditional networks: each style closer (its own preset's style loss) to its own
  painting than to the other two on every photo, and blends of each pair (5 steps) whose
  style loss to the second painting falls monotonically.

Prints a Markdown table (the one in ``pretrained_weights/transformers/README.md``) and
writes every per-photo figure to ``--json``.
"""
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import set_threads_from_argv  # noqa: E402  (no NumPy import)

if __name__ == "__main__":          # before NumPy is imported anywhere
    set_threads_from_argv(default=2)

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGETS = {"style_vs_gatys": 2.0, "style_vs_photo": 0.2, "content_vs_gatys": 2.0,
           "saturated": 0.01}


def content_image(path, size):
    """uint8 photo, short side ``size``, centre-cropped to multiples of 4."""
    from minicnn.data import load_image, resize_short_side, to_rgb
    img = resize_short_side(to_rgb(load_image(path)), size)
    h, w = img.shape[0] // 4 * 4, img.shape[1] // 4 * 4
    top, left = (img.shape[0] - h) // 2, (img.shape[1] - w) // 2
    return np.ascontiguousarray(img[top:top + h, left:left + w])


def gatys_losses(cnn, name, photo, style, iterations, cache, cache_path):
    """Losses of ``iterations`` of Gatys optimization (the preset of ``style``) on
    ``photo``, from the cache when there."""
    from minicnn.techniques import fast_style as fs
    from minicnn.techniques.style import style_transfer_preset
    key = f"{name}|{style}|{photo.shape[0]}x{photo.shape[1]}|{iterations}"
    if key not in cache:
        t = time.perf_counter()
        x = style_transfer_preset(cnn, style, content=photo, image_size=None,
                                  iterations=iterations, rng=0)
        out = cnn.deprocess(x)
        cache[key] = dict(fs.stylization_losses(cnn, photo, out, style),
                          seconds=time.perf_counter() - t)
        Path(cache_path).parent.mkdir(parents=True, exist_ok=True)
        Path(cache_path).write_text(json.dumps(cache, indent=1))
    return cache[key]


def evaluate(cnn, networks, photos, args):
    from minicnn.models.transformer import TransformerNet
    from minicnn.techniques import fast_style as fs
    cache_path = Path(args.cache)
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    rows = []
    for path in networks:
        net = TransformerNet.load(path)
        styles = net.style_names
        for style in styles:
            w = net.style_index(style) if net.conditional else None
            per = []
            for name, photo in photos:
                out = net.stylize(photo, style=w)
                ours = fs.stylization_losses(cnn, photo, out, style)
                own = fs.stylization_losses(cnn, photo, photo, style)
                rec = {"photo": name, "ours": ours, "photo_style": own["style"]}
                if args.gatys_iterations:
                    rec["gatys"] = gatys_losses(cnn, name, photo, style,
                                                args.gatys_iterations, cache, cache_path)
                if net.conditional:
                    rec["other_styles"] = {
                        t: fs.stylization_losses(cnn, photo, out, t, weights_of=style)["style"]
                        for t in styles if t != style}
                per.append(rec)
            rows.append({"network": Path(path).name, "style": style, "photos": per})
        if net.conditional and not args.no_blends:
            rows.append({"network": Path(path).name, "blends": blend_check(cnn, net, photos)})
    return rows


def blend_check(cnn, net, photos, steps=5):
    """For each ordered pair (a, b) of styles and each photo: the style loss to b
    (b's preset) along blends a -> b; monotonic when it never rises."""
    from minicnn.techniques import fast_style as fs
    out = []
    names = net.style_names
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            for name, photo in photos:
                losses = []
                for t in np.linspace(0, 1, steps):
                    w = np.zeros(len(names))
                    w[names.index(a)], w[names.index(b)] = 1 - t, t
                    img = net.stylize(photo, style=w)
                    losses.append(fs.stylization_losses(cnn, photo, img, b)["style"])
                out.append({"from": a, "to": b, "photo": name, "style_to_b": losses,
                            "monotonic": bool(np.all(np.diff(losses) <= 0))})
    return out


def summarize(rows):
    """Markdown table lines: medians and worst cases of each ratio, photos meeting targets."""
    lines = ["| network | style | style / Gatys (median, max) | style / photo's (median, max) "
             "| content / Gatys (median, max) | saturated (max) | photos meeting all |",
             "|---|---|---|---|---|---|---|"]
    notes = []
    for row in rows:
        if "blends" in row:
            ok = sum(b["monotonic"] for b in row["blends"])
            notes.append(f"{row['network']}: blends monotonic in {ok} of {len(row['blends'])} "
                         f"(pair, photo) cases")
            continue
        per = row["photos"]
        sp = np.array([r["ours"]["style"] / r["photo_style"] for r in per])
        sat = np.array([r["ours"]["saturated"] for r in per])
        ok = (sp <= TARGETS["style_vs_photo"]) & (sat < TARGETS["saturated"])
        if all("gatys" in r for r in per):
            sg = np.array([r["ours"]["style"] / r["gatys"]["style"] for r in per])
            cg = np.array([r["ours"]["content"] / max(r["gatys"]["content"], 1e-12) for r in per])
            ok &= (sg <= TARGETS["style_vs_gatys"]) & (cg <= TARGETS["content_vs_gatys"])
            missed = [f"{r['photo']} (style {a:.2f}, content {c:.2f}, saturated {t:.2%})"
                      for r, a, c, t, good in zip(per, sg, cg, sat, ok) if not good]
            if missed:
                notes.append(f"{row['network']} {row['style']} misses a target on: "
                             + "; ".join(missed))
            sg_text = f"{np.median(sg):.2f}, {sg.max():.2f}"
            cg_text = f"{np.median(cg):.2f}, {cg.max():.2f}"
        else:
            sg_text = cg_text = "-"
        lines.append(f"| {row['network']} | {row['style']} | {sg_text} | "
                     f"{np.median(sp):.2f}, {sp.max():.2f} | {cg_text} | {sat.max():.2%} | "
                     f"{int(ok.sum())}/{len(per)} |")
        if "other_styles" in per[0]:
            closer = sum(r["ours"]["style"] < min(r["other_styles"].values()) for r in per)
            notes.append(f"{row['network']} {row['style']}: closer to its own painting on "
                         f"{closer} of {len(per)} photos")
    return lines, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", nargs="*", default=None,
                        help="network .npz files (default: the shipped ones)")
    parser.add_argument("--photos", type=int, default=None,
                        help="use only the first N evaluation photos (quick looks)")
    parser.add_argument("--size", type=int, default=256, help="short side of the photos")
    parser.add_argument("--gatys-iterations", type=int, default=200,
                        help="Gatys iterations of the reference (0: no reference)")
    parser.add_argument("--no-blends", action="store_true", help="skip the blend check")
    parser.add_argument("--cache", default="out/eval_style/gatys.json")
    parser.add_argument("--json", default=None, help="write every figure to this file")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    import minicnn
    from minicnn.techniques import fast_style as fs
    cnn = minicnn.load_squeezenet("torchvision", fetch=False)
    networks = args.network
    if networks is None:
        # the single-style files, then the conditional one (with its blend check)
        networks = sorted({fs.TRANSFORMER_DIR / f for f, _ in fs.STYLES.values()})
        networks.append(fs.TRANSFORMER_DIR / fs.CONDITIONAL_NETWORK)
    photos = [(n, content_image(p, args.size)) for n, p in fs.evaluation_photos()]
    if args.photos:
        photos = photos[:args.photos]
    t = time.perf_counter()
    rows = evaluate(cnn, networks, photos, args)
    lines, notes = summarize(rows)
    print("\n".join(lines))
    for n in notes:
        print("- " + n)
    print(f"({len(photos)} photos at short side {args.size}, {time.perf_counter() - t:.0f} s)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
