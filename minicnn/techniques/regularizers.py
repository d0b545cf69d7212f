"""Image priors for gradient ascent on the image (see :mod:`.synthesis`).

Two kinds of regularizer act on an image batch x of shape (N, C, H, W) in the
model's normalized space:

* **Penalties** are differentiable terms of the objective, written as layer
  pairs ``*_forward(x, ...) -> (value (N,), cache)`` and
  ``*_backward(dvalue (N,), cache) -> dx``:

  - squared L2 norm  ``||x||^2`` (Simonyan et al. 2014, cs231n class visualization);
  - total variation ``TV^beta(x) = sum_ij (dv_ij^2 + dh_ij^2)^(beta/2)``
    (Mahendran & Vedaldi 2015, eq. 2), with forward differences
    ``dv_ij = x[i+1, j] - x[i, j]`` and ``dh_ij = x[i, j+1] - x[i, j]`` that are
    zero past the last row/column (replicated border), so for beta = 2 it is the
    plain sum of squared neighbour differences;
  - the alpha-norm ``||x||_alpha^alpha = sum |x|^alpha`` (Mahendran & Vedaldi).

* **Projections** are applied to the image after each step (Yosinski et al.
  2015, "Understanding Neural Networks Through Deep Visualization", §3): clamp
  to the valid pixel range, L2 decay, Gaussian blur every k steps, and setting
  to zero (the mean colour) the pixels of small value, small norm or small
  contribution.  Each is a callable ``reg(x, t, grad) -> x`` made by
  :func:`make_regularizer` from a name in :data:`REGULARIZERS`.

Jitter (random circular shifts, "rolled then unrolled") lives here too.

Units.  The techniques optimize in the model's normalized space but state
every step size, penalty weight, clip threshold and noise level in **pixel
units**: levels of a 0..255 RGB image, measured from the dataset's mean colour
(what normalized 0 is).  :func:`pixel_scale` is the conversion factor
(``std / scale`` per channel: about 58 levels per unit for the torchvision
weights, 1 for the Caffe weights), :func:`to_pixels` / :func:`from_pixels`
convert images, :func:`pixel_levels` converts a level (or RGB triple) to
normalized units per channel, so the same settings act alike on either weight
set.
"""
import numpy as np

__all__ = ["jitter", "unjitter", "random_shift", "pixel_range", "pixel_scale", "to_pixels",
           "from_pixels", "pixel_levels", "quantize_pixels", "IMAGENET_PIXEL_STD",
           "gaussian_blur", "l2_forward", "l2_backward", "tv_forward", "tv_backward",
           "tv_norm", "alpha_norm_forward", "alpha_norm_backward", "REGULARIZERS",
           "make_regularizer", "Regularizer"]


# --------------------------------------------------------------------------- jitter
def random_shift(rng, max_jitter, symmetric=False):
    """A random shift (oy, ox): each in 0..max_jitter (cs231n), or in
    -max_jitter..max_jitter when ``symmetric`` (Mordvintsev et al.)."""
    if max_jitter == 0:
        return 0, 0
    low = -max_jitter if symmetric else 0
    oy, ox = rng.integers(low, max_jitter + 1, size=2)
    return int(oy), int(ox)


def jitter(x, oy, ox):
    """Roll (N, C, H, W) images down by ``oy`` and right by ``ox`` pixels (circularly)."""
    return np.roll(x, (oy, ox), axis=(2, 3))


def unjitter(x, oy, ox):
    """The inverse of :func:`jitter` (a roll is a permutation; its adjoint is its
    inverse, so it also maps the gradient at the jittered image back)."""
    return np.roll(x, (-oy, -ox), axis=(2, 3))


# --------------------------------------------------------------------------- pixel range
def pixel_range(cnn):
    """(lo, hi), each (1, C, 1, 1) in ``cnn.dtype``: the normalized values of pixel
    levels 0 and 255 per channel, ``(p * scale - mean) / std``."""
    meta = cnn.meta
    mean = np.asarray(meta["mean"], dtype=np.float64).reshape(1, -1, 1, 1)
    std = np.asarray(meta["std"], dtype=np.float64).reshape(1, -1, 1, 1)
    scale = float(meta.get("scale", 1.0))
    lo = (0.0 * scale - mean) / std
    hi = (255.0 * scale - mean) / std
    return lo.astype(cnn.dtype), hi.astype(cnn.dtype)


def pixel_scale(cnn):
    """(1, C, 1, 1) float64: pixel levels (0..255) per unit of normalized input,
    ``std / scale``; ``|dx| * pixel_scale`` is a change in pixel levels."""
    std = np.asarray(cnn.meta["std"], dtype=np.float64).reshape(1, -1, 1, 1)
    return std / float(cnn.meta.get("scale", 1.0))


#: Standard deviation of ImageNet pixels in levels (0..255), averaged over R, G, B
#: (0.226 * 255): the natural size of "one unit" of image variation, used to
#: write pixel-unit defaults (e.g. the start noise of class visualization).
IMAGENET_PIXEL_STD = 57.6


def to_pixels(cnn, x):
    """Normalized (N, C, H, W) images -> float64 deviations from the mean colour in
    pixel levels: ``x * pixel_scale(cnn)`` (channels stay in the model's order)."""
    return np.asarray(x, dtype=np.float64) * pixel_scale(cnn)


def from_pixels(cnn, v):
    """The inverse of :func:`to_pixels`: pixel-level deviations (N, C, H, W) ->
    normalized values in ``cnn.dtype``, ``v / pixel_scale(cnn)``."""
    return (np.asarray(v, dtype=np.float64) / pixel_scale(cnn)).astype(cnn.dtype)


def pixel_levels(cnn, levels, rgb=True):
    """(1, C, 1, 1) float64: ``levels`` pixel levels (a number, or one value per
    channel given in RGB order when ``rgb``, reordered for a BGR model) in the
    model's normalized units, ``levels / pixel_scale``.  For a change or a
    deviation from the mean colour (not an absolute colour: see
    :func:`pixel_range` for those)."""
    v = np.asarray(levels, dtype=np.float64).reshape(-1)
    if v.size not in (1, 3):
        raise ValueError(f"levels must be a number or 3 values (R, G, B), got {levels!r}")
    if v.size == 3 and rgb and cnn.meta.get("channel_order", "RGB") == "BGR":
        v = v[::-1]
    return v.reshape(1, -1, 1, 1) / pixel_scale(cnn)


def quantize_pixels(cnn, x):
    """Project normalized (N, C, H, W) images onto the 8-bit pixel grid: what
    saving as PNG and loading again gives.

    In the model's channel order and preprocessing metadata (mean, std, scale):
    ``p = clip(round((x std + mean) / scale), 0, 255)`` (the pixel value
    :meth:`deprocess` writes), then ``(p scale - mean) / std`` computed in
    float32 exactly as :meth:`preprocess` does, cast to ``cnn.dtype`` -- so
    ``quantize_pixels(cnn, x)`` equals ``cnn.preprocess(cnn.deprocess(x),
    size=H, crop=None)`` bit for bit, for either weight set (RGB x/255 with the
    ImageNet mean/std, or BGR 0..255 minus the mean).  Idempotent."""
    meta = cnn.meta
    mean64 = np.asarray(meta["mean"], dtype=np.float64).reshape(1, -1, 1, 1)
    std64 = np.asarray(meta["std"], dtype=np.float64).reshape(1, -1, 1, 1)
    scale = float(meta.get("scale", 1.0))
    p = np.clip(np.round((np.asarray(x, dtype=np.float64) * std64 + mean64) / scale), 0, 255)
    p = p.astype(np.float32)
    mean = np.asarray(meta["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(meta["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    out = (p * np.float32(scale) - mean) / std
    return out.astype(cnn.dtype, copy=False)


# --------------------------------------------------------------------------- blur
def gaussian_blur(x, sigma):
    """Separable Gaussian blur of each (H, W) plane of (N, C, H, W) with standard
    deviation ``sigma`` pixels (scipy, reflected borders, as cs231n's blur_image)."""
    from scipy.ndimage import gaussian_filter1d
    if sigma <= 0:
        return x
    out = gaussian_filter1d(x, sigma, axis=2)
    return gaussian_filter1d(out, sigma, axis=3)


# --------------------------------------------------------------------------- penalties
def l2_forward(x):
    """Squared L2 norm of each image: value[n] = sum x[n]^2; x (N, C, H, W) -> (N,)."""
    return np.einsum("nchw,nchw->n", x, x, dtype=np.float64), x


def l2_backward(dvalue, cache):
    """d(sum x^2)/dx = 2x, scaled by the upstream dvalue[n] of each image."""
    x = cache
    return (2.0 * np.asarray(dvalue, dtype=np.float64).reshape(-1, 1, 1, 1) * x).astype(x.dtype)


def tv_forward(x, beta=2.0, eps=None):
    """Total variation TV^beta of each image (Mahendran & Vedaldi 2015, eq. 2).

    x: (N, C, H, W).  With forward differences that vanish past the border,
        dv[i, j] = x[i+1, j] - x[i, j]  (0 on the last row)
        dh[i, j] = x[i, j+1] - x[i, j]  (0 on the last column)
        value[n] = sum_{c,i,j} (dv^2 + dh^2 + eps)^(beta / 2)
    For beta = 2 (eps = 0) this is sum dv^2 + sum dh^2.  beta < 2 has a kink at
    zero differences; ``eps`` (default 1e-8 for beta < 2, else 0) smooths it.
    Returns (value (N,) float64, cache).
    """
    if beta <= 0:
        raise ValueError(f"tv_beta must be positive, got {beta}")
    eps = (1e-8 if beta < 2 else 0.0) if eps is None else float(eps)
    dv = np.zeros_like(x)
    dh = np.zeros_like(x)
    dv[:, :, :-1, :] = x[:, :, 1:, :] - x[:, :, :-1, :]
    dh[:, :, :, :-1] = x[:, :, :, 1:] - x[:, :, :, :-1]
    q = dv * dv + dh * dh + eps                        # squared gradient magnitude
    value = (q.astype(np.float64) ** (beta / 2)).sum(axis=(1, 2, 3))
    return value, (dv, dh, q, beta)


def tv_backward(dvalue, cache):
    """Gradient of tv_forward.  Reverse order:
    value = sum q^(beta/2)        -> dq  = (beta/2) q^(beta/2 - 1)
    q = dv^2 + dh^2               -> ddv = 2 dv dq,  ddh = 2 dh dq
    dv = x[i+1] - x[i] (a difference and its adjoint): dx[i+1] += ddv, dx[i] -= ddv;
    same along the columns for dh.
    """
    dv, dh, q, beta = cache
    dval = np.asarray(dvalue, dtype=np.float64).reshape(-1, 1, 1, 1)
    dq = dval * (beta / 2) * q.astype(np.float64) ** (beta / 2 - 1)
    ddv = 2.0 * dv * dq
    ddh = 2.0 * dh * dq
    dx = np.zeros(dv.shape, dtype=np.float64)
    dx[:, :, 1:, :] += ddv[:, :, :-1, :]
    dx[:, :, :-1, :] -= ddv[:, :, :-1, :]
    dx[:, :, :, 1:] += ddh[:, :, :, :-1]
    dx[:, :, :, :-1] -= ddh[:, :, :, :-1]
    return dx.astype(dv.dtype)


def tv_norm(x, beta=2.0):
    """TV^beta of each image of (N, C, H, W) (or of one (C, H, W) image) -> (N,) or float."""
    x = np.asarray(x)
    if x.ndim == 3:
        return float(tv_forward(x[None], beta)[0][0])
    return tv_forward(x, beta)[0]


def alpha_norm_forward(x, alpha=6.0):
    """value[n] = sum |x[n]|^alpha (Mahendran & Vedaldi's alpha-norm prior); x (N, C, H, W)."""
    if alpha < 1:
        raise ValueError(f"alpha must be at least 1, got {alpha}")
    a = np.abs(x).astype(np.float64)
    return (a ** alpha).sum(axis=(1, 2, 3)), (x, alpha)


def alpha_norm_backward(dvalue, cache):
    """d(sum |x|^alpha)/dx = alpha |x|^(alpha - 1) sign(x)."""
    x, alpha = cache
    dval = np.asarray(dvalue, dtype=np.float64).reshape(-1, 1, 1, 1)
    x64 = x.astype(np.float64)
    return (dval * alpha * np.abs(x64) ** (alpha - 1) * np.sign(x64)).astype(x.dtype)


# --------------------------------------------------------------------------- projections
class Regularizer:
    """A projection applied after each step: ``reg(x, t, grad) -> x``.

    ``x`` (N, C, H, W) is the image after the step at iteration ``t`` (0-based)
    and ``grad`` the ascent gradient of that step.  Build with
    :func:`make_regularizer`.
    """

    def __init__(self, name, fn, **params):
        self.name, self._fn, self.params = name, fn, params

    def __call__(self, x, t, grad):
        return self._fn(x, t, grad, **self.params)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items()
                         if not isinstance(v, np.ndarray))
        return f"Regularizer({self.name!r}, {args})"


def _clamp(x, t, grad, lo, hi):
    return np.clip(x, lo, hi, out=x)


def _decay(x, t, grad, rate):
    x *= (1.0 - rate)                                   # Yosinski: x <- (1 - theta_decay) x
    return x


def _blur(x, t, grad, sigma, every):
    return gaussian_blur(x, sigma) if t % every == 0 else x


def _zero_below_percentile(x, score, percentile):
    """Set to zero (the mean colour) the pixels whose (N, 1, H, W) ``score`` is
    below the ``percentile``-th percentile of their image."""
    threshold = np.percentile(score.reshape(len(score), -1), percentile, axis=1)
    mask = score < threshold.reshape(-1, 1, 1, 1)
    return np.where(mask, x.dtype.type(0), x)


def _clip_value(x, t, grad, percentile, scale=1.0):
    # every channel value with small |x| (a per-element "pixel value"), measured in
    # pixel levels when ``scale`` is the model's pixel_scale
    a = np.abs(x.astype(np.float64) * scale)
    threshold = np.percentile(a.reshape(len(x), -1), percentile, axis=1)
    return np.where(a < threshold.reshape(-1, 1, 1, 1), x.dtype.type(0), x)


def _clip_norm(x, t, grad, percentile, scale=1.0):
    norm = np.sqrt(((x.astype(np.float64) * scale) ** 2).sum(axis=1, keepdims=True))
    return _zero_below_percentile(x, norm, percentile)


def _clip_contribution(x, t, grad, percentile):
    # first-order estimate of the objective's change when a pixel is set to zero:
    # |sum_c x * grad| per pixel (Yosinski et al. 2015, "clipping pixels with small
    # contribution")
    contribution = np.abs((x.astype(np.float64) * grad).sum(axis=1, keepdims=True))
    return _zero_below_percentile(x, contribution, percentile)


#: Projection names -> (function, required parameters).
REGULARIZERS = {
    "clamp": (_clamp, ("lo", "hi")),
    "decay": (_decay, ("rate",)),
    "blur": (_blur, ("sigma", "every")),
    "clip_value": (_clip_value, ("percentile",)),
    "clip_norm": (_clip_norm, ("percentile",)),
    "clip_contribution": (_clip_contribution, ("percentile",)),
}


#: Optional parameters of the projections: ``scale`` (a number or (1, C, 1, 1),
#: normally :func:`pixel_scale`) measures |x| and the channel norm in pixel levels.
OPTIONAL_PARAMETERS = {"clip_value": ("scale",), "clip_norm": ("scale",)}


def make_regularizer(name, **params):
    """A :class:`Regularizer` from a name in :data:`REGULARIZERS` and its parameters:

    - ``clamp(lo, hi)``: clip to [lo, hi] (arrays broadcast over (N, C, H, W));
    - ``decay(rate)``: x <- (1 - rate) x, 0 <= rate < 1 (towards the mean colour);
    - ``blur(sigma, every)``: Gaussian blur (sigma in pixels) at iterations 0,
      every, 2*every, ...;
    - ``clip_value(percentile[, scale])``, ``clip_norm(percentile[, scale])``,
      ``clip_contribution(percentile)``: zero the pixels below that percentile
      (0..100) of |x * scale|, of the channel norm ||x * scale||, or of
      |sum_c x * grad| (unit-free).  ``scale=pixel_scale(cnn)`` measures in
      pixel levels, so the ranking does not depend on the model's per-channel std.
    """
    if name not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {name!r}; choose one of "
                         f"{', '.join(sorted(REGULARIZERS))}")
    fn, required = REGULARIZERS[name]
    optional = OPTIONAL_PARAMETERS.get(name, ())
    missing = [p for p in required if p not in params]
    extra = [p for p in params if p not in required and p not in optional]
    if missing or extra:
        raise ValueError(f"regularizer {name!r} takes parameters {required}, got "
                         f"{tuple(params)}")
    if name == "decay" and not 0 <= params["rate"] < 1:
        raise ValueError(f"decay rate must be in [0, 1), got {params['rate']}")
    if name == "blur":
        if params["sigma"] < 0:
            raise ValueError(f"blur sigma must be non-negative, got {params['sigma']}")
        if int(params["every"]) < 1:
            raise ValueError(f"blur_every must be a positive number of iterations, got "
                             f"{params['every']}")
    if "percentile" in params and not 0 <= params["percentile"] <= 100:
        raise ValueError(f"{name} percentile must be in 0..100, got {params['percentile']}")
    return Regularizer(name, fn, **params)
