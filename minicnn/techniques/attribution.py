"""Attribution: which pixels matter for a class score or a neuron (one backward pass each).

Every function takes the model first and images ``x`` of shape (N, C, H, W) in the
model's preprocessing (``cnn.preprocess``), and uses only the model protocol
``cnn.forward(x, start, end) -> (out, cache)`` and
``cnn.backward(dout, cache, relu_mode, param_grads=False) -> (dx, grads)``.

- :func:`saliency_map` -- Simonyan, Vedaldi & Zisserman 2014, "Deep Inside
  Convolutional Networks": ``M[n, i, j] = max_c |d s_y(x) / d x[n, c, i, j]|`` of the
  *unnormalized* class score ``s_y`` (not the softmax probability).
- :func:`neuron_gradient` -- the input gradient of one intermediate neuron under the
  three ReLU backward rules: ``standard`` (the true gradient), ``deconvnet`` (Zeiler
  & Fergus 2014) and ``guided`` backprop (Springenberg et al. 2015).
- :func:`cam` -- Zhou et al. 2016, "Learning Deep Features for Discriminative
  Localization" (class activation maps; exact for SqueezeNet, no gradient).
- :func:`gradcam`, :func:`guided_gradcam` -- Selvaraju et al. 2017, "Grad-CAM".
- :func:`smoothgrad` -- Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise".
- :func:`integrated_gradients` -- Sundararajan, Taly & Yan 2017, "Axiomatic Attribution
  for Deep Networks".
- :func:`occlusion_map` -- Zeiler & Fergus 2014, "Visualizing and Understanding
  Convolutional Networks", Fig. 7 (it needs forward passes only).

How the gradient is injected: a scalar objective ``J`` of the scores (or of a
feature map) has the gradient ``dJ/dscores`` -- for ``J = s_y`` a one-hot row per
image -- and ``cnn.backward`` carries it down to the pixels.  Since images of a
batch do not interact, one backward pass with one one-hot row per image gives each
image's own gradient.
"""
import warnings

import numpy as np
from tqdm import tqdm

from .. import checks
from .regularizers import pixel_range, pixel_scale

__all__ = ["saliency_map", "class_score_gradient", "neuron_gradient", "neuron_gradients",
           "strongest_position", "receptive_field", "cam", "gradcam", "guided_gradcam", "smoothgrad",
           "integrated_gradients", "occlusion_map", "IG_METHODS", "SMOOTHGRAD_REDUCTIONS",
           "OCCLUSION_OUTPUTS", "reduce_channels", "gradient_to_image", "pixel_colour"]

#: How a gradient (N, C, H, W) becomes a map: ``saliency`` = max_c |g| (Simonyan),
#: ``abs_sum`` = sum_c |g|, ``none`` keeps (N, C, H, W).
SMOOTHGRAD_REDUCTIONS = ("saliency", "abs_sum", "none")
#: Quadrature rules of the Integrated Gradients path integral.
IG_METHODS = ("trapezoid", "riemann_left", "riemann_right", "riemann_middle", "gauss_legendre")
#: What :func:`occlusion_map` reports at each patch position.
OCCLUSION_OUTPUTS = ("probability", "score")


# --------------------------------------------------------------------------- checks
def _check_choice(value, choices, argument):
    checks.choice(value, choices, argument)


def check_images(x, argument="x"):
    """Images for an attribution: float (N, C, H, W), N >= 1, finite."""
    return checks.images(x, argument, allow_empty=False, require_finite=True)


def _num_classes(cnn):
    n = getattr(cnn, "num_classes", None)
    if n is None and getattr(cnn, "layers", None):
        n = cnn.layers[-1]["out"]
    return n


def _check_targets(cnn, y, n, argument="y"):
    """One class index per image -> int array (N,); a scalar is broadcast."""
    arr = np.asarray(y)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise TypeError(f"{argument} must be an integer class index or one per image, got {y!r}")
    arr = np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr
    if arr.shape != (n,):
        raise ValueError(f"{argument} must be one class index or {n} of them (one per "
                         f"image), got shape {arr.shape}")
    k = _num_classes(cnn)
    bad = arr[(arr < 0) | (arr >= k)] if k is not None else arr[arr < 0]
    if bad.size:
        raise ValueError(f"{argument} has unknown class index {int(bad[0])}; the model has "
                         f"classes 0..{k - 1}")
    return arr.astype(np.int64)


def _positive_int(value, argument):
    return checks.positive_int(value, argument)


def _positive_float(value, argument, allow_zero=False):
    return (checks.non_negative if allow_zero else checks.positive)(value, argument)


def _rng(rng):
    return checks.rng(rng)


def _one_hot(scores, y):
    d = np.zeros_like(scores)
    d[np.arange(len(y)), y] = 1
    return d


def reduce_channels(g, reduce="saliency"):
    """(N, C, H, W) gradient -> map: ``saliency`` max_c |g| (N, H, W), ``abs_sum``
    sum_c |g| (N, H, W), ``none`` g unchanged."""
    _check_choice(reduce, SMOOTHGRAD_REDUCTIONS, "reduce")
    if reduce == "saliency":
        return np.abs(g).max(axis=1)
    if reduce == "abs_sum":
        return np.abs(g).sum(axis=1)
    return g


def gradient_to_image(g, clip_std=3.0):
    """An input gradient (C, H, W) or (N, C, H, W) as uint8 RGB for display (the
    way guided-backprop figures are drawn): centre at 0, divide by ``clip_std``
    standard deviations, map [-1, 1] to [0, 255] (grey = 0).  Returns (H, W, 3)
    or (N, H, W, 3)."""
    g = np.asarray(g, dtype=np.float64)
    single = g.ndim == 3
    g = g[None] if single else g
    if g.ndim != 4:
        raise ValueError(f"g must have shape (C, H, W) or (N, C, H, W), got {g.shape}")
    axes = (1, 2, 3)
    z = (g - g.mean(axis=axes, keepdims=True)) / \
        np.maximum(clip_std * g.std(axis=axes, keepdims=True), 1e-30)
    img = np.round(127.5 * (np.clip(z, -1, 1) + 1)).astype(np.uint8).transpose(0, 2, 3, 1)
    return img[0] if single else img


# --------------------------------------------------------------------------- class scores
def class_score_gradient(cnn, x, y, relu_mode="standard"):
    """Gradient of the raw class scores ``s[n, y[n]]`` w.r.t. the pixels.

    x: (N, C, H, W); y: int or (N,) ints.  Returns ``(scores (N, K), dx (N, C, H, W))``.
    The backward pass starts from the one-hot ``dJ/ds`` of ``J = sum_n s[n, y[n]]``.
    """
    check_images(x)
    y = _check_targets(cnn, y, len(x))
    scores, cache = cnn.forward(x)
    dx, _ = cnn.backward(_one_hot(scores, y), cache, relu_mode=relu_mode, param_grads=False)
    return scores, dx


def saliency_map(cnn, x, y, batch_size=None):
    """Saliency maps (Simonyan et al. 2014, section 3.1), batched.

    x: (N, 3, H, W) preprocessed images; y: the class of each image (int or (N,)).
    Returns (N, H, W): ``M[n, i, j] = max_c |d s_{y_n} / d x[n, c, i, j]|`` with
    ``s`` the unnormalized class score.  ``batch_size`` splits large batches
    (None: one forward and one backward pass for all N images).
    """
    check_images(x)
    y = _check_targets(cnn, y, len(x))
    bs = len(x) if batch_size is None else _positive_int(batch_size, "batch_size")
    out = []
    for i in range(0, len(x), max(bs, 1)):
        _, dx = class_score_gradient(cnn, x[i:i + bs], y[i:i + bs])
        out.append(np.abs(dx).max(axis=1))
    return np.concatenate(out, axis=0) if out else np.zeros((0,) + x.shape[2:], x.dtype)


# --------------------------------------------------------------------------- neurons
def _check_channel(cnn, out, layer, channel):
    c = out.shape[1]
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < c:
        raise ValueError(f"channel must be an integer in 0..{c - 1} for layer {layer!r}, "
                         f"got {channel!r}")
    return int(channel)


def _positions(out, layer, channel, position):
    """(N, 2) positions: the argmax of each image's channel map, or the given (i, j)."""
    n = out.shape[0]
    if out.ndim == 2:
        if position is not None:
            raise ValueError(f"position must be None for layer {layer!r}, whose output "
                             f"{out.shape} has no spatial dimensions")
        return None
    h, w = out.shape[2:]
    if position is None:
        flat = out[:, channel].reshape(n, -1).argmax(axis=1)
        return np.stack(np.unravel_index(flat, (h, w)), axis=1)
    pos = np.asarray(position)
    if pos.shape == (2,):
        pos = np.broadcast_to(pos, (n, 2))
    if pos.shape != (n, 2) or not np.issubdtype(pos.dtype, np.integer):
        raise ValueError(f"position must be None, an (i, j) pair of ints or one pair per "
                         f"image, got {position!r}")
    if (pos < 0).any() or (pos[:, 0] >= h).any() or (pos[:, 1] >= w).any():
        raise ValueError(f"position {position!r} is outside the {h}x{w} output of layer "
                         f"{layer!r}")
    return pos.astype(np.int64)


def _neuron_dout(out, channel, pos):
    d = np.zeros_like(out)
    if pos is None:
        d[:, channel] = 1
    else:
        d[np.arange(len(out)), channel, pos[:, 0], pos[:, 1]] = 1
    return d


def strongest_position(cnn, x, layer, channel):
    """(N, 2) int array: the (i, j) where ``channel`` of ``layer`` is largest per image."""
    check_images(x)
    out, _ = cnn.forward(x, end=layer)
    channel = _check_channel(cnn, out, layer, channel)
    return _positions(out, layer, channel, None)


def neuron_gradients(cnn, x, layer, channel, position=None,
                     relu_modes=("standard", "deconvnet", "guided")):
    """Input gradients of one neuron under several ReLU backward rules, one forward pass.

    The neuron is ``a = cnn.forward(x, end=layer)[n, channel, i, j]``; ``position``
    (i, j) is shared by all images, or one pair per image, or None for the
    strongest activation of that channel in each image.  For a layer without
    spatial dimensions (``pool10``) position must be None.
    Returns ``{relu_mode: dx (N, C, H, W)}``; the ReLU rules are
    ``standard``: dx = dout * [x > 0];  ``deconvnet``: dx = max(dout, 0);
    ``guided``: dx = max(dout, 0) * [x > 0]  (see :func:`minicnn.layers.relu_backward`).
    """
    from ..layers import check_relu_mode
    for mode in relu_modes:
        check_relu_mode(mode)
    check_images(x)
    cnn.layer_index(layer, "layer")
    out, cache = cnn.forward(x, end=layer)
    channel = _check_channel(cnn, out, layer, channel)
    pos = _positions(out, layer, channel, position)
    dout = _neuron_dout(out, channel, pos)
    return {mode: cnn.backward(dout, cache, relu_mode=mode, param_grads=False)[0]
            for mode in relu_modes}


def neuron_gradient(cnn, x, layer, channel, position=None, relu_mode="standard"):
    """Input gradient (N, C, H, W) of the neuron ``layer[channel, i, j]`` under one
    ReLU rule (``standard``, ``deconvnet`` or ``guided``); see :func:`neuron_gradients`.
    ``position=None`` picks the strongest activation of that channel in each image."""
    return neuron_gradients(cnn, x, layer, channel, position, (relu_mode,))[relu_mode]


def receptive_field(cnn, layer, position, input_size):
    """Input rows and columns ``((top, bottom), (left, right))`` (inclusive) that can
    influence ``layer``'s output at ``position`` (i, j), for a square or (H, W) input.

    Walks the layer table backwards: an output range [a, b] of a layer with kernel k,
    stride s and padding p reads the input range [a s - p, b s - p + k - 1], clipped
    to the input; a fire module widens by its 3x3 expand (k 3, s 1, p 1); the
    global average pool reads everything.
    """
    end = cnn.layer_index(layer, "layer")
    h, w = (input_size, input_size) if np.isscalar(input_size) else input_size
    sizes = [(h, w)] + [cnn.output_shape((1, 3, h, w), end=k)[2:] for k in range(end)]
    rows, cols = (position[0], position[0]), (position[1], position[1])
    for k in range(end, -1, -1):
        spec = cnn.layers[k]
        hin, win = sizes[k]
        if spec["type"] == "gap":
            rows, cols = (0, hin - 1), (0, win - 1)
            continue
        kk, s, p = spec["kernel"], spec["stride"], spec["pad"]
        rows = (max(rows[0] * s - p, 0), min(rows[1] * s - p + kk - 1, hin - 1))
        cols = (max(cols[0] * s - p, 0), min(cols[1] * s - p + kk - 1, win - 1))
    return rows, cols


# --------------------------------------------------------------------------- Grad-CAM
def _resize_maps(maps, size):
    """Bilinear resize (Pillow, half-pixel centres) of (N, h, w) float maps to (H, W)."""
    from PIL import Image
    H, W = size
    return np.stack([np.asarray(Image.fromarray(m.astype(np.float32), mode="F")
                                .resize((W, H), Image.BILINEAR)) for m in maps])


def gradcam(cnn, x, y, layer="fire9", normalize=True):
    """Grad-CAM (Selvaraju et al. 2017): where in the image ``layer`` sees class ``y``.

    With A = the activations of ``layer`` (N, K, h, w) and s_y the raw class score,
        alpha[n, k] = mean_{i,j} d s_y / d A[n, k, i, j]      (global-average gradient)
        cam[n]      = relu(sum_k alpha[n, k] A[n, k])         (N, h, w)
    upsampled bilinearly to the input size (N, H, W).  The gradient at A comes
    from splitting the forward pass at ``layer`` and backpropagating the second half.
    ``normalize`` divides each map by its maximum (so it lies in [0, 1]).
    """
    check_images(x)
    y = _check_targets(cnn, y, len(x))
    k = cnn.layer_index(layer, "layer")
    if k >= len(cnn.layer_names) - 1:
        raise ValueError(f"layer must come before the last layer "
                         f"{cnn.layer_names[-1]!r} (Grad-CAM needs a spatial map), got {layer!r}")
    a, _ = cnn.forward(x, end=k)
    scores, cache = cnn.forward(a, start=k + 1)
    da, _ = cnn.backward(_one_hot(scores, y), cache, param_grads=False)
    alpha = da.mean(axis=(2, 3))                                    # (N, K)
    cam = np.maximum(np.einsum("nk,nkij->nij", alpha, a), 0)
    cam = _resize_maps(cam, x.shape[2:]).astype(np.float64)
    if normalize:
        cam /= np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)
    return cam


def _class_map_layer(cnn):
    """Index of the block whose (N, K, h, w) output is one map per class, global-average
    pooled into the scores (SqueezeNet's conv10 before pool10)."""
    layers = getattr(cnn, "layers", None)
    k = _num_classes(cnn)
    if not layers or len(layers) < 2 or layers[-1]["type"] != "gap" \
            or layers[-2]["out"] != k:
        raise ValueError("CAM needs a model ending in a class-map layer (K channels) and "
                         "global average pooling, as SqueezeNet's conv10 + pool10")
    return len(layers) - 2


def cam(cnn, x, y, normalize=True, upsample=True):
    """Class activation map (Zhou, Khosla, Lapedriza, Oliva & Torralba 2016,
    "Learning Deep Features for Discriminative Localization").

    Zhou et al.'s CAM of class y is ``M_y(i, j) = sum_k w_k^y f_k(i, j)`` for a
    network that ends in feature maps f_k, global average pooling and a linear
    layer w: the score is ``s_y = mean_{i,j} M_y(i, j)``.  SqueezeNet ends in
    conv10 (a 1x1 convolution with K = 1000 outputs, i.e. w applied at every
    position, plus a bias and a ReLU) and global average pooling (pool10), so
    conv10's output channel y *is* the class map, exactly, without a gradient:
        cam[n] = A10[n, y_n]                                         (N, h, w)
    with A10 = relu(conv10(fire9)), and ``s_y = mean_{i,j} cam[n]``.  Grad-CAM
    at conv10 gives the same map: ds_y / dA10[k, i, j] = [k == y] / (h w), so
    its weights are one-hot on channel y and ``relu(A10[y] / (h w))`` is
    cam / (h w) (the ReLU changes nothing: A10 >= 0 already).

    x: (N, C, H, W); y: one class index per image (or one for all).
    upsample: resize bilinearly to the input size (N, H, W) as :func:`gradcam`
    does (else the (N, h, w) map, 13x13 for a 224 input).  normalize: divide
    each map by its maximum (so it lies in [0, 1]; an all-zero map stays 0).
    """
    check_images(x)
    y = _check_targets(cnn, y, len(x))
    k = _class_map_layer(cnn)
    a, _ = cnn.forward(x, end=k)                                   # (N, K, h, w)
    maps = a[np.arange(len(x)), y].astype(np.float64)              # (N, h, w)
    if upsample:
        maps = _resize_maps(maps, x.shape[2:]).astype(np.float64)
    if normalize:
        maps /= np.maximum(maps.max(axis=(1, 2), keepdims=True), 1e-12)
    return maps


def guided_gradcam(cnn, x, y, layer="fire9"):
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop of the class score
    (N, C, H, W), multiplied pixelwise by the normalized Grad-CAM map (N, H, W).
    Returns (N, C, H, W)."""
    cam = gradcam(cnn, x, y, layer=layer, normalize=True)
    _, g = class_score_gradient(cnn, x, y, relu_mode="guided")
    return g * cam[:, None].astype(g.dtype)


# --------------------------------------------------------------------------- SmoothGrad
def smoothgrad(cnn, x, y, num_samples=50, sigma=0.15, reduce="saliency", magnitude=False,
               batch_size=8, rng=None, progress=False, callback=None):
    """SmoothGrad (Smilkov et al. 2017): average the class-score gradient over noisy copies.

        g_hat[n] = 1/S sum_s grad s_y(x[n] + eps_s / pixel_scale),
        eps_s ~ N(0, std^2) pixel levels,
        std = sigma * (max(u[n]) - min(u[n]))            (per image, as in the paper)

    where ``u = x * pixel_scale`` is the image in pixel levels: the noise is
    the same fraction of the image's range, in pixel levels on every channel,
    for any weight set (sigma is unit-free).

    With ``magnitude`` the squared gradients are averaged instead.  ``reduce``:
    ``saliency`` (max_c |g_hat| -> (N, H, W), default), ``abs_sum`` or ``none``
    ((N, C, H, W)).  Noisy copies of one image run ``batch_size`` per pass.
    rng: Generator or seed (None -> seed 0: reproducible).  ``callback(done, total)``
    runs after every batch.  Ctrl-C returns the average over the samples drawn so
    far (with a warning).
    """
    check_images(x)
    _check_choice(reduce, SMOOTHGRAD_REDUCTIONS, "reduce")
    y = _check_targets(cnn, y, len(x))
    num_samples = _positive_int(num_samples, "num_samples")
    batch_size = _positive_int(batch_size, "batch_size")
    sigma = _positive_float(sigma, "sigma", allow_zero=True)
    rng = _rng(rng)
    total = np.zeros(x.shape, dtype=np.float64)
    counts = np.zeros(len(x))
    # (C, 1, 1) pixel levels per unit (1 for a model without preprocessing metadata)
    scale = pixel_scale(cnn)[0] if getattr(cnn, "meta", None) else np.ones((1, 1, 1))
    bar = tqdm(total=len(x) * num_samples, disable=not progress, desc="smoothgrad")
    try:
        for n in range(len(x)):
            u = x[n].astype(np.float64) * scale                     # pixel levels
            std = sigma * float(u.max() - u.min())
            for s in range(0, num_samples, batch_size):
                b = min(batch_size, num_samples - s)
                noise = rng.normal(0.0, 1.0, (b,) + x.shape[1:]) * (std / scale)
                xs = (x[n][None] + noise).astype(x.dtype)
                _, g = class_score_gradient(cnn, xs, np.full(b, y[n]))
                g = g.astype(np.float64)
                total[n] += (g * g if magnitude else g).sum(axis=0)
                counts[n] += b
                bar.update(b)
                if callback is not None:
                    callback(int(counts.sum()), len(x) * num_samples)
    except KeyboardInterrupt:
        warnings.warn(f"smoothgrad interrupted: averaged {int(counts.sum())} of "
                      f"{len(x) * num_samples} samples", RuntimeWarning)
    finally:
        bar.close()
    mean = total / np.maximum(counts, 1)[:, None, None, None]
    return reduce_channels(mean, reduce)


# --------------------------------------------------------------------------- Integrated Gradients
def _ig_nodes(steps, method):
    """Nodes alpha_k in [0, 1] and weights w_k with sum_k w_k f(alpha_k) ~ int_0^1 f."""
    if method == "trapezoid":
        if steps < 2:
            raise ValueError("steps must be at least 2 for the trapezoid rule")
        a = np.linspace(0.0, 1.0, steps)
        w = np.full(steps, 1.0 / (steps - 1))
        w[[0, -1]] *= 0.5
        return a, w
    if method == "gauss_legendre":
        a, w = np.polynomial.legendre.leggauss(steps)
        return (a + 1) / 2, w / 2
    offset = {"riemann_left": 0.0, "riemann_right": 1.0, "riemann_middle": 0.5}[method]
    return (np.arange(steps) + offset) / steps, np.full(steps, 1.0 / steps)


def _weighted_path_gradient(cnn, base, diff, y, alphas, weights, batch_size, bar):
    """sum_k w_k grad s_y(base + alpha_k diff) for one image (C, H, W), float64, and the
    scores s_y at the nodes."""
    total = np.zeros(base.shape, dtype=np.float64)
    scores = []
    for s in range(0, len(alphas), batch_size):
        a = alphas[s:s + batch_size]
        path = base[None] + a[:, None, None, None] * diff[None]
        sc, g = class_score_gradient(cnn, path.astype(base.dtype), np.full(len(a), y))
        total += np.tensordot(weights[s:s + batch_size], g.astype(np.float64), axes=1)
        scores.append(np.asarray(sc, dtype=np.float64)[:, y])
        bar.update(len(a))
    return total, np.concatenate(scores)


def integrated_gradients(cnn, x, y, baseline=None, steps=50, method="trapezoid",
                         batch_size=10, return_delta=False, rtol=None, max_steps=801,
                         progress=False):
    """Integrated Gradients (Sundararajan et al. 2017), (N, C, H, W) attributions:

        IG_i(x) = (x_i - x'_i) * int_0^1 d s_y(x' + a (x - x')) / d x_i  da

    with the integral replaced by a quadrature rule of ``steps`` gradient
    evaluations (``method`` in :data:`IG_METHODS`; default the trapezoid rule).
    Completeness: ``sum_i IG_i = s_y(x) - s_y(x')`` up to the quadrature error.
    baseline: None (zeros = the dataset mean colour in the model's normalization,
    the same picture for every weight set), a scalar, or an array broadcastable
    to x, in the model's normalization (an RGB colour in pixel levels:
    :func:`pixel_colour`).  With ``return_delta`` also returns
    the completeness gap ``sum_i IG_i - (s_y(x) - s_y(x'))`` per image (N,).

    rtol (trapezoid only): refine each image's integral -- halving the interval,
    which reuses every gradient already computed -- until the completeness gap is
    at most ``rtol * |s_y(x) - s_y(x')|`` or ``max_steps`` evaluations are reached.
    (ReLU networks are piecewise linear: the integrand jumps at every kink the path
    crosses, so the quadrature error only shrinks like 1/steps.)
    """
    check_images(x)
    _check_choice(method, IG_METHODS, "method")
    y = _check_targets(cnn, y, len(x))
    steps = _positive_int(steps, "steps")
    batch_size = _positive_int(batch_size, "batch_size")
    if rtol is not None:
        rtol = _positive_float(rtol, "rtol")
        max_steps = _positive_int(max_steps, "max_steps")
        if method != "trapezoid":
            raise ValueError(f"rtol needs method='trapezoid' (nested refinement), got "
                             f"{method!r}")
    if baseline is None:
        baseline = np.zeros_like(x)
    else:
        try:
            baseline = np.broadcast_to(np.asarray(baseline, dtype=x.dtype), x.shape)
        except ValueError:
            raise ValueError(f"baseline must broadcast to x's shape {x.shape}, got shape "
                             f"{np.shape(baseline)}") from None
        checks.finite(baseline, "baseline")
    alphas, weights = _ig_nodes(steps, method)
    diff = (x - baseline).astype(x.dtype)
    attr = np.zeros(x.shape, dtype=np.float64)
    delta = np.full(len(x), np.nan)
    bar = tqdm(total=len(x) * steps, disable=not progress, desc="integrated gradients")
    try:
        for n in range(len(x)):
            total, scores = _weighted_path_gradient(cnn, baseline[n], diff[n], y[n], alphas,
                                                    weights, batch_size, bar)
            attr[n] = diff[n] * total
            if method != "trapezoid":
                continue
            # trapezoid nodes include alpha = 0 and 1: the scores there give the gap
            target = scores[-1] - scores[0]
            delta[n] = attr[n].sum() - target
            intervals, evals = steps - 1, steps
            while rtol is not None and abs(delta[n]) > rtol * abs(target) \
                    and evals + intervals <= max_steps:
                # T(2m) = T(m) / 2 + (1 / 2m) sum f(midpoints)
                mid = (np.arange(intervals) + 0.5) / intervals
                bar.total += intervals
                extra, _ = _weighted_path_gradient(cnn, baseline[n], diff[n], y[n], mid,
                                                   np.full(intervals, 1.0 / intervals),
                                                   batch_size, bar)
                total = 0.5 * (total + extra)
                evals += intervals
                intervals *= 2
                attr[n] = diff[n] * total
                delta[n] = attr[n].sum() - target
    finally:
        bar.close()
    if not return_delta:
        return attr
    if method != "trapezoid":
        s_x = cnn.forward(x)[0][np.arange(len(x)), y].astype(np.float64)
        s_b = cnn.forward(np.ascontiguousarray(baseline))[0][np.arange(len(x)), y]
        delta = attr.reshape(len(x), -1).sum(axis=1) - (s_x - s_b.astype(np.float64))
    return attr, delta


# --------------------------------------------------------------------------- occlusion
def _softmax(s):
    s = np.asarray(s, dtype=np.float64)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def pixel_colour(cnn, rgb):
    """(C,) the model-normalized values of an RGB colour given in pixel levels
    (0..255), in the model's channel order: ``(p * scale - mean) / std``.  Use it
    for the ``fill`` of :func:`occlusion_map` or a constant ``baseline`` of
    :func:`integrated_gradients` (e.g. black: ``pixel_colour(cnn, 0)``)."""
    v = np.broadcast_to(np.asarray(rgb, dtype=np.float64).reshape(-1), (3,)).copy()
    if np.any(v < 0) or np.any(v > 255):
        raise ValueError(f"rgb must be pixel levels in 0..255, got {rgb!r}")
    if cnn.meta.get("channel_order", "RGB") == "BGR":
        v = v[::-1]
    lo, hi = pixel_range(cnn)
    lo, hi = lo.reshape(-1).astype(np.float64), hi.reshape(-1).astype(np.float64)
    return (lo + (hi - lo) * v / 255.0).astype(cnn.dtype)


def occlusion_map(cnn, x, y, size=32, stride=8, fill=0.0, output="probability", batch_size=16,
                  progress=False, callback=None, resume=None):
    """Occlusion sensitivity (Zeiler & Fergus 2014, Fig. 7).

    Slide a ``size`` x ``size`` grey square with ``stride`` over each image
    (N, C, H, W); at each position (p, q) -- the square covers rows
    p*stride .. p*stride + size - 1 and likewise columns -- record the class's
    softmax probability (``output="probability"``) or raw score (``"score"``).
    Returns (N, H', W') with H' = (H - size) // stride + 1, W' likewise.
    fill: the value of the square in the model's normalization, a scalar or one
    per channel; the default 0 is the dataset mean colour (for any weight set).
    For a colour in pixel levels use ``fill=pixel_colour(cnn, (r, g, b))``.  ``batch_size``
    occluded copies go through one forward pass.  ``callback(done, total, heatmap)``
    is called after every batch.  Ctrl-C returns the partial map (NaN where not
    yet computed) with a warning; pass it back as ``resume`` (same arguments) to
    compute only the missing positions.
    """
    check_images(x)
    _check_choice(output, OCCLUSION_OUTPUTS, "output")
    y = _check_targets(cnn, y, len(x))
    size = _positive_int(size, "size")
    stride = _positive_int(stride, "stride")
    batch_size = _positive_int(batch_size, "batch_size")
    n, c, h, w = x.shape
    if size > min(h, w):
        raise ValueError(f"size ({size}) must not exceed the image size {h}x{w}")
    fill = np.asarray(fill, dtype=x.dtype)
    if fill.ndim == 1 and fill.shape == (c,):
        fill = fill[:, None, None]
    elif fill.ndim != 0:
        raise ValueError(f"fill must be a scalar or {c} values (one per channel), got shape "
                         f"{fill.shape}")
    hp, wp = (h - size) // stride + 1, (w - size) // stride + 1
    positions = [(p, q) for p in range(hp) for q in range(wp)]
    heat = np.full((n, hp, wp), np.nan)
    if resume is not None:
        resume = np.asarray(resume, dtype=np.float64)
        if resume.shape != heat.shape:
            raise ValueError(f"resume must be a partial map of shape {heat.shape} from the "
                             f"same arguments, got shape {resume.shape}")
        heat[...] = resume
    total = n * len(positions)
    bar = tqdm(total=total, disable=not progress, desc="occlusion")
    done = 0
    try:
        for i in range(n):
            todo = [(p, q) for p, q in positions if np.isnan(heat[i, p, q])]
            done += len(positions) - len(todo)
            bar.update(len(positions) - len(todo))
            for s in range(0, len(todo), batch_size):
                chunk = todo[s:s + batch_size]
                batch = np.repeat(x[i:i + 1], len(chunk), axis=0)
                for b, (p, q) in enumerate(chunk):
                    batch[b, :, p * stride:p * stride + size, q * stride:q * stride + size] = fill
                scores = cnn.forward(batch)[0]
                vals = _softmax(scores)[:, y[i]] if output == "probability" \
                    else np.asarray(scores[:, y[i]], dtype=np.float64)
                for b, (p, q) in enumerate(chunk):
                    heat[i, p, q] = vals[b]
                done += len(chunk)
                bar.update(len(chunk))
                if callback is not None:
                    callback(done, total, heat)
    except KeyboardInterrupt:
        warnings.warn(f"occlusion interrupted after {done} of {total} positions; the rest "
                      f"of the map is NaN", RuntimeWarning)
    finally:
        bar.close()
    return heat
