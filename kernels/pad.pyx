# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Reflection padding and its adjoint  ->  module ``minicnn._pad``.

``reflect_pad(x, p)``: (N, C, H, W) -> (N, C, H + 2p, W + 2p) with
``out[..., i, j] = x[..., r(i - p, H), r(j - p, W)]``, ``r(t, n)`` reflecting t into
[0, n) without repeating the edge (``r(-1) = 1``, ``r(n) = n - 2``), as
``np.pad(mode="reflect")``.

``reflect_pad_adjoint(d, p)``: the adjoint (crop + fold): the centre of d plus every
padded row and column added back onto the pixel it copied.

Planes are spread over OpenMP threads; rows are copied with memcpy.  The NumPy twins
(same signatures and results) are ``reflect_pad_numpy`` / ``reflect_pad_adjoint_numpy``
in ``minicnn/_kernels.py``.
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
