"""Synthesis: gradient ascent on the image (lecture "Visualizing and Understanding").

One small loop, :func:`gradient_ascent`, serves every technique here::

    x --jitter--> forward to layer L --objective--> dL/da --cnn.backward--> dx
      --unjitter--> + image penalties --step rule--> x + step --projections--> x

so each technique is its objective plus its defaults:

- :func:`class_visualization`: raw class score (or a neuron / channel) minus an
  L2 penalty, normalized steps, jitter, blur, clamp (Simonyan et al. 2014,
  "Deep Inside Convolutional Networks"; Yosinski et al. 2015, "Understanding
  Neural Networks Through Deep Visualization"; cs231n's defaults).
- :func:`make_fooling_image`: target score (or target minus true score) with
  normalized steps until the prediction flips (Szegedy et al. 2014, "Intriguing
  properties of neural networks"; cs231n's procedure); :func:`fgsm`: signed
  steps in an L-infinity ball (Goodfellow et al. 2015; iterative: Kurakin et
  al. 2017).
- :func:`deepdream`: 0.5 ||a||^2, whose gradient is the activation itself,
  with steps normalized by the mean |g| over octaves (Mordvintsev, Olah &
  Tyka 2015, "Inceptionism"); guided by a guide image's features.
- :func:`invert_features`: ||phi(x) - phi0||^2 / ||phi0||^2 + lambda_tv TV^beta
  + lambda_a ||x||_alpha^alpha with Adam (Mahendran & Vedaldi 2015,
  "Understanding Deep Image Representations by Inverting Them").

All images are (N, 3, H, W) float arrays in the model's preprocessing
(``cnn.preprocess``); ``cnn.deprocess`` turns results into uint8 pictures.
Every step size, penalty weight and noise level of the techniques is in
**pixel units** (levels of a 0..255 RGB image, measured from the mean colour;
see :mod:`.regularizers`) and converted through the model's preprocessing
metadata (``pixel_scale``), so the torchvision weights (x/255, ImageNet
mean/std) and the Caffe weights (BGR 0..255 minus the mean) behave alike.
An objective is a callable ``objective(out, cache, idx) -> (value (n,), dout)``
where ``out`` is the output of the end layer for the images ``idx`` still
being optimized and ``dout`` is the gradient to ascend (an array like ``out``
or a ``{layer: grad}`` dict for :meth:`SqueezeNet.backward`).
"""
import warnings
from dataclasses import dataclass, field

import numpy as np

from .. import checks
from ..optim import adam
from .regularizers import (IMAGENET_PIXEL_STD, alpha_norm_backward, alpha_norm_forward,
                           l2_backward, l2_forward, make_regularizer, pixel_range, pixel_scale,
                           quantize_pixels, random_shift, tv_backward, tv_forward, unjitter, jitter)

__all__ = ["gradient_ascent", "AscentResult", "STEP_RULES", "class_visualization",
           "class_score_objective", "neuron_objective", "make_fooling_image",
           "FOOLING_OBJECTIVES", "fgsm", "deepdream", "dream_objective",
           "guided_dream_objective", "invert_features", "feature_inversion_objective",
           "INVERSION_DEFAULTS",
           "random_image", "class_visualization_step", "fooling_step", "deepdream_step",
           "feature_inversion_loss"]


# =========================================================================== helpers
def _rng(rng, default_seed=0):
    """A Generator from None (seeded with ``default_seed``: reproducible), a seed or a Generator."""
    return checks.rng(rng, default_seed=default_seed)


def _positive(value, name, integer=False):
    return checks.positive(value, name, integer=integer)


def _non_negative(value, name, integer=False):
    return checks.non_negative(value, name, integer=integer)


def _check_images(cnn, x, name="x"):
    """A copy of the float (N, 3, H, W) images x (N >= 1, finite) in ``cnn.dtype``."""
    checks.batch(x, name, channels=cnn.layers[0]["in"])
    return np.array(x, dtype=cnn.dtype, copy=True)


def _check_class(cnn, c, name):
    return checks.class_index(c, name, cnn.num_classes)


def _check_targets(cnn, y, n, name="y"):
    """One class index per image (a scalar is broadcast) -> int array (n,)."""
    arr = np.asarray(y)
    if arr.ndim == 0:
        arr = np.full(n, arr.item() if arr.dtype != object else y)
    elif arr.ndim != 1:
        raise ValueError(f"{name} must be one class index or one per image, got shape "
                         f"{arr.shape}")
    else:
        checks.same_length(np.empty(n), arr, "x", name, "one class index per image")
    for c in arr:
        _check_class(cnn, c.item() if isinstance(c, np.generic) else c, name)
    return arr.astype(np.int64)


def _check_size(cnn, size, layer, name="size"):
    """Raise a clear error when a (H, W) image is too small to reach ``layer``."""
    h, w = size
    try:
        cnn.output_shape((1, 3, h, w), end=layer)
    except ValueError as exc:
        raise ValueError(f"{name} {h}x{w} is too small for layer "
                         f"{cnn.layer_names[cnn.layer_index(layer)]!r}: {exc}") from None


def random_image(cnn, size=None, rng=None, std=IMAGENET_PIXEL_STD):
    """Gaussian noise (1, 3, size, size) around the mean colour, in ``cnn.dtype``
    and the model's normalization: each value ``std * N(0, 1)`` pixel levels,
    i.e. ``std * N(0, 1) / pixel_scale`` normalized.  The default std (57.6
    levels, the ImageNet pixel std) is cs231n's ``randn(1, 3, 224, 224)`` for the
    torchvision normalization.  size: side or (H, W), default the model's input
    size (``cnn.meta['input_size']``)."""
    size = checks.image_size(cnn.meta["input_size"] if size is None else size, "size")
    std = _non_negative(std, "std")
    rng = _rng(rng)
    noise = std * rng.standard_normal((1, 3) + size) / pixel_scale(cnn)
    return noise.astype(cnn.dtype)


# =========================================================================== step rules
def _per_image_norm(g, ord_):
    g64 = g.reshape(len(g), -1).astype(np.float64)
    if ord_ == 2:
        n = np.sqrt(np.einsum("ij,ij->i", g64, g64))
    else:
        n = np.abs(g64).mean(axis=1)
    return np.maximum(n, 1e-20).reshape(-1, 1, 1, 1)


def _step_normalized(g, lr, state):
    """lr * g / ||g||_2 per image (Simonyan; cs231n's class visualization and fooling)."""
    return lr * g / _per_image_norm(g, 2)


def _step_mean_abs(g, lr, state):
    """lr * g / mean|g| per image (Mordvintsev et al.'s DeepDream)."""
    return lr * g / _per_image_norm(g, 1)


def _step_sign(g, lr, state):
    """lr * sign(g) (FGSM, Goodfellow et al. 2015)."""
    return lr * np.sign(g)


def _step_raw(g, lr, state):
    """lr * g (plain gradient ascent)."""
    return lr * g


def _step_adam(g, lr, state):
    """Adam on the negated objective (:func:`minicnn.optim.adam` descends)."""
    config = state.setdefault("adam", {"learning_rate": lr})
    zero = np.zeros_like(g)
    nxt, state["adam"] = adam(zero, -g, config)
    return nxt


#: Step rules: name -> f(g, learning_rate, state) -> the update added to x.
STEP_RULES = {"normalized": _step_normalized, "mean_abs": _step_mean_abs, "sign": _step_sign,
              "raw": _step_raw, "adam": _step_adam}


# =========================================================================== the loop
@dataclass
class AscentResult:
    """What :func:`gradient_ascent` returns.

    x: (N, C, H, W) the image after the last step; best_x: for each image the
    iterate with the highest objective value seen (the one returned when
    interrupted); best_value: (N,); values: list of (N,) objective values per
    iteration (NaN for images already stopped); steps: (N,) number of updates
    applied to each image; stopped: (N,) bool, True where ``stop`` fired;
    interrupted: True when Ctrl-C ended the run early; start: how the start
    image was chosen (``"noise"``, ``"init"``, or the restart
    :func:`class_visualization` made for a dead start, e.g.
    ``"smooth noise (draw 1, 1/16 of the size)"`` or ``"photo chelsea, blurred"``).
    """
    x: np.ndarray
    best_x: np.ndarray
    best_value: np.ndarray
    values: list = field(default_factory=list)
    steps: np.ndarray = None
    stopped: np.ndarray = None
    interrupted: bool = False
    start: str = None

    @property
    def image(self):
        """The image to keep: ``best_x`` after an interruption, else the final ``x``."""
        return self.best_x if self.interrupted else self.x


def gradient_ascent(cnn, x, objective, *, end=None, num_iterations=100, learning_rate=1.0,
                    step="normalized", penalties=(), regularizers=(), max_jitter=0,
                    symmetric_jitter=False, relu_mode="standard", stop=None, rng=None,
                    callback=None, progress=False, desc="ascent", pixel_scale=None,
                    transform=None):
    """Maximize ``objective`` over the image ``x`` by gradient ascent.

    Each iteration t, for the images not yet stopped:

    1. draw a shift (oy, ox) (up to ``max_jitter``) and roll the image;
    2. ``out, cache = cnn.forward(x_j, end=end)``; ``value, dout = objective(out, cache, idx)``;
       if ``stop(out, idx)`` is True for an image, it is left as is from now on;
    3. ``g = unroll(cnn.backward(dout, cache, relu_mode, param_grads=False))``
       minus the gradient of each penalty ``(weight, forward, backward)``
       (value -= weight * forward(x));
    4. ``x += STEP_RULES[step](g, learning_rate)``, then every projection
       ``reg(x, t, g)`` of ``regularizers`` in order;
    5. ``callback(t, x, value)`` (a True return stops the run).

    x: (N, C, H, W) start image (copied).  end: the layer the objective reads
    (default: the last).  learning_rate: a number or an array broadcasting to x.
    rng: Generator / seed / None (seed 0).  progress: tqdm bar.

    pixel_scale: None (everything in the model's normalized units, as above) or
    the model's ``regularizers.pixel_scale(cnn)`` s, (1, C, 1, 1): then the
    image is still stored normalized but steps and penalties are in pixel
    units.  With ``u = x * s`` (pixel levels from the mean colour) the loop
    uses the pixel-unit gradient ``g_u = dF/du = g / s`` minus the penalties'
    gradients at ``u`` (each penalty's ``forward`` receives u, so its weight is
    per pixel-unit value), applies the step rule to g_u (``learning_rate`` in
    pixel levels: the L2 norm of a "normalized" step, the size of a "sign" or
    "adam" step) and adds ``step / s`` to x.  Projections receive the
    normalized x and gradient (``g_u * s``).
    transform: None or ``transform(x) -> x'`` (same shape) applied to the
    iterate before the forward pass of step 2 (e.g.
    :func:`.regularizers.quantize_pixels`: the network sees the 8-bit image);
    its gradient is taken as the identity (straight-through), so the steps
    still accumulate on the float iterate x; ``stop`` and the objective values
    refer to the transformed image (``best_x`` keeps the untransformed iterate).
    Ctrl-C (KeyboardInterrupt) ends the loop and returns what was found so far
    (``result.interrupted``; ``result.image`` is then the best iterate).
    Returns an :class:`AscentResult`.
    """
    from tqdm.auto import tqdm
    checks.choice(step, STEP_RULES, "step", label="step rule")
    num_iterations = _non_negative(num_iterations, "num_iterations", integer=True)
    if np.ndim(learning_rate) == 0:
        _positive(learning_rate, "learning_rate")
    elif not np.all(np.asarray(learning_rate) > 0) or \
            not np.all(np.isfinite(np.asarray(learning_rate))):
        raise ValueError("learning_rate must be positive and finite (every entry of the "
                         "array)")
    max_jitter = _non_negative(max_jitter, "max_jitter", integer=True)
    end = cnn.layer_names[cnn.layer_index(end if end is not None else -1, "end")]
    x = _check_images(cnn, x)
    _check_size(cnn, x.shape[2:], end, name="x of spatial size")
    rng = _rng(rng)
    if pixel_scale is not None:
        pixel_scale = np.asarray(pixel_scale, dtype=np.float64)
        if not np.all(pixel_scale > 0):
            raise ValueError("pixel_scale must be positive")
    n = len(x)
    active = np.ones(n, dtype=bool)
    stopped = np.zeros(n, dtype=bool)
    steps = np.zeros(n, dtype=int)
    best_x, best_value = x.copy(), np.full(n, -np.inf)
    values, state, interrupted = [], {}, False
    bar = tqdm(range(num_iterations), desc=desc, disable=not progress, leave=False)
    try:
        for t in bar:
            idx = np.flatnonzero(active)
            oy, ox = random_shift(rng, max_jitter, symmetric_jitter)
            xa = x[idx] if len(idx) < n else x
            xs = xa if transform is None else transform(xa)    # what the network sees
            out, cache = cnn.forward(jitter(xs, oy, ox) if (oy or ox) else xs, end=end)
            value, dout = objective(out, cache, idx)
            value = np.array(value, dtype=np.float64).reshape(len(idx))
            if stop is not None:
                done = np.asarray(stop(out, idx), dtype=bool).reshape(len(idx))
            else:
                done = np.zeros(len(idx), dtype=bool)
            dx, _ = cnn.backward(dout, cache, relu_mode=relu_mode, param_grads=False)
            g = unjitter(dx, oy, ox) if (oy or ox) else dx
            xp = xa
            if pixel_scale is not None:                        # dF/du = dF/dx / s, u = x s
                g = (g / pixel_scale).astype(x.dtype)
                xp = (xa * pixel_scale).astype(x.dtype)
            for weight, forward, backward in penalties:       # value - w * P(x) (or P(u))
                p, pcache = forward(xp)
                value -= weight * p
                g = g - backward(np.full(len(idx), weight), pcache)
            row = np.full(n, np.nan)
            row[idx] = value
            values.append(row)
            better = value > best_value[idx]
            best_value[idx[better]] = value[better]
            best_x[idx[better]] = xa[better]
            if done.any():
                stopped[idx[done]] = True
                active[idx[done]] = False
                keep = ~done
                idx, g, xa = idx[keep], g[keep], xa[keep]
                if not active.any():
                    break
            gfull = g
            if len(idx) < n:                                   # stopped images get no step
                gfull = np.zeros_like(x)
                gfull[idx] = g
            delta = STEP_RULES[step](gfull, learning_rate, state)
            if pixel_scale is not None:                        # pixel levels -> units
                delta = delta / pixel_scale
                g = g * pixel_scale
            if len(idx) < n:
                x[idx] = x[idx] + delta[idx].astype(x.dtype, copy=False)
            else:
                x += delta.astype(x.dtype, copy=False)
            steps[idx] += 1
            for reg in regularizers:
                projected = reg(x[idx] if len(idx) < n else x, t, g)
                if len(idx) < n:
                    x[idx] = projected
                else:
                    x = np.ascontiguousarray(projected, dtype=cnn.dtype)
            if progress and n == 1:
                bar.set_postfix(value=f"{value[0]:.4g}", refresh=False)
            if callback is not None and callback(t, x, row):
                break
    except KeyboardInterrupt:
        interrupted = True
        warnings.warn(f"interrupted after {len(values)} iterations; returning the best "
                      "image so far", RuntimeWarning, stacklevel=2)
    finally:
        bar.close()
    never = ~np.isfinite(best_value)            # interrupted before any evaluation
    best_x[never] = x[never]
    return AscentResult(x=x, best_x=best_x, best_value=best_value, values=values,
                        steps=steps, stopped=stopped, interrupted=interrupted)


# =========================================================================== objectives
def class_score_objective(target, num_classes):
    """Raw (unnormalized) score of class ``target`` (an int or (N,) ints) at the
    (N, K) output: value s_y, gradient one-hot(y) (Simonyan et al. 2014)."""
    target = np.atleast_1d(np.asarray(target))

    def objective(out, cache, idx):
        y = target if target.size == 1 else target[idx]
        rows = np.arange(len(out))
        dout = np.zeros_like(out)
        dout[rows, y] = 1.0
        return out[rows, y], dout
    return objective


def neuron_objective(channel, position=None):
    """One channel of a (N, C, H, W) feature map: its spatial mean (``position``
    None) or the single neuron at ``position = (i, j)``; gradient the matching
    one-hot (or 1/(H W) on the channel)."""
    def objective(out, cache, idx):
        if out.ndim != 4:
            raise ValueError("a neuron target needs a convolutional layer, not the scores")
        dout = np.zeros_like(out)
        if position is None:
            h, w = out.shape[2:]
            dout[:, channel] = 1.0 / (h * w)
            return out[:, channel].mean(axis=(1, 2)), dout
        i, j = position
        if not (0 <= i < out.shape[2] and 0 <= j < out.shape[3]):
            raise ValueError(f"target position {position} is outside the feature map of "
                             f"size {out.shape[2]}x{out.shape[3]}")
        dout[:, channel, i, j] = 1.0
        return out[:, channel, i, j], dout
    return objective


def _parse_target(cnn, target):
    """-> (end layer, objective, description) for a class index, (layer, channel)
    or (layer, channel, (i, j))."""
    if isinstance(target, tuple):
        if len(target) not in (2, 3):
            raise ValueError("target must be a class index, (layer, channel) or "
                             f"(layer, channel, (i, j)), got {target!r}")
        layer = cnn.layer_names[cnn.layer_index(target[0], "target layer")]
        channel = target[1]
        c_out = cnn.layers[cnn.layer_index(layer)]["out"]
        if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
                or not 0 <= channel < c_out:
            raise ValueError(f"target channel must be an int in 0..{c_out - 1} for layer "
                             f"{layer!r}, got {channel!r}")
        if cnn.layers[cnn.layer_index(layer)]["type"] == "gap":
            raise ValueError("use a class index (int) as target for the scores layer "
                             f"{layer!r}")
        position = tuple(int(p) for p in target[2]) if len(target) == 3 else None
        return layer, neuron_objective(int(channel), position), position
    target = _check_class(cnn, target, "target")
    return cnn.layer_names[-1], class_score_objective(target, cnn.num_classes), None


# =========================================================================== dead starts
def _zero_gradient(cnn, x, end, objective):
    """True when the objective's gradient at image x (1, 3, H, W) is exactly zero
    (e.g. a channel whose ReLU output is 0 everywhere: no signal to ascend)."""
    out, cache = cnn.forward(x, end=end)
    _, dout = objective(out, cache, np.arange(len(x)))
    dx, _ = cnn.backward(dout, cache, param_grads=False)
    return not np.any(dx)


#: Restarts tried by :func:`class_visualization` when the objective has no gradient
#: at the noise start: smooth noise (Gaussian noise of 100 levels std drawn at 1/16,
#: 1/8 and 1/32 of the size, bilinearly enlarged), then the photo of
#: ``available_images("photos")`` where the target is most active, blurred.
DEAD_START_FACTORS = (16, 8, 32)


def _alive_start(cnn, x, end, objective, rng, lo, hi):
    """(start image, description) where the objective has a gradient, or (x, None)
    when none of the restarts has one.  Draws from ``rng`` only when x is dead."""
    h, w = x.shape[2:]
    for k, f in enumerate(DEAD_START_FACTORS):
        small = random_image(cnn, (max(1, h // f), max(1, w // f)), rng, std=100.0)
        cand = np.clip(_resize(small, (h, w)), lo, hi).astype(cnn.dtype)
        if not _zero_gradient(cnn, cand, end, objective):
            return cand, f"smooth noise (draw {k + 1}, 1/{f} of the size)"
    from ..data import available_images, load_image
    from .regularizers import gaussian_blur
    photos = available_images("photos")
    batch = cnn.preprocess([load_image(p) for p in photos], size=max(h, w), crop=(h, w))
    best, best_value = None, 0.0
    for i in range(len(batch)):
        out, cache = cnn.forward(batch[i:i + 1], end=end)
        value = float(objective(out, cache, np.arange(1))[0][0])
        if value > best_value:
            best, best_value = i, value
    if best is not None:
        cand = gaussian_blur(batch[best:best + 1], 2.0)
        cand = cand + (10.0 * rng.standard_normal(cand.shape) / pixel_scale(cnn))
        cand = np.clip(cand, lo, hi).astype(cnn.dtype)
        if not _zero_gradient(cnn, cand, end, objective):
            return cand, f"photo {photos.names[best]}, blurred"
    return x, None


# =========================================================================== class viz
#: Defaults of :func:`class_visualization` in pixel units: cs231n's learning rate 25
#: and L2 weight 1e-3 in the torchvision normalization (one unit ~ 57.6 levels)
#: become a step of L2 norm 25 * 57.6 = 1440 pixel levels and 1e-3 / 57.6^2 = 3e-7
#: per squared pixel level.
CLASS_VISUALIZATION_DEFAULTS = {"learning_rate": 1440.0, "l2_reg": 3e-7}


def class_visualization(cnn, target, *, num_iterations=100,
                        l2_reg=CLASS_VISUALIZATION_DEFAULTS["l2_reg"],
                        learning_rate=CLASS_VISUALIZATION_DEFAULTS["learning_rate"],
                        blur_every=10, blur_sigma=0.5, max_jitter=16, decay=0.0,
                        clip_value=0.0, clip_norm=0.0, clip_contribution=0.0, size=None,
                        init=None, rng=None, callback=None, progress=False,
                        return_result=False):
    """Class (or neuron) visualization by regularized gradient ascent.

    Simonyan et al. 2014 (§2): ``argmax_x S_c(x) - l2_reg ||u||_2^2`` with the
    raw class score S_c (before softmax) and ``u = x * pixel_scale`` the image
    in pixel levels from the mean colour; Yosinski et al. 2015 (§3) add the
    image priors below.  cs231n's procedure: start from Gaussian noise
    (:func:`random_image`, 57.6 levels std) at the model's input size, each
    iteration jitter by up to ``max_jitter`` px (rolled, then unrolled), step
    ``u += learning_rate * g_u / ||g_u||_2`` (g_u the gradient with respect to
    u), clamp every pixel to 0..255, Gaussian blur with ``blur_sigma`` px at
    iterations 0, blur_every, 2 blur_every, ...

    Units (the same for every weight set): learning_rate is the L2 norm of each
    step in pixel levels (default 1440, cs231n's 25 in the torchvision
    normalization); l2_reg is per squared pixel level (default 3e-7, cs231n's
    1e-3); max_jitter and blur_sigma are in pixels.

    target: a class index, ``(layer, channel)`` (the channel's mean activation)
    or ``(layer, channel, (i, j))`` (one neuron), e.g. ``("fire7", 12)``.
    decay, clip_value, clip_norm, clip_contribution: Yosinski's regularizers
    (decay rate per step, towards the mean colour; percentiles 0..100 of pixels
    set to the mean colour each step, ranked by |value| and channel norm in
    pixel levels, or by contribution; 0 disables).  blur_every=0 disables blurring.  size: image side (default
    the model's input size) or (H, W).  init: a start image (1, 3, H, W)
    instead of noise (e.g. to resume).  Dead start: when the objective's
    gradient at the noise start is exactly zero (a channel that is 0 everywhere
    on noise: 62 of fire7's 384 channels, e.g. ``("fire7", 12)``), the run
    restarts from smooth noise (a few seeded draws, :data:`DEAD_START_FACTORS`)
    and then from the photo of ``available_images("photos")`` where the target
    is most active, blurred (sigma 2 px) with 10 levels of noise;
    ``result.start`` says which.  If none has a gradient a RuntimeWarning
    names the dead target and the (flat) noise run is returned.  rng: Generator / seed / None (seed 0).
    callback(t, x, value) after every step.  Returns x (1, 3, H, W), or the
    :class:`AscentResult` when ``return_result``.  Ctrl-C returns the best
    image so far.
    """
    end, objective, _ = _parse_target(cnn, target)
    num_iterations = _positive(num_iterations, "num_iterations", integer=True)
    learning_rate = _positive(learning_rate, "learning_rate")
    l2_reg = _non_negative(l2_reg, "l2_reg")
    blur_every = _non_negative(blur_every, "blur_every", integer=True)
    blur_sigma = _non_negative(blur_sigma, "blur_sigma")
    max_jitter = _non_negative(max_jitter, "max_jitter", integer=True)
    decay = checks.in_range(decay, "decay", 0, 1)
    if decay >= 1:
        raise ValueError(f"decay must be in [0, 1) (a rate per step), got {decay!r}")
    for name, pct in (("clip_value", clip_value), ("clip_norm", clip_norm),
                      ("clip_contribution", clip_contribution)):
        checks.in_range(pct, name, 0, 100)
    if size is not None:
        size = checks.image_size(size, "size")
    rng = _rng(rng)
    if init is None:
        x = random_image(cnn, size, rng)
    else:
        x = _check_images(cnn, init, "init")
    _check_size(cnn, x.shape[2:], end)
    lo, hi = pixel_range(cnn)
    scale = pixel_scale(cnn)
    start = "noise" if init is None else "init"
    if init is None and _zero_gradient(cnn, x, end, objective):
        x, start = _alive_start(cnn, x, end, objective, rng, lo, hi)
        if start is None:
            start = "noise (dead: no gradient)"
            warnings.warn(f"target {target!r} is dead: its gradient is zero on the noise "
                          "start, on smooth noise and on every photo of "
                          "available_images('photos'); the result stays flat",
                          RuntimeWarning, stacklevel=2)
    penalties = [(l2_reg, l2_forward, l2_backward)] if l2_reg > 0 else []
    regs = [make_regularizer("clamp", lo=lo, hi=hi)]
    if blur_every and blur_sigma > 0:
        regs.append(make_regularizer("blur", sigma=blur_sigma, every=blur_every))
    if decay:
        regs.insert(0, make_regularizer("decay", rate=decay))
    for name, pct in (("clip_value", clip_value), ("clip_norm", clip_norm),
                      ("clip_contribution", clip_contribution)):
        if pct:
            extra = {} if name == "clip_contribution" else {"scale": scale}
            regs.append(make_regularizer(name, percentile=pct, **extra))
    result = gradient_ascent(cnn, x, objective, end=end, num_iterations=num_iterations,
                             learning_rate=learning_rate, step="normalized",
                             penalties=penalties, regularizers=regs, max_jitter=max_jitter,
                             rng=rng, callback=callback, progress=progress,
                             desc=f"classviz {target}", pixel_scale=scale)
    result.start = start
    return result if return_result else result.image


# =========================================================================== fooling
def _fool_target(target, num_classes):
    def objective(out, cache, idx):
        return class_score_objective(target, num_classes)(out, cache, idx)
    return objective


def _fool_margin(target, y):
    """Target score minus true score (lecture notes): gradient +1 at target, -1 at y."""
    def objective(out, cache, idx):
        rows = np.arange(len(out))
        dout = np.zeros_like(out)
        dout[rows, target] = 1.0
        dout[rows, y[idx]] -= 1.0
        return out[rows, target] - out[rows, y[idx]], dout
    return objective


#: Fooling objectives: "target" (cs231n: the target's raw score) and "margin"
#: (target score minus true score, from the lecture notes).
FOOLING_OBJECTIVES = ("target", "margin")


def make_fooling_image(cnn, x, target, *, learning_rate=IMAGENET_PIXEL_STD, max_iter=100, y=None,
                       objective="target", clamp=False, callback=None, progress=False,
                       return_info=False, quantize=True):
    """A fooling image (adversarial example) classified as ``target``.

    Szegedy et al. 2014; cs231n's procedure: repeat ``u += learning_rate * g_u /
    ||g_u||_2`` with u the image in pixel levels (``x * pixel_scale``) and g_u
    the gradient of the objective with respect to u, until the model's argmax
    is ``target``, at most ``max_iter`` steps (each image of the batch stops
    on its own).  objective: "target" (raw target score S_t) or "margin"
    (S_t - S_y, needs the true classes ``y``).
    learning_rate: the L2 norm of each step in pixel levels (0..255 scale);
    the default 57.6 is cs231n's 1.0 in the torchvision normalization.

    x: (N, 3, H, W).  y: true classes (int or (N,)), default the model's
    predictions; a ``target`` equal to an image's true class is an error.
    clamp: keep pixels in the valid range (cs231n does not).
    quantize: fool in 8-bit space (default).  A fooling change is mostly below
    one pixel level, so rounding to 8 bits (saving a PNG) undoes it; with
    ``quantize`` the network sees, at every step, the iterate projected onto
    the 8-bit grid (:func:`.regularizers.quantize_pixels`, in the model's
    channel order and preprocessing), the steps accumulate on the float
    iterate (straight-through gradient), the run stops when the *quantized*
    image is classified as ``target``, and the quantized image is returned
    (pixels clipped to 0..255), so ``cnn.preprocess(cnn.deprocess(x_fool),
    size=H, crop=None)`` equals x_fool and still fools.  x should be on the grid
    (``cnn.preprocess`` of a uint8 image) for "change" to mean the PNG's change.
    quantize=False is cs231n's float procedure.
    Returns x_fool (N, 3, H, W), or (x_fool, info) when ``return_info``:
    info["steps"] (N,) updates applied, info["fooled"] (N,) argmax == target,
    info["mean_change"], info["max_change"] (N,) mean / max |pixel change| in
    pixel levels (multiples of 1/255 of the range).
    """
    checks.choice(objective, FOOLING_OBJECTIVES, "objective", label="fooling objective")
    target = _check_class(cnn, target, "target")
    learning_rate = _positive(learning_rate, "learning_rate")
    max_iter = _positive(max_iter, "max_iter", integer=True)
    x0 = _check_images(cnn, x)
    if y is None:
        y = np.argmax(cnn.scores(x0), axis=1)
        which = "predicted class"
    else:
        y = _check_targets(cnn, y, len(x0))
        which = "true class y"
    if np.any(y == target):
        bad = np.flatnonzero(y == target).tolist()
        raise ValueError(f"target {target} equals the {which} of image(s) {bad}: choose a "
                         "different target class")
    obj = _fool_target(target, cnn.num_classes) if objective == "target" \
        else _fool_margin(target, y)

    def stop(out, idx):
        return np.argmax(out, axis=1) == target

    regs = []
    if clamp:
        lo, hi = pixel_range(cnn)
        regs.append(make_regularizer("clamp", lo=lo, hi=hi))
    transform = (lambda z: quantize_pixels(cnn, z)) if quantize else None
    result = gradient_ascent(cnn, x0, obj, num_iterations=max_iter,
                             learning_rate=learning_rate, step="normalized", stop=stop,
                             regularizers=regs, callback=callback, progress=progress,
                             desc=f"fool -> {target}", pixel_scale=pixel_scale(cnn),
                             transform=transform)
    x_fool = result.x if transform is None else transform(result.x)
    fooled = result.stopped.copy()
    last = np.flatnonzero(~fooled)           # images whose last update was never checked
    if len(last):
        fooled[last] = np.argmax(cnn.scores(x_fool[last]), axis=1) == target
    if not return_info:
        return x_fool
    change = np.abs(x_fool.astype(np.float64) - x0) * pixel_scale(cnn)
    info = {"steps": result.steps.copy(), "fooled": fooled,
            "mean_change": change.mean(axis=(1, 2, 3)), "max_change": change.max(axis=(1, 2, 3)),
            "interrupted": result.interrupted}
    return x_fool, info


def fgsm(cnn, x, y, epsilon, steps=1, *, step_size=None, targeted=False, callback=None,
         progress=False, quantize=True):
    """Fast gradient sign method (Goodfellow et al. 2015) and its iterative form
    (Kurakin et al. 2017): ``x <- clip_{x0, eps}(x + a sign(grad_x loss))``.

    loss: softmax cross-entropy of the classes ``y`` (ascended: untargeted), or
    with ``targeted`` its negative for target classes ``y`` (descended towards y).
    epsilon: the L-infinity budget as a fraction of the pixel range (8/255 =
    8 pixel levels), converted per channel to normalized units
    (``255 eps / pixel_scale``); ``step_size`` likewise.
    steps: 1 is FGSM (a = eps); more is iterative FGSM with step
    ``step_size`` (default min(eps, 2.5 eps / steps)), each step projected on
    the eps-ball around x and the valid pixel range.
    quantize: (default) the network sees the iterate rounded to the 8-bit pixel
    grid (:func:`.regularizers.quantize_pixels`; straight-through gradient)
    and the returned image is that rounded image, clipped to the eps-ball
    again, so a saved PNG keeps the attack (x on the grid and eps a whole
    number of levels: the result is exactly on the grid).  Returns x_adv
    (N, 3, H, W).
    """
    epsilon = _positive(epsilon, "epsilon")
    steps = _positive(steps, "steps", integer=True)
    step_size = (epsilon if steps == 1 else min(epsilon, 2.5 * epsilon / steps)) \
        if step_size is None else _positive(step_size, "step_size")
    x0 = _check_images(cnn, x)
    y = _check_targets(cnn, y, len(x0))
    scale = pixel_scale(cnn)
    eps = (epsilon * 255.0 / scale).astype(cnn.dtype)   # fraction of the range -> units
    lo, hi = pixel_range(cnn)
    lo_b, hi_b = np.maximum(lo, x0 - eps), np.minimum(hi, x0 + eps)
    sign = -1.0 if targeted else 1.0

    def objective(out, cache, idx):
        s = out.astype(np.float64)
        s -= s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        rows = np.arange(len(out))
        dout = np.exp(logp)                           # d(-log p_y)/ds = softmax - onehot
        dout[rows, y[idx]] -= 1.0
        return sign * -logp[rows, y[idx]], (sign * dout).astype(out.dtype)

    project = make_regularizer("clamp", lo=lo_b, hi=hi_b)
    transform = None
    if quantize:
        half = (0.5 / scale).astype(cnn.dtype)               # half a level, normalized

        def transform(z):
            q = quantize_pixels(cnn, z)
            q = np.where(q < lo + half, lo, np.where(q > hi - half, hi, q))   # 0, 255 exact
            return np.clip(q, lo_b, hi_b)
    result = gradient_ascent(cnn, x0, objective, num_iterations=steps,
                             learning_rate=step_size * 255.0, step="sign",
                             regularizers=[project], callback=callback, progress=progress,
                             desc="fgsm", pixel_scale=scale, transform=transform)
    return result.image if transform is None else transform(result.image)


# =========================================================================== DeepDream
def dream_objective():
    """0.5 ||a||^2 of the feature map a; its gradient is a itself (Mordvintsev et al.)."""
    def objective(out, cache, idx):
        return 0.5 * np.einsum("nchw,nchw->n", out, out, dtype=np.float64), out
    return objective


def guided_dream_objective(guide_features):
    """Guided dreaming: for every position i of a (1, C, H, W) map, the best dot
    product max_j <a_i, g_j> with the guide's feature vectors g_j (C, M);
    gradient at a_i: the matching g_j (Mordvintsev et al.'s ``objective_guide``)."""
    g = guide_features.reshape(guide_features.shape[1], -1)           # (C, M)

    def objective(out, cache, idx):
        n, c, h, w = out.shape
        a = out.reshape(n, c, h * w)
        dots = np.einsum("nci,cm->nim", a, g)                         # (N, HW, M)
        best = dots.argmax(axis=2)                                    # (N, HW)
        dout = g[:, best].transpose(1, 0, 2).reshape(out.shape)       # (N, C, HW)
        return dots.max(axis=2).sum(axis=1), np.ascontiguousarray(dout, dtype=out.dtype)
    return objective


def _resize(x, shape):
    """Bilinear resize of (N, C, H, W) to spatial ``shape`` (scipy.ndimage.zoom, order 1)."""
    from scipy.ndimage import zoom
    if tuple(x.shape[2:]) == tuple(shape):
        return x
    factors = (1, 1, shape[0] / x.shape[2], shape[1] / x.shape[3])
    out = zoom(x, factors, order=1, mode="nearest", grid_mode=False)
    if out.shape[2:] != tuple(shape):              # guard against rounding of the size
        out = out[:, :, :shape[0], :shape[1]]
    return out.astype(x.dtype, copy=False)


def deepdream(cnn, x, layer, *, iterations=10, learning_rate=1.5, octaves=3, octave_scale=1.4,
              max_jitter=32, guide=None, relu_mode="standard", rng=None, callback=None,
              progress=False, return_result=False):
    """DeepDream (Mordvintsev, Olah & Tyka 2015): amplify whatever ``layer`` sees.

    Objective 0.5 ||a||^2 at ``layer``, so the gradient injected into
    ``cnn.backward`` is the activation a itself; with ``guide`` (a preprocessed
    (1, 3, h, w) image), the best dot product with the guide's features.
    Procedure (as the original notebook): an image pyramid of ``octaves``
    levels, each ``octave_scale`` times smaller; from the smallest level up,
    add the detail dreamt so far (upscaled) and run ``iterations`` steps of
    ``x += learning_rate * g / mean|g|`` with random jitter in
    [-max_jitter, max_jitter] and pixels clamped to the valid range.
    ``learning_rate`` is in pixel levels (0..255 scale, as the original's 1.5):
    the step ``learning_rate * g_u / mean|g_u|`` is taken on the pixel-unit
    image u = x * pixel_scale (g_u its gradient) and converted per channel to
    normalized units.  max_jitter is in pixels.

    x: (1, 3, H, W); returns the dream (1, 3, H, W), or with ``return_result``
    an :class:`AscentResult` whose ``x`` and ``image`` are the dream, ``values``
    every step's objective over all octaves and ``interrupted`` tells whether
    Ctrl-C ended the run.  The smallest octave must still reach ``layer``.
    callback(octave, t, x, value).  Ctrl-C returns the dream so far at full size
    (with a RuntimeWarning).
    """
    layer = cnn.layer_names[cnn.layer_index(layer)]
    if cnn.layers[cnn.layer_index(layer)]["type"] == "gap":
        raise ValueError(f"layer must be a convolutional block, not the scores {layer!r}")
    iterations = _positive(iterations, "iterations", integer=True)
    learning_rate = _positive(learning_rate, "learning_rate")
    octaves = _positive(octaves, "octaves", integer=True)
    octave_scale = _positive(octave_scale, "octave_scale")
    if octave_scale < 1:
        raise ValueError(f"octave_scale must be at least 1, got {octave_scale}")
    max_jitter = _non_negative(max_jitter, "max_jitter", integer=True)
    x = _check_images(cnn, x)
    rng = _rng(rng)
    shapes = [tuple(int(round(s / octave_scale ** k)) for s in x.shape[2:])
              for k in range(octaves)]
    _check_size(cnn, shapes[-1], layer, name="x (smallest octave) of size")
    if guide is not None:
        guide = _check_images(cnn, guide, "guide")
        _check_size(cnn, guide.shape[2:], layer, name="guide of size")
        gfeat, _ = cnn.forward(guide[:1], end=layer)
        objective = guided_dream_objective(gfeat)
    else:
        objective = dream_objective()
    lo, hi = pixel_range(cnn)
    clamp = make_regularizer("clamp", lo=lo, hi=hi)
    scale = pixel_scale(cnn)
    bases = [x] + [_resize(x, s) for s in shapes[1:]]
    detail = np.zeros_like(bases[-1])
    dream = x
    values, interrupted, result = [], False, None
    for octave in range(octaves - 1, -1, -1):
        base = bases[octave]
        detail = _resize(detail, base.shape[2:])
        cb = None if callback is None else \
            (lambda t, xi, v, o=octave: callback(o, t, xi, v))
        result = gradient_ascent(cnn, base + detail, objective, end=layer,
                                 num_iterations=iterations, learning_rate=learning_rate,
                                 step="mean_abs", regularizers=[clamp], max_jitter=max_jitter,
                                 symmetric_jitter=True, relu_mode=relu_mode, rng=rng,
                                 callback=cb, progress=progress,
                                 desc=f"dream {layer} octave {octaves - octave}/{octaves}",
                                 pixel_scale=scale)
        detail = result.x - base
        dream = result.x
        values += result.values
        if result.interrupted:
            warnings.warn("DeepDream interrupted: returning the dream so far", RuntimeWarning,
                          stacklevel=2)
            dream = np.clip(x + _resize(detail, x.shape[2:]), lo, hi)
            interrupted = True
            break
    if not return_result:
        return dream
    return AscentResult(x=dream, best_x=dream, best_value=result.best_value, values=values,
                        steps=result.steps, stopped=result.stopped, interrupted=interrupted)


# =========================================================================== inversion
def feature_inversion_objective(target_features):
    """-||phi - phi0||^2 / ||phi0||^2 (negated: the loop ascends); gradient
    -2 (phi - phi0) / ||phi0||^2 (Mahendran & Vedaldi 2015, eq. 1, normalized)."""
    phi0 = target_features
    norm = max(float(np.sum(phi0.astype(np.float64) ** 2)), 1e-12)

    def objective(out, cache, idx):
        diff = out - phi0
        value = -np.einsum("nchw,nchw->n", diff, diff, dtype=np.float64) / norm
        return value, (-2.0 / norm * diff).astype(out.dtype)
    return objective


#: Defaults of :func:`invert_features` in pixel units, chosen on kitten.jpg at 160 px
#: for conv1..fire7 with the torchvision weights (normalized: learning rate 0.1,
#: tv_weight 2e-5, alpha_weight 1e-8; tv_weight 1e-5 left noise at deep layers,
#: 1e-4 washed out colour), converted with one unit ~ 57.6 pixel levels:
#: learning rate 0.1 * 57.6 levels, TV weight 2e-5 / 57.6^2 per squared level,
#: alpha weight 1e-8 / 57.6^6 per level^6.
INVERSION_DEFAULTS = {"iterations": 200, "learning_rate": 5.76, "tv_weight": 6e-9,
                      "alpha_weight": 2.7e-19}


def invert_features(cnn, target_features, layer, *, iterations=200,
                    tv_weight=INVERSION_DEFAULTS["tv_weight"], tv_beta=2.0,
                    alpha_weight=INVERSION_DEFAULTS["alpha_weight"], alpha=6.0,
                    learning_rate=INVERSION_DEFAULTS["learning_rate"],
                    image_size=None, init=None, blur_every=0, blur_sigma=0.5, rng=None,
                    callback=None, progress=False, return_result=False):
    """Feature inversion (Mahendran & Vedaldi 2015): an image whose features at
    ``layer`` match ``target_features``.

    Minimizes, from Gaussian noise (:func:`random_image`), with Adam and
    pixels clamped to the valid range::

        ||phi(x) - phi0||^2 / ||phi0||^2 + tv_weight TV^tv_beta(u)
                                          + alpha_weight ||u||_alpha^alpha

    where ``u = x * pixel_scale`` is the image in pixel levels from the mean
    colour (the feature term is normalized by ||phi0||^2 as in the paper so
    that the weights carry over between layers; TV as
    :func:`.regularizers.tv_forward`).  Units, the same for every weight set:
    learning_rate is Adam's step in pixel levels (default 5.76); tv_weight per
    (pixel level)^tv_beta (default 6e-9); alpha_weight per (pixel level)^alpha
    (default 2.7e-19); blur_sigma in pixels.

    target_features: (1, C, h, w) = ``cnn.forward(x0, end=layer)[0]``.
    image_size: side or (H, W) of the image to reconstruct (default the model's
    input size); it must produce features of the target's shape.  init: start
    image instead of noise.  Returns x (1, 3, H, W) (or the
    :class:`AscentResult` with ``return_result``; ``-values`` are the losses).
    """
    layer = cnn.layer_names[cnn.layer_index(layer)]
    if not isinstance(target_features, np.ndarray) or target_features.ndim not in (2, 4):
        raise ValueError("target_features must be the (1, C, h, w) output of "
                         f"cnn.forward(x0, end={layer!r})")
    checks.finite(target_features, "target_features")
    tv_beta = _positive(tv_beta, "tv_beta")
    alpha = _positive(alpha, "alpha")
    blur_every = _non_negative(blur_every, "blur_every", integer=True)
    blur_sigma = _non_negative(blur_sigma, "blur_sigma")
    iterations = _positive(iterations, "iterations", integer=True)
    learning_rate = _positive(learning_rate, "learning_rate")
    tv_weight = _non_negative(tv_weight, "tv_weight")
    alpha_weight = _non_negative(alpha_weight, "alpha_weight")
    rng = _rng(rng)
    if init is None:
        x = random_image(cnn, image_size, rng)
    else:
        x = _check_images(cnn, init, "init")
    _check_size(cnn, x.shape[2:], layer, name="image_size")
    expected = cnn.output_shape(x.shape, end=layer)
    if tuple(target_features.shape) != tuple(expected):
        raise ValueError(f"target_features has shape {target_features.shape} but an image of "
                         f"size {x.shape[2]}x{x.shape[3]} gives {expected} at {layer!r}; "
                         "pass the image_size the features were computed at")
    phi0 = np.asarray(target_features, dtype=cnn.dtype)
    penalties = []
    if tv_weight:
        penalties.append((tv_weight, lambda z: tv_forward(z, tv_beta), tv_backward))
    if alpha_weight:
        penalties.append((alpha_weight, lambda z: alpha_norm_forward(z, alpha),
                          alpha_norm_backward))
    lo, hi = pixel_range(cnn)
    regs = [make_regularizer("clamp", lo=lo, hi=hi)]
    if blur_every:
        regs.append(make_regularizer("blur", sigma=blur_sigma, every=blur_every))
    result = gradient_ascent(cnn, x, feature_inversion_objective(phi0), end=layer,
                             num_iterations=iterations, learning_rate=learning_rate,
                             step="adam", penalties=penalties, regularizers=regs, rng=rng,
                             callback=callback, progress=progress, desc=f"invert {layer}",
                             pixel_scale=pixel_scale(cnn))
    return result if return_result else result.image


# =========================================================================== single steps
# The loop bodies of the techniques above, one step in the model's normalized units
# (as cs231n writes them), for teaching and grading (assignment 3).  Each is one
# iteration of :func:`gradient_ascent` with the technique's objective and step rule,
# so the math has one implementation.
def class_visualization_step(cnn, x, target, l2_reg, learning_rate, shift=(0, 0)):
    """One class-visualization update (Simonyan et al. 2014; cs231n), normalized units.

    x: (N, 3, H, W).  Roll x by ``shift = (oy, ox)`` pixels (jitter, down/right,
    circular), then with s the raw score of class ``target``
        g  = d s_target / dx  -  2 l2_reg x           (ascent on s - l2_reg ||x||^2)
        x' = x + learning_rate * g / ||g||_2           (per image)
    and roll back.  Returns x' (the image is not clamped or blurred: those
    regularizers are separate projections, see :func:`class_visualization`).
    """
    oy, ox = (int(v) for v in shift)
    penalties = [(l2_reg, l2_forward, l2_backward)] if l2_reg else []
    xj = jitter(_check_images(cnn, x), oy, ox) if (oy or ox) else x
    result = gradient_ascent(cnn, xj, class_score_objective(_check_class(cnn, target, "target"),
                                                            cnn.num_classes),
                             num_iterations=1, learning_rate=learning_rate, step="normalized",
                             penalties=penalties)
    return unjitter(result.x, oy, ox) if (oy or ox) else result.x


def fooling_step(cnn, x, target, learning_rate):
    """One fooling-image update (Szegedy et al. 2014; cs231n), normalized units:
    ``x + learning_rate * g / ||g||_2`` with g the gradient of the raw score of
    class ``target`` (per image).  x: (N, 3, H, W) -> (N, 3, H, W)."""
    result = gradient_ascent(cnn, x, class_score_objective(_check_class(cnn, target, "target"),
                                                           cnn.num_classes),
                             num_iterations=1, learning_rate=learning_rate, step="normalized")
    return result.x


def deepdream_step(cnn, x, layer, learning_rate):
    """One DeepDream update (Mordvintsev et al. 2015), normalized units: with a the
    activations of ``layer``, the objective 0.5 ||a||^2 has the gradient a itself,
    so ``g = cnn.backward(a, cache)`` and ``x' = x + learning_rate * g / mean|g|``
    (per image).  x: (N, 3, H, W) -> (N, 3, H, W)."""
    end = cnn.layer_names[cnn.layer_index(layer)]
    result = gradient_ascent(cnn, x, dream_objective(), end=end, num_iterations=1,
                             learning_rate=learning_rate, step="mean_abs")
    return result.x


def feature_inversion_loss(cnn, x, layer, target_features, tv_weight, tv_beta=2.0):
    """The feature inversion objective (Mahendran & Vedaldi 2015) and its gradient,
    normalized units, one image x (1, 3, H, W):

        L(x) = ||phi(x) - phi0||^2 / ||phi0||^2 + tv_weight * TV^tv_beta(x)

    with phi the activations of ``layer``, phi0 = ``target_features`` (1, C, h, w)
    and TV^beta = sum (dv^2 + dh^2 + eps)^(beta/2) (:func:`.regularizers.tv_forward`;
    eps = 1e-8 for beta < 2, else 0).  Returns ``(loss float, dx (1, 3, H, W))``.
    """
    end = cnn.layer_names[cnn.layer_index(layer)]
    out, cache = cnn.forward(x, end=end)
    value, dout = feature_inversion_objective(np.asarray(target_features))(out, cache, None)
    dx, _ = cnn.backward(dout, cache, param_grads=False)          # gradient of -feature term
    tv, tcache = tv_forward(x, tv_beta)
    loss = -float(np.sum(value)) + tv_weight * float(np.sum(tv))
    dx = -dx + tv_backward(np.full(len(x), float(tv_weight)), tcache)
    return loss, dx
