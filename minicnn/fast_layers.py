"""Fast layers: the same forward/backward pairs as :mod:`minicnn.layers`, fast.

- Convolution as GEMM.  1x1 stride-1 unpadded convolutions need no columns at
  all: ``out[n] = W.reshape(F, C) @ x[n].reshape(C, H*W)`` is already NCHW.
  Other kernels build columns (``_kernels.im2col``, padding by bounds, no
  ``np.pad``) laid out so that ``W.reshape(F, C*KH*KW) @ cols[n]`` writes
  ``out[n]`` in NCHW order, with no transposes.  Columns live in a reusable
  per-thread scratch buffer of at most :data:`COL_BUFFER_BYTES`; when a
  batch does not fit it is processed a few images at a time, and an image that
  does not fit alone is processed in strips of output rows (each strip's GEMM
  writes straight into its rows of ``out``).  Backward does the same in
  reverse (``col2im`` is the adjoint of ``im2col``), and recomputes the columns
  only when weight gradients are requested: ``param_grads=False`` needs just
  ``W``, so it skips ``im2col``, the dW GEMM and the bias sum.
- Max pooling: Cython kernels (OpenMP over the N*C planes) that record the flat
  argmax of every window and scatter-add through it in backward.
- Average pooling: vectorized over the window offsets (no per-position loop).
- Everything else (ReLU, affine, concat, dropout, softmax, global average pool)
  is re-exported from :mod:`minicnn.layers`.

dtypes: float32 and float64 are computed in their own precision and the output
has the dtype of ``x`` (float32 is never upcast; a float64 ``w`` meeting a
float32 ``x`` is cast down).  Other float dtypes are computed in float32
(itemsize <= 4) or float64 and cast back.  ``dw, db`` have the dtypes of ``w, b``.
Caches have the same structure as the reference layers' caches.
"""
import threading

import numpy as np

from . import _kernels
from .layers import (  # noqa: F401  (re-exports: same API as minicnn.layers)
    RELU_MODES, _conv_params, _pool_params, affine_backward, affine_forward,
    check_relu_mode, concat_backward, concat_forward, conv_backward_naive, conv_forward_naive,
    conv_output_size, dropout_backward, dropout_forward, global_avg_pool_backward,
    global_avg_pool_forward, max_pool_backward_naive, max_pool_forward_naive, pair,
    pool_output_size, relu_backward, relu_forward, softmax_loss)

__all__ = [
    "affine_forward", "affine_backward",
    "relu_forward", "relu_backward", "RELU_MODES", "check_relu_mode",
    "conv_forward", "conv_backward", "conv_forward_naive", "conv_backward_naive",
    "conv_forward_fast", "conv_backward_fast",
    "max_pool_forward", "max_pool_backward",
    "max_pool_forward_naive", "max_pool_backward_naive",
    "max_pool_forward_fast", "max_pool_backward_fast",
    "avg_pool_forward", "avg_pool_backward",
    "global_avg_pool_forward", "global_avg_pool_backward",
    "concat_forward", "concat_backward",
    "dropout_forward", "dropout_backward",
    "softmax_loss",
    "pair", "conv_output_size", "pool_output_size",
    "COL_BUFFER_BYTES", "clear_buffers",
]

#: Upper bound (bytes) of one column buffer (im2col columns, and in backward the
#: column gradients).  Larger problems are tiled by images, then by output rows.
#: Small tiles stay in cache between im2col and the GEMM that reads them: on a
#: 9x9 conv at 256x256 (batch 4) 4 MiB tiles were 1.2-1.7x faster than 64 MiB
#: ones, and SqueezeNet at 224 fits whole images (<= 1.7 MB of columns).
COL_BUFFER_BYTES = 4 * 2 ** 20

_tls = threading.local()


# --------------------------------------------------------------------------- helpers
def clear_buffers():
    """Free this thread's scratch column buffers (they are reused across calls)."""
    _tls.bufs = {}


def _scratch(slot, shape, dtype):
    """A C-contiguous array view of a per-thread reusable byte buffer.

    Only for data that never leaves the function that asked for it.
    """
    bufs = getattr(_tls, "bufs", None)
    if bufs is None:
        bufs = _tls.bufs = {}
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = bufs.get(slot)
    if buf is None or buf.nbytes < nbytes:
        buf = bufs[slot] = np.empty(max(nbytes, 64), dtype=np.uint8)
    return buf[:nbytes].view(dtype).reshape(shape)


def _view(a, shape):
    """Reshape that must not copy (we write through the result)."""
    v = a.view()
    v.shape = shape
    return v


def _compute_dtype(x):
    if x.dtype == np.float32 or x.dtype == np.float64:
        return x.dtype
    return np.dtype(np.float32) if x.dtype.itemsize <= 4 else np.dtype(np.float64)


def _tiles(n, ho, row_bytes, cap=None):
    """Split the output (n images x ho rows) into tiles whose columns fit ``cap``.

    row_bytes: column bytes of one output row of one image.  Yields
    ``(n0, n1, r0, r1)``: whole images (as many as fit) when one image fits,
    otherwise one image at a time in strips of rows (at least one row).
    """
    cap = COL_BUFFER_BYTES if cap is None else cap
    img_bytes = ho * row_bytes
    if img_bytes <= cap:
        step = max(1, cap // max(img_bytes, 1))
        for n0 in range(0, n, step):
            yield n0, min(n, n0 + step), 0, ho
    else:
        rows = max(1, cap // max(row_bytes, 1))
        for i in range(n):
            for r0 in range(0, ho, rows):
                yield i, i + 1, r0, min(ho, r0 + rows)


# --------------------------------------------------------------------------- convolution
def conv_forward(x, w, b, conv_param=None):
    """Convolution (cross-correlation) as GEMM.

    x: (N, C, H, W); w: (F, C, KH, KW); b: (F,)
    conv_param: {'stride': s or (sh, sw), 'pad': p or (ph, pw)}, zero padding.
    out: (N, F, H', W'), H' = (H + 2 ph - KH) // sh + 1, W' likewise.

        out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]
                        = (W2 @ cols[n])[f, i*W' + j] + b[f],   W2 = w.reshape(F, C*KH*KW)

    Returns (out, cache); cache = (x, w, b, (sh, sw, ph, pw)) as in layers.py
    (x possibly made C-contiguous / cast to the compute dtype).
    """
    sh, sw, ph, pw, ho, wo = _conv_params(x, w, conv_param)
    dt = _compute_dtype(x)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    xc = np.ascontiguousarray(x, dtype=dt)
    w2 = np.ascontiguousarray(w, dtype=dt).reshape(F, C * kh * kw)
    bc = np.asarray(b, dtype=dt).reshape(F, 1)
    out = np.empty((N, F, ho, wo), dtype=dt)
    if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        # 1x1: out[n] (F, H*W) = W2 (F, C) @ x[n] (C, H*W), already NCHW
        o3 = _view(out, (N, F, ho * wo))
        np.matmul(w2, xc.reshape(N, C, H * W), out=o3)
        o3 += bc
    else:
        K = C * kh * kw
        for n0, n1, r0, r1 in _tiles(N, ho, K * wo * dt.itemsize):
            nb, P = n1 - n0, (r1 - r0) * wo
            cols = _scratch("cols", (nb, K, P), dt)
            _kernels.im2col(xc[n0:n1], kh, kw, sh, sw, ph, pw, r0, r1, out=cols)
            o3 = _view(out[n0:n1, :, r0:r1, :], (nb, F, P))     # rows r0:r1 of out, NCHW
            np.matmul(w2, cols, out=o3)
            o3 += bc
    if out.dtype != x.dtype:
        out = out.astype(x.dtype)
    return out, (xc, w, b, (sh, sw, ph, pw))


def conv_backward(dout, cache, param_grads=True):
    """Backward of :func:`conv_forward` -> (dx, dw, db); (dx, None, None) if not param_grads.

    dout: (N, F, H', W').  Local derivatives and adjoint pairs:
      out = W2 @ cols + b   =>  dcols = W2^T @ dout,  dW2 = sum_n dout_n @ cols_n^T,
                                db = sum_{n,i,j} dout
      cols = im2col(pad(x)) =>  dx = crop(col2im(dcols))   (col2im = im2col^T, crop = pad^T)
    For 1x1 stride-1 unpadded convs cols = x, so dx_n = W2^T @ dout_n directly.
    With ``param_grads=False`` the columns are not rebuilt and neither dW nor db
    is computed (frozen-weight visualization).
    """
    x, w, b, (sh, sw, ph, pw) = cache
    dt = _compute_dtype(x)
    N, C, H, W = x.shape
    F, _, kh, kw = w.shape
    ho, wo = dout.shape[2:]
    if dout.shape != (N, F, ho, wo) or (ho, wo) != (conv_output_size(H, kh, sh, ph),
                                                    conv_output_size(W, kw, sw, pw)):
        raise ValueError(f"dout has shape {dout.shape}, expected "
                         f"{(N, F, conv_output_size(H, kh, sh, ph), conv_output_size(W, kw, sw, pw))}")
    xc = np.ascontiguousarray(x, dtype=dt)
    dc = np.ascontiguousarray(dout, dtype=dt)
    w2 = np.ascontiguousarray(w, dtype=dt).reshape(F, C * kh * kw)
    dw2 = np.zeros((F, C * kh * kw), dtype=dt) if param_grads else None
    if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        d3 = dc.reshape(N, F, H * W)
        dx = np.matmul(w2.T, d3).reshape(N, C, H, W)             # dx_n = W2^T dout_n
        if param_grads:
            x3 = xc.reshape(N, C, H * W)
            for n in range(N):
                dw2 += d3[n] @ x3[n].T                            # dW2 = sum_n dout_n x_n^T
    else:
        K = C * kh * kw
        tiles = list(_tiles(N, ho, K * wo * dt.itemsize))
        strips = any(r1 - r0 < ho for _, _, r0, r1 in tiles)
        # strips of rows read overlapping input rows, so their col2im must add up
        dx = np.zeros((N, C, H, W), dtype=dt) if strips else np.empty((N, C, H, W), dtype=dt)
        for n0, n1, r0, r1 in tiles:
            nb, P = n1 - n0, (r1 - r0) * wo
            d3 = _view(dc[n0:n1, :, r0:r1, :], (nb, F, P))
            dcols = _scratch("dcols", (nb, K, P), dt)
            np.matmul(w2.T, d3, out=dcols)                        # dcols = W2^T dout
            _kernels.col2im(dcols, (nb, C, H, W), kh, kw, sh, sw, ph, pw, r0,
                            out=dx[n0:n1], accumulate=strips)     # dx = crop(col2im(dcols))
            if param_grads:
                cols = _scratch("cols", (nb, K, P), dt)
                _kernels.im2col(xc[n0:n1], kh, kw, sh, sw, ph, pw, r0, r1, out=cols)
                for i in range(nb):
                    dw2 += d3[i] @ cols[i].T                      # dW2 += dout_n cols_n^T
    if dx.dtype != x.dtype:
        dx = dx.astype(x.dtype)
    if not param_grads:
        return dx, None, None
    dw = dw2.reshape(w.shape).astype(w.dtype, copy=False)
    db = dc.sum(axis=(0, 2, 3)).astype(np.asarray(b).dtype, copy=False)
    return dx, dw, db


# --------------------------------------------------------------------------- max pooling
def max_pool_forward(x, pool_param):
    """Max pooling with overlapping windows, padding and ceil mode (Cython kernel).

    x: (N, C, H, W) -> out: (N, C, H', W'), H' = pool_output_size(H, KH, sh, ph, ceil_mode).
    pool_param: {'pool_height', 'pool_width', 'stride', 'pad'=0, 'ceil_mode'=False}.
        out[n, c, i, j] = max over the window rows i*sh-ph .. +KH, cols j*sw-pw .. +KW
    (padding is -inf; ties pick the first maximum in row-major window order).
    cache = (x.shape, argmax) with argmax (N, C, H', W') int32 flat indices into H*W.
    """
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_params(x, pool_param)
    xc = x if x.dtype in (np.float32, np.float64) else x.astype(_compute_dtype(x))
    out, argmax = _kernels.maxpool_forward(xc, kh, kw, sh, sw, ph, pw, ho, wo)
    if out.dtype != x.dtype:
        out = out.astype(x.dtype)
    return out, (x.shape, argmax)


def max_pool_backward(dout, cache):
    """dx (N, C, H, W): each dout[n, c, i, j] added to the input that won window (i, j).

    Local derivative of max = indicator of the argmax; its adjoint is this
    scatter-add (overlapping windows may route several gradients to one input).
    """
    x_shape, argmax = cache
    N, C, H, W = x_shape
    if dout.shape != argmax.shape:
        raise ValueError(f"dout has shape {dout.shape}, expected {argmax.shape}")
    dc = dout if dout.dtype in (np.float32, np.float64) else dout.astype(_compute_dtype(dout))
    dx = _kernels.maxpool_backward(dc, argmax, H, W)
    return dx if dx.dtype == dout.dtype else dx.astype(dout.dtype)


# --------------------------------------------------------------------------- average pooling
def _avg_counts(size, k, s, p, n_out):
    """Divisor of each output position along one axis (padding counted, overhang not)."""
    start = np.arange(n_out) * s - p
    return np.minimum(start + k, size + p) - start


def avg_pool_forward(x, pool_param):
    """Average pooling, vectorized over the KH*KW window offsets (same rule as layers.py).

    out[n, c, i, j] = sum(window(i, j)) / (count_h[i] * count_w[j]); zero padding is
    counted in the divisor (count_include_pad), a ceil-mode overhang is not.
    """
    kh, kw, sh, sw, ph, pw, ho, wo = _pool_params(x, pool_param)
    N, C, H, W = x.shape
    dt = _compute_dtype(x)
    hp, wp = max((ho - 1) * sh + kh, H + ph), max((wo - 1) * sw + kw, W + pw)
    xp = np.zeros((N, C, hp, wp), dtype=dt)
    xp[:, :, ph:ph + H, pw:pw + W] = x                                   # pad
    acc = np.zeros((N, C, ho, wo), dtype=dt)
    for u in range(kh):
        for v in range(kw):
            acc += xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
    count = np.outer(_avg_counts(H, kh, sh, ph, ho), _avg_counts(W, kw, sw, pw, wo))
    acc /= count.astype(dt)
    return acc.astype(x.dtype, copy=False), (x.shape, (kh, kw, sh, sw, ph, pw))


def avg_pool_backward(dout, cache):
    """Adjoint of the window sum: every input of window (i, j) gets dout / count(i, j);
    then crop, the adjoint of pad."""
    x_shape, (kh, kw, sh, sw, ph, pw) = cache
    N, C, H, W = x_shape
    ho, wo = dout.shape[2:]
    dt = _compute_dtype(dout)
    count = np.outer(_avg_counts(H, kh, sh, ph, ho), _avg_counts(W, kw, sw, pw, wo))
    g = dout / count.astype(dt)
    hp, wp = max((ho - 1) * sh + kh, H + ph), max((wo - 1) * sw + kw, W + pw)
    dxp = np.zeros((N, C, hp, wp), dtype=dt)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw] += g
    return dxp[:, :, ph:ph + H, pw:pw + W].astype(dout.dtype)            # crop = pad^T


# --------------------------------------------------------------------------- cs231n names
conv_forward_fast = conv_forward
conv_backward_fast = conv_backward
max_pool_forward_fast = max_pool_forward
max_pool_backward_fast = max_pool_backward
