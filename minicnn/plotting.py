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


def overlay_heatmap(img, heat, alpha=0.5, cmap="jet"):
    """Blend a colorized map (H, W) over a uint8 image (H, W, 3) (Grad-CAM style);
    a smaller map is resized to the image first (Pillow, bilinear)."""
    from PIL import Image
    heat = np.asarray(heat, dtype=np.float32)
    if heat.shape != img.shape[:2]:
        heat = np.asarray(Image.fromarray(heat, mode="F").resize(img.shape[1::-1],
                                                                 Image.BILINEAR))
    mixed = (1 - alpha) * img.astype(np.float64) + alpha * colorize(heat, cmap)
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
