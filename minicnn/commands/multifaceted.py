"""``multifaceted``: multifaceted feature visualization (Nguyen, Yosinski & Clune 2016).

    python -m minicnn multifaceted 76 --facets 4
    python -m minicnn multifaceted --layer fire7 --channel 5 --images photos/ --size 160

The target's top images (by label, else by score or activation) are clustered
(PCA + k-means on fire9 features) and one centre-biased class visualization runs
from each cluster's mean image.  Writes ``multifaceted_<target>.png`` (starts
above, facets below, the re-run with another seed last) and prints each facet's
probability and cluster size, and the facets' pairwise feature distances next to
the distance between two runs of facet 0 with different seeds.
"""
from pathlib import Path

import numpy as np

from . import add_common, load_model, positive_int


def register(sub):
    p = sub.add_parser("multifaceted", help="multifaceted feature visualization: one class "
                                            "visualization per cluster of the class's images")
    p.add_argument("target", nargs="?", type=int, default=76,
                   help="class index (default 76, tarantula)")
    p.add_argument("--channel", type=int, default=None,
                   help="with --layer: a channel of the layer instead of a class")
    p.add_argument("--facets", type=positive_int, default=4, help="number of facets (4)")
    p.add_argument("--images", default=None,
                   help="folder of images to cluster (default: available_images('dataset'))")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="use only the first N images of the default set (faster)")
    p.add_argument("--size", type=positive_int, default=None,
                   help="facet side (default: the model's input size)")
    add_common(p, seed=True, layer=True, steps=True)
    p.set_defaults(func=run_multifaceted)


def _figure(cnn, res):
    """uint8 grid: the cluster mean images (starts) above, the facets below; the
    re-run of facet 0 with another seed at the right of the bottom row."""
    gap = 6
    tiles_top = [cnn.deprocess(f.start) for f in res.facets]
    tiles_bot = [cnn.deprocess(f.image) for f in res.facets]
    if res.seed_image is not None:
        blank = np.full_like(tiles_top[0], 255)
        tiles_top.append(blank)
        tiles_bot.append(cnn.deprocess(res.seed_image))
    h, w = tiles_top[0].shape[:2]

    def row(tiles):
        parts = []
        for t in tiles:
            parts += [t, np.full((h, gap, 3), 255, np.uint8)]
        return np.concatenate(parts[:-1], axis=1)
    top, bot = row(tiles_top), row(tiles_bot)
    return np.concatenate([top, np.full((gap, top.shape[1], 3), 255, np.uint8), bot])


def _describe(cnn, res):
    """(lines of text, table rows) describing the facets and the distance table."""
    name = (f"{res.target[0]} channel {res.target[1]}" if isinstance(res.target, tuple)
            else f"{cnn.class_name(res.target)} ({res.target})")
    how = "labelled images" if res.selection == "label" else "top-scoring images"
    lines = [f"target {name}: {len(res.candidates)} {how} in {len(res.facets)} clusters "
             f"({res.layer} features, PCA + k-means)"]
    for k, f in enumerate(res.facets):
        p = "" if np.isnan(f.probability) else f"p={f.probability:.3f} "
        lines.append(f"  facet {k}: {p}objective {f.value:.2f}, cluster of {f.size} image(s)")
    lines.append(f"cosine distance of {res.layer} features: mean between facets "
                 f"{res.mean_between:.3f}; facet 0 vs itself with another seed "
                 f"{res.seed_distance:.3f}")
    header = ["facet"] + [str(k) for k in range(len(res.facets))]
    rows = [[str(a)] + [f"{d:.3f}" for d in res.distances[a]] for a in range(len(res.facets))]
    rows.append(["0, other seed", f"{res.seed_distance:.3f}"] + [""] * (len(res.facets) - 1))
    return lines, header, rows


def run_multifaceted(args):
    from ..data import available_images, save_image
    from ..techniques.multifaceted import multifaceted_visualization
    cnn = load_model(args)
    if args.channel is not None or args.layer is not None:
        if args.layer is None or args.channel is None:
            raise ValueError("--layer and --channel go together (a channel target)")
        target = (args.layer, args.channel)
        tag = f"{args.layer}_{args.channel}"
    else:
        target, tag = args.target, str(args.target)
    images = args.images if args.images else available_images("dataset", limit=args.limit)
    kw = {} if args.steps is None else {"num_iterations": args.steps}
    res = multifaceted_visualization(cnn, target, images, n_facets=args.facets,
                                     size=args.size, rng=args.seed, progress=True, **kw)
    out = Path(args.out)
    path = save_image(out / f"multifaceted_{tag}.png", _figure(cnn, res))
    lines, header, rows = _describe(cnn, res)
    print(f"wrote {path} (top: cluster mean images; bottom: facets, then facet 0 re-run "
          "with another seed)")
    print("\n".join(lines))
    print("  " + " | ".join(header))
    for r in rows:
        print("  " + " | ".join(r))
    return 0


# --------------------------------------------------------------------------- demo
def demo_section(cnn, report, args):
    """Multifaceted feature visualization of one class."""
    from ..data import available_images
    from ..techniques.multifaceted import multifaceted_visualization
    quick = getattr(args, "quick", False)
    rng = getattr(args, "rng", None)
    seed = int(rng.integers(2 ** 31)) if rng is not None else 0
    report.section("Multifaceted feature visualization",
                   "Nguyen, Yosinski & Clune 2016: the images where the class scores highest "
                   "are clustered (PCA + k-means on fire9 features) and one class "
                   "visualization starts from each cluster's mean image, with a centre bias "
                   "(a centre region first, then larger ones, the whole image last), TV, "
                   "L2, jitter and blur.  Facets differ when their feature distance exceeds "
                   "that of one facet re-run with another seed.")
    target = 76
    images = available_images("dataset", limit=40 if quick else None)
    res = multifaceted_visualization(cnn, target, images, n_facets=3 if quick else 4,
                                     size=128 if quick else 224,
                                     num_iterations=150 if quick else 200, rng=seed)
    lines, header, rows = _describe(cnn, res)
    for k, f in enumerate(res.facets):
        report.image(f"multifaceted_start{k}", cnn.deprocess(f.start),
                     caption=f"facet {k}: start, the mean of its cluster of {f.size} "
                             f"image(s), blurred")
        report.image(f"multifaceted_facet{k}", cnn.deprocess(f.image),
                     caption=f"facet {k}: {cnn.class_name(target)} p={f.probability:.3f} "
                             f"(cluster of {f.size})")
    if res.seed_image is not None:
        report.image("multifaceted_seed", cnn.deprocess(res.seed_image),
                     caption=f"facet 0 run again with another seed: distance "
                             f"{res.seed_distance:.3f} to facet 0")
    report.text(" ".join(lines))
    report.table(rows, header=header)
