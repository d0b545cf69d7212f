"""``filters``, ``activations``, ``patches``, ``neighbors`` and ``embed`` commands:
what the network computes (as opposed to its gradients), over folders of images.

    python -m minicnn filters --layer conv1
    python -m minicnn activations kitten.jpg --layer fire2 --folder photos/
    python -m minicnn patches --layer fire5 --channels 0-7 --limit 200
    python -m minicnn neighbors --superclasses --layer fire9 --n-jobs 2
    python -m minicnn embed --method tsne --limit 300
"""
import sys
from pathlib import Path

import numpy as np

from . import IMAGE_HELP, add_common, input_path, load_model, pick_image, positive_int

FAMILY_HELP = "activation techniques (filters, activation maps, top patches, neighbours, t-SNE)"


def register(sub):
    p = sub.add_parser("filters", help="a layer's filters as a grid (conv1: colour tiles)")
    add_common(p, layer=True)
    p.add_argument("--part", default="expand3x3", choices=("squeeze1x1", "expand1x1",
                                                           "expand3x3"),
                   help="which convolution of a fire layer (default: expand3x3)")
    p.add_argument("--max-filters", type=positive_int, default=None,
                   help="show the first N filters (default: 32; every filter of conv1; "
                        "256 rows of a 1x1 weight matrix)")
    p.add_argument("--max-channels", type=positive_int, default=None,
                   help="show the first N input channels (default: 16; all of a 1x1 "
                        "weight matrix)")
    p.add_argument("--upscale", type=positive_int, default=None,
                   help="pixels per weight (default: 8 for conv1, 4 for 3x3 filters, up to "
                        "12 for a 1x1 weight matrix)")
    p.set_defaults(func=run_filters)

    p = sub.add_parser("activations", help="every channel of a layer for one image, "
                                           "zero fractions and dead channels")
    p.add_argument("image", nargs="?", default=None,
                   help="default: kitten (cs231n) when present, else chelsea; " + IMAGE_HELP)
    add_common(p, layer=True)
    _add_folder(p, default=None, help_extra=" for the dead-channel count (default: none)")
    p.add_argument("--upscale", type=positive_int, default=2)
    p.set_defaults(func=run_activations)

    p = sub.add_parser("patches", help="maximally activating patches of some channels")
    add_common(p, layer=True)
    _add_folder(p)
    p.add_argument("--channels", default="0-7",
                   help="channels, e.g. 0-7 or 3,17,40 (default: 0-7)")
    p.add_argument("--k", type=positive_int, default=8, help="patches per channel")
    p.add_argument("--tile", type=positive_int, default=64,
                   help="tile size in pixels (default 64; the part of each receptive field "
                        "inside the image, scaled to fit)")
    p.add_argument("--per-image", type=positive_int, default=1,
                   help="at most this many patches from one image (default: 1)")
    p.set_defaults(func=run_patches)

    p = sub.add_parser("neighbors", help="nearest neighbours in feature and pixel space")
    add_common(p, layer=True)
    _add_features(p)
    p.add_argument("--queries", type=positive_int, default=6, help="number of query images")
    p.add_argument("--k", type=positive_int, default=5)
    p.set_defaults(func=run_neighbors)

    p = sub.add_parser("embed", help="PCA or t-SNE of features: thumbnail scatter and grid")
    add_common(p, layer=True, seed=True)
    _add_features(p)
    p.add_argument("--method", default="tsne", choices=("tsne", "pca"))
    p.add_argument("--tile", type=positive_int, default=32, help="thumbnail size")
    p.set_defaults(func=run_embed)


def _add_folder(p, default="sample", help_extra=""):
    p.add_argument("--folder", default=default,
                   help="image folder (default: the ImageNet sample when this machine has it, "
                   "else the embedded photos)" + help_extra
                   if default else "image folder" + help_extra)
    p.add_argument("--limit", type=positive_int, default=None,
                   help="use only the first N images of the folder")
    p.add_argument("--batch-size", type=positive_int, default=16)


def _add_features(p):
    _add_folder(p)
    p.add_argument("--superclasses", action="store_true",
                   help="only the photos of the nine restricted-ImageNet groups "
                        "(needs labels.tsv in the folder)")
    p.add_argument("--pool", default="avg", choices=("avg", "max", "none"),
                   help="spatial pooling of the layer's map (default: avg)")
    p.add_argument("--n-jobs", type=positive_int, default=1, help="worker processes")
    p.add_argument("--cache-dir", default=None, help="feature cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the cache")


# ------------------------------------------------------------------ helpers
def _folder_paths(args):
    """The image files the command works on, and their class labels (or None)."""
    from ..data import available_images
    from ..techniques.features import list_image_files, restricted_imagenet_group
    folder = args.folder
    if folder in (None, "sample"):
        images = available_images("dataset")
        paths = list(images)
        labels = images.labels if images.has_labels else None
    else:
        folder = Path(folder)
        paths = list_image_files(folder)
        labels = _read_labels(folder, paths)
    if getattr(args, "superclasses", False):
        if labels is None:
            raise ValueError(f"--superclasses needs a labels.tsv (file, class_index) in "
                             f"{folder if folder not in (None, 'sample') else 'the folder'}; "
                             "the embedded images have none: pass --folder DIR or run "
                             "`python -m minicnn data fetch imagenet-sample`")
        keep = restricted_imagenet_group(labels) >= 0
        paths = [p for p, k in zip(paths, keep) if k]
        labels = labels[keep]
    if args.limit is not None:
        paths, labels = paths[:args.limit], (None if labels is None else labels[:args.limit])
    return paths, labels


def _read_labels(folder, paths):
    tsv = folder / "labels.tsv"
    if not tsv.is_file():
        return None
    table = {}
    with open(tsv) as f:
        next(f, None)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2 and parts[1].lstrip("-").isdigit():
                table[parts[0]] = int(parts[1])
    if not all(p.name in table for p in paths):
        return None
    return np.array([table[p.name] for p in paths])


def _parse_channels(text):
    out = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                out.extend(range(int(a), int(b) + 1))
            else:
                out.append(int(part))
        except ValueError:
            raise ValueError(f"--channels must look like 0-7 or 3,17,40, got {text!r}") \
                from None
    if not out:
        raise ValueError(f"--channels selects no channel: {text!r}")
    return out


def _save(out, name, img):
    from ..data import save_image
    path = save_image(Path(out) / name, img)
    print(f"wrote {path}")
    return path


def _filter_weights(cnn, layer, part):
    entry = cnn.layers[cnn.layer_index(layer)]
    if entry["type"] == "conv":
        return cnn.params[f"{entry['name']}/W"], entry["name"]
    if entry["type"] == "fire":
        return cnn.params[f"{entry['name']}/{part}/W"], f"{entry['name']}/{part}"
    raise ValueError(f"layer {entry['name']!r} ({entry['type']}) has no filters; choose a conv "
                     "or fire layer")


def _features(cnn, args, paths, layer, progress=True):
    from ..techniques.features import extract_features
    return extract_features(cnn, paths, layer, batch_size=args.batch_size, n_jobs=args.n_jobs,
                            cache_dir=args.cache_dir, pool=args.pool,
                            cache=not args.no_cache, progress=progress, return_paths=True)


def _labels_for(paths, kept, labels):
    if labels is None:
        return None
    index = {p: i for i, p in enumerate(paths)}
    return labels[[index[p] for p in kept]]


# ------------------------------------------------------------------ commands
def run_filters(args):
    """A layer's filters, labelled: conv1 as colour tiles, 1x1 convolutions as their
    (out, in) weight matrix, larger kernels as a filter x input-channel grid (one
    scale centred on 0, with a colour bar)."""
    from ..techniques.filters import filter_figure
    cnn = load_model(args)
    layer = args.layer or "conv1"
    w, name = _filter_weights(cnn, layer, args.part)
    if w.shape[1] == 3:
        limits = (args.max_filters, None)
    elif w.shape[2:] == (1, 1):
        limits = (args.max_filters or 256, args.max_channels)
    else:
        limits = (args.max_filters or 32, args.max_channels or 16)
    grid = filter_figure(w, name=name, max_filters=limits[0], max_channels=limits[1],
                         upscale=args.upscale)
    shown = w[:limits[0], :limits[1]].shape
    print(f"{name}: filters {w.shape} (F, C, kh, kw)"
          + (f"; showing {shown[0]} x {shown[1]}" if shown != w.shape else ""))
    _save(args.out, f"filters_{name.replace('/', '_')}.png", grid)
    return 0


def run_activations(args):
    from ..data import load_image
    from ..techniques.activations import activation_maps, activation_stats, zero_fraction
    from ..techniques.filters import activation_grid
    cnn = load_model(args)
    layer = args.layer or "fire2"
    image = input_path(args.image) if args.image else pick_image("kitten", "chelsea")
    a = activation_maps(cnn, load_image(image), layer)
    if a.ndim != 3:
        raise ValueError(f"layer {layer!r} has no spatial maps; choose conv1..conv10")
    zf = zero_fraction(a)
    print(f"{layer}: {a.shape[0]} channels of {a.shape[1]}x{a.shape[2]}; zeros per channel: "
          f"mean {zf.mean():.1%}, all-zero on this image: {int((zf == 1).sum())}")
    _save(args.out, f"activations_{layer.replace('/', '_')}.png",
          activation_grid(a, upscale=args.upscale))
    if args.folder:
        paths, _ = _folder_paths(args)
        st = activation_stats(cnn, paths, layer.split("/")[0], batch_size=args.batch_size,
                              progress=True)
        print(f"over {st.n_images} images: mean zero fraction {st.zero_fraction.mean():.1%}; "
              f"dead channels ({len(st.dead)}): {list(map(int, st.dead))}")
    return 0


def run_patches(args):
    from ..techniques.patches import patch_figure
    cnn = load_model(args)
    layer = args.layer or "fire5"
    channels = _parse_channels(args.channels)
    paths, _ = _folder_paths(args)
    grid, found = patch_figure(cnn, paths, layer, channels, k=args.k, tile=args.tile,
                               batch_size=args.batch_size, max_per_image=args.per_image,
                               progress=True)
    for c, patches in found.items():
        clipped = sum(p.clipped for p in patches)
        print(f"{layer} channel {c}: top {[round(p.score, 2) for p in patches]}"
              f"{f' ({clipped} clipped at the border)' if clipped else ''}")
    _save(args.out, f"patches_{layer}.png", grid)
    return 0


def neighbors_report(cnn, args, paths, labels, layer, k, n_queries, progress=True):
    """Feature vs pixel neighbours: (figure, agreement dict or None)."""
    from ..techniques.features import (neighbor_agreement, neighbor_rows, nearest_neighbors,
                                       pixel_features, restricted_imagenet_group, thumbnails)
    feats, kept = _features(cnn, args, paths, layer, progress)
    labels = _labels_for(paths, kept, labels)
    pix = pixel_features(kept, size=32)
    rows = np.arange(len(kept))
    _, fi = nearest_neighbors(feats, rows, k=k, exclude_self=True)
    _, pi = nearest_neighbors(pix, rows, k=k, exclude_self=True)
    agreement = None
    if labels is not None:
        groups = restricted_imagenet_group(labels)
        agreement = {}
        if len(np.unique(labels)) < len(labels):          # classes repeat: class agreement
            agreement = {"feature/class": neighbor_agreement(labels, fi),
                         "pixel/class": neighbor_agreement(labels, pi)}
        if (groups >= 0).all():
            agreement["feature/superclass"] = neighbor_agreement(groups, fi)
            agreement["pixel/superclass"] = neighbor_agreement(groups, pi)
    q = np.linspace(0, len(kept) - 1, min(n_queries, len(kept))).astype(int)
    thumbs = thumbnails(kept, size=64)
    fig = neighbor_rows(thumbs[q], thumbs[fi[q]], thumbs[pi[q]])
    return fig, agreement


def run_neighbors(args):
    cnn = load_model(args)
    layer = args.layer or "fire9"
    paths, labels = _folder_paths(args)
    fig, agreement = neighbors_report(cnn, args, paths, labels, layer, args.k, args.queries)
    print("rows: query | k nearest in feature space | k nearest in pixel space (32x32)")
    if agreement:
        for key, value in agreement.items():
            print(f"  k={args.k} neighbours sharing the {key.split('/')[1]} in "
                  f"{key.split('/')[0]} space: {value:.2f}")
    _save(args.out, f"neighbors_{layer}.png", _neighbor_header(fig, args.k, layer))
    return 0


def embed_pictures(cnn, args, paths, layer, method, tile, seed, progress=True):
    from ..techniques.features import embed, thumbnail_scatter, thumbnails, tsne_grid
    feats, kept = _features(cnn, args, paths, layer, progress)
    y = embed(feats, method=method, seed=seed)
    thumbs = thumbnails(kept, size=tile)
    canvas = int(max(400, tile * np.sqrt(len(kept)) * 2.5))
    grid, _ = tsne_grid(y, thumbs)
    return thumbnail_scatter(y, thumbs, canvas=canvas), grid


def run_embed(args):
    cnn = load_model(args)
    layer = args.layer or "fire9"
    paths, _ = _folder_paths(args)
    scatter, grid = embed_pictures(cnn, args, paths, layer, args.method, args.tile, args.seed)
    _save(args.out, f"embed_{args.method}_{layer}_scatter.png", scatter)
    _save(args.out, f"embed_{args.method}_{layer}_grid.png", grid)
    return 0


# ------------------------------------------------------------------ demo
def _plural(n, one, many):
    return f"{n} {one if n == 1 else many}"


def _neighbor_header(fig, k, layer, thumb=64, gap=8, pad=2):
    """Column labels above :func:`~minicnn.techniques.features.neighbor_rows`'s picture
    (query | k feature-space neighbours | k pixel-space neighbours)."""
    from ..plotting import panel_column, text_strip
    block = k * (thumb + pad) + pad
    widths = [thumb + 2 * pad, gap, block, gap, block]
    texts = ["query", "", f"nearest in {layer} feature space (1..{k})", "",
             f"nearest in pixel space, 32x32 (1..{k})"]
    strips = [text_strip(t, w, font_size=11) for t, w in zip(texts, widths)]
    top = max(x.shape[0] for x in strips)
    strips = [np.concatenate([x, np.full((top - x.shape[0], x.shape[1], 3), 255, np.uint8)])
              for x in strips]
    header = np.concatenate(strips, axis=1)
    if header.shape[1] != fig.shape[1]:              # another layout: one line instead
        header = text_strip(f"query | {k} nearest in {layer} feature space | {k} nearest in "
                            "pixel space", fig.shape[1], font_size=11, align="left")
    return panel_column([header, fig], gap=0)


def demo_section(cnn, report, args):
    """Filters, activation maps, top patches, neighbours and a t-SNE grid."""
    import argparse
    import warnings

    from ..data import available_images, load_image
    from ..techniques.activations import activation_maps, zero_fraction
    from ..techniques.filters import activation_grid, filter_figure
    from ..techniques.patches import patch_figure
    quick = bool(getattr(args, "quick", False))
    report.section("Filters", "conv1's 64 RGB 3x3 filters (colour tiles, each min-max "
                   "scaled); fire2's squeeze1x1 weights, a 1x1 convolution, as its 16 x 64 "
                   "(output x input channel) matrix; the first fire2/expand3x3 filters, a "
                   "row per filter and a column per input channel. Signed weights use one "
                   "scale centred on 0: blue negative, white 0, red positive.")
    report.image("act_filters_conv1", filter_figure(cnn.params["conv1/W"], name="conv1",
                                                    upscale=12),
                 caption="conv1: 64 RGB filters of 3x3 pixels")
    report.image("act_filters_fire2_squeeze1x1",
                 filter_figure(cnn.params["fire2/squeeze1x1/W"], name="fire2/squeeze1x1"),
                 caption="fire2/squeeze1x1: how each of the 16 squeeze channels mixes the "
                         "64 channels of pool1")
    report.image("act_filters_fire2", filter_figure(cnn.params["fire2/expand3x3/W"],
                                                    name="fire2/expand3x3", max_filters=16,
                                                    max_channels=16, upscale=6),
                 caption="fire2/expand3x3: 3x3 kernels of the first 16 filters on their 16 "
                         "input channels (fire2's squeeze outputs)")
    photo = pick_image("kitten", "chelsea")
    a = activation_maps(cnn, load_image(photo), "fire2")
    zf = zero_fraction(a)
    dead = int((zf == 1).sum())
    report.section("Activation maps", f"The 128 channels of fire2 for {photo.stem}, each "
                   f"scaled to its own maximum (black: 0); {zf.mean():.0%} of the values are "
                   f"zero (ReLU off), {_plural(dead, 'channel is', 'channels are')} all zero "
                   "on this image.")
    report.image(f"act_fire2_{photo.stem}", activation_grid(a, ncols=16),
                 caption=f"fire2 on {photo.stem}: {a.shape[0]} channels of "
                         f"{a.shape[1]}x{a.shape[2]}, row by row from channel 0")

    dataset = available_images("dataset")
    ns = argparse.Namespace(folder="sample", limit=None, superclasses=dataset.has_labels,
                            batch_size=16, n_jobs=1, cache_dir=None, pool="avg", no_cache=False)
    paths, labels = _folder_paths(ns)
    if labels is None:
        labels = np.full(len(paths), -1)
        report.text(f"The dataset sections below use the {len(paths)} embedded images; "
                    f"{dataset.hint}.")
    n_patch = min(len(paths), 16 if quick else 48)
    report.section("Maximally activating patches", f"Top receptive-field crops over "
                   f"{n_patch} photos (at most one per photo), one row per channel, the "
                   "activation under each. A field that hangs over the image border (*) "
                   "is shown clipped to the image.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for layer, channels in (("fire5", [1, 5, 20, 37]), ("fire9", [3, 10, 50, 100])):
            grid, found = patch_figure(cnn, paths[::len(paths) // n_patch][:n_patch], layer,
                                       channels, k=4 if quick else 6, tile=64)
            clipped = sum(p.clipped for ps in found.values() for p in ps)
            total = sum(len(ps) for ps in found.values())
            report.image(f"act_patches_{layer}", grid,
                         caption=f"{layer}, channels {', '.join(map(str, channels))}: the "
                                 f"image regions that excite each most ({clipped} of {total} "
                                 "fields clipped at the border)")
    n = 24 if quick else len(paths)
    sel = paths[::max(1, len(paths) // n)][:n]
    sel_labels = labels[::max(1, len(paths) // n)][:n]
    fig, agreement = neighbors_report(cnn, ns, sel, sel_labels if dataset.has_labels else None,
                                      "fire9", 5, 4, progress=False)
    text = (f"Over {len(sel)} photos of the nine restricted-ImageNet groups (pooled fire9)."
            if dataset.has_labels else f"Over the {len(sel)} embedded images (pooled fire9).")
    if agreement and "feature/superclass" in agreement:
        text += (f" Neighbours sharing the query's group (k=5): feature space "
                 f"{agreement['feature/superclass']:.2f}, pixel space "
                 f"{agreement['pixel/superclass']:.2f}.")
    report.section("Nearest neighbours", text + " Rows: query | feature neighbours | "
                   "pixel neighbours.")
    report.image("act_neighbors", _neighbor_header(fig, 5, "fire9"),
                 caption="Each row: a query photo, its 5 nearest photos by pooled fire9 "
                         "features, then its 5 nearest by raw 32x32 pixels")
    scatter, grid = embed_pictures(cnn, ns, sel, "fire9", "tsne", 32, getattr(args, "seed", 0),
                                   progress=False)
    report.section("t-SNE", "t-SNE of pooled fire9 features: thumbnails at their embedded "
                   "positions and snapped to a grid.")
    report.image("act_tsne_scatter", scatter, width=500,
                 caption=f"{len(sel)} photos at their 2-d t-SNE positions (similar fire9 "
                         "features land close together)")
    report.image("act_tsne_grid", grid, width=500,
                 caption="The same layout snapped to a grid (one photo per cell)")


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use: python -m minicnn filters|activations|patches|neighbors|embed")
