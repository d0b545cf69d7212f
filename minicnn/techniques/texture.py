"""Texture synthesis, non-neural and neural.

- :func:`efros_leung`: Efros & Leung, "Texture Synthesis by Non-parametric
  Sampling", ICCV 1999.  The output grows pixel by pixel from a seed patch;
  each new pixel copies the centre of a source window whose Gaussian-weighted
  SSD to the pixel's known neighbourhood is within (1 + 0.1) of the best.
- :func:`texture_synthesis`: Gatys, Ecker & Bethge, "Texture Synthesis Using
  Convolutional Neural Networks", NIPS 2015: optimize the pixels of a noise
  image so that its Gram matrices match the texture's at several layers.

The Efros-Leung window search is the hot loop.  It runs in the Cython kernel
``minicnn._texture.window_ssd`` (built from ``kernels/texture.pyx``) or in its
bit-identical NumPy twin :func:`window_ssd_numpy` (kept in :mod:`minicnn._kernels`
beside the other twins, and importable from here); ``MINICNN_PURE_NUMPY=1``
forces the twin and ``MINICNN_REQUIRE_EXT=1`` makes a missing build an error.
A whole pass over the frontier (template gathering, search, candidate choice)
runs in ``minicnn._texture.fill_pass`` alongside it, with the twin
:func:`fill_pass_numpy` (which calls :func:`window_ssd_numpy`).
"""
import warnings

import numpy as np

from .. import _kernels, checks
from .._kernels import fill_pass_numpy, window_ssd_numpy

__all__ = ["efros_leung", "texture_synthesis", "window_ssd_numpy", "window_ssd", "fill_pass_numpy",
           "TEXTURE_BACKEND", "gaussian_window", "GRAM_TEXTURE_DEFAULTS"]


# --------------------------------------------------------------------------- kernel
def _load_kernel():
    """(window_ssd, backend name): the selection of :mod:`minicnn._kernels` (which
    honours MINICNN_PURE_NUMPY / MINICNN_REQUIRE_EXT and holds the NumPy twins)."""
    if _kernels.KERNEL_SOURCES["window_ssd"].startswith("cython"):
        return _kernels.window_ssd, "cython"
    return window_ssd_numpy, "numpy"


window_ssd, TEXTURE_BACKEND = _load_kernel()
if TEXTURE_BACKEND == "cython":
    from .._texture import fill_pass
else:
    fill_pass = fill_pass_numpy


def gaussian_window(window, sigma=None, dtype=np.float64):
    """(window, window) Gaussian weights exp(-r^2 / (2 sigma^2)), sigma = window / 6.4
    (Efros & Leung), centred on the middle pixel, maximum 1."""
    sigma = window / 6.4 if sigma is None else sigma
    r = np.arange(window) - window // 2
    g = np.exp(-(r[:, None] ** 2 + r[None, :] ** 2) / (2.0 * sigma ** 2))
    return g.astype(dtype)


# --------------------------------------------------------------------------- Efros-Leung
def _as_rng(rng):
    return checks.rng(rng)


def _out_shape(out_size):
    if isinstance(out_size, (int, np.integer)) and not isinstance(out_size, bool):
        shape = (int(out_size), int(out_size))
    else:
        try:
            shape = tuple(int(s) for s in out_size)
        except TypeError:
            raise TypeError(f"out_size must be an int or (height, width), got {out_size!r}") \
                from None
        if len(shape) != 2:
            raise ValueError(f"out_size must be an int or (height, width), got {out_size!r}")
    if min(shape) < 1:
        raise ValueError(f"out_size must be positive, got {out_size!r}")
    return shape


def efros_leung(source, out_size, window=11, rng=None, *, seed_size=3, err_threshold=0.1,
                max_err_threshold=0.3, relax=1.1, dtype=np.float32, callback=None,
                progress=False):
    """Efros-Leung non-parametric texture synthesis.

    source: texture image, (H, W) grey or (H, W, C) colour (e.g. uint8 RGB;
        any numeric dtype).  out_size: int or (height, width) of the output.
    window: odd neighbourhood size (>= 3, at most the source's short side).
    rng: numpy Generator or int seed (None: seed 0, so runs are reproducible).

    Algorithm (Efros & Leung 1999): copy a random ``seed_size`` square of the
    source into the centre of the output; then, pass after pass, visit the
    unfilled pixels that touch a filled one (most filled neighbours first,
    ties in random order); for each, compute over every source window

        d(window) = sum_k G_k sum_c (S_k,c - T_k,c)^2 / (C sum_k G_k)

    over the pixel's known neighbours k (G: Gaussian, sigma = window / 6.4;
    values scaled to [0, 1] for uint8 sources), pick uniformly among windows
    with d <= (1 + err_threshold) * min d, and copy that window's centre if
    its error is below ``max_err_threshold`` (0.3).  A pass that fills
    nothing multiplies the threshold by ``relax`` (1.1).

    callback(filled_fraction, image) is called after every pass.  Ctrl-C
    returns the partial image (unfilled pixels 0) with a warning.

    Returns an array of shape (height, width) or (height, width, C) and the
    source's dtype whose every pixel is a pixel of the source.
    """
    from scipy import ndimage
    from tqdm.auto import tqdm

    src_in = np.asarray(source)
    if src_in.ndim not in (2, 3) or not (np.issubdtype(src_in.dtype, np.number)
                                         or src_in.dtype == bool):
        raise ValueError(f"source must be a numeric image of shape (H, W) or (H, W, C), "
                         f"got shape {src_in.shape} and dtype {src_in.dtype}")
    # a NaN pixel makes every window distance NaN: no candidate ever passes the
    # threshold and the synthesis would relax it forever
    checks.finite(src_in, "source")
    grey = src_in.ndim == 2
    src_hwc = src_in[..., None] if grey else src_in
    hs, ws, n_ch = src_hwc.shape
    if not isinstance(window, (int, np.integer)) or isinstance(window, bool) \
            or window < 3 or window % 2 == 0:
        raise ValueError(f"window must be an odd integer >= 3, got {window!r}")
    if window > min(hs, ws):
        raise ValueError(f"window ({window}) must not exceed the source's short side "
                         f"({min(hs, ws)}); source shape is {src_in.shape}")
    oh, ow = _out_shape(out_size)
    seed_size = checks.positive(seed_size, "seed_size", integer=True)
    if not 1 <= seed_size <= min(oh, ow, hs, ws):
        raise ValueError(f"seed_size must be between 1 and {min(oh, ow, hs, ws)}, "
                         f"got {seed_size}")
    err_threshold = checks.non_negative(err_threshold, "err_threshold")
    max_err_threshold = checks.positive(max_err_threshold, "max_err_threshold")
    relax = checks.positive(relax, "relax")
    if relax <= 1:
        raise ValueError(f"relax must be greater than 1, got {relax!r}")
    rng = _as_rng(rng)

    scale = 255.0 if src_in.dtype == np.uint8 else 1.0
    src = np.ascontiguousarray(src_hwc.transpose(2, 0, 1), dtype=dtype) / dtype(scale)
    half = window // 2
    gauss = gaussian_window(window).astype(dtype).ravel()
    ph, pw = hs - window + 1, ws - window + 1          # number of source windows
    dist = np.empty((ph, pw), dtype=dtype)

    # canvas padded by half a window; ``where`` records the source pixel of each output
    canvas = np.zeros((n_ch, oh + 2 * half, ow + 2 * half), dtype=dtype)
    filled = np.zeros((oh + 2 * half, ow + 2 * half), dtype=bool)
    where = np.full((oh, ow, 2), -1, dtype=np.int64)
    r0 = int(rng.integers(0, hs - seed_size + 1))
    c0 = int(rng.integers(0, ws - seed_size + 1))
    y0, x0 = (oh - seed_size) // 2, (ow - seed_size) // 2
    ys, xs = np.mgrid[0:seed_size, 0:seed_size]
    where[y0:y0 + seed_size, x0:x0 + seed_size, 0] = r0 + ys
    where[y0:y0 + seed_size, x0:x0 + seed_size, 1] = c0 + xs
    canvas[:, half + y0:half + y0 + seed_size, half + x0:half + x0 + seed_size] = \
        src[:, r0:r0 + seed_size, c0:c0 + seed_size]
    filled[half + y0:half + y0 + seed_size, half + x0:half + x0 + seed_size] = True

    inner = (slice(half, half + oh), slice(half, half + ow))
    ones = np.ones((window, window))
    total = oh * ow
    fill = fill_pass if window_ssd is not window_ssd_numpy else fill_pass_numpy
    mask = filled.view(np.uint8)
    bar = tqdm(total=total, initial=int(filled.sum()), disable=not progress,
               desc="efros-leung", unit="px")
    try:
        while not filled[inner].all():
            known = filled[inner]
            frontier = ndimage.binary_dilation(known, np.ones((3, 3), bool)) & ~known
            counts = ndimage.correlate(filled.astype(np.float64), ones, mode="constant")[inner]
            pix = np.argwhere(frontier)
            pix = pix[rng.permutation(len(pix))]
            pix = np.ascontiguousarray(
                pix[np.argsort(-counts[pix[:, 0], pix[:, 1]], kind="stable")], dtype=np.intp)
            u = rng.random(len(pix))
            n_new = fill(src, canvas, mask, where, pix, u, gauss, window,
                         float(err_threshold), float(max_err_threshold), dist)
            bar.update(n_new)
            if n_new == 0:
                max_err_threshold *= relax
            if callback is not None:
                callback(float(filled[inner].mean()), _gather(src_hwc, where, grey))
    except KeyboardInterrupt:
        warnings.warn(f"efros_leung interrupted: returning the partial image "
                      f"({filled[inner].mean():.0%} filled, unfilled pixels are 0)")
    finally:
        bar.close()
    return _gather(src_hwc, where, grey)


def _gather(src_hwc, where, grey):
    out = np.zeros(where.shape[:2] + src_hwc.shape[2:], dtype=src_hwc.dtype)
    ok = where[..., 0] >= 0
    out[ok] = src_hwc[where[ok, 0], where[ok, 1]]
    return out[..., 0] if grey else out


# --------------------------------------------------------------------------- Gatys texture
#: cs231n's texture-synthesis settings (Starry Night weights, no content loss).
GRAM_TEXTURE_DEFAULTS = {
    "style_layers": ("conv1", "fire3", "fire4", "fire5"),
    "style_weights": (300000, 1000, 15, 3),
    "tv_weight": 6e-6,          # per squared pixel level (cs231n's 2e-2 / 57.6^2)
    "style_size": 192,
}


def texture_synthesis(cnn, texture, *, style_layers=GRAM_TEXTURE_DEFAULTS["style_layers"],
                      style_weights=GRAM_TEXTURE_DEFAULTS["style_weights"],
                      tv_weight=GRAM_TEXTURE_DEFAULTS["tv_weight"],
                      style_size=GRAM_TEXTURE_DEFAULTS["style_size"], out_size=None,
                      iterations=200, rng=None, callback=None, progress=False, history=None,
                      **optim):
    """Gram-matrix texture synthesis (Gatys et al. 2015) from uniform noise.

    texture: uint8 image (any of grey/RGB/RGBA), a path, or a list of them
    (blended; see :func:`minicnn.techniques.style.style_transfer`), resized
    to ``style_size`` on its short side.  out_size: (H, W) of the result
    (default: the resized texture's shape; int = square).

    Minimizes ``sum_l w_l ||G_l(x) - G_l(texture)||^2 + tv`` over the pixels
    with Adam and cs231n's schedule.  Matching only shallow layers
    (``style_layers=("conv1",)``) reproduces small-scale statistics;
    adding deeper layers brings larger structures.

    Returns x (1, 3, H, W) in the model's normalized space (see
    ``cnn.deprocess``).
    """
    from .style import prepare_image, style_transfer
    if out_size is None:
        shape = prepare_image(cnn, texture[0] if isinstance(texture, list) else texture,
                              style_size).shape[2:]
    else:
        shape = _out_shape(out_size)
    return style_transfer(cnn, None, texture, style_weights=style_weights, content_weight=0.0,
                          tv_weight=tv_weight, style_layers=style_layers,
                          style_size=style_size, iterations=iterations, init="noise",
                          image_shape=shape, rng=rng, callback=callback, progress=progress,
                          history=history, **optim)
