"""Matplotlib figures.  matplotlib is imported inside each function (lazily), so
importing minicnn never pulls it in; the Agg backend is used when no display
is available.  Library code never plots: techniques return arrays, and these
functions (or the notebooks) draw them.
"""
import numpy as np

__all__ = ["pyplot", "show_images", "colorize", "overlay_heatmap", "show_attributions"]


def pyplot():
    """matplotlib.pyplot, with the Agg backend when there is no display."""
    import os

    import matplotlib
    if not os.environ.get("DISPLAY") and "inline" not in matplotlib.get_backend().lower():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def show_images(images, titles=None, ncols=None, size=3.0, path=None):
    """A row/grid of uint8 (or grey float) images with optional titles; saved to
    ``path`` when given.  Returns the figure."""
    plt = pyplot()
    n = len(images)
    ncols = n if ncols is None else ncols
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.ravel()[i]
        ax.imshow(img, cmap="gray" if np.asarray(img).ndim == 2 else None)
        if titles is not None:
            ax.set_title(str(titles[i]), fontsize=9)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


# --------------------------------------------------------------------------- attribution maps
def colorize(values, cmap="hot", vmin=None, vmax=None):
    """A float map (H, W) -> uint8 RGB (H, W, 3) through a matplotlib colormap,
    scaled from ``vmin`` (default: min) to ``vmax`` (default: max)."""
    import matplotlib
    v = np.asarray(values, dtype=np.float64)
    lo = np.nanmin(v) if vmin is None else vmin
    hi = np.nanmax(v) if vmax is None else vmax
    t = np.clip((v - lo) / max(hi - lo, 1e-12), 0, 1)
    rgba = matplotlib.colormaps[cmap](np.nan_to_num(t))
    return np.round(255 * rgba[..., :3]).astype(np.uint8)


def overlay_heatmap(img, heat, alpha=0.5, cmap="jet", vmin=None, vmax=None):
    """Blend a colorized map (H, W) over a uint8 image (H, W, 3) (Grad-CAM style);
    a smaller map is resized to the image first (Pillow, bilinear).  The colours
    span ``vmin`` .. ``vmax`` (default: the map's min and max)."""
    from PIL import Image
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != img.shape[:2]:
        heat = np.asarray(Image.fromarray(heat, mode="F").resize(img.shape[1::-1],
                                                                 Image.BILINEAR))
    mixed = (1 - alpha) * img.astype(np.float64) + alpha * colorize(heat, cmap, vmin,
                                                                    vmax)
    return np.clip(np.round(mixed), 0, 255).astype(np.uint8)


def show_attributions(images, maps, titles=None, row_titles=None, cmap="hot", size=2.5,
                      path=None):
    """A grid: one row per image -- the image, then each of its maps.

    images: list of uint8 (H, W, 3); maps: list (one per image) of lists of
    (H, W) float maps (shown with ``cmap``) or uint8 RGB images; titles: one per
    column (maps only); row_titles: one per row.  Saved to ``path`` when given.
    """
    plt = pyplot()
    n, k = len(images), 1 + len(maps[0])
    fig, axes = plt.subplots(n, k, figsize=(size * k, size * n), squeeze=False)
    for r in range(n):
        axes[r, 0].imshow(images[r])
        if row_titles is not None:
            axes[r, 0].set_title(str(row_titles[r]), fontsize=9)
        for c, m in enumerate(maps[r]):
            m = np.asarray(m)
            axes[r, c + 1].imshow(m, cmap=cmap if m.ndim == 2 else None)
            if titles is not None and r == 0:
                axes[r, c + 1].set_title(str(titles[c]), fontsize=9)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def show_loss_curves(history, keys=("style", "content", "tv", "total"), log=True, size=4.0,
                     title=None, path=None):
    """Loss curves of an optimization: ``history`` is a list of dicts (one per
    iteration, as ``style_transfer(..., history=[])`` fills it); one line per
    key present with a non-zero value.  Saved to ``path`` when given."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(size * 1.5, size))
    for key in keys:
        values = np.array([h.get(key, 0.0) for h in history], dtype=np.float64)
        if values.size and np.any(values != 0):
            ax.plot(values, label=key)
    if log:
        ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


__all__ += ["show_loss_curves"]


def show_embedding(embedding, thumbs, zoom=1.0, size=8.0, title=None, path=None):
    """Scatter of image thumbnails at their 2-d embedding (PCA / t-SNE) positions.

    embedding: (N, 2); thumbs: (N, t, t, 3) uint8.  Saved to ``path`` when given."""
    plt = pyplot()
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage
    emb = np.asarray(embedding, dtype=np.float64)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.scatter(emb[:, 0], emb[:, 1], s=2, alpha=0.0)
    for (x, y), th in zip(emb, thumbs):
        ax.add_artist(AnnotationBbox(OffsetImage(th, zoom=zoom), (x, y), frameon=False))
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


def show_neighbor_rows(query, feature_nbrs, pixel_nbrs=None, size=1.4, path=None):
    """The lecture's nearest-neighbour figure: per row a query, its k neighbours in
    feature space and (optionally) its k neighbours in pixel space.

    query: (Q, t, t, 3); feature_nbrs / pixel_nbrs: (Q, k, t, t, 3) uint8."""
    plt = pyplot()
    q = np.asarray(query)
    groups = [("feature", np.asarray(feature_nbrs))]
    if pixel_nbrs is not None:
        groups.append(("pixel", np.asarray(pixel_nbrs)))
    k = groups[0][1].shape[1]
    ncols = 1 + k * len(groups)
    fig, axes = plt.subplots(len(q), ncols, figsize=(size * ncols, size * len(q)),
                             squeeze=False)
    for r in range(len(q)):
        axes[r, 0].imshow(q[r])
        for g, (name, nb) in enumerate(groups):
            for j in range(k):
                axes[r, 1 + g * k + j].imshow(nb[r, j])
                if r == 0:
                    axes[r, 1 + g * k + j].set_title(f"{name} {j + 1}", fontsize=8)
    axes[0, 0].set_title("query", fontsize=8)
    for ax in axes.ravel():
        ax.axis("off")
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


__all__ += ["show_embedding", "show_neighbor_rows"]


def show_training_history(history, keys=("loss", "content", "style", "tv"), smooth=10,
                          size=4.0, title=None, path=None):
    """Loss curves of ``train_transformer``: ``history`` is its dict of lists
    (``step`` and one list per key); each curve is also shown as a moving
    average over ``smooth`` steps (batches differ, so raw curves are noisy)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(size * 1.5, size))
    steps = np.asarray(history.get("step", []), dtype=np.float64)
    for key in keys:
        values = np.asarray(history.get(key, []), dtype=np.float64)
        if not values.size or not np.any(values > 0):
            continue
        line, = ax.plot(steps, values, alpha=0.3)
        k = max(1, min(int(smooth), values.size))
        avg = np.convolve(values, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], avg, color=line.get_color(), label=key)
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=100)
    return fig


# --------------------------------------------------------------------------- labelled uint8 panels
# The commands and the demo save uint8 images, not matplotlib figures: these helpers
# draw panel labels and colour bars into them with Pillow's default font.
def _font(size=12):
    """Pillow's default font at ``size`` pixels (the fixed bitmap font before Pillow 10.1)."""
    from PIL import ImageFont
    try:
        return ImageFont.load_default(size=size)
    except TypeError:                                    # pragma: no cover (Pillow < 10.1)
        return ImageFont.load_default()


def _text_size(text, font):
    from PIL import Image, ImageDraw
    left, top, right, bottom = ImageDraw.Draw(Image.new("L", (1, 1))).textbbox(
        (0, 0), text, font=font)
    return right, bottom


def _rgb(img):
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image, got dtype {img.dtype}")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an (H, W) or (H, W, 3) image, got shape {img.shape}")
    return img


def _wrap(text, width, font):
    """Greedy word wrap of ``text`` to lines at most ``width`` pixels wide."""
    lines = []
    for paragraph in str(text).split("\n"):
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}" if line else word
            if line and _text_size(trial, font)[0] > width:
                lines.append(line)
                line = word
            else:
                line = trial
        lines.append(line)
    return lines


def text_strip(text, width, font_size=12, align="center", background=255, color=0):
    """A white strip ``width`` pixels wide holding ``text`` (word-wrapped), uint8 RGB."""
    from PIL import Image, ImageDraw
    font = _font(font_size)
    lines = _wrap(text, max(int(width) - 4, 1), font)
    line_h = max(_text_size("Ag", font)[1], 1) + 2
    img = Image.new("RGB", (int(width), line_h * len(lines) + 4), (background,) * 3)
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        w = _text_size(line, font)[0]
        x = 2 if align == "left" else max((int(width) - w) // 2, 0)
        draw.text((x, 2 + i * line_h), line, fill=(color,) * 3, font=font)
    return np.asarray(img)


def label_panel(img, label, font_size=12):
    """``img`` (uint8) with ``label`` written above it (wrapped to the image width)."""
    img = _rgb(img)
    return np.concatenate([text_strip(label, img.shape[1], font_size), img], axis=0)


def _format_tick(v):
    return f"{v:.3g}" if v != 0 else "0"


def colorbar(vmin, vmax, height, cmap="hot", ticks=5, width=12, font_size=11, fmt=None):
    """A vertical colour bar (uint8 RGB, ``height`` pixels tall): ``cmap`` from
    ``vmin`` (bottom) to ``vmax`` (top), with ``ticks`` labelled values on its right."""
    from PIL import Image, ImageDraw
    height = max(int(height), 16)
    fmt = fmt or _format_tick
    font = _font(font_size)
    values = np.linspace(vmax, vmin, height)[:, None] * np.ones((1, width))
    bar = colorize(values, cmap, vmin=vmin, vmax=vmax)
    labels = [(fmt(v), v) for v in np.linspace(vmin, vmax, max(int(ticks), 2))]
    text_w = max(_text_size(t, font)[0] for t, _ in labels) + 6
    th = _text_size("0", font)[1]
    img = Image.new("RGB", (width + 1 + text_w, height), (255, 255, 255))
    img.paste(Image.fromarray(bar), (0, 0))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, width - 1, height - 1], outline=(0, 0, 0))
    span = vmax - vmin if vmax != vmin else 1.0
    for text, v in labels:
        y = int(round((vmax - v) / span * (height - 1)))
        draw.line([width, y, width + 3, y], fill=(0, 0, 0))
        ty = min(max(y - th // 2 - 1, 0), height - th - 2)
        draw.text((width + 5, ty), text, fill=(0, 0, 0), font=font)
    return np.asarray(img)


def with_colorbar(img, vmin, vmax, cmap="hot", gap=4, **kw):
    """``img`` with a :func:`colorbar` of the same height on its right."""
    img = _rgb(img)
    bar = colorbar(vmin, vmax, img.shape[0], cmap=cmap, **kw)
    spacer = np.full((img.shape[0], gap, 3), 255, np.uint8)
    return np.concatenate([img, spacer, bar], axis=1)


def heatmap_panel(values, cmap="hot", vmin=None, vmax=None, label=None, **kw):
    """A float map (H, W) colorized from ``vmin`` to ``vmax`` (default: its range),
    with a colour bar and an optional label above: uint8 RGB."""
    v = np.asarray(values, dtype=np.float64)
    lo = float(np.nanmin(v)) if vmin is None else float(vmin)
    hi = float(np.nanmax(v)) if vmax is None else float(vmax)
    img = with_colorbar(colorize(v, cmap, vmin=lo, vmax=hi), lo, hi, cmap=cmap, **kw)
    return img if label is None else label_panel(img, label)


def panel_row(panels, labels=None, gap=6, font_size=12):
    """uint8 panels side by side (tops aligned, white below the shorter ones), each
    with its label above when ``labels`` is given."""
    panels = [_rgb(p) for p in panels]
    if labels is not None:
        if len(labels) != len(panels):
            raise ValueError(f"{len(labels)} labels for {len(panels)} panels")
        strips = [text_strip("" if lab is None else lab, p.shape[1], font_size)
                  for p, lab in zip(panels, labels)]
        top = max(s.shape[0] for s in strips)           # images start at one height
        panels = [np.concatenate([np.full((top - s.shape[0], p.shape[1], 3), 255, np.uint8),
                                  s, p]) for s, p in zip(strips, panels)]
    h = max(p.shape[0] for p in panels)
    parts = []
    for i, p in enumerate(panels):
        if p.shape[0] < h:
            p = np.concatenate([p, np.full((h - p.shape[0], p.shape[1], 3), 255, np.uint8)])
        parts.append(p)
        if i < len(panels) - 1:
            parts.append(np.full((h, gap, 3), 255, np.uint8))
    return np.concatenate(parts, axis=1)


def panel_column(panels, gap=6):
    """uint8 panels stacked top to bottom (left aligned, white right of narrower ones)."""
    panels = [_rgb(p) for p in panels]
    w = max(p.shape[1] for p in panels)
    parts = []
    for i, p in enumerate(panels):
        if p.shape[1] < w:
            p = np.concatenate([p, np.full((p.shape[0], w - p.shape[1], 3), 255, np.uint8)],
                               axis=1)
        parts.append(p)
        if i < len(panels) - 1:
            parts.append(np.full((gap, w, 3), 255, np.uint8))
    return np.concatenate(parts, axis=0)


def label_grid(grid, cell, pad=1, row_labels=None, col_labels=None, font_size=11,
               row_title=None, col_title=None):
    """Row labels left of and column labels above a grid made by
    :func:`minicnn.techniques.filters.tile_grid` (tiles ``cell = (h, w)`` pixels,
    ``pad`` between them).  Labels may be None to leave a row / column unlabelled.
    ``row_title`` / ``col_title``: a line naming the axes, above the grid."""
    from PIL import Image, ImageDraw
    grid = _rgb(grid)
    font = _font(font_size)
    h, w = cell
    th = _text_size("Ag", font)[1]
    rows = [str(v) for v in (row_labels or []) if v is not None]
    left = (max(_text_size(t, font)[0] for t in rows) + 6) if rows else 0
    top = (th + 6) if col_labels else 0
    title = " / ".join(t for t in (row_title and f"rows: {row_title}",
                                   col_title and f"columns: {col_title}") if t)
    strip = text_strip(title, left + grid.shape[1], font_size, align="left") if title else None
    img = Image.new("RGB", (left + grid.shape[1], top + grid.shape[0]), (255, 255, 255))
    img.paste(Image.fromarray(grid), (left, top))
    draw = ImageDraw.Draw(img)
    for r, text in enumerate(row_labels or []):
        if text is None:
            continue
        y = top + pad + r * (h + pad) + h // 2 - th // 2 - 1
        tw = _text_size(str(text), font)[0]
        draw.text((left - tw - 3, y), str(text), fill=(0, 0, 0), font=font)
    for c, text in enumerate(col_labels or []):
        if text is None:
            continue
        tw = _text_size(str(text), font)[0]
        x = left + pad + c * (w + pad) + w // 2 - tw // 2
        draw.text((max(x, left), 2), str(text), fill=(0, 0, 0), font=font)
    out = np.asarray(img)
    return out if strip is None else np.concatenate([strip, out], axis=0)


def window_map_to_pixels(values, size, stride, shape):
    """Upsample a sliding-window map (H', W') -- value (p, q) belongs to the window
    covering rows ``p*stride .. p*stride + size - 1`` and the same columns, as
    :func:`~minicnn.techniques.attribution.occlusion_map` returns -- to an image
    of ``shape`` (H, W): each value sits at its window's centre
    ``p*stride + (size - 1) / 2``, values in between are interpolated linearly
    and the border beyond the first / last centre takes the nearest value."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 2:
        raise ValueError(f"values must be a 2-d map (H', W'), got shape {v.shape}")
    h, w = int(shape[0]), int(shape[1])
    cy = np.arange(v.shape[0]) * stride + (size - 1) / 2.0
    cx = np.arange(v.shape[1]) * stride + (size - 1) / 2.0

    def interp(pixels, centres, axis, a):
        if len(centres) == 1:
            return np.repeat(a, len(pixels), axis=axis)
        i = np.clip(np.searchsorted(centres, pixels, side="right") - 1, 0, len(centres) - 2)
        t = np.clip((pixels - centres[i]) / (centres[i + 1] - centres[i]), 0.0, 1.0)
        lo, hi = np.take(a, i, axis=axis), np.take(a, i + 1, axis=axis)
        t = t[:, None] if axis == 0 else t[None, :]
        return lo * (1 - t) + hi * t

    rows = interp(np.arange(h, dtype=np.float64), cy, 0, v)
    return interp(np.arange(w, dtype=np.float64), cx, 1, rows)


__all__ += ["text_strip", "label_panel", "colorbar", "with_colorbar", "heatmap_panel",
            "panel_row", "panel_column", "label_grid", "window_map_to_pixels"]
