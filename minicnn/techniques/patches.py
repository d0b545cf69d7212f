"""Maximally activating patches (lecture: "Maximally Activating Patches").

Run a folder of images through the network up to a layer, keep the k largest
values of one channel over all images and positions, and crop the input patch
each of them sees: its receptive field (Springenberg et al. 2015, "Striving for
Simplicity", fig. of top patches; Girshick et al. 2014 did the same for
region features).  Fields come from :func:`~minicnn.techniques.receptive.
receptive_fields` (the layer table), so the crop of unit ``(i, j)`` of a layer
with field ``(size, stride, offset)`` is rows ``offset + i*stride ...
+ size`` of the preprocessed input, clipped at the image border (and the
patch then marked ``clipped``).
"""
from collections import namedtuple

import numpy as np

from .features import _source, iter_batches, load_batch
from .receptive import channel_field, clip_box, receptive_box, receptive_fields

__all__ = ["Patch", "top_patches", "top_patches_many", "patch_images", "patch_grid",
           "patch_figure", "recompute_activation"]


class Patch(namedtuple("PatchBase", ["score", "image_index", "box"])):
    """One top activation: ``(score, image_index, (y0, x0, y1, x1))``.

    ``box`` is the receptive field clipped to the preprocessed image (y1, x1
    exclusive).  Extra attributes: ``position`` (i, j) of the unit in the
    layer's map, ``field`` (the unclipped box), ``clipped`` (True when the
    field hangs over the image border), ``channel``.
    """

    def __new__(cls, score, image_index, box, position=None, field=None, clipped=False,
                channel=None):
        self = super().__new__(cls, float(score), int(image_index), tuple(int(v) for v in box))
        self.position, self.field, self.clipped, self.channel = position, field, clipped, channel
        return self


def _check_channels(cnn, layer, channels, x_shape=None):
    idx = cnn.layer_index(layer)
    n = cnn.layers[idx]["out"]
    out = []
    for c in channels:
        if isinstance(c, bool) or not isinstance(c, (int, np.integer)):
            raise TypeError(f"channel must be an integer, got {c!r}")
        if not 0 <= c < n:
            raise ValueError(f"channel {c} is out of range for layer "
                             f"{cnn.layer_names[idx]!r} with {n} channels (valid: 0..{n - 1})")
        out.append(int(c))
    return cnn.layer_names[idx], out


def _merge(best, a, rows, k, max_per_image):
    """Merge one batch's map ``a`` (B, H, W) of a channel into the running top-k
    ``best = (scores, image indices, flat positions)``; ties by image, position."""
    a = a.reshape(len(a), -1).astype(np.float64)                       # (B, H*W)
    if max_per_image is not None:
        order = np.argsort(-a, axis=1, kind="stable")[:, :max_per_image]
        img = np.repeat(np.arange(len(a)), order.shape[1])
        pos = order.ravel()
    else:
        img, pos = np.divmod(np.arange(a.size), a.shape[1])
    s = a[img, pos]
    if len(s) > k:                     # prefilter, keeping every tie of the k-th value
        sel = s >= np.partition(s, len(s) - k)[len(s) - k]
        img, pos, s = img[sel], pos[sel], s[sel]
    s0, i0, p0 = best
    s, i, p = np.concatenate([s0, s]), np.concatenate([i0, rows[img]]), np.concatenate([p0, pos])
    keep = np.lexsort((p, i, -s))[:k]
    return s[keep], i[keep], p[keep]


def top_patches_many(cnn, images, layer, channels, k=9, batch_size=16, max_per_image=None,
                     size=None, crop="default", progress=False, skipped=None):
    """Top-k activations for several channels of ``layer`` in one pass over ``images``.

    images: a folder, a list of image paths or a preprocessed (N, 3, H, W) array.
    Returns ``{channel: [Patch, ...]}``, each list sorted by score (descending;
    ties by image index then position, row-major).  ``max_per_image`` keeps at
    most that many activations of one image (None: no limit, every position
    competes).  The forward pass stops at ``layer``.  Ctrl-C during the
    decoding of a batch returns the best patches of the images seen so far
    (with a warning).
    """
    from .features import _positive, _warn_skipped
    k = _positive(k, "k")
    if max_per_image is not None:
        max_per_image = _positive(max_per_image, "max_per_image")
    layer, channels = _check_channels(cnn, layer, list(channels))
    if not channels:
        raise ValueError("channels is empty")
    # running best: per channel arrays of (score, image, flat position)
    best = {c: (np.zeros(0), np.zeros(0, int), np.zeros(0, int)) for c in channels}
    map_shape, image_shape = None, None
    bad = [] if skipped is None else skipped
    batches = iter_batches(cnn, images, batch_size=batch_size, size=size, crop=crop,
                           progress=progress, desc=f"patches {layer}", skipped=bad)
    seen = 0
    try:
        for rows, x in batches:
            out, _ = cnn.forward(x, end=layer)
            if out.ndim == 2:
                out = out[:, :, None, None]
            map_shape, image_shape = out.shape[2:], x.shape[2:]
            for c in channels:
                best[c] = _merge(best[c], out[:, c], rows, k, max_per_image)
            seen += len(rows)
    except KeyboardInterrupt:      # Ctrl-C: keep the best patches of the images done so far
        if not seen:
            raise
        import warnings
        warnings.warn(f"interrupted: top patches of the first {seen} images only", stacklevel=2)
    if skipped is None:
        _warn_skipped(bad)
    if map_shape is None:
        raise ValueError("no image could be read")
    fields = receptive_fields(cnn, input_size=image_shape[0], parts=True)
    result = {}
    for c in channels:
        field = channel_field(cnn, layer, c, fields)
        patches = []
        for s, i, p in zip(*best[c]):
            pos = tuple(int(v) for v in divmod(int(p), map_shape[1]))
            full = receptive_box(field, pos)
            box, clipped = clip_box(full, *image_shape)
            patches.append(Patch(s, i, box, position=pos, field=full, clipped=clipped,
                                 channel=c))
        result[c] = patches
    return result


def top_patches(cnn, images, layer, channel, k=9, batch_size=16, max_per_image=None,
                size=None, crop="default", progress=False):
    """The k strongest activations of ``layer``'s ``channel`` over all images and
    positions -> list of :class:`Patch` ``(score, image_index, (y0, x0, y1, x1))``,
    sorted by score (descending).  See :func:`top_patches_many`.

    A channel index out of range raises ValueError naming the valid range.
    """
    return top_patches_many(cnn, images, layer, [channel], k=k, batch_size=batch_size,
                            max_per_image=max_per_image, size=size, crop=crop,
                            progress=progress)[channel]


def _preprocessed(cnn, images, indices, size=None, crop="default"):
    """{index: (3, H, W)} preprocessed images of a source for the given indices."""
    kind, src = _source(images)
    indices = sorted(set(int(i) for i in indices))
    if kind == "array":
        return {i: src[i] for i in indices}
    x, ok = load_batch(cnn, [src[i] for i in indices], size=size, crop=crop)
    if not ok.all():
        raise ValueError(f"cannot read {[str(src[i]) for i, g in zip(indices, ok) if not g]}")
    return dict(zip(indices, x))


def patch_images(cnn, images, patches, tile=None, fill=(128, 128, 128), size=None,
                 crop="default", clip=False, background=(255, 255, 255)):
    """The input patch of each :class:`Patch` as uint8 (n, t, t, 3).

    By default every patch is shown at its full receptive-field size; the part
    of a clipped field outside the image is filled with ``fill`` (grey), so
    border patches are visibly marked.  ``clip=True`` shows only the part of
    the field inside the image (``p.box``), scaled to fit a ``tile`` x ``tile``
    square with its aspect ratio kept (``background`` around a non-square
    crop).  ``tile`` resizes each to t x t pixels (Pillow).
    """
    from PIL import Image
    if not patches:
        return np.zeros((0, tile or 1, tile or 1, 3), np.uint8)
    xs = _preprocessed(cnn, images, [p.image_index for p in patches], size=size, crop=crop)
    out = []
    for p in patches:
        img = cnn.deprocess(xs[p.image_index])                     # (H, W, 3)
        fy0, fx0, fy1, fx1 = p.field
        y0, x0, y1, x1 = p.box
        if clip:
            part = img[y0:y1, x0:x1]
            side = tile or max(part.shape[:2])
            scale = side / max(part.shape[:2])
            h = max(1, int(round(part.shape[0] * scale)))
            w = max(1, int(round(part.shape[1] * scale)))
            if (h, w) != part.shape[:2]:
                part = np.asarray(Image.fromarray(part).resize((w, h), Image.BICUBIC))
            canvas = np.empty((side, side, 3), np.uint8)
            canvas[:] = background
            oy, ox = (side - h) // 2, (side - w) // 2
            canvas[oy:oy + h, ox:ox + w] = part
            out.append(canvas)
            continue
        canvas = np.empty((fy1 - fy0, fx1 - fx0, 3), np.uint8)
        canvas[:] = fill
        canvas[y0 - fy0:y1 - fy0, x0 - fx0:x1 - fx0] = img[y0:y1, x0:x1]
        if tile is not None and canvas.shape[0] != tile:
            canvas = np.asarray(Image.fromarray(canvas).resize((tile, tile), Image.BILINEAR))
        out.append(canvas)
    return np.stack(out)


def patch_grid(cnn, images, layer, channels, k=8, tile=64, batch_size=16, max_per_image=1,
               progress=False, pad=2, clip=True):
    """The lecture's figure: one row per channel, its k top patches left to right.

    Returns ``(image, patches)``: a uint8 grid and ``{channel: [Patch]}``.  By
    default one patch per image (``max_per_image=1``) so rows are not filled by
    neighbouring positions of one photo, and each patch is the part of its
    receptive field inside the image (``clip=True``; ``clip=False``: the whole
    field, grey outside the image).  :func:`patch_figure` adds labels.
    """
    from .filters import tile_grid
    found = top_patches_many(cnn, images, layer, channels, k=k, batch_size=batch_size,
                             max_per_image=max_per_image, progress=progress)
    tiles = []
    for c in found:
        t = patch_images(cnn, images, found[c], tile=tile, clip=clip)
        if len(t) < k:                                         # fewer images than k
            t = np.concatenate([t, np.full((k - len(t), tile, tile, 3), 255, np.uint8)])
        tiles.append(t)
    return tile_grid(np.concatenate(tiles), ncols=k, pad=pad), found


def patch_figure(cnn, images, layer, channels, k=8, tile=64, batch_size=16, max_per_image=1,
                 progress=False, pad=2, found=None):
    """:func:`patch_grid` labelled: each row starts with its channel, each patch
    has its activation under it (``*``: the receptive field was clipped at the
    image border; only the part inside the image is shown).  ``found``: reuse
    a ``{channel: [Patch]}`` from :func:`top_patches_many` instead of searching.
    Returns ``(image, patches)``."""
    from ..plotting import panel_column, panel_row, text_strip
    if found is None:
        found = top_patches_many(cnn, images, layer, channels, k=k,
                                 batch_size=batch_size, max_per_image=max_per_image,
                                 progress=progress)
    rows = []
    for c, patches in found.items():
        t = patch_images(cnn, images, patches[:k], tile=tile, clip=True)
        cells = []
        for img, p in zip(t, patches):
            score = f"{p.score:.3g}" + ("*" if p.clipped else "")
            cells.append(np.concatenate([img, text_strip(score, tile, font_size=11)], axis=0))
        name = text_strip(f"{layer}\nchannel {c}", 76, font_size=11, align="left")
        rows.append(panel_row([name] + cells, gap=pad))
    title = text_strip(f"Top {k} patches per channel of {layer} (activation under each; "
                       "* = receptive field clipped at the image border, the part inside "
                       "the image shown)", max(r.shape[1] for r in rows), font_size=11,
                       align="left")
    return panel_column([title] + rows, gap=pad), found


def recompute_activation(cnn, image, layer, channel, position):
    """Re-run only the receptive field of one unit and return its activation.

    image: one preprocessed (3, H, W) (or (1, 3, H, W)) array; position (i, j).
    The crop starts at the largest multiple of the layer's stride at or before
    the field (so every layer's sampling grid lines up) and ends with the
    field; when the field lies inside the image, the result equals the value
    in the full forward pass.  Raises ValueError when it does not.
    """
    x = np.asarray(image)
    x = x[0] if x.ndim == 4 else x
    layer, (channel,) = _check_channels(cnn, layer, [channel])
    field = channel_field(cnn, layer, channel,
                          receptive_fields(cnn, input_size=x.shape[1], parts=True))
    box = receptive_box(field, position)
    _, clipped = clip_box(box, x.shape[1], x.shape[2])
    if clipped:
        raise ValueError(f"the field {box} of unit {tuple(position)} hangs over the "
                         f"{x.shape[1]}x{x.shape[2]} image border")
    y0, x0, y1, x1 = box
    stride = field[1]
    cy, cx = (y0 // stride) * stride, (x0 // stride) * stride
    out, _ = cnn.forward(np.ascontiguousarray(x[None, :, cy:y1, cx:x1]), end=layer)
    if out.ndim == 2:
        return float(out[0, channel])
    return float(out[0, channel, position[0] - cy // stride, position[1] - cx // stride])
