"""The one place that imports the compiled kernels, and their NumPy twins.

Kernels (same signature in both implementations; float32/float64 in any
memory layout, dtype preserved; see the docstrings of the NumPy twins below):

    im2col(x, kh, kw, sh, sw, ph, pw, row0=0, row1=None, out=None) -> cols
        x: (N, C, H, W) -> cols: (N, C*kh*kw, (row1-row0)*Wo)
        cols[n, (c*kh+u)*kw+v, i*Wo+j] = xpad[n, c, (row0+i)*sh+u, j*sw+v]
    col2im(cols, x_shape, kh, kw, sh, sw, ph, pw, row0=0, out=None, accumulate=True) -> dx
        the adjoint of im2col (scatter-add, padding cropped)
    maxpool_forward(x, kh, kw, sh, sw, ph, pw, ho, wo) -> (out, argmax int32)
    maxpool_backward(dout, argmax, h, w) -> dx
    window_ssd(source, template, rows, cols, weights, out) -> None  (Efros-Leung search)
    instance_norm_rows(x, gamma, beta, eps, relu) -> (out, mu, inv_std)
        x: (P, M) rows (the (n, c) planes); out = gamma (x - mu) inv_std + beta, ReLU'd
    instance_norm_rows_backward(dout, x, mu, inv_std, gamma, beta, relu) -> (dx, s1, s2)
    reflect_pad(x, p) -> (N, C, H+2p, W+2p);  reflect_pad_adjoint(d, p) -> (N, C, H, W)
    subpixel_shuffle(z, H, W) -> (N, F, 2H, 2W);  subpixel_shuffle_adjoint(d, H, W) -> z
        z (N, 4F, H+1, W+1): out[n, f, 2i+a, 2j+b] = z[n, (2a+b)F + f, i+a, j+b]
    winograd_input(x, ph, pw, row0=0, row1=None, out=None, m=2) -> V ((m+2)^2, C, P)
    winograd_input_adjoint(dV, dx, ph, pw, row0=0, m=2) -> dx (+=)
    winograd_output(M, bias, out, row0=0, m=2) -> out
    winograd_output_adjoint(dout, row0=0, row1=None, out=None, m=2) -> dM
        the F(m x m, 3x3) tile transforms (m = 2 or 4) of a 3x3 stride-1 convolution
        and their adjoints
    conv_direct(x, w, b, out=None) -> out (N, F, Hp-KH+1, Wp-KW+1)
        stride-1 unpadded convolution plus bias, computed without columns (for few
        channels and large kernels)

Selection, read once at import:

- ``MINICNN_PURE_NUMPY=1`` forces the NumPy twins (the compiled modules are not
  even imported);
- otherwise each compiled module (``minicnn._im2col``, ``_maxpool``, ``_texture``,
  ``_norm``, ``_pad``, ``_winograd``, ``_direct``,
  built from ``kernels/*.pyx``) is used when importable; a missing one falls
  back to its twins with one ``RuntimeWarning`` that says how to build it;
- ``MINICNN_REQUIRE_EXT=1`` turns a missing module into an ``ImportError``.

``BACKEND`` is ``"cython"`` (all compiled), ``"numpy"`` (none) or ``"mixed"``;
``KERNEL_SOURCES`` maps each kernel to where it comes from; ``describe()``
formats that for :func:`minicnn.show_config`.  Both implementations stay
reachable for side-by-side tests: ``_kernels.numpy.im2col`` and
``_kernels.cython.im2col`` (``cython`` is ``None`` when not built), or
``get_kernels("numpy" | "cython")``.
"""
import importlib
import os
import types
import warnings

import numpy as np

__all__ = ["BACKEND", "KERNEL_SOURCES", "KERNEL_NAMES", "describe", "get_kernels",
           "set_num_threads", "get_num_threads", "tune_malloc",
           "im2col", "col2im", "maxpool_forward", "maxpool_backward", "numpy", "cython",
           "window_ssd_numpy", "fill_pass_numpy", "instance_norm_rows",
           "instance_norm_rows_backward", "reflect_pad", "reflect_pad_adjoint",
           "winograd_input", "winograd_input_adjoint", "winograd_output",
           "winograd_output_adjoint", "conv_direct", "direct_isa", "subpixel_shuffle",
           "subpixel_shuffle_adjoint"]

KERNEL_NAMES = ("im2col", "col2im", "maxpool_forward", "maxpool_backward", "window_ssd",
                "instance_norm_rows", "instance_norm_rows_backward", "reflect_pad",
                "reflect_pad_adjoint", "winograd_input", "winograd_input_adjoint",
                "winograd_output", "winograd_output_adjoint", "conv_direct",
                "subpixel_shuffle", "subpixel_shuffle_adjoint")
#: compiled module (under the ``minicnn`` package) -> kernels it provides
_MODULES = {"_im2col": ("im2col", "col2im"),
            "_maxpool": ("maxpool_forward", "maxpool_backward"),
            "_texture": ("window_ssd",),
            "_norm": ("instance_norm_rows", "instance_norm_rows_backward"),
            "_pad": ("reflect_pad", "reflect_pad_adjoint", "subpixel_shuffle",
                     "subpixel_shuffle_adjoint"),
            "_winograd": ("winograd_input", "winograd_input_adjoint", "winograd_output",
                          "winograd_output_adjoint"),
            "_direct": ("conv_direct",)}


def _flag(name):
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no", "off")


PURE_NUMPY = _flag("MINICNN_PURE_NUMPY")
REQUIRE_EXT = _flag("MINICNN_REQUIRE_EXT")


# =========================================================================== NumPy twins
def _as_float(a, name):
    a = np.asarray(a)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    return a


def _check_geometry(kh, kw, sh, sw, ph, pw):
    if min(kh, kw, sh, sw) < 1 or min(ph, pw) < 0:
        raise ValueError("kernel and stride must be positive, padding non-negative")


def _padded_rows(x, kh, sh, ph, pw, row0, row1):
    """The zero-padded input rows that output rows [row0, row1) read.

    Returns xp: (N, C, (row1-row0-1)*sh + kh, W + 2*pw) with
    xp[:, :, t, :] = xpad[:, :, row0*sh + t, :]  (only these rows are padded/copied).
    """
    N, C, H, W = x.shape
    top = row0 * sh - ph                            # first input row read (may be < 0)
    nr = (row1 - row0 - 1) * sh + kh
    xp = np.zeros((N, C, nr, W + 2 * pw), dtype=x.dtype)
    a, b = max(top, 0), min(top + nr, H)
    if a < b:
        xp[:, :, a - top:b - top, pw:pw + W] = x[:, :, a:b, :]
    return xp


def im2col_numpy(x, kh, kw, sh, sw, ph, pw, row0=0, row1=None, out=None):
    """Columns of x for output rows ``row0 <= r < row1`` (NumPy strided copy).

    x: (N, C, H, W) -> cols: (N, C*kh*kw, (row1-row0)*Wo), Wo = (W + 2pw - kw)//sw + 1,
    cols[n, (c*kh+u)*kw+v, i*Wo+j] = xpad[n, c, (row0+i)*sh+u, j*sw+v]
    so that W.reshape(F, -1) @ cols[n] = out[n, :, row0:row1, :] in NCHW order.
    """
    x = _as_float(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    _check_geometry(kh, kw, sh, sw, ph, pw)
    N, C, H, W = x.shape
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    row1 = ho if row1 is None else int(row1)
    row0 = int(row0)
    if not (0 <= row0 <= row1 <= ho) or wo < 1:
        raise ValueError(f"bad output rows [{row0}, {row1}) for {ho}x{wo} output")
    R = row1 - row0
    shape = (N, C * kh * kw, R * wo)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif (out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous
          or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous {x.dtype} array of "
                         f"shape {shape}")
    if out.size == 0:
        return out
    xp = _padded_rows(x, kh, sh, ph, pw, row0, row1)
    s = xp.strides
    # view (N, C, kh, kw, R, Wo) of the windows, then one strided copy into out
    win = np.lib.stride_tricks.as_strided(
        xp, shape=(N, C, kh, kw, R, wo),
        strides=(s[0], s[1], s[2], s[3], s[2] * sh, s[3] * sw), writeable=False)
    out.reshape(N, C, kh, kw, R, wo)[...] = win
    return out


def col2im_numpy(cols, x_shape, kh, kw, sh, sw, ph, pw, row0=0, out=None, accumulate=True):
    """Adjoint of :func:`im2col_numpy`: scatter-add columns onto (N, C, H, W).

    dx[n, c, y, x] = sum over (u, v, i, j) with (row0+i)*sh+u-ph = y, j*sw+v-pw = x
    of cols[n, (c*kh+u)*kw+v, i*Wo+j]; entries that fell in the padding are dropped
    (crop is the adjoint of pad).  out=None returns a new array; otherwise adds
    into ``out`` (``accumulate=True``) or overwrites it, and returns it.
    """
    cols = _as_float(cols, "cols")
    _check_geometry(kh, kw, sh, sw, ph, pw)
    N, C, H, W = (int(s) for s in x_shape)
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    if wo < 1 or cols.ndim != 3 or cols.shape[0] != N or cols.shape[1] != C * kh * kw \
            or cols.shape[2] % wo:
        raise ValueError(f"cols of shape {cols.shape} do not match x_shape {tuple(x_shape)}")
    R = cols.shape[2] // wo
    row0 = int(row0)
    if not (0 <= row0 and row0 + R <= ho):
        raise ValueError(f"bad output rows [{row0}, {row0 + R}) for {ho} output rows")
    if out is None:
        out = np.zeros((N, C, H, W), dtype=cols.dtype)
    else:
        if (out.shape != (N, C, H, W) or out.dtype != cols.dtype or not out.flags.writeable):
            raise ValueError(f"out must be a writeable {cols.dtype} array of shape "
                             f"{(N, C, H, W)}")
        if not accumulate:
            out[...] = 0
    if out.size == 0 or R == 0:
        return out
    top = row0 * sh - ph
    nr = (R - 1) * sh + kh
    dxp = np.zeros((N, C, nr, W + 2 * pw), dtype=cols.dtype)     # padded strip of dx
    c6 = cols.reshape(N, C, kh, kw, R, wo)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u:u + (R - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw] += c6[:, :, u, v]
    a, b = max(top, 0), min(top + nr, H)
    if a < b:
        out[:, :, a:b, :] += dxp[:, :, a - top:b - top, pw:pw + W]      # crop = pad^T
    return out


def maxpool_forward_numpy(x, kh, kw, sh, sw, ph, pw, ho, wo):
    """Max pool x: (N, C, H, W) -> (out (N, C, ho, wo), argmax int32 (N, C, ho, wo)).

    Window (i, j) = rows i*sh-ph .. +kh, columns j*sw-pw .. +kw clipped to the
    image (padding is -inf and never chosen; ceil-mode windows may hang over the
    bottom/right edge); argmax = y*W + x of the first maximum in row-major window
    order (a NaN beats numbers, the first NaN wins, as ``np.argmax``).
    Loops over the kh*kw window offsets, each a vectorized compare/select.
    """
    x = _as_float(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    _check_geometry(kh, kw, sh, sw, ph, pw)
    N, C, H, W = x.shape
    if ph >= kh or pw >= kw or (ho and (ho - 1) * sh - ph >= H) or \
            (wo and (wo - 1) * sw - pw >= W) or min(ho, wo) < 0:
        raise ValueError(f"output {ho}x{wo} has windows outside the {H}x{W} input")
    out = np.full((N, C, ho, wo), -np.inf, dtype=x.dtype)
    ii, jj = np.arange(ho), np.arange(wo)
    # start at each window's first in-bounds element (an all -inf window picks it)
    argmax = np.empty((N, C, ho, wo), dtype=np.int32)
    argmax[...] = (np.maximum(ii * sh - ph, 0)[:, None] * W
                   + np.maximum(jj * sw - pw, 0)[None, :]).astype(np.int32)
    if out.size == 0:
        return out, argmax
    hp = max((ho - 1) * sh + kh, H + ph)
    wp = max((wo - 1) * sw + kw, W + pw)
    xp = np.full((N, C, hp, wp), -np.inf, dtype=x.dtype)
    xp[:, :, ph:ph + H, pw:pw + W] = x
    for u in range(kh):
        rows = ii * sh + u - ph                              # input row of offset u
        rin = (rows >= 0) & (rows < H)
        for v in range(kw):
            cols_ = jj * sw + v - pw
            cin = (cols_ >= 0) & (cols_ < W)
            val = xp[:, :, u:u + (ho - 1) * sh + 1:sh, v:v + (wo - 1) * sw + 1:sw]
            take = (val > out) | (np.isnan(val) & ~np.isnan(out))
            take &= rin[:, None] & cin[None, :]
            np.copyto(out, val, where=take)
            np.copyto(argmax, (rows[:, None] * W + cols_[None, :]).astype(np.int32),
                      where=take)
    return out, argmax


def maxpool_backward_numpy(dout, argmax, h, w):
    """Scatter-add dout (N, C, ho, wo) onto dx (N, C, h, w) through the flat argmax.

    dx[n, c].flat[argmax[n, c, i, j]] += dout[n, c, i, j]   (overlapping windows add).
    The local derivative of max is the 0/1 indicator of the winner; this scatter
    is its adjoint.  Done with one ``np.bincount`` over (plane, index) pairs.
    """
    dout = _as_float(dout, "dout")
    argmax = np.asarray(argmax)
    if dout.ndim != 4 or argmax.shape != dout.shape:
        raise ValueError(f"dout {dout.shape} and argmax {argmax.shape} must be equal 4-d shapes")
    N, C, ho, wo = dout.shape
    P, M = N * C, ho * wo
    if P * M and (argmax.min() < 0 or argmax.max() >= h * w):
        raise ValueError("argmax holds indices outside the h*w plane")
    flat = argmax.reshape(P, M).astype(np.intp) + (np.arange(P, dtype=np.intp) * (h * w))[:, None]
    dx = np.bincount(flat.ravel(), weights=dout.reshape(-1), minlength=P * h * w)
    return dx.astype(dout.dtype, copy=False).reshape(N, C, h, w)


def window_ssd_numpy(source, template, rows, cols, weights, out):
    """NumPy twin of ``minicnn._texture.window_ssd`` (same signature, same result).

    source: (C, H, W); template: (C, K) values of the K known pixels at window
    offsets ``rows``, ``cols`` (K,) with Gaussian ``weights`` (K,); out:
    (H - win + 1, W - win + 1) is overwritten with, for every source window,

        out[i, j] = sum_k w_k * sum_c (source[c, i + a_k, j + b_k] - template[c, k])^2

    accumulated in the kernel's order (k outer, c inner) so both agree bit for bit.
    """
    oh, ow = out.shape
    out[...] = 0
    for k in range(template.shape[1]):
        a, b, w = int(rows[k]), int(cols[k]), weights[k]
        for c in range(source.shape[0]):
            d = source[c, a:a + oh, b:b + ow] - template[c, k]
            d *= d
            d *= w
            out += d
    return out


def fill_pass_numpy(source, canvas, filled, where, pix, u, gauss, window, err_threshold,
                    max_err, dist):
    """One Efros-Leung pass (NumPy twin of ``minicnn._texture.fill_pass``).

    source: (C, Hs, Ws); canvas: (C, H + 2h, W + 2h) padded output (h = window // 2),
    modified; filled: (H + 2h, W + 2h) uint8 mask, modified; where: (H, W, 2)
    int64 source coordinates of each output pixel, modified; pix: (P, 2) output
    positions to visit in order; u: (P,) uniform [0, 1) draws; gauss: (window**2,)
    weights; dist: (Hs - window + 1, Ws - window + 1) scratch.

    For pixel p: SSD of its known neighbours against every source window
    (:func:`window_ssd_numpy`), candidates ``dist <= min * (1 + err_threshold)``
    (in float64), the ``int(u[p] * count)``-th candidate in row-major order is
    taken, and copied if ``dist / (C * sum of known weights) <= max_err`` (the
    weight sum accumulated sequentially in float64).  Returns the number filled.
    """
    n_ch, half = source.shape[0], window // 2
    n_new = 0
    for p in range(pix.shape[0]):
        y, x = int(pix[p, 0]), int(pix[p, 1])
        ks = np.flatnonzero(filled[y:y + window, x:x + window].ravel())
        if ks.size == 0:
            continue
        rows, cols = np.divmod(ks, window)
        wts = gauss[ks]
        tmpl = np.ascontiguousarray(canvas[:, y:y + window, x:x + window].reshape(n_ch, -1)[:, ks])
        window_ssd_numpy(source, tmpl, rows, cols, wts, dist)
        wsum = float(np.cumsum(wts, dtype=np.float64)[-1])          # sequential sum
        limit = float(dist.min()) * (1.0 + err_threshold)
        cand = np.flatnonzero(dist.astype(np.float64).ravel() <= limit)
        pick = int(cand[min(int(u[p] * len(cand)), len(cand) - 1)])
        i, j = divmod(pick, dist.shape[1])
        if float(dist[i, j]) / (wsum * n_ch) <= max_err:
            canvas[:, y + half, x + half] = source[:, i + half, j + half]
            filled[y + half, x + half] = 1
            where[y, x] = (i + half, j + half)
            n_new += 1
    return n_new


def instance_norm_rows_numpy(x, gamma, beta, eps, relu):
    """NumPy twin of ``minicnn._norm.instance_norm_rows``: per row p of x (P, M),

        mu = mean(x), inv_std = 1 / sqrt(var + eps), out = gamma (x - mu) inv_std + beta,

    then max(out, 0) when ``relu``.  Returns (out (P, M) in x's dtype, mu, inv_std
    (P,) float64).  The statistics are computed in float64."""
    x = _as_float(x, "x")
    if x.ndim != 2 or x.shape[1] == 0:
        raise ValueError(f"x must be (P, M) rows with M >= 1, got shape {x.shape}")
    x64 = x.astype(np.float64)
    mu = x64.mean(axis=1)
    xc = x64 - mu[:, None]
    inv = 1.0 / np.sqrt(np.einsum("ij,ij->i", xc, xc) / x.shape[1] + eps)
    g = np.asarray(gamma, dtype=np.float64).reshape(-1) * inv
    out = xc * g[:, None] + np.asarray(beta, dtype=np.float64).reshape(-1)[:, None]
    if relu:
        np.maximum(out, 0, out=out)
    return out.astype(x.dtype), mu, inv


def instance_norm_rows_backward_numpy(dout, x, mu, inv_std, gamma, beta, relu):
    """NumPy twin of ``minicnn._norm.instance_norm_rows_backward``: with xhat
    recomputed from (x, mu, inv_std), d = dout [gamma xhat + beta > 0] (relu) or
    dout, s1 = sum d, s2 = sum d xhat per row and

        dx = gamma inv_std (d - s1 / M - xhat s2 / M)

    (the standardization backward: the two means are the adjoints of centring and
    of dividing by the standard deviation).  Returns (dx, s1, s2)."""
    x = _as_float(x, "x")
    M = x.shape[1]
    xh = (x.astype(np.float64) - np.asarray(mu)[:, None]) * np.asarray(inv_std)[:, None]
    g = np.asarray(gamma, dtype=np.float64).reshape(-1)
    d = np.asarray(dout, dtype=np.float64)
    if relu:
        d = d * (xh * g[:, None] + np.asarray(beta, dtype=np.float64).reshape(-1)[:, None] > 0)
    s1 = d.sum(axis=1)
    s2 = np.einsum("ij,ij->i", d, xh)
    dx = (g * inv_std)[:, None] * (d - (s1 / M)[:, None] - xh * (s2 / M)[:, None])
    return dx.astype(x.dtype), s1, s2


def _check_reflect(shape, p):
    if len(shape) != 4:
        raise ValueError(f"expected (N, C, H, W), got shape {shape}")
    if p < 0 or p >= shape[2] or p >= shape[3]:
        raise ValueError(f"reflection pad {p} needs 0 <= pad < spatial size {shape[2:]}")


def reflect_pad_numpy(x, p):
    """NumPy twin of ``minicnn._pad.reflect_pad``: ``np.pad(mode="reflect")`` of the
    last two axes by ``p`` (the edge pixel is not repeated)."""
    x = _as_float(x, "x")
    p = int(p)
    _check_reflect(x.shape, p)
    return np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="reflect")


def reflect_pad_adjoint_numpy(d, p):
    """NumPy twin of ``minicnn._pad.reflect_pad_adjoint``: crop the centre and add
    every padded row and column back onto the pixel it copied (corners fold both
    ways): one copy of the centre and adds of the thin border strips."""
    d = _as_float(d, "d")
    p = int(p)
    N, C, Hp, Wp = d.shape
    H, W = Hp - 2 * p, Wp - 2 * p
    _check_reflect((N, C, H, W), p)
    dx = d[:, :, p:p + H, p:p + W].copy()
    if not p:
        return dx
    cols = ((slice(p, p + W), slice(0, W)),                       # centre columns
            (slice(0, p), slice(1, p + 1)),                       # left pad -> x cols 1..p
            (slice(p + W, 2 * p + W), slice(W - 1 - p, W - 1)))   # right pad
    rows = ((slice(p, p + H), slice(0, H)),
            (slice(0, p), slice(1, p + 1)),
            (slice(p + H, 2 * p + H), slice(H - 1 - p, H - 1)))
    for i, (r_pad, r_x) in enumerate(rows):
        for j, (c_pad, c_x) in enumerate(cols):
            if i == j == 0:
                continue                                          # the centre, copied above
            strip = d[:, :, r_pad, c_pad]
            if i:
                strip = strip[:, :, ::-1]                         # padded rows run mirrored
            if j:
                strip = strip[..., ::-1]
            dx[:, :, r_x, c_x] += strip
    return dx


def _check_shuffle(shape, H, W, what):
    if len(shape) != 4 or H < 1 or W < 1:
        raise ValueError(f"{what} must be 4-D with H, W >= 1, got shape {shape}")


def subpixel_shuffle_numpy(z, H, W):
    """NumPy twin of ``minicnn._pad.subpixel_shuffle``: z (N, 4F, H+1, W+1), read as
    (N, 2, 2, F, H+1, W+1) -> (N, F, 2H, 2W), out[n, f, 2i+a, 2j+b] = z[n, a, b, f, i+a, j+b]
    (four strided copies)."""
    z = _as_float(z, "z")
    H, W = int(H), int(W)
    _check_shuffle(z.shape, H, W, "z")
    N, F4, Hz, Wz = z.shape
    if F4 % 4 or Hz != H + 1 or Wz != W + 1:
        raise ValueError(f"z must be (N, 4F, H + 1, W + 1) = (N, 4F, {H + 1}, {W + 1}), "
                         f"got shape {z.shape}")
    F = F4 // 4
    z6 = z.reshape(N, 2, 2, F, H + 1, W + 1)
    out = np.empty((N, F, H, 2, W, 2), dtype=z.dtype)
    for a in range(2):
        for b in range(2):
            out[:, :, :, a, :, b] = z6[:, a, b, :, a:a + H, b:b + W]
    return out.reshape(N, F, 2 * H, 2 * W)


def subpixel_shuffle_adjoint_numpy(d, H, W):
    """NumPy twin of ``minicnn._pad.subpixel_shuffle_adjoint``: d (N, F, 2H, 2W) ->
    (N, 4F, H+1, W+1), each parity's pixels scattered back into its window, zeros
    elsewhere."""
    d = _as_float(d, "d")
    H, W = int(H), int(W)
    _check_shuffle(d.shape, H, W, "d")
    N, F, H2, W2 = d.shape
    if H2 != 2 * H or W2 != 2 * W:
        raise ValueError(f"d must be (N, F, 2H, 2W) = (N, F, {2 * H}, {2 * W}), got shape {d.shape}")
    d6 = d.reshape(N, F, H, 2, W, 2)
    dz = np.zeros((N, 2, 2, F, H + 1, W + 1), dtype=d.dtype)
    for a in range(2):
        for b in range(2):
            dz[:, a, b, :, a:a + H, b:b + W] = d6[:, :, :, a, :, b]
    return dz.reshape(N, 4 * F, H + 1, W + 1)


# Winograd F(m x m, 3x3) transforms (Lavin & Gray 2016); see kernels/winograd.pyx.
#: m -> (B^T, G, A^T) of F(m x m, 3x3): an (m+2)^2 input tile d -> B^T d B, a 3x3 filter
#: g -> G g G^T (the weight transform, done in NumPy), their product -> A^T . A (m x m)
WINOGRAD_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], float),
        np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], float),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]], float)),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]], float),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]], float),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]], float)),
}


def _winograd_grid(ho, wo, m):
    """(TH, TW): tile rows and columns of an ho x wo output in m x m tiles."""
    if m not in WINOGRAD_MATRICES:
        raise ValueError(f"output tile size m must be 2 or 4, got {m}")
    if ho < 1 or wo < 1:
        raise ValueError(f"a 3x3 convolution needs an output of at least 1x1, got {ho}x{wo}")
    return -(-ho // m), -(-wo // m)


def _winograd_rows(row0, row1, total):
    """The tile-row range [row0, row1) checked against ``total`` (row1=None: to the end)."""
    row1 = total if row1 is None else int(row1)
    row0 = int(row0)
    if not 0 <= row0 <= row1 <= total:
        raise ValueError(f"bad tile rows [{row0}, {row1}) of {total}")
    return row0, row1


def _winograd_out(out, shape, dtype):
    """A new array of ``shape``, or ``out`` checked (any spacing of its planes)."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    if out.shape != shape or out.dtype != dtype or not out.flags.writeable:
        raise ValueError(f"out must be a writeable {dtype} array of shape {shape}")
    return out


def _winograd_tile_count(arr, planes, k, tw, what, other):
    """Check arr (planes, k, P) with P whole tile rows of ``tw`` tiles; -> P // tw."""
    if arr.ndim != 3 or arr.shape[:2] != (planes, k) or arr.shape[2] % tw:
        raise ValueError(f"{what} of shape {arr.shape} does not match {other}")
    return arr.shape[2] // tw


def _winograd_pieces(row0, row1, th):
    """Tile rows [row0, row1) as (n, ty0, ty1, p0) pieces within single images."""
    r = row0
    while r < row1:
        n, ty0 = divmod(r, th)
        ty1 = min(th, ty0 + row1 - r)
        yield n, ty0, ty1, r - row0
        r += ty1 - ty0


def _winograd_frame(shape, ph, pw, th, tw, m):
    """The rows/columns of x inside the (m TH + 2, m TW + 2) frame the tiles read."""
    H, W = shape[2:]
    return min(H, m * th + 2 - ph), min(W, m * tw + 2 - pw)


def winograd_input_numpy(x, ph, pw, row0=0, row1=None, out=None, m=2):
    """NumPy twin of ``minicnn._winograd.winograd_input``: x (N, C, H, W) ->
    V (T, C, P), T = (m+2)^2, V[a(m+2)+b, c, p] = (B^T d B)[a, b] for the zero-padded
    (m+2)^2 input tile d of tile p (tiles at stride m, numbered row-major over tile
    rows n * TH + ty from ``row0``)."""
    x = _as_float(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    if ph < 0 or pw < 0:
        raise ValueError("padding must be non-negative")
    N, C, H, W = x.shape
    th, tw = _winograd_grid(H + 2 * ph - 2, W + 2 * pw - 2, m)
    row0, row1 = _winograd_rows(row0, row1, N * th)
    a = m + 2
    out = _winograd_out(out, (a * a, C, (row1 - row0) * tw), x.dtype)
    hh, ww = _winograd_frame(x.shape, ph, pw, th, tw, m)
    xp = np.zeros((N, C, m * th + 2, m * tw + 2), dtype=x.dtype)
    xp[:, :, ph:ph + hh, pw:pw + ww] = x[:, :, :hh, :ww]
    bt = WINOGRAD_MATRICES[m][0].astype(x.dtype)
    s = xp.strides
    for n, ty0, ty1, p0 in _winograd_pieces(row0, row1, th):
        tiles = np.lib.stride_tricks.as_strided(     # (C, rows, TW, a, a) tile views
            xp[n, :, m * ty0:], shape=(C, ty1 - ty0, tw, a, a),
            strides=(s[1], m * s[2], m * s[3], s[2], s[3]), writeable=False)
        v = np.einsum("ai,crtij,bj->abcrt", bt, tiles, bt, optimize=True)
        out[:, :, p0 * tw:(p0 + ty1 - ty0) * tw] = v.reshape(a * a, C, -1)
    return out


def winograd_input_adjoint_numpy(dV, dx, ph, pw, row0=0, m=2):
    """NumPy twin of ``minicnn._winograd.winograd_input_adjoint``: dx (N, C, H, W) +=
    the scatter-add of B dV B^T over the overlapping input tiles (padding cropped).
    Returns dx."""
    dV = _as_float(dV, "dV")
    if dx.dtype != dV.dtype or dx.ndim != 4 or not dx.flags.writeable:
        raise ValueError(f"dx must be a writeable (N, C, H, W) {dV.dtype} array")
    N, C, H, W = dx.shape
    th, tw = _winograd_grid(H + 2 * ph - 2, W + 2 * pw - 2, m)
    a = m + 2
    rows = _winograd_tile_count(dV, a * a, C, tw, "dV", f"dx {dx.shape}")
    row0, row1 = _winograd_rows(row0, int(row0) + rows, N * th)
    bt = WINOGRAD_MATRICES[m][0].astype(dV.dtype)
    dxp = np.zeros((N, C, m * th + 2, m * tw + 2), dtype=dV.dtype)
    for n, ty0, ty1, p0 in _winograd_pieces(row0, row1, th):
        v = dV[:, :, p0 * tw:(p0 + ty1 - ty0) * tw].reshape(a, a, C, ty1 - ty0, tw)
        dd = np.einsum("ai,abcrt,bj->crtij", bt, v, bt, optimize=True)
        for i in range(a):                       # scatter-add: overlapping tiles add up
            for j in range(a):
                dxp[n, :, m * ty0 + i:m * ty1 + i:m, j:j + m * tw:m] += dd[..., i, j]
    hh, ww = _winograd_frame(dx.shape, ph, pw, th, tw, m)
    dx[:, :, :hh, :ww] += dxp[:, :, ph:ph + hh, pw:pw + ww]          # crop = pad^T
    return dx


def winograd_output_numpy(M, bias, out, row0=0, m=2):
    """NumPy twin of ``minicnn._winograd.winograd_output``: out tile (m x m) =
    A^T m A + bias for the tiles of M (T, F, P) from tile row ``row0`` (pixels
    beyond out's edge dropped).  Returns out."""
    M = _as_float(M, "M")
    if out.dtype != M.dtype or out.ndim != 4 or not out.flags.writeable:
        raise ValueError(f"out must be a writeable (N, F, Ho, Wo) {M.dtype} array")
    N, F, ho, wo = out.shape
    th, tw = _winograd_grid(ho, wo, m)
    a = m + 2
    rows = _winograd_tile_count(M, a * a, F, tw, "M", f"out {out.shape}")
    row0, row1 = _winograd_rows(row0, int(row0) + rows, N * th)
    at = WINOGRAD_MATRICES[m][2].astype(M.dtype)
    b = np.broadcast_to(np.asarray(bias, dtype=M.dtype).reshape(-1), (F,))
    for n, ty0, ty1, p0 in _winograd_pieces(row0, row1, th):
        mm = M[:, :, p0 * tw:(p0 + ty1 - ty0) * tw].reshape(a, a, F, ty1 - ty0, tw)
        y = np.einsum("ia,abfrt,jb->frtij", at, mm, at, optimize=True)   # (F, rows, TW, m, m)
        y = y.transpose(0, 1, 3, 2, 4).reshape(F, m * (ty1 - ty0), m * tw)
        r0, r1 = m * ty0, min(ho, m * ty1)
        out[n, :, r0:r1, :] = y[:, :r1 - r0, :wo] + b[:, None, None]
    return out


def winograd_output_adjoint_numpy(dout, row0=0, row1=None, out=None, m=2):
    """NumPy twin of ``minicnn._winograd.winograd_output_adjoint``: dout (N, F, Ho, Wo)
    -> dM (T, F, P), dM tile = A dY A^T (pixels beyond the edge read as 0)."""
    dout = _as_float(dout, "dout")
    if dout.ndim != 4:
        raise ValueError(f"dout must be (N, F, Ho, Wo), got shape {dout.shape}")
    N, F, ho, wo = dout.shape
    th, tw = _winograd_grid(ho, wo, m)
    row0, row1 = _winograd_rows(row0, row1, N * th)
    a = m + 2
    out = _winograd_out(out, (a * a, F, (row1 - row0) * tw), dout.dtype)
    at = WINOGRAD_MATRICES[m][2].astype(dout.dtype)
    for n, ty0, ty1, p0 in _winograd_pieces(row0, row1, th):
        dy = np.zeros((F, m * (ty1 - ty0), m * tw), dtype=dout.dtype)
        r0, r1 = m * ty0, min(ho, m * ty1)
        dy[:, :r1 - r0, :wo] = dout[n, :, r0:r1, :]
        dy = dy.reshape(F, ty1 - ty0, m, tw, m)                  # (F, rows, i, TW, j)
        dm = np.einsum("ia,frisj,jb->abfrs", at, dy, at, optimize=True)   # A dY A^T
        out[:, :, p0 * tw:(p0 + ty1 - ty0) * tw] = dm.reshape(a * a, F, -1)
    return out

def conv_direct_numpy(x, w, b, out=None):
    """NumPy twin of ``minicnn._direct.conv_direct``: x (N, C, Hp, Wp) (already padded),
    w (F, C, KH, KW), b (F,) -> (N, F, Hp-KH+1, Wp-KW+1) in the dtype of x,

        out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] x[n, c, i + u, j + v],

    as a sum over the KH*KW taps of (F, C) @ (C, Ho*Wo) products of shifted windows."""
    x = _as_float(x, "x")
    if x.ndim != 4 or np.ndim(w) != 4 or np.shape(w)[1] != x.shape[1]:
        raise ValueError(f"x (N, C, Hp, Wp) and w (F, C, KH, KW) must agree on C, got "
                         f"{x.shape} and {np.shape(w)}")
    N, C, Hp, Wp = x.shape
    F, _, KH, KW = np.shape(w)
    Ho, Wo = Hp - KH + 1, Wp - KW + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"x of spatial size {(Hp, Wp)} is smaller than the kernel {(KH, KW)}")
    if np.shape(b) != (F,):
        raise ValueError(f"b must have shape ({F},), got {np.shape(b)}")
    w = np.asarray(w, dtype=x.dtype)
    acc = np.zeros((N, F, Ho, Wo), dtype=x.dtype)
    for u in range(KH):
        for v in range(KW):
            acc += np.einsum("fc,nchw->nfhw", w[:, :, u, v], x[:, :, u:u + Ho, v:v + Wo])
    acc += np.asarray(b, dtype=x.dtype).reshape(1, F, 1, 1)
    if out is None:
        return acc
    if out.shape != acc.shape or out.dtype != acc.dtype or not out.flags["C_CONTIGUOUS"]:
        raise ValueError(f"out must be a C-contiguous {acc.dtype} array of shape "
                         f"{acc.shape}, got {out.dtype} {out.shape}")
    out[...] = acc
    return out

numpy = types.SimpleNamespace(
    name="numpy", im2col=im2col_numpy, col2im=col2im_numpy,
    maxpool_forward=maxpool_forward_numpy, maxpool_backward=maxpool_backward_numpy,
    window_ssd=window_ssd_numpy, instance_norm_rows=instance_norm_rows_numpy,
    instance_norm_rows_backward=instance_norm_rows_backward_numpy,
    reflect_pad=reflect_pad_numpy, reflect_pad_adjoint=reflect_pad_adjoint_numpy,
    winograd_input=winograd_input_numpy, winograd_input_adjoint=winograd_input_adjoint_numpy,
    winograd_output=winograd_output_numpy,
    winograd_output_adjoint=winograd_output_adjoint_numpy, conv_direct=conv_direct_numpy,
    subpixel_shuffle=subpixel_shuffle_numpy,
    subpixel_shuffle_adjoint=subpixel_shuffle_adjoint_numpy)


# =========================================================================== compiled kernels
def _openmp_already_loaded():
    """Whether a libgomp is already mapped into this process (Linux; else False)."""
    try:
        with open("/proc/self/maps") as f:
            return "libgomp" in f.read()
    except OSError:
        return False


def _import_quietly_waiting(modname):
    """Import a compiled module with OMP_WAIT_POLICY=PASSIVE in the environment.

    libgomp reads its environment once, when it is loaded (here, as a dependency
    of the first kernel module).  By default its idle workers busy-wait for
    milliseconds after every parallel region, which takes a core from the
    OpenBLAS thread of the GEMM that always follows our kernels: measured on
    SqueezeNet at batch 1 (2 cores), GOMP_SPINCOUNT=10000 made forward+backward
    2.4x slower and the default spin count 10x or more.  Passive workers sleep
    at once; waking one costs tens of microseconds, which is why small jobs run
    on one thread.  The variable is set only for the duration of the import (a
    user setting of OMP_WAIT_POLICY or GOMP_SPINCOUNT is respected).  Note that
    a runtime loaded later that shares the soname libgomp.so.1 (torch's bundled
    copy does) reuses this instance and so inherits the passive policy: time
    torch in its own process when comparing.
    """
    keys = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
    if any(k in os.environ for k in keys):
        return importlib.import_module(modname)
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        return importlib.import_module(modname)
    finally:
        os.environ.pop("OMP_WAIT_POLICY", None)


def _load_compiled():
    """Import the compiled modules -> (namespace or None, {kernel: source}, [missing])."""
    funcs, sources, missing = {}, {}, []
    for mod, names in _MODULES.items():
        try:
            m = _import_quietly_waiting(f"{__package__ or 'minicnn'}.{mod}")
        except ImportError as exc:
            missing.append((mod, exc))
            continue
        for name in names:
            funcs[name] = getattr(m, name)
            sources[name] = f"cython (minicnn.{mod})"
    cy = types.SimpleNamespace(name="cython", **funcs) if len(funcs) == len(KERNEL_NAMES) \
        else None
    return cy, funcs, sources, missing


_BUILD_HINT = ("build it with `pip install -e . --no-build-isolation` or "
               "`python setup.py build_ext --inplace` (needs Cython and a C compiler)")

#: why the compiled kernels run on one thread by default, or None
THREADS_NOTE = None

if PURE_NUMPY:
    cython = None
    _compiled, _sources, _missing = {}, {}, []
else:
    # A libgomp loaded before us (torch bundles one with the same soname) was
    # initialized with busy-waiting workers and ours would bind to it: then the
    # OpenMP kernels default to one thread, which inside a network costs nothing
    # measurable (OpenBLAS keeps the other core busy) and avoids the slowdown.
    _preloaded = (_openmp_already_loaded()
                  and os.environ.get("OMP_WAIT_POLICY", "").strip().lower() != "passive"
                  and "GOMP_SPINCOUNT" not in os.environ)
    cython, _compiled, _sources, _missing = _load_compiled()
    if _missing:
        names = ", ".join(f"minicnn.{m}" for m, _ in _missing)
        detail = "; ".join(f"minicnn.{m}: {e}" for m, e in _missing)
        if REQUIRE_EXT:
            raise ImportError(f"MINICNN_REQUIRE_EXT=1 but compiled kernel module(s) {names} "
                              f"cannot be imported ({detail}); {_BUILD_HINT}")
        warnings.warn(f"minicnn: compiled kernel module(s) {names} not available ({detail}); "
                      f"using the slower NumPy twins. To get the fast kernels, {_BUILD_HINT}.",
                      RuntimeWarning, stacklevel=2)

KERNEL_SOURCES = {}
for _name in KERNEL_NAMES:
    if _name in _compiled:
        globals()[_name] = _compiled[_name]
        KERNEL_SOURCES[_name] = _sources[_name]
    else:
        globals()[_name] = getattr(numpy, _name)
        KERNEL_SOURCES[_name] = ("numpy (MINICNN_PURE_NUMPY=1)" if PURE_NUMPY
                                 else "numpy (compiled kernel not built)")
del _name

if not PURE_NUMPY and _preloaded and _compiled:
    THREADS_NOTE = ("1 thread: an OpenMP runtime with busy-waiting workers was loaded before "
                    "minicnn (e.g. by importing torch first); import minicnn first or set "
                    "OMP_WAIT_POLICY=passive to use more (or call _kernels.set_num_threads)")

if all(s.startswith("cython") for s in KERNEL_SOURCES.values()):
    BACKEND = "cython"
elif any(s.startswith("cython") for s in KERNEL_SOURCES.values()):
    BACKEND = "mixed"
else:
    BACKEND = "numpy"


def get_kernels(name=None):
    """The kernels of one implementation as a namespace with the functions of
    :data:`KERNEL_NAMES`.

    name: "numpy", "cython" (raises ImportError if not built or disabled by
    MINICNN_PURE_NUMPY) or None for the active selection.
    """
    if name is None:
        return types.SimpleNamespace(name=BACKEND, **{k: globals()[k] for k in KERNEL_NAMES})
    if name == "numpy":
        return numpy
    if name == "cython":
        if cython is None:
            why = "MINICNN_PURE_NUMPY=1" if PURE_NUMPY else "the compiled modules are not built"
            raise ImportError(f"Cython kernels unavailable ({why})")
        return cython
    raise ValueError(f"name must be 'numpy', 'cython' or None, got {name!r}")


def _threaded_modules():
    """The loaded compiled modules that have an OpenMP thread setting."""
    mods = [importlib.import_module(f"{__package__ or 'minicnn'}.{m}")
            for m in _MODULES if any(name in _compiled for name in _MODULES[m])]
    return [m for m in mods if hasattr(m, "set_num_threads") and hasattr(m, "get_num_threads")]


def set_num_threads(n=0):
    """OpenMP threads of the compiled kernels (0: OpenMP's default, i.e.
    OMP_NUM_THREADS or the number of cores).  Jobs too small to gain from a
    second thread run on one regardless.  No effect on the NumPy twins."""
    for m in _threaded_modules():
        m.set_num_threads(int(n))


def get_num_threads():
    """Threads a large compiled-kernel call uses (1 for the NumPy twins)."""
    mods = _threaded_modules()
    return max(m.get_num_threads() for m in mods) if mods else 1


MALLOC_TUNED = False


def tune_malloc(trim_threshold=512 << 20, mmap_threshold=32 << 20):
    """Make glibc keep freed memory for reuse instead of returning it to the OS.

    Every forward pass allocates its activations afresh; by default glibc gives
    large freed blocks back to the kernel, so the next pass page-faults them in
    again.  Measured on SqueezeNet (224, float32, 2 cores): 3,700 faults and
    ~8 ms of system time per batch-1 forward (7.9 ms -> ~15 ms wall) and 18,600
    faults, ~67 ms of system time per batch-8 forward; with this, none.  The
    price: up to ``trim_threshold`` bytes of freed memory stay in the process,
    and blocks up to ``mmap_threshold`` (32 MiB is glibc's maximum) come from
    the heap.  Process-wide; ``import minicnn`` applies it unless MINICNN_TUNE_MALLOC=0
    (the equivalent environment variables are MALLOC_TRIM_THRESHOLD_ and
    MALLOC_MMAP_THRESHOLD_).  Returns True if applied (glibc only).
    """
    global MALLOC_TUNED
    import ctypes
    import platform
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    ok = (mallopt(M_TRIM_THRESHOLD, int(trim_threshold)) == 1
          and mallopt(M_MMAP_THRESHOLD, int(mmap_threshold)) == 1)
    MALLOC_TUNED = MALLOC_TUNED or ok
    return ok


def direct_isa():
    """The vectors ``conv_direct`` runs with: "avx512", "avx2" or "baseline" (64, 32 or
    16 bytes, the widest the CPU has), or None when it is the NumPy twin."""
    if not KERNEL_SOURCES["conv_direct"].startswith("cython"):
        return None
    return importlib.import_module(f"{__package__ or 'minicnn'}._direct").ISA


def describe():
    """One line per kernel: where it comes from, plus the OpenMP thread count."""
    width = max(map(len, KERNEL_NAMES + ("OpenMP threads",)))
    lines = [f"  {k:{width}s} {KERNEL_SOURCES[k]}"
             + (f", {direct_isa()} vectors" if k == "conv_direct" and direct_isa() else "")
             for k in KERNEL_NAMES]
    if BACKEND == "numpy":
        lines.append(f"  {'OpenMP threads':{width}s} (unused)")
    else:
        waits = os.environ.get("OMP_WAIT_POLICY") or (
            f"GOMP_SPINCOUNT={os.environ['GOMP_SPINCOUNT']}" if "GOMP_SPINCOUNT" in os.environ
            else "busy-wait (libgomp loaded before minicnn)" if THREADS_NOTE
            else "passive (set by minicnn)")
        lines.append(f"  {'OpenMP threads':{width}s} {get_num_threads()}, wait policy {waits}")
        if THREADS_NOTE and get_num_threads() == 1:
            lines.append(f"  ({THREADS_NOTE})")
    lines.append(f"  {'malloc':{width}s} " + ("tuned (tune_malloc)" if MALLOC_TUNED else
                                               "glibc defaults (see _kernels.tune_malloc)"))
    return "kernels:\n" + "\n".join(lines)


if THREADS_NOTE:
    set_num_threads(1)
