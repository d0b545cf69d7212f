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
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("affine_forward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def affine_backward(dout, cache):
    """Backward of affine_forward.  dout: (N, M).

    Returns (dx, dw, db) with dx of the shape of x (N, d1, ..., dk), dw (D, M),
    db (M,):  dx = dout @ w^T (reshaped), dw = x_flat^T @ dout, db = sum_n dout.
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("affine_backward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return dx, dw, db


# --------------------------------------------------------------------------- ReLU
def relu_forward(x):
    """out = max(x, 0), any shape.  Keep in the cache what the backward needs."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("relu_forward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
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
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("relu_backward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return dx


# --------------------------------------------------------------------------- convolution
def conv_forward(x, w, b, conv_param):
    """Naive convolution -- a cross-correlation, as F.conv2d (do NOT flip the kernel).

    x: (N, C, H, W); w: (F, C, KH, KW) (KH may differ from KW); b: (F,)
    conv_param: {"stride": s or (sh, sw), "pad": p or (ph, pw)}, zero padding.
    out: (N, F, H', W'), H' = (H + 2 ph - KH) // sh + 1 (floor), likewise W':

        out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("conv_forward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def conv_backward(dout, cache):
    """Backward of conv_forward.  dout: (N, F, H', W') -> (dx, dw, db).

    Each output (i, j) read one window of xpad: scatter dout[:, :, i, j] back onto
    that window through w (dxpad) and correlate it with the window (dw, summed
    over the batch); db sums dout over the batch and the positions.  Finally crop
    the padding: dx = dxpad[:, :, ph:ph + H, pw:pw + W] (crop is the adjoint of pad).
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("conv_backward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
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
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("max_pool_forward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def max_pool_backward(dout, cache):
    """Backward of max_pool_forward: each window's gradient goes to the one input
    that won it (its first maximum).  Overlapping windows may pick the same
    input: its gradients ADD up."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("max_pool_backward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return dx


# --------------------------------------------------------------------------- fire module
def fire_forward(x, w_s, b_s, w_e1, b_e1, w_e3, b_e3):
    """SqueezeNet's fire module (Iandola et al. 2016) from your layers above:

    s   = relu(conv(x, w_s, b_s))              1x1, stride 1, pad 0  (N, S, H, W)
    e1  = relu(conv(s, w_e1, b_e1))            1x1, stride 1, pad 0  (N, E1, H, W)
    e3  = relu(conv(s, w_e3, b_e3))            3x3, stride 1, pad 1  (N, E3, H, W)
    out = concatenate([e1, e3], axis=1)        expand1x1 first       (N, E1 + E3, H, W)
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("fire_forward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def fire_backward(dout, cache, relu_mode="standard", param_grads=True):
    """Backward of fire_forward -> (dx, dw_s, db_s, dw_e1, db_e1, dw_e3, db_e3).

    Split dout like the concat (expand1x1 first), go back through each branch
    (relu_backward with ``relu_mode``, then conv_backward), ADD the two
    gradients of s (it fed both branches), then through the squeeze.
    ``param_grads=False`` may return None for the weight gradients.
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("fire_backward: not implemented yet (the TODO block in layers.py)")
    # ---------------------- end of your code ----------------
    return dx, dw_s, db_s, dw_e1, db_e1, dw_e3, db_e3
