"""Filters and activation maps as image grids (lecture: "First layer: visualize filters").

Krizhevsky et al. 2012 and Zeiler & Fergus 2014 show that first-layer filters
look like oriented edges and colour blobs; higher layers' filters are shown as
one grey tile per input channel (the lecture's 16 x 7 x 7 example).
"""
import numpy as np

from .. import checks

__all__ = ["tile_grid", "normalize_tile", "filter_grid", "activation_grid"]


def normalize_tile(a):
    """Min-max scale an array to 0..255 uint8 (a constant array becomes 0)."""
    a = np.asarray(a, dtype=np.float64)
    lo, hi = a.min(), a.max()
    if hi - lo < 1e-12:
        return np.zeros(a.shape, dtype=np.uint8)
    return np.round(255.0 * (a - lo) / (hi - lo)).astype(np.uint8)


def tile_grid(tiles, ncols=None, pad=1, pad_value=255, upscale=1):
    """Arrange equal-size tiles (K, h, w) or (K, h, w, 3) uint8 in a grid.

    Returns a uint8 image of shape (rows*(h+pad)+pad, ncols*(w+pad)+pad[, 3])
    with tiles in row-major order; ``upscale`` repeats pixels (nearest).
    """
    tiles = np.asarray(tiles)
    if ncols is not None:
        checks.positive_int(ncols, "ncols")
    upscale = checks.positive_int(upscale, "upscale")
    if tiles.ndim not in (3, 4):
        raise ValueError(f"tiles must have shape (K, h, w) or (K, h, w, 3), got {tiles.shape}")
    if upscale > 1:
        tiles = tiles.repeat(upscale, axis=1).repeat(upscale, axis=2)
    if tiles.shape[0] == 0:
        raise ValueError(f"tiles is empty (shape {tiles.shape}); expected at least one tile")
    k, h, w = tiles.shape[:3]
    ncols = int(np.ceil(np.sqrt(k))) if ncols is None else checks.positive_int(ncols, "ncols")
    pad = checks.non_negative(pad, "pad", integer=True)
    nrows = int(np.ceil(k / ncols))
    shape = (nrows * (h + pad) + pad, ncols * (w + pad) + pad) + tiles.shape[3:]
    grid = np.full(shape, pad_value, dtype=np.uint8)
    for i in range(k):
        r, c = divmod(i, ncols)
        y, x = pad + r * (h + pad), pad + c * (w + pad)
        grid[y:y + h, x:x + w] = tiles[i]
    return grid


def filter_grid(weights, ncols=None, upscale=1, pad=1, max_filters=None, max_channels=None):
    """Filters (F, C, kh, kw) as a uint8 grid image.

    C == 3: one colour tile per filter (RGB, each min-max scaled to 0..255).
    Otherwise: one grey tile per (filter, input channel), a row per filter,
    each tile min-max scaled on its own (the lecture's 16 x 7 x 7 example).
    ``max_filters`` / ``max_channels`` show only the first ones (fire9's
    expand3x3 has 256 x 64 tiles).
    """
    w = np.asarray(weights)
    if w.ndim != 4:
        raise ValueError(f"weights must have shape (F, C, kh, kw), got {w.shape}")
    if ncols is not None:
        checks.positive_int(ncols, "ncols")
    for name, value in (("max_filters", max_filters), ("max_channels", max_channels)):
        if value is not None:
            checks.positive_int(value, name)
    w = w[:max_filters, :max_channels]
    if w.shape[1] == 3:
        tiles = np.stack([normalize_tile(f.transpose(1, 2, 0)) for f in w])
        return tile_grid(tiles, ncols=ncols, pad=pad, upscale=upscale)
    tiles = np.stack([normalize_tile(f) for f in w.reshape(-1, *w.shape[2:])])
    return tile_grid(tiles, ncols=w.shape[1] if ncols is None else ncols, pad=pad,
                     upscale=upscale)


def activation_grid(activations, ncols=None, upscale=1, pad=1):
    """Channels of one image's activations (C, H, W) as a grid of grey tiles
    (each min-max scaled on its own; an all-zero channel stays black)."""
    a = np.asarray(activations)
    if a.ndim == 4 and a.shape[0] == 1:
        a = a[0]
    if a.ndim != 3:
        raise ValueError(f"activations must have shape (C, H, W), got {a.shape}")
    tiles = np.stack([normalize_tile(c) for c in a])
    return tile_grid(tiles, ncols=ncols, pad=pad, upscale=upscale)
