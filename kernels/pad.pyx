# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Reflection padding, the sub-pixel shuffle, and their adjoints  ->  module ``minicnn._pad``.

``reflect_pad(x, p)``: (N, C, H, W) -> (N, C, H + 2p, W + 2p) with
``out[..., i, j] = x[..., r(i - p, H), r(j - p, W)]``, ``r(t, n)`` reflecting t into
[0, n) without repeating the edge (``r(-1) = 1``, ``r(n) = n - 2``), as
``np.pad(mode="reflect")``.

``reflect_pad_adjoint(d, p)``: the adjoint (crop + fold): the centre of d plus every
padded row and column added back onto the pixel it copied.

``subpixel_shuffle(z, H, W)``: z (N, 4F, H + 1, W + 1), read as (N, 2, 2, F, H + 1, W + 1)
(the four parities' 2x2 convs of the sub-pixel up-sampling conv, see
``minicnn.fast_layers.upsample_conv_forward``) -> (N, F, 2H, 2W),
``out[n, f, 2i + a, 2j + b] = z[n, a, b, f, i + a, j + b]``: each parity keeps its window
and the four are interleaved.  ``subpixel_shuffle_adjoint(d, H, W)``: its adjoint, the
scatter of d's parities into a zero (N, 4F, H + 1, W + 1).

Planes are spread over OpenMP threads; rows are copied with memcpy.  The NumPy twins
(same signatures and results) are ``reflect_pad_numpy`` / ``reflect_pad_adjoint_numpy``
and ``subpixel_shuffle_numpy`` / ``subpixel_shuffle_adjoint_numpy`` in
``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy

include "threads.pxi"

cdef Py_ssize_t PAD_MIN_WORK = 400000
_DEFAULT_MIN_WORK = (PAD_MIN_WORK,)


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in elements) that gets more than one thread."""
    global PAD_MIN_WORK
    if name != "PAD_MIN_WORK":
        raise KeyError(name)
    PAD_MIN_WORK = value


cdef inline Py_ssize_t _reflect(Py_ssize_t t, Py_ssize_t n) noexcept nogil:
    """t in [-(n-1), 2n-2] reflected into [0, n)."""
    if t < 0:
        return -t
    if t >= n:
        return 2 * n - 2 - t
    return t


cdef void _pad(const floating[:, :, ::1] x, floating[:, :, ::1] out,
               Py_ssize_t p) noexcept nogil:
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t q, i, j, y
    cdef floating* dst
    cdef const floating* src
    for q in prange(P, nogil=True, schedule="static",
                    num_threads=_threads_for(P * (H + 2 * p) * (W + 2 * p), PAD_MIN_WORK)):
        for i in range(H + 2 * p):
            y = _reflect(i - p, H)
            src = &x[q, y, 0]
            dst = &out[q, i, 0]
            memcpy(dst + p, src, W * sizeof(floating))
            for j in range(p):
                dst[p - 1 - j] = src[j + 1]            # left: x columns 1..p, mirrored
                dst[p + W + j] = src[W - 2 - j]        # right: x columns W-2 down to W-1-p


cdef void _adjoint(const floating[:, :, ::1] d, floating[:, :, ::1] dx,
                   Py_ssize_t p) noexcept nogil:
    cdef Py_ssize_t P = dx.shape[0], H = dx.shape[1], W = dx.shape[2]
    cdef Py_ssize_t q, i, j, y
    cdef floating* dst
    cdef const floating* src
    for q in prange(P, nogil=True, schedule="static",
                    num_threads=_threads_for(P * (H + 2 * p) * (W + 2 * p), PAD_MIN_WORK)):
        for i in range(H):                              # centre rows: a copy
            memcpy(&dx[q, i, 0], &d[q, i + p, p], W * sizeof(floating))
        for i in range(H + 2 * p):                      # every row folds its borders, and
            y = _reflect(i - p, H)                      # padded rows add their centre too
            src = &d[q, i, 0]
            dst = &dx[q, y, 0]
            if i < p or i >= p + H:
                for j in range(W):
                    dst[j] = dst[j] + src[p + j]
            for j in range(p):
                dst[j + 1] = dst[j + 1] + src[p - 1 - j]
                dst[W - 2 - j] = dst[W - 2 - j] + src[p + W + j]


def _check(a, name):
    a = np.asarray(a)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if a.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got shape {a.shape}")
    return np.ascontiguousarray(a)


def reflect_pad(x, Py_ssize_t p):
    """(N, C, H, W) -> (N, C, H + 2p, W + 2p), reflection padding (0 <= p < H, W)."""
    x = _check(x, "x")
    N, C, H, W = x.shape
    if p < 0 or p >= H or p >= W:
        raise ValueError(f"reflection pad {p} needs 0 <= pad < spatial size {(H, W)}")
    out = np.empty((N, C, H + 2 * p, W + 2 * p), dtype=x.dtype)
    if out.size:
        x3, o3 = x.reshape(N * C, H, W), out.reshape(N * C, H + 2 * p, W + 2 * p)
        if x.dtype == np.float32:
            _pad[float](x3, o3, p)
        else:
            _pad[double](x3, o3, p)
    return out


def reflect_pad_adjoint(d, Py_ssize_t p):
    """(N, C, H + 2p, W + 2p) -> (N, C, H, W): the adjoint of :func:`reflect_pad`."""
    d = _check(d, "d")
    N, C, Hp, Wp = d.shape
    H, W = Hp - 2 * p, Wp - 2 * p
    if p < 0 or p >= H or p >= W:
        raise ValueError(f"reflection pad {p} needs 0 <= pad < spatial size {(H, W)}")
    dx = np.empty((N, C, H, W), dtype=d.dtype)
    if dx.size:
        d3, x3 = d.reshape(N * C, Hp, Wp), dx.reshape(N * C, H, W)
        if d.dtype == np.float32:
            _adjoint[float](d3, x3, p)
        else:
            _adjoint[double](d3, x3, p)
    return dx


cdef void _shuffle(const floating[:, :, :, ::1] z, floating[:, :, :, ::1] out,
                   Py_ssize_t F) noexcept nogil:
    cdef Py_ssize_t N = out.shape[0], H = out.shape[2] // 2, W = out.shape[3] // 2
    cdef Py_ssize_t q, n, f, i, a, j
    cdef floating* o
    cdef const floating* z0
    cdef const floating* z1
    for q in prange(N * F, nogil=True, schedule="static",
                    num_threads=_threads_for(N * F * 4 * H * W, PAD_MIN_WORK)):
        n = q // F
        f = q - n * F
        for i in range(H):
            for a in range(2):
                z0 = &z[n, 2 * a * F + f, i + a, 0]             # parity (a, 0): columns j
                z1 = &z[n, (2 * a + 1) * F + f, i + a, 1]       # parity (a, 1): columns j + 1
                o = &out[n, f, 2 * i + a, 0]
                for j in range(W):
                    o[2 * j] = z0[j]
                    o[2 * j + 1] = z1[j]


cdef void _shuffle_adjoint(const floating[:, :, :, ::1] d, floating[:, :, :, ::1] dz,
                           Py_ssize_t F) noexcept nogil:
    cdef Py_ssize_t N = d.shape[0], H = d.shape[2] // 2, W = d.shape[3] // 2
    cdef Py_ssize_t q, n, f, i, a, j
    cdef const floating* o
    cdef floating* z0
    cdef floating* z1
    for q in prange(N * F, nogil=True, schedule="static",
                    num_threads=_threads_for(N * F * 4 * H * W, PAD_MIN_WORK)):
        n = q // F
        f = q - n * F
        for i in range(H):
            for a in range(2):
                z0 = &dz[n, 2 * a * F + f, i + a, 0]
                z1 = &dz[n, (2 * a + 1) * F + f, i + a, 1]
                o = &d[n, f, 2 * i + a, 0]
                for j in range(W):
                    z0[j] = o[2 * j]
                    z1[j] = o[2 * j + 1]


def subpixel_shuffle(z, Py_ssize_t H, Py_ssize_t W):
    """(N, 4F, H + 1, W + 1) -> (N, F, 2H, 2W): out[n, f, 2i+a, 2j+b] = z[n, (2a+b)F + f, i+a, j+b]."""
    z = _check(z, "z")
    N, F4, Hz, Wz = z.shape
    if F4 % 4 or Hz != H + 1 or Wz != W + 1 or H < 1 or W < 1:
        raise ValueError(f"z must be (N, 4F, H + 1, W + 1) = (N, 4F, {H + 1}, {W + 1}), "
                         f"got shape {z.shape}")
    out = np.empty((N, F4 // 4, 2 * H, 2 * W), dtype=z.dtype)
    if out.size:
        if z.dtype == np.float32:
            _shuffle[float](z, out, F4 // 4)
        else:
            _shuffle[double](z, out, F4 // 4)
    return out


def subpixel_shuffle_adjoint(d, Py_ssize_t H, Py_ssize_t W):
    """(N, F, 2H, 2W) -> (N, 4F, H + 1, W + 1): the adjoint of :func:`subpixel_shuffle`
    (each parity's pixels back into its window, zeros elsewhere)."""
    d = _check(d, "d")
    N, F, H2, W2 = d.shape
    if H2 != 2 * H or W2 != 2 * W or H < 1 or W < 1:
        raise ValueError(f"d must be (N, F, 2H, 2W) = (N, F, {2 * H}, {2 * W}), got shape {d.shape}")
    dz = np.zeros((N, 4 * F, H + 1, W + 1), dtype=d.dtype)
    if d.size:
        if d.dtype == np.float32:
            _shuffle_adjoint[float](d, dz, F)
        else:
            _shuffle_adjoint[double](d, dz, F)
    return dz
