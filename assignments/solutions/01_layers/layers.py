"""Assignment 1 -- layers and gradient checks.

Implement every function between the TODO markers.  The contract of every
layer (the same as minicnn.layers):

    out, cache = x_forward(x, *params, x_param)
    dx         = x_backward(dout, cache)          # layers without parameters
    dx, dw, db = x_backward(dout, cache)          # gradients in argument order

Shapes are (N, C, H, W).  What you put in ``cache`` is up to you: only your
backward reads it.  Grade your work with

    python -m minicnn grade .          (or: python -m minicnn grade . --function conv_forward)

Only NumPy is allowed here (no minicnn.layers: that is the answer key).
"""
import numpy as np

ASSIGNMENT = 1


def pair(value):
    """(a, b) from an int or a pair of ints (strides and paddings may be either)."""
    if isinstance(value, (int, np.integer)):
        return int(value), int(value)
    a, b = value
    return int(a), int(b)


# --------------------------------------------------------------------------- affine
def affine_forward(x, w, b):
    """Affine (fully connected) layer.

    x: (N, d1, ..., dk) -- each of the N inputs is flattened to D = d1 * ... * dk
    w: (D, M); b: (M,)
    Returns out = x.reshape(N, D) @ w + b, shape (N, M), and a cache.
    """
    # BEGIN SOLUTION
    out = x.reshape(x.shape[0], -1) @ w + b
    cache = (x, w)
    # END SOLUTION
    return out, cache


def affine_backward(dout, cache):
    """Backward of affine_forward.  dout: (N, M).

    Returns (dx, dw, db) with dx of the shape of x (N, d1, ..., dk), dw (D, M),
    db (M,):  dx = dout @ w^T (reshaped), dw = x_flat^T @ dout, db = sum_n dout.
    """
    # BEGIN SOLUTION
    x, w = cache
    dx = (dout @ w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T @ dout
    db = dout.sum(axis=0)
    # END SOLUTION
    return dx, dw, db


# --------------------------------------------------------------------------- ReLU
def relu_forward(x):
    """out = max(x, 0), any shape.  Keep in the cache what the backward needs."""
    # BEGIN SOLUTION
    out = np.maximum(x, 0)
    cache = x > 0
    # END SOLUTION
    return out, cache


def relu_backward(dout, cache, mode="standard"):
    """Three backward rules that share the forward mask (x > 0):

    - "standard":  dx = dout * (x > 0)             the true gradient (0 at x == 0)
    - "deconvnet": dx = max(dout, 0)               Zeiler & Fergus 2014: the forward
                                                   mask is ignored
    - "guided":    dx = max(dout, 0) * (x > 0)     Springenberg et al. 2015, "Striving
                                                   for simplicity": both (a 0/1 mask)
    Any other mode: raise ValueError naming the three.
    """
    # BEGIN SOLUTION
    if mode not in ("standard", "deconvnet", "guided"):
        raise ValueError(f"mode must be 'standard', 'deconvnet' or 'guided', got {mode!r}")
    mask = cache
    if mode == "standard":
        dx = dout * mask
    elif mode == "deconvnet":
        dx = np.maximum(dout, 0)
    else:
        dx = np.maximum(dout, 0) * mask
    # END SOLUTION
    return dx


# --------------------------------------------------------------------------- convolution
def conv_forward(x, w, b, conv_param):
    """Naive convolution -- a cross-correlation, as F.conv2d (do NOT flip the kernel).

    x: (N, C, H, W); w: (F, C, KH, KW) (KH may differ from KW); b: (F,)
    conv_param: {"stride": s or (sh, sw), "pad": p or (ph, pw)}, zero padding.
    out: (N, F, H', W'), H' = (H + 2 ph - KH) // sh + 1 (floor), likewise W':

        out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]
    """
    # BEGIN SOLUTION
    sh, sw = pair(conv_param.get("stride", 1))
    ph, pw = pair(conv_param.get("pad", 0))
    n, c, h, wd = x.shape
    f, _, kh, kw = w.shape
    ho, wo = (h + 2 * ph - kh) // sh + 1, (wd + 2 * pw - kw) // sw + 1
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out = np.zeros((n, f, ho, wo))
    for i in range(ho):
        for j in range(wo):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]      # (N, C, KH, KW)
            out[:, :, i, j] = window.reshape(n, -1) @ w.reshape(f, -1).T + b
    cache = (x, w, (sh, sw, ph, pw))
    # END SOLUTION
    return out, cache


def conv_backward(dout, cache):
    """Backward of conv_forward.  dout: (N, F, H', W') -> (dx, dw, db).

    Each output (i, j) read one window of xpad: scatter dout[:, :, i, j] back onto
    that window through w (dxpad) and correlate it with the window (dw, summed
    over the batch); db sums dout over the batch and the positions.  Finally crop
    the padding: dx = dxpad[:, :, ph:ph + H, pw:pw + W] (crop is the adjoint of pad).
    """
    # BEGIN SOLUTION
    x, w, (sh, sw, ph, pw) = cache
    f, c, kh, kw = w.shape
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxpad = np.zeros_like(xpad)
    dw = np.zeros_like(w)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = xpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            g = dout[:, :, i, j]                                             # (N, F)
            dxpad[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += \
                (g @ w.reshape(f, -1)).reshape(-1, c, kh, kw)
            dw += (g.T @ window.reshape(len(x), -1)).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3))
    dx = dxpad[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]]
    # END SOLUTION
    return dx, dw, db


# --------------------------------------------------------------------------- max pooling
def max_pool_forward(x, pool_param):
    """Naive max pooling with overlapping windows and ceil mode.

    pool_param: {"pool_height", "pool_width", "stride", "ceil_mode": False}.
    x: (N, C, H, W) -> out (N, C, H', W') with
        floor mode: H' = (H - KH) // s + 1
        ceil mode:  H' = ceil((H - KH) / s) + 1 -- the last window may hang over
                    the bottom/right edge and then covers only the rows inside x.
    Ties: the first maximum in row-major order of the window wins.
    """
    # BEGIN SOLUTION
    kh, kw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    ceil = pool_param.get("ceil_mode", False)
    n, c, h, wd = x.shape
    if ceil:
        ho, wo = -(-(h - kh) // s) + 1, -(-(wd - kw) // s) + 1
    else:
        ho, wo = (h - kh) // s + 1, (wd - kw) // s + 1
    out = np.zeros((n, c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            out[:, :, i, j] = x[:, :, i * s:i * s + kh, j * s:j * s + kw].max(axis=(2, 3))
    cache = (x, pool_param, (ho, wo))
    # END SOLUTION
    return out, cache


def max_pool_backward(dout, cache):
    """Backward of max_pool_forward: each window's gradient goes to the one input
    that won it (its first maximum).  Overlapping windows may pick the same
    input: its gradients ADD up."""
    # BEGIN SOLUTION
    x, pool_param, (ho, wo) = cache
    kh, kw, s = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(ho):
        for j in range(wo):
            window = x[:, :, i * s:i * s + kh, j * s:j * s + kw]
            n, c, wh, ww = window.shape
            k = window.reshape(n, c, -1).argmax(axis=2)                     # first max
            rows, cols = np.unravel_index(k, (wh, ww))
            nn, cc = np.meshgrid(np.arange(n), np.arange(c), indexing="ij")
            np.add.at(dx, (nn, cc, i * s + rows, j * s + cols), dout[:, :, i, j])
    # END SOLUTION
    return dx


# --------------------------------------------------------------------------- fire module
def fire_forward(x, w_s, b_s, w_e1, b_e1, w_e3, b_e3):
    """SqueezeNet's fire module (Iandola et al. 2016) from your layers above:

    s   = relu(conv(x, w_s, b_s))              1x1, stride 1, pad 0  (N, S, H, W)
    e1  = relu(conv(s, w_e1, b_e1))            1x1, stride 1, pad 0  (N, E1, H, W)
    e3  = relu(conv(s, w_e3, b_e3))            3x3, stride 1, pad 1  (N, E3, H, W)
    out = concatenate([e1, e3], axis=1)        expand1x1 first       (N, E1 + E3, H, W)
    """
    # BEGIN SOLUTION
    a_s, c_s = conv_forward(x, w_s, b_s, {"stride": 1, "pad": 0})
    s, r_s = relu_forward(a_s)
    a_e1, c_e1 = conv_forward(s, w_e1, b_e1, {"stride": 1, "pad": 0})
    e1, r_e1 = relu_forward(a_e1)
    a_e3, c_e3 = conv_forward(s, w_e3, b_e3, {"stride": 1, "pad": 1})
    e3, r_e3 = relu_forward(a_e3)
    out = np.concatenate([e1, e3], axis=1)
    cache = (c_s, r_s, c_e1, r_e1, c_e3, r_e3, e1.shape[1])
    # END SOLUTION
    return out, cache


def fire_backward(dout, cache, relu_mode="standard", param_grads=True):
    """Backward of fire_forward -> (dx, dw_s, db_s, dw_e1, db_e1, dw_e3, db_e3).

    Split dout like the concat (expand1x1 first), go back through each branch
    (relu_backward with ``relu_mode``, then conv_backward), ADD the two
    gradients of s (it fed both branches), then through the squeeze.
    ``param_grads=False`` may return None for the weight gradients.
    """
    # BEGIN SOLUTION
    c_s, r_s, c_e1, r_e1, c_e3, r_e3, e1 = cache
    de1, de3 = dout[:, :e1], dout[:, e1:]
    ds1, dw_e1, db_e1 = conv_backward(relu_backward(de1, r_e1, relu_mode), c_e1)
    ds3, dw_e3, db_e3 = conv_backward(relu_backward(de3, r_e3, relu_mode), c_e3)
    dx, dw_s, db_s = conv_backward(relu_backward(ds1 + ds3, r_s, relu_mode), c_s)
    # END SOLUTION
    return dx, dw_s, db_s, dw_e1, db_e1, dw_e3, db_e3
