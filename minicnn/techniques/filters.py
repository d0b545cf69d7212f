"""Filters and activation maps as image grids (lecture: "First layer: visualize filters").

Krizhevsky et al. 2012 and Zeiler & Fergus 2014 show that first-layer filters
look like oriented edges and colour blobs; higher layers' filters are shown as
one grey tile per input channel (the lecture's 16 x 7 x 7 example).
"""
import numpy as np

from .. import checks

__all__ = ["tile_grid", "normalize_tile", "filter_grid", "filter_figure",
           "activation_grid"]


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


FILTER_SCALES = ("filter", "tile", "layer")


def filter_grid(weights, ncols=None, upscale=1, pad=1, max_filters=None, max_channels=None,
                scale="filter"):
    """Filters (F, C, kh, kw) as a uint8 grid image.

    C == 3: one colour tile per filter (RGB, each min-max scaled to 0..255).
    Otherwise: one grey tile per (filter, input channel), a row per filter.
    ``scale``: "filter" (default) min-max scales all tiles of one filter
    together, so the row shows which input channels the filter weighs most
    (a 1x1 filter is a row of grey levels, not a constant); "tile" scales
    each tile on its own (the lecture's 16 x 7 x 7 example; a 1x1 tile is
    then always black); "layer" uses one diverging scale centred on 0 for
    all the shown weights (blue negative, white 0, red positive: RGB).
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
    checks.choice(scale, FILTER_SCALES, "scale")
    w = w[:max_filters, :max_channels]
    if w.shape[1] == 3:
        tiles = np.stack([normalize_tile(f.transpose(1, 2, 0)) for f in w])
        return tile_grid(tiles, ncols=ncols, pad=pad, upscale=upscale)
    ncols = w.shape[1] if ncols is None else ncols
    if scale == "layer":
        from ..plotting import colorize
        vmax = max(float(np.abs(w).max()), 1e-12)
        tiles = colorize(w.reshape(-1, *w.shape[2:]), DIVERGING_CMAP, vmin=-vmax, vmax=vmax)
        return tile_grid(tiles, ncols=ncols, pad=pad, upscale=upscale, pad_value=96)
    if scale == "filter":
        tiles = np.concatenate([normalize_tile(f) for f in w])
    else:
        tiles = np.stack([normalize_tile(f) for f in w.reshape(-1, *w.shape[2:])])
    return tile_grid(tiles, ncols=ncols, pad=pad, upscale=upscale)


#: colour map of signed weights (blue negative, white 0, red positive)
DIVERGING_CMAP = "RdBu_r"


def _ticks(n, step):
    return [str(i) if i % step == 0 else None for i in range(n)]


def filter_figure(weights, name=None, max_filters=None, max_channels=None, upscale=None):
    """A labelled uint8 RGB picture of one convolution's weights (F, C, kh, kw).

    * C == 3 (conv1): one colour tile per filter, each min-max scaled, rows
      labelled with the index of their first filter;
    * 1x1 kernels (squeeze1x1, expand1x1, conv10): the (out, in) weight matrix
      as a heat map, one diverging scale centred on 0 with a colour bar, rows
      = filters (output channels), columns = input channels;
    * larger kernels: a row per filter and a column per input channel, all
      tiles on one diverging scale centred on 0 (colour bar), labelled.

    ``name`` (e.g. "fire2/squeeze1x1") is written above.  ``max_filters`` /
    ``max_channels`` show only the first ones; ``upscale`` is pixels per weight
    (default: 8 for colour tiles, 4 for kxk grids, up to 12 for matrices, chosen
    to keep the picture within about 900 px).
    """
    from ..plotting import label_grid, label_panel, with_colorbar
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"weights must have shape (F, C, kh, kw), got {w.shape}")
    f_all, c_all, kh, kw = w.shape
    w = w[:max_filters, :max_channels]
    f, c = w.shape[:2]
    shown = f"filters 0..{f - 1} of {f_all}" + (f", input channels 0..{c - 1} of {c_all}"
                                                 if c < c_all else "")
    if c == 3 and c_all == 3:
        up = upscale or 8
        ncols = int(np.ceil(np.sqrt(f)))
        grid = filter_grid(w, ncols=ncols, upscale=up)
        rows = [str(r * ncols) for r in range(int(np.ceil(f / ncols)))]
        img = label_grid(grid, (kh * up, kw * up), 1, row_labels=rows,
                         col_labels=[f"+{j}" for j in range(ncols)])
        title = (f"{name}: " if name else "") + f"{f_all} RGB filters {kh}x{kw}, each "             "min-max scaled (row label: first filter index)"
        return label_panel(img, title)
    vmax = max(float(np.abs(w).max()), 1e-12)
    if kh == kw == 1:
        m = w[:, :, 0, 0]
        up = upscale or int(np.clip(min(900 // c, 600 // f), 1, 12))
        from ..plotting import colorize
        grid = colorize(m, DIVERGING_CMAP, vmin=-vmax, vmax=vmax)
        grid = grid.repeat(up, axis=0).repeat(up, axis=1)
        step_c = max(1, int(np.ceil(40 / up / 8)) * 8) if c > 8 else 1
        step_f = max(1, int(np.ceil(16 / up / 4)) * 4) if f > 4 else 1
        img = label_grid(grid, (up, up), 0, row_labels=_ticks(f, step_f),
                         col_labels=_ticks(c, step_c), row_title="filters (output channels)",
                         col_title="input channels")
        title = (f"{name}: " if name else "") + f"1x1 weights as a {f} x {c} matrix "             f"({shown}), one scale centred on 0"
    else:
        up = upscale or 4
        grid = filter_grid(w, upscale=up, scale="layer")
        step_c = 1 if c <= 16 else 4
        img = label_grid(grid, (kh * up, kw * up), 1, row_labels=_ticks(f, 1 if f <= 32 else 4),
                         col_labels=_ticks(c, step_c), row_title="filters",
                         col_title="input channels")
        title = (f"{name}: " if name else "") + f"{kh}x{kw} weights, a row per filter, a "             f"column per input channel ({shown}), one scale centred on 0"
    return label_panel(with_colorbar(img, -vmax, vmax, cmap=DIVERGING_CMAP, ticks=5), title)


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
