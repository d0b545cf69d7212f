"""Reference layers: readable forward/backward pairs, cs231n style.

Every layer is a pair of functions with no hidden state::

    out, cache = x_forward(x, *params, x_param)
    dx         = x_backward(dout, cache)            # layers without parameters
    dx, dw, db = x_backward(dout, cache)            # gradients in argument order

Shapes follow the (N, C, H, W) convention.  These implementations favour
clarity over speed (explicit loops over output positions); ``fast_layers``
provides the same signatures built on im2col + GEMM and Cython pooling kernels,
and the tests check that both agree to 1e-9 in float64.
"""
import numpy as np

__all__ = [
    "affine_forward", "affine_backward",
    "relu_forward", "relu_backward", "RELU_MODES",
    "conv_forward", "conv_backward", "conv_forward_naive", "conv_backward_naive",
    "max_pool_forward", "max_pool_backward",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "avg_pool_forward", "avg_pool_backward",
    "global_avg_pool_forward", "global_avg_pool_backward",
    "concat_forward", "concat_backward",
    "dropout_forward", "dropout_backward",
    "softmax_loss",
    "pair", "conv_output_size", "pool_output_size",
]


# --------------------------------------------------------------------------- helpers
def pair(value, name):
    """Return ``(a, b)`` from an int or a 2-sequence of non-negative ints."""
    if isinstance(value, (int, np.integer)):
        out = (int(value), int(value))
    else:
        try:
            a, b = value
            out = (int(a), int(b))
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}") from None
    if out[0] < 0 or out[1] < 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    return out


def conv_output_size(size, kernel, stride, pad):
    """Floor output size of a convolution: ``(size + 2*pad - kernel) // stride + 1``."""
    return (size + 2 * pad - kernel) // stride + 1


def pool_output_size(size, kernel, stride, pad, ceil_mode=False):
    """Output size of a pooling window sweep (Caffe / PyTorch rule).

    floor: ``(size + 2p - k) // s + 1``; ceil: ``ceil((size + 2p - k) / s) + 1``,
    minus one if the last window would start inside the right padding only
    (so every window overlaps the input or its left padding).
    """
    if ceil_mode:
        out = -(-(size + 2 * pad - kernel) // stride) + 1
        if (out - 1) * stride >= size + pad:
            out -= 1
    else:
        out = (size + 2 * pad - kernel) // stride + 1
    return out


def _check_float_array(x, name, ndim=None):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
    if ndim is not None and x.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {x.shape}")


def _conv_params(x, w, conv_param):
    conv_param = conv_param or {}
    sh, sw = pair(conv_param.get("stride", 1), "conv_param['stride']")
    ph, pw = pair(conv_param.get("pad", 0), "conv_param['pad']")
    if sh == 0 or sw == 0:
        raise ValueError("conv_param['stride'] must be positive")
    _check_float_array(x, "x", 4)
    _check_float_array(w, "w", 4)
    if x.shape[1] != w.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but w expects {w.shape[1]} "
                         f"(x {x.shape}, w {w.shape})")
    kh, kw = w.shape[2:]
    ho = conv_output_size(x.shape[2], kh, sh, ph)
    wo = conv_output_size(x.shape[3], kw, sw, pw)
    if ho < 1 or wo < 1:
        raise ValueError(f"x of spatial size {x.shape[2:]} is too small for a {kh}x{kw} "
                         f"kernel with padding {(ph, pw)}")
    return sh, sw, ph, pw, ho, wo


def _pool_params(x, pool_param):
    _check_float_array(x, "x", 4)
    ph_, pw_ = pool_param.get("pool_height", 2), pool_param.get("pool_width", 2)
    kh, kw = pair((ph_, pw_), "pool size")
    sh, sw = pair(pool_param.get("stride", 2), "pool_param['stride']")
    padh, padw = pair(pool_param.get("pad", 0), "pool_param['pad']")
    ceil_mode = bool(pool_param.get("ceil_mode", False))
    if min(kh, kw, sh, sw) < 1:
        raise ValueError("pool size and stride must be positive")
    if padh > kh // 2 or padw > kw // 2:
        raise ValueError(f"pool padding {(padh, padw)} must be at most half the window "
                         f"{(kh, kw)}")
    ho = pool_output_size(x.shape[2], kh, sh, padh, ceil_mode)
    wo = pool_output_size(x.shape[3], kw, sw, padw, ceil_mode)
    if ho < 1 or wo < 1:
        raise ValueError(f"x of spatial size {x.shape[2:]} is too small for a {kh}x{kw} pool")
    return kh, kw, sh, sw, padh, padw, ho, wo


# --------------------------------------------------------------------------- affine
def affine_forward(x, w, b):
    """out = x.reshape(N, D) @ w + b.   x: (N, d1, ..., dk), w: (D, M), b: (M,)."""
    out = x.reshape(x.shape[0], -1) @ w + b
    return out, (x, w)


def affine_backward(dout, cache):
    """Local derivatives: d(out)/dx = w^T, d(out)/dw = x^T, d(out)/db = 1."""
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    return dx, dw, db


# --------------------------------------------------------------------------- ReLU
RELU_MODES = ("standard", "deconvnet", "guided")


def check_relu_mode(mode):
    """Raise ``ValueError`` listing the valid choices when ``mode`` is unknown."""
    if mode not in RELU_MODES:
        raise ValueError(f"relu_mode must be one of {', '.join(map(repr, RELU_MODES))}; "
                         f"got {mode!r}")
    return mode


def relu_forward(x):
    """out = max(x, 0).  The cache is the 0/1 mask of positive inputs."""
    out = np.maximum(x, 0)
    return out, (x > 0)


def relu_backward(dout, cache, mode="standard"):
    """Three backward rules that share one cache (the forward mask ``x > 0``).

    - ``standard``:  dx = dout * (x > 0)               (the true gradient)
    - ``deconvnet``: dx = max(dout, 0)                 (Zeiler & Fergus 2014: the
      forward mask is ignored, only positive signals pass back)
    - ``guided``:    dx = max(dout, 0) * (x > 0)       (Springenberg et al. 2015,
      "Striving for simplicity": both masks; a 0/1 mask, never the activation)
    """
    check_relu_mode(mode)
    mask = cache
    if mode == "standard":
        return dout * mask
    if mode == "deconvnet":
        return np.maximum(dout, 0)
    return np.maximum(dout, 0) * mask


# --------------------------------------------------------------------------- convolution
def conv_forward(x, w, b, conv_param=None):
    """Naive convolution (cross-correlation, as ``F.conv2d`` and cs231n).

    x: (N, C, H, W); w: (F, C, KH, KW); b: (F,)
    conv_param: {'stride': s or (sh, sw), 'pad': p or (ph, pw)}, zero padding.
    out: (N, F, H', W') with H' = (H + 2 ph - KH) // sh + 1 (floor), likewise W'.

        out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]
    """
    sh, sw, ph, pw, ho, wo = _conv_params(x, w, conv_param)
    kh, kw = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.empty((x.shape[0], w.shape[0], ho, wo), dtype=np.result_type(x, w))
    for i in range(ho):
        for j in range(wo):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]   # (N, C, KH, KW)
            out[:, :, i, j] = np.tensordot(window, w, axes=([1, 2, 3], [1, 2, 3]))
    out += b[None, :, None, None]
    return out, (x, w, b, (sh, sw, ph, pw))


def conv_backward(dout, cache):
    """Backward of :func:`conv_forward` -> (dx, dw, db).

    Each output position (i, j) read the window xpad[:, :, i*sh:+KH, j*sw:+KW]:
    its gradient is scattered back onto that window (dxpad) and the window is
    correlated with dout for dw.  Finally crop(dxpad) -> dx, the adjoint of pad.
    """
    x, w, b, (sh, sw, ph, pw) = cache
    kh, kw = w.shape[2:]
    ho, wo = dout.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxpad = np.zeros_like(xpad, dtype=np.result_type(dout, w))
    dw = np.zeros_like(w, dtype=np.result_type(dout, x))
    for i in range(ho):
        for j in range(wo):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            g = dout[:, :, i, j]                                            # (N, F)
            dxpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.tensordot(g, w, axes=(1, 0))
            dw += np.tensordot(g, window, axes=(0, 0))
    db = dout.sum(axis=(0, 2, 3))
    dx = dxpad[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]              # crop = pad^T
    return dx, dw, db


conv_forward_naive = conv_forward
conv_backward_naive = conv_backward


# --------------------------------------------------------------------------- pooling
def max_pool_forward(x, pool_param):
    """Naive max pooling with overlapping windows, padding and ceil mode.

    pool_param: {'pool_height', 'pool_width', 'stride', 'pad'=0, 'ceil_mode'=False}.
    Padding is -inf (never selected).  With ``ceil_mode`` the last window may
    hang over the bottom/right edge (Caffe and torchvision SqueezeNet do this).
    x: (N, C, H, W) -> out: (N, C, H', W'); H' from :func:`pool_output_size`.
    Ties pick the first maximum in row-major window order.
    """
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_params(x, pool_param)
    N, C, H, W = x.shape
    out = np.empty((N, C, ho, wo), dtype=x.dtype)
    argmax = np.empty((N, C, ho, wo), dtype=np.intp)      # flat index into H*W
    for i in range(ho):
        r0, r1 = max(i * sh - ph, 0), min(i * sh - ph + kh, H)
        for j in range(wo):
            c0, c1 = max(j * sw - pw, 0), min(j * sw - pw + kw, W)
            window = x[:, :, r0:r1, c0:c1].reshape(N, C, -1)
            k = window.argmax(axis=2)
            out[:, :, i, j] = np.take_along_axis(window, k[..., None], 2)[..., 0]
            argmax[:, :, i, j] = (r0 + k // (c1 - c0)) * W + c0 + k % (c1 - c0)
    return out, (x.shape, argmax)


def max_pool_backward(dout, cache):
    """Route each output gradient to the input that won its window (scatter-add:
    overlapping windows may send several gradients to the same input)."""
    x_shape, argmax = cache
    N, C, H, W = x_shape
    dx = np.zeros((N * C, H * W), dtype=dout.dtype)
    rows = np.repeat(np.arange(N * C), argmax.shape[2] * argmax.shape[3])
    np.add.at(dx, (rows, argmax.reshape(-1)), dout.reshape(-1))
    return dx.reshape(x_shape)


max_pool_forward_naive = max_pool_forward
max_pool_backward_naive = max_pool_backward


def avg_pool_forward(x, pool_param):
    """Average pooling (zero padding counted in the divisor, as PyTorch's
    ``count_include_pad=True``; a ceil-mode window hanging past the padded
    border divides by the part inside it).

    out[n, c, i, j] = sum(window) / count(i, j)
    """
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_params(x, pool_param)
    N, C, H, W = x.shape
    out = np.empty((N, C, ho, wo), dtype=x.dtype)
    for i in range(ho):
        pr0, pr1 = i * sh - ph, min(i * sh - ph + kh, H + ph)
        r0, r1 = max(pr0, 0), min(pr1, H)
        for j in range(wo):
            pc0, pc1 = j * sw - pw, min(j * sw - pw + kw, W + pw)
            c0, c1 = max(pc0, 0), min(pc1, W)
            count = (pr1 - pr0) * (pc1 - pc0)
            out[:, :, i, j] = x[:, :, r0:r1, c0:c1].sum(axis=(2, 3)) / count
    return out, (x.shape, (kh, kw, sh, sw, ph, pw))


def avg_pool_backward(dout, cache):
    """Each input in a window receives dout / count of that window."""
    x_shape, (kh, kw, sh, sw, ph, pw) = cache
    N, C, H, W = x_shape
    ho, wo = dout.shape[2:]
    dx = np.zeros(x_shape, dtype=dout.dtype)
    for i in range(ho):
        pr0, pr1 = i * sh - ph, min(i * sh - ph + kh, H + ph)
        r0, r1 = max(pr0, 0), min(pr1, H)
        for j in range(wo):
            pc0, pc1 = j * sw - pw, min(j * sw - pw + kw, W + pw)
            c0, c1 = max(pc0, 0), min(pc1, W)
            count = (pr1 - pr0) * (pc1 - pc0)
            dx[:, :, r0:r1, c0:c1] += (dout[:, :, i, j] / count)[:, :, None, None]
    return dx


def global_avg_pool_forward(x):
    """(N, C, H, W) -> (N, C): the mean over all positions of each channel."""
    _check_float_array(x, "x", 4)
    return x.mean(axis=(2, 3)), x.shape


def global_avg_pool_backward(dout, cache):
    """The mean's adjoint spreads dout / (H*W) uniformly (block-sum's adjoint is a broadcast)."""
    N, C, H, W = cache
    return np.broadcast_to((dout / (H * W))[:, :, None, None], cache).copy()


# --------------------------------------------------------------------------- concat
def concat_forward(*xs):
    """Concatenate along channels: (N, C1, H, W), (N, C2, H, W), ... -> (N, sum C, H, W)."""
    if len(xs) < 1:
        raise ValueError("concat_forward needs at least one array")
    return np.concatenate(xs, axis=1), tuple(x.shape[1] for x in xs)


def concat_backward(dout, cache):
    """Adjoint of concat is split: one gradient per input, in argument order."""
    bounds = np.cumsum(cache)[:-1]
    return tuple(np.split(dout, bounds, axis=1))


# --------------------------------------------------------------------------- dropout
def dropout_forward(x, dropout_param):
    """Inverted dropout.

    dropout_param: {'p': probability of *dropping* a unit (PyTorch's convention;
    SqueezeNet uses 0.5), 'mode': 'train' | 'test', 'rng': np.random.Generator}.
    Train: out = x * mask / (1 - p) with mask ~ Bernoulli(1 - p); test: out = x.
    """
    p = float(dropout_param.get("p", 0.5))
    mode = dropout_param.get("mode", "test")
    if not 0 <= p < 1:
        raise ValueError(f"dropout_param['p'] must be in [0, 1), got {p}")
    if mode not in ("train", "test"):
        raise ValueError(f"dropout_param['mode'] must be 'train' or 'test', got {mode!r}")
    if mode == "test":
        return x, (mode, None)
    rng = dropout_param.get("rng")
    if rng is None:
        raise ValueError("dropout_param['rng'] (np.random.Generator) is required in train mode")
    mask = (rng.random(x.shape) >= p) / (1.0 - p)
    return x * mask, (mode, mask.astype(x.dtype))


def dropout_backward(dout, cache):
    """dx = dout * mask / (1 - p) in train mode, dout in test mode."""
    mode, mask = cache
    return dout if mode == "test" else dout * mask


# --------------------------------------------------------------------------- loss
def softmax_loss(x, y):
    """Softmax cross-entropy.  x: (N, K) scores, y: (N,) labels -> (loss, dx).

    loss = -mean_n log softmax(x_n)[y_n];  dx = (softmax(x) - onehot(y)) / N
    """
    y = np.asarray(y)
    if x.ndim != 2 or y.shape != (x.shape[0],):
        raise ValueError(f"softmax_loss expects x (N, K) and y (N,), got {x.shape} and {y.shape}")
    shifted = x - x.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    n = x.shape[0]
    loss = -log_probs[np.arange(n), y].mean()
    dx = np.exp(log_probs)
    dx[np.arange(n), y] -= 1
    return loss, dx / n
