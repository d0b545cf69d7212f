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
- 3x3 stride-1 convolutions with enough channels and pixels use Winograd's minimal
  filtering F(m x m, 3x3) (Lavin & Gray 2016; m = 4 by default, 2 on request): each
  m x m output tile is ``A^T [(G g G^T) o (B^T d B)] A`` over an (m+2)^2 input tile,
  so the channel sum becomes (m+2)^2 GEMMs ``U[xi] (F, C) @ V[xi] (C, P)`` over the
  P tiles, with 36/144 (m = 4) or 16/36 (m = 2) of the direct multiplications.  The
  tile transforms and their adjoints are kernels (``_kernels.winograd_*``); the weight
  transform ``U = G g G^T`` and its adjoint ``dW = G^T dU G`` are one GEMM each with
  ``K = G (x) G`` on the flattened 3x3s.  Backward runs the forward in reverse: ``dM = A dY
  A^T`` per tile, ``dU = dM V^T`` (the columns V recomputed), ``dV = U^T dM`` and
  ``dx`` = the scatter-add ``B dV B^T`` over the overlapping tiles (the input
  transform's adjoint, padding cropped).  It is exact in exact arithmetic (the
  transforms hold small integers and fractions; float32 results differ from im2col's
  by ~1e-6 relative for m = 4, ~1e-7 for m = 2); :func:`set_conv_algorithm` chooses.
- Stride-1 convolutions with a large kernel and at most 4 input or output channels (the
  style transformer's 9x9 3 -> 16 and 16 -> 3) are computed directly on AVX2 / AVX-512
  CPUs (``_kernels.conv_direct``: for 4 output channels and two vector-wide runs of a
  row, the accumulators stay in registers over the whole (c, u, v) sum; no columns).
  Their backward is the im2col one (same cache).
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

from . import _kernels, checks
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
    "CONV_ALGORITHMS", "set_conv_algorithm", "get_conv_algorithm", "conv_algorithm",
]

#: Upper bound (bytes) of one column buffer (im2col columns, and in backward the
#: column gradients).  Larger problems are tiled by images, then by output rows.
#: Small tiles stay in cache between im2col and the GEMM that reads them: on a
#: 9x9 conv at 256x256 (batch 4) 4 MiB tiles were 1.2-1.7x faster than 64 MiB
#: ones, and SqueezeNet at 224 fits whole images (<= 1.7 MB of columns).
COL_BUFFER_BYTES = 4 * 2 ** 20

_tls = threading.local()

#: how stride-1 convolutions are computed: "auto" (3x3 ones by Winograd F(4x4, 3x3) when
#: the compiled kernels are built and both channel counts are at least
#: WINOGRAD_MIN_CHANNELS; those with a large kernel and few input or output channels
#: directly, see DIRECT_MAX_CHANNELS), "im2col" (always columns + GEMM; the few-outputs
#: conv its tap GEMM), "winograd2" / "winograd4" (3x3 ones always by F(2x2, 3x3) /
#: F(4x4, 3x3), also on the NumPy twins), "direct" (all of them by ``conv_direct``, also
#: on the NumPy twin)
CONV_ALGORITHMS = ("auto", "im2col", "winograd2", "winograd4", "direct")
#: smallest channel counts and output pixels (over the batch) for which "auto" picks
#: Winograd F(4x4, 3x3).  Measured (2 threads, float32, forward / backward ms):
#: 128->128 channels at 64x64, batch 4: 20 / 41 against 46 / 75 with im2col;
#: 64->32 at 256x256: 50 / 107 against 126 / 186; but SqueezeNet's layers at batch 1
#: (32->128 at 27x27: 0.80 / 1.13 against 0.44 / 0.81) and 64->256 at 15x15, batch 4
#: (2.35 / 4.28 against 1.90 / 3.71) are slower: with few tiles or few channels the
#: tile transforms cost more than the multiplications they save.
WINOGRAD_MIN_CHANNELS = 32
WINOGRAD_MIN_PIXELS = 4096
#: "auto" computes a stride-1 convolution directly (``_kernels.conv_direct``: no columns,
#: accumulators in vector registers) when the compiled kernel runs with AVX2 or AVX-512
#: vectors, the kernel has at least DIRECT_MIN_TAPS taps and the input or the output has
#: at most DIRECT_MAX_CHANNELS channels.  im2col there builds KH*KW*C column rows per
#: pixel for a GEMM with few outputs, or a GEMM with few outputs.  Measured (2 threads,
#: float32, ms, AVX-512, direct against im2col / the few-outputs tap GEMM): 9x9 3 -> 16
#: at 512x384, 4.5 against 16; 16 -> 3, 6.4 against 19; 3 -> 32 at 256x256, batch 4: 12
#: against 32; 32 -> 3: 14 against 38.  By vector width (512x384, 3 -> 16 and 16 -> 3):
#: AVX-512 3.7 and 5.6 ms, AVX2 7.4 and 10.3, baseline (16-byte) vectors 24 and 32,
#: slower than the GEMMs: not used.
DIRECT_MAX_CHANNELS = 4
DIRECT_MIN_TAPS = 25
_conv_algorithm = "auto"


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


# --------------------------------------------------------------------------- algorithm switch
def _check_conv_algorithm(name):
    return checks.choice(name, CONV_ALGORITHMS, "name", label="conv algorithm")


def set_conv_algorithm(name):
    """Choose how stride-1 convolutions run (one of :data:`CONV_ALGORITHMS`); returns
    the previous choice.  Strided convolutions always use im2col + GEMM."""
    global _conv_algorithm
    prev, _conv_algorithm = _conv_algorithm, _check_conv_algorithm(name)
    return prev


def get_conv_algorithm():
    """The current choice of :func:`set_conv_algorithm`."""
    return _conv_algorithm


class conv_algorithm:
    """Context manager: ``with conv_algorithm("winograd4"): ...`` sets and restores."""

    def __init__(self, name):
        self.name, self.prev = _check_conv_algorithm(name), None

    def __enter__(self):
        self.prev = set_conv_algorithm(self.name)
        return self

    def __exit__(self, *exc):
        set_conv_algorithm(self.prev)


def _row_strips(rows, row_bytes):
    """Strips [a, e) of ``rows`` rows (output rows, tile rows, input rows) whose buffers
    of ``row_bytes`` per row fit COL_BUFFER_BYTES (at least one row each)."""
    step = max(1, COL_BUFFER_BYTES // max(row_bytes, 1))
    for a in range(0, rows, step):
        yield a, min(rows, a + step)


def _winograd_tile(N, C, F, kh, kw, sh, sw, ho, wo):
    """The output tile size m of the Winograd algorithm to use (2 or 4), or 0 for im2col."""
    if not (kh == kw == 3 and sh == sw == 1) or _conv_algorithm in ("im2col", "direct"):
        return 0
    if _conv_algorithm != "auto":
        return int(_conv_algorithm[-1])
    big = min(C, F) >= WINOGRAD_MIN_CHANNELS and N * ho * wo >= WINOGRAD_MIN_PIXELS
    return 4 if big and _kernels.KERNEL_SOURCES["winograd_input"].startswith("cython") else 0


def _direct(C, F, kh, kw, sh, sw):
    """Whether this convolution runs on ``_kernels.conv_direct`` (see DIRECT_MAX_CHANNELS)."""
    if not sh == sw == 1 or _conv_algorithm not in ("auto", "direct"):
        return False
    if _conv_algorithm == "direct":
        return True
    return (min(C, F) <= DIRECT_MAX_CHANNELS and kh * kw >= DIRECT_MIN_TAPS
            and _kernels.direct_isa() in ("avx512", "avx2"))


def _winograd_kron(dt, m):
    """K = G (x) G, (T, 9): row-major vec(G g G^T) = K vec(g) for a 3x3 g, so the
    weight transform of all (f, c) pairs is one GEMM (an einsum over the 3x3 axes
    took 9x longer for 64x64 channels)."""
    g = _kernels.WINOGRAD_MATRICES[m][1].astype(dt)
    return np.kron(g, g)


def _winograd_weights(w, dt, m):
    """U = G g G^T per (f, c): (F, C, 3, 3) -> (T, F, C), U[a(m+2)+b] = (G g G^T)[a, b]."""
    F, C = w.shape[:2]
    w9 = np.asarray(w, dtype=dt).reshape(F * C, 9)
    return (_winograd_kron(dt, m) @ w9.T).reshape((m + 2) ** 2, F, C)


def _tile_scratch(slot, T, K, P, dt):
    """A (T, K, P) scratch view whose T (K, P) planes start 64 bytes past a multiple
    of each other's size: planes a power of two apart map the T streams a tile
    transform reads or writes onto the same cache sets (measured: the F(2x2) input
    transform of a 128-channel 64x64 batch of 4 took 19 ms, 3x its memory time)."""
    item = np.dtype(dt).itemsize
    stride = K * P + 64 // item
    buf = _scratch(slot, (T * stride,), dt)
    return np.lib.stride_tricks.as_strided(buf, (T, K, P), (stride * item, P * item, item))


def _winograd_forward(xc, w, bc, ph, pw, out, m):
    """out = conv3x3(xc, w) + b, stride 1, zero pad (ph, pw), by F(m x m, 3x3) tiles."""
    N, C = xc.shape[:2]
    F, ho, wo = out.shape[1:]
    dt = xc.dtype
    T, th, tw = (m + 2) ** 2, -(-ho // m), -(-wo // m)
    U = _winograd_weights(w, dt, m)
    for r0, r1 in _row_strips(N * th, T * max(C, F) * tw * dt.itemsize):
        P = (r1 - r0) * tw
        V = _tile_scratch("wino_v", T, C, P, dt)
        _kernels.winograd_input(xc, ph, pw, r0, r1, out=V, m=m)         # V = B^T d B
        M = _tile_scratch("wino_m", T, F, P, dt)
        np.matmul(U, V, out=M)                                          # M[xi] = U[xi] V[xi]
        _kernels.winograd_output(M, bc.reshape(-1), out, r0, m=m)       # Y = A^T M A + b


def _winograd_backward(dc, xc, w, ph, pw, param_grads, input_grad, m):
    """(dx or None, dW (F, C, 3, 3) or None) of :func:`_winograd_forward`, each step
    the adjoint of a forward one, in reverse order:
      Y = A^T M A     =>  dM = A dY A^T           (output transform / its adjoint)
      M = U V         =>  dU = dM V^T,  dV = U^T dM
      V = B^T d B     =>  dx += B dV B^T          (tile gather / scatter-add, crop = pad^T)
      U = G g G^T     =>  dW = G^T dU G"""
    N, C, H, W = xc.shape
    F = w.shape[0]
    ho, wo = dc.shape[2:]
    dt = xc.dtype
    T, th, tw = (m + 2) ** 2, -(-ho // m), -(-wo // m)
    U = _winograd_weights(w, dt, m)
    dU = np.zeros((T, F, C), dtype=dt) if param_grads else None
    dx = np.zeros((N, C, H, W), dtype=dt) if input_grad else None   # tiles overlap: add
    for r0, r1 in _row_strips(N * th, T * max(C, F) * tw * dt.itemsize):
        P = (r1 - r0) * tw
        dM = _tile_scratch("wino_m", T, F, P, dt)
        _kernels.winograd_output_adjoint(dc, r0, r1, out=dM, m=m)
        if param_grads:
            V = _tile_scratch("wino_v", T, C, P, dt)
            _kernels.winograd_input(xc, ph, pw, r0, r1, out=V, m=m)
            dU += np.matmul(dM, V.transpose(0, 2, 1))
        if input_grad:
            dV = _tile_scratch("wino_dv", T, C, P, dt)
            np.matmul(U.transpose(0, 2, 1), dM, out=dV)
            _kernels.winograd_input_adjoint(dV, dx, ph, pw, r0, m=m)
    dw = None
    if param_grads:
        # vec(dW) = K^T vec(dU): the adjoint of the forward's one GEMM
        dw = (dU.reshape(T, F * C).T @ _winograd_kron(dt, m)).reshape(F, C, 3, 3)
    return dx, dw


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
    m = _winograd_tile(N, C, F, kh, kw, sh, sw, ho, wo)
    if _direct(C, F, kh, kw, sh, sw):
        xp = xc if ph == pw == 0 else np.pad(xc, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        _kernels.conv_direct(xp, w2.reshape(F, C, kh, kw), bc.reshape(F), out=out)
    elif kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        # 1x1: out[n] (F, H*W) = W2 (F, C) @ x[n] (C, H*W), already NCHW
        o3 = _view(out, (N, F, ho * wo))
        np.matmul(w2, xc.reshape(N, C, H * W), out=o3)
        o3 += bc
    elif m:
        _winograd_forward(xc, w, bc, ph, pw, out, m)
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


def conv_backward(dout, cache, param_grads=True, input_grad=True):
    """Backward of :func:`conv_forward` -> (dx, dw, db); (dx, None, None) if not param_grads;
    dx is None when ``input_grad`` is False (a network's first layer, whose input is
    data: no dcols GEMM, no col2im).

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
    if not (param_grads or input_grad):
        return None, None, None
    m = _winograd_tile(N, C, F, kh, kw, sh, sw, ho, wo)
    if kh == kw == 1 and sh == sw == 1 and ph == pw == 0:
        d3 = dc.reshape(N, F, H * W)
        dx = np.matmul(w2.T, d3).reshape(N, C, H, W) if input_grad else None  # W2^T dout_n
        if param_grads:
            x3 = xc.reshape(N, C, H * W)
            for n in range(N):
                dw2 += d3[n] @ x3[n].T                            # dW2 = sum_n dout_n x_n^T
    elif m:
        dx, dw4 = _winograd_backward(dc, xc, w, ph, pw, param_grads, input_grad, m)
        if param_grads:
            dw2 = dw4.reshape(F, C * kh * kw)
    else:
        K = C * kh * kw
        tiles = list(_tiles(N, ho, K * wo * dt.itemsize))
        strips = any(r1 - r0 < ho for _, _, r0, r1 in tiles)
        # strips of rows read overlapping input rows, so their col2im must add up
        dx = None
        if input_grad and sh == sw == 1 and F < C and ph < kh and pw < kw:
            # fewer outputs than inputs: the column gradients (C*KH*KW rows) would
            # dwarf dout, so take dx as the forward convolution that is its adjoint,
            #   dx = dout (*) flip(W)^T  with pad (KH-1-ph, KW-1-pw)
            # (full correlation with the flipped, transposed kernel, cropped by the
            # pad): an im2col of dout (F*KH*KW rows) and one GEMM, no col2im.
            wt = np.ascontiguousarray(np.asarray(w, dtype=dt)[:, :, ::-1, ::-1]
                                      .transpose(1, 0, 2, 3))
            dx = conv_forward(dc, wt, np.zeros(C, dt),
                              {"stride": 1, "pad": (kh - 1 - ph, kw - 1 - pw)})[0]
            input_grad = False                            # done: the loop below skips it
        elif input_grad:
            dx = np.zeros((N, C, H, W), dtype=dt) if strips else np.empty((N, C, H, W), dt)
        for n0, n1, r0, r1 in tiles:
            nb, P = n1 - n0, (r1 - r0) * wo
            d3 = _view(dc[n0:n1, :, r0:r1, :], (nb, F, P))
            if input_grad:
                dcols = _scratch("dcols", (nb, K, P), dt)
                np.matmul(w2.T, d3, out=dcols)                    # dcols = W2^T dout
                _kernels.col2im(dcols, (nb, C, H, W), kh, kw, sh, sw, ph, pw, r0,
                                out=dx[n0:n1], accumulate=strips)  # dx = crop(col2im(dcols))
            if param_grads:
                cols = _scratch("cols", (nb, K, P), dt)
                _kernels.im2col(xc[n0:n1], kh, kw, sh, sw, ph, pw, r0, r1, out=cols)
                for i in range(nb):
                    dw2 += d3[i] @ cols[i].T                      # dW2 += dout_n cols_n^T
    if dx is not None and dx.dtype != x.dtype:
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


# --------------------------------------------------------------------------- transformer layers
# Fast twins of minicnn.transformer_layers (same signatures and caches' meaning),
# used by the fast style transfer network; tested equal to the readable ones.
def conv_few_outputs_forward(x, w, b):
    """Stride-1 unpadded convolution with few outputs F (the 9x9 C -> 3 output conv
    of the style transformer) as a tap GEMM plus a col2im.

    x: (N, C, Hp, Wp); w: (F, C, KH, KW); b: (F,) -> out (N, F, Ho, Wo),
    Ho = Hp - KH + 1.  With the flipped taps as rows,
    ``Wf[(f, u, v), c] = w[f, c, KH-1-u, KW-1-v]``, one GEMM gives
    ``Z[n] = Wf @ x[n]`` (F*KH*KW, Hp*Wp), and

        out[n, f, i, j] = b[f] + sum_{u,v} Z[n, (f, KH-1-u, KW-1-v), i + u, j + v]
                        = b[f] + col2im(Z[n]) with pad (KH-1, KW-1) onto (F, Ho, Wo):

    the shifted sum of the taps is exactly the scatter-add of col2im (whose
    output crop drops what falls outside).  Z has F*KH*KW rows (243 for F = 3,
    9x9) where the im2col of x would have C*KH*KW (2592 for C = 32).  Z is made
    for strips of input rows that fit :data:`COL_BUFFER_BYTES` (each strip's
    taps added where they land), so it stays in cache between the GEMM and col2im
    (a 512x384 image's whole Z is 198 MB).  Where the direct kernel is used (see
    :data:`DIRECT_MAX_CHANNELS`; AVX2 / AVX-512) the forward is ``conv_direct`` instead,
    2.5-3x faster; the cache and the backward are the same.
    cache: (x, Wf, w.shape, b.dtype).
    """
    if x.ndim != 4 or w.ndim != 4 or w.shape[1] != x.shape[1]:
        raise ValueError(f"x (N, C, Hp, Wp) and w (F, C, KH, KW) must agree on C, got "
                         f"{x.shape} and {w.shape}")
    N, C, Hp, Wp = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = Hp - KH + 1, Wp - KW + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"x of spatial size {(Hp, Wp)} is smaller than the kernel {(KH, KW)}")
    dt = _compute_dtype(x)
    xc = np.ascontiguousarray(x, dtype=dt)
    wf = np.ascontiguousarray(np.asarray(w, dtype=dt)[:, :, ::-1, ::-1]
                              .transpose(0, 2, 3, 1).reshape(F * KH * KW, C))
    if _direct(C, F, KH, KW, 1, 1):
        out = _kernels.conv_direct(xc, np.asarray(w, dtype=dt), np.asarray(b, dtype=dt))
        if out.dtype != x.dtype:
            out = out.astype(x.dtype)
        return out, (xc, wf, w.shape, np.asarray(b).dtype)
    out = np.zeros((N, F, Ho, Wo), dtype=dt)
    x3 = xc.reshape(N, C, Hp * Wp)
    for n in range(N):
        for a, e in _row_strips(Hp, F * KH * KW * Wp * dt.itemsize):
            # the taps of input rows [a, e) land on output rows a-KH+1 .. e-1: add them
            z = _scratch("taps", (1, F * KH * KW, (e - a) * Wp), dt)
            np.matmul(wf, x3[n, :, a * Wp:e * Wp], out=z[0])            # Z = Wf x[n]
            _kernels.col2im(z, (1, F, Ho, Wo), KH, KW, 1, 1, KH - 1, KW - 1, row0=a,
                            out=out[n:n + 1], accumulate=True)          # shifted sum of taps
    out += np.asarray(b, dtype=dt).reshape(1, F, 1, 1)
    if out.dtype != x.dtype:
        out = out.astype(x.dtype)
    return out, (xc, wf, w.shape, np.asarray(b).dtype)


def conv_few_outputs_backward(dout, cache):
    """-> (dx, dw, db).  Adjoint pairs in reverse: col2im's adjoint is im2col,
    ``dZ[n] = im2col(dout[n])`` with pad (KH-1, KW-1) (F*KH*KW rows, Hp*Wp
    columns); then the GEMM's: ``dx[n] = Wf^T dZ[n]``, ``dWf = sum_n dZ[n] x[n]^T``
    (unflipped into dw); ``db = sum dout``."""
    xc, wf, w_shape, b_dtype = cache
    N, C, Hp, Wp = xc.shape
    F, _, KH, KW = w_shape
    dt = xc.dtype
    dc = np.ascontiguousarray(dout, dtype=dt)
    if dc.shape != (N, F, Hp - KH + 1, Wp - KW + 1):
        raise ValueError(f"dout has shape {dout.shape}, expected "
                         f"{(N, F, Hp - KH + 1, Wp - KW + 1)}")
    dx = np.empty((N, C, Hp, Wp), dtype=dt)
    dwf = np.zeros_like(wf)
    x3 = xc.reshape(N, C, Hp * Wp)
    dx3 = _view(dx, (N, C, Hp * Wp))
    for n in range(N):
        for a, e in _row_strips(Hp, F * KH * KW * Wp * dt.itemsize):
            dz = _scratch("taps", (1, F * KH * KW, (e - a) * Wp), dt)
            _kernels.im2col(dc[n:n + 1], KH, KW, 1, 1, KH - 1, KW - 1, a, e,
                            out=dz)                                   # dZ = im2col(dout)
            np.matmul(wf.T, dz[0], out=dx3[n, :, a * Wp:e * Wp])      # dx = Wf^T dZ
            dwf += dz[0] @ x3[n, :, a * Wp:e * Wp].T                  # dWf += dZ x^T
    dw = dwf.reshape(F, KH, KW, C)[:, ::-1, ::-1].transpose(0, 3, 1, 2)
    db = dc.sum(axis=(0, 2, 3)).astype(b_dtype, copy=False)
    return dx, np.ascontiguousarray(dw), db


def reflection_pad_forward(x, pad):
    """Reflection padding of the last two axes by ``pad`` (same as
    :func:`minicnn.transformer_layers.reflection_pad_forward`) on the
    ``reflect_pad`` kernel (rows copied with memcpy, planes over threads)."""
    p = int(pad)
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    return _kernels.reflect_pad(np.asarray(x, dtype=_compute_dtype(x)), p).astype(
        x.dtype, copy=False), (x.shape, p)


def reflection_pad_backward(dout, cache):
    """Adjoint of reflection padding (crop + fold, ``reflect_pad_adjoint``): the
    centre, plus every padded row and column added back onto the pixel it copied."""
    x_shape, p = cache
    dx = _kernels.reflect_pad_adjoint(np.asarray(dout, dtype=_compute_dtype(dout)), p)
    assert dx.shape == tuple(x_shape)
    return dx


def upsample_nearest_forward(x, scale=2):
    """Nearest-neighbour upsampling (as :func:`minicnn.transformer_layers.upsample_nearest_forward`):
    one allocation written by s*s strided copies."""
    s = int(scale)
    if s < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    N, C, H, W = x.shape
    out = np.empty((N, C, H, s, W, s), dtype=x.dtype)
    for a in range(s):
        for b in range(s):
            out[:, :, :, a, :, b] = x
    return out.reshape(N, C, H * s, W * s), s


def upsample_nearest_backward(dout, cache):
    """Adjoint of the copy (block-sum): each input pixel sums its s x s block,
    as s*s strided adds instead of a reduction over two inner axes."""
    s = cache
    N, C, Hs, Ws = dout.shape
    d = dout.reshape(N, C, Hs // s, s, Ws // s, s)
    dx = d[:, :, :, 0, :, 0].copy()
    for a in range(s):
        for b in range(s):
            if a or b:
                dx += d[:, :, :, a, :, b]
    return dx


#: _SUBPIXEL[a, t, u]: which 3x3 tap rows u fall on low-res row t (0, 1) of the
#: edge-padded small image for output rows of parity a (see upsample_conv_forward)
_SUBPIXEL = np.array([[[1, 0, 0], [0, 1, 1]],
                      [[1, 1, 0], [0, 0, 1]]])
#: _SUBPIXEL_K[(a, b, t, s), (u, v)] = S[a, t, u] S[b, s, v]: the tap sums of all four
#: parities as one (16, 9) matrix, so w_ab for every (f, c) is one GEMM (a three-operand
#: einsum took 2 ms for 32 x 64 channels)
_SUBPIXEL_K = np.einsum("atu,bsv->abtsuv", _SUBPIXEL, _SUBPIXEL).reshape(16, 9).astype(float)


def _subpixel_weights(w, dt):
    """w (F, C, 3, 3) -> w_ab stacked as (4F, C, 2, 2), row (a, b, f)."""
    F, C = w.shape[:2]
    k = _SUBPIXEL_K.astype(dt) @ np.asarray(w, dtype=dt).reshape(F * C, 9).T   # (16, F*C)
    return k.reshape(2, 2, 2, 2, F, C).transpose(0, 1, 4, 5, 2, 3).reshape(4 * F, C, 2, 2)


def _subpixel_weights_adjoint(dw4, F, C):
    """The adjoint of :func:`_subpixel_weights`: dw4 (4F, C, 2, 2) -> dw (F, C, 3, 3)."""
    d = dw4.reshape(2, 2, F, C, 2, 2).transpose(0, 1, 4, 5, 2, 3).reshape(16, F * C)
    return (_SUBPIXEL_K.T.astype(d.dtype) @ d).T.reshape(F, C, 3, 3)


def upsample_conv_forward(x, w):
    """Nearest x2 upsampling, reflect-pad 1 and a 3x3 conv (no bias), as four 2x2
    convolutions of the small image (as
    :func:`minicnn.transformer_layers.upsample_conv_forward`).

    x: (N, C, H, W); w: (F, C, 3, 3) -> out (N, F, 2H, 2W).  Output row 2i + a
    reads upsampled rows 2i + a - 1 .. 2i + a + 1, which are small-image rows
    i - 1, i, i (a = 0) or i, i, i + 1 (a = 1); the reflect pad of the upsampled
    image is the edge pad of the small one.  So with xe = edge_pad(x, 1),

        out[n, f, 2i + a, 2j + b] = sum_{c,t,s} w_ab[f, c, t, s] xe[n, c, i + a + t, j + b + s],
        w_ab[f, c, t, s] = sum_{u,v} S[a, t, u] S[b, s, v] w[f, c, u, v]

    (S = :data:`_SUBPIXEL`: a = 0 sums taps (0), (1, 2); a = 1 sums (0, 1), (2)).
    All four parities are one 2x2 conv of xe with 4F outputs, Z, whose window
    (i + a, j + b) is kept for parity (a, b): 16 FC multiply-adds per small pixel
    instead of the 36 FC of the 3x3 conv on the 4x larger upsampled image, and
    neither the upsampled nor the padded large image is made.
    cache: (conv cache of Z, F).
    """
    N, C, H, W = x.shape
    if np.ndim(w) != 4 or np.shape(w)[1:] != (C, 3, 3):
        raise ValueError(f"w must be (F, {C}, 3, 3), got shape {np.shape(w)}")
    F = w.shape[0]
    dt = _compute_dtype(x)
    xe = np.pad(np.asarray(x, dtype=dt), ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    z, c_z = conv_forward(xe, _subpixel_weights(w, dt), np.zeros(4 * F, dtype=dt))
    out = _kernels.subpixel_shuffle(z, H, W)        # parity (a, b) keeps window (i + a, j + b)
    if out.dtype != x.dtype:
        out = out.astype(x.dtype)
    return out, (c_z, F)


def upsample_conv_backward(dout, cache, param_grads=True):
    """Backward of :func:`upsample_conv_forward` -> (dx, dw) (dw None if not
    ``param_grads``).  In reverse: the parities' windows scattered into dZ (the
    adjoint of keeping them), the 2x2 conv's backward, dw = the adjoint of the tap
    sums (each w_ab tap's gradient reaches every 3x3 tap it summed), and dx = the
    edge pad's adjoint (the border rows and columns of dxe added onto the edges)."""
    c_z, F = cache
    xe = c_z[0]
    N, C, He, We = xe.shape
    H, W = He - 2, We - 2
    dt = xe.dtype
    dz = _kernels.subpixel_shuffle_adjoint(np.asarray(dout, dtype=dt), H, W)  # shuffle^T
    dxe, dw4, _ = conv_backward(dz, c_z, param_grads=param_grads)
    dw = None
    if param_grads:
        dw = _subpixel_weights_adjoint(dw4, F, C)
    dx = dxe[:, :, 1:-1, 1:-1].copy()            # edge pad^T: the border folds inwards
    dx[:, :, 0, :] += dxe[:, :, 0, 1:-1]
    dx[:, :, -1, :] += dxe[:, :, -1, 1:-1]
    dx[:, :, :, 0] += dxe[:, :, 1:-1, 0]
    dx[:, :, :, -1] += dxe[:, :, 1:-1, -1]
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        dx[:, :, i, j] += dxe[:, :, i, j]
    return dx, dw


def _norm_forward(x, g_rows, b_rows, in_param, relu):
    """Instance norm (+ ReLU) of x (N, C, H, W) with per-image gamma and beta rows
    (N*C,) on the ``instance_norm_rows`` kernel -> (out, cache).  The cache keeps x
    (the convolution output, kept anyway) and the plane statistics, not xhat."""
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    eps = float((in_param or {}).get("eps", 1e-5))
    xc = np.ascontiguousarray(x, dtype=_compute_dtype(x))
    out, mu, inv = _kernels.instance_norm_rows(xc.reshape(N * C, H * W), g_rows, b_rows,
                                               eps, relu)
    if out.dtype != x.dtype:
        out = out.astype(x.dtype)
    return out.reshape(N, C, H, W), (xc, mu, inv, g_rows, b_rows, relu)


def _norm_backward(dout, cache):
    """-> (dx, sum_hw d xhat (N, C), sum_hw d (N, C)), d = dout masked by the ReLU."""
    xc, mu, inv, g_rows, b_rows, relu = cache
    N, C, H, W = xc.shape
    if dout.shape != xc.shape:
        raise ValueError(f"dout has shape {dout.shape}, expected {xc.shape}")
    dx, s1, s2 = _kernels.instance_norm_rows_backward(
        np.ascontiguousarray(dout, dtype=xc.dtype).reshape(N * C, H * W),
        xc.reshape(N * C, H * W), mu, inv, g_rows, b_rows, relu)
    return dx.reshape(N, C, H, W), s2.reshape(N, C), s1.reshape(N, C)


def _in_rows(x, gamma, beta):
    N, C = x.shape[:2]
    if np.shape(gamma) != (C,) or np.shape(beta) != (C,):
        raise ValueError(f"gamma and beta must have shape ({C},), got {np.shape(gamma)} "
                         f"and {np.shape(beta)}")
    g = np.broadcast_to(np.asarray(gamma, dtype=np.float64), (N, C)).reshape(-1)
    b = np.broadcast_to(np.asarray(beta, dtype=np.float64), (N, C)).reshape(-1)
    return g, b


def instance_norm_forward(x, gamma, beta, in_param=None):
    """Instance normalization (as :func:`minicnn.transformer_layers.instance_norm_forward`)
    on the ``instance_norm_rows`` kernel: one pass for each plane's statistics, one
    to write ``out = gamma (x - mu) / sigma + beta``; planes spread over threads.
    cache: (kernel cache, gamma)."""
    out, c = _norm_forward(x, *_in_rows(x, gamma, beta), in_param, False)
    return out, (c, gamma)


def instance_norm_backward(dout, cache):
    """-> (dx, dgamma, dbeta): dgamma = sum dout xhat, dbeta = sum dout, and the
    standardization backward, fused in the kernel (two passes per plane)."""
    c, gamma = cache
    dx, dg, db = _norm_backward(dout, c)
    dt = np.asarray(gamma).dtype
    return dx, dg.sum(axis=0).astype(dt), db.sum(axis=0).astype(dt)


def instance_norm_relu_forward(x, gamma, beta, in_param=None):
    """Fused instance norm + ReLU, ``max(instance_norm(x), 0)``, in one kernel pass
    (equal to :func:`instance_norm_forward` then :func:`relu_forward`)."""
    out, c = _norm_forward(x, *_in_rows(x, gamma, beta), in_param, True)
    return out, (c, gamma)


def instance_norm_relu_backward(dout, cache):
    """-> (dx, dgamma, dbeta): dout masked by the ReLU ([gamma xhat + beta > 0],
    recomputed in the kernel), then the instance norm backward."""
    return instance_norm_backward(dout, cache)


def _cin_rows(x, gamma, beta, style_weights):
    from .transformer_layers import style_weight_matrix
    N, C = x.shape[:2]
    if np.ndim(gamma) != 2 or np.shape(gamma)[1] != C or np.shape(beta) != np.shape(gamma):
        raise ValueError(f"gamma and beta must be (S, {C}) tables, got {np.shape(gamma)} and "
                         f"{np.shape(beta)}")
    w = style_weight_matrix(style_weights, gamma.shape[0], N)
    return (w, (w @ np.asarray(gamma, np.float64)).reshape(-1),
            (w @ np.asarray(beta, np.float64)).reshape(-1))


def conditional_instance_norm_forward(x, gamma, beta, style_weights, in_param=None,
                                      relu=False):
    """Conditional instance norm (as
    :func:`minicnn.transformer_layers.conditional_instance_norm_forward`): per-image
    rows g = w @ gamma, b = w @ beta, then the instance norm kernel (``relu=True``
    fuses a ReLU as :func:`instance_norm_relu_forward`)."""
    w, g, b = _cin_rows(x, gamma, beta, style_weights)
    out, c = _norm_forward(x, g, b, in_param, bool(relu))
    return out, (c, w, gamma, beta)


def conditional_instance_norm_backward(dout, cache):
    """-> (dx, dgamma, dbeta, dstyle_weights): dg, db per image from the kernel, then
    the matmul adjoints dgamma = w^T dg, dbeta = w^T db, dw = dg gamma^T + db beta^T."""
    c, w, gamma, beta = cache
    dx, dg, db = _norm_backward(dout, c)
    dt = np.asarray(gamma).dtype
    return (dx, (w.T @ dg).astype(dt), (w.T @ db).astype(dt),
            dg @ np.asarray(gamma, np.float64).T + db @ np.asarray(beta, np.float64).T)
