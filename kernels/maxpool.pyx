# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Max-pooling kernels  ->  module ``minicnn._maxpool``.

Forward records, for every output, the flat index ``y*W + x`` of the input that
won its window (overlapping windows, -inf padding, ceil-mode windows that hang
over the bottom/right edge).  Ties pick the first maximum in row-major window
order; a NaN wins over numbers and the first NaN wins (as ``np.argmax``).

Backward scatter-adds each output gradient onto the input that won (several
overlapping windows may pick the same input, so it *adds*).

Both run in parallel (OpenMP ``prange``, GIL released) over the N*C planes; a
plane is owned by one thread so the scatter-add has no races.  Inner loops run
along an output row (contiguous, branch-free compare/select) so that the C
compiler can vectorize them.  float32/float64 (fused), dtype preserved.
The NumPy twins with the same signatures live in ``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport INFINITY
from libc.string cimport memset
from libc.stdint cimport int32_t

cdef extern from "omp.h" nogil:
    int omp_get_max_threads()


cdef inline Py_ssize_t _ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    if a >= 0:
        return (a + b - 1) // b
    return -((-a) // b)


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


cdef inline int _threads_for(Py_ssize_t work) noexcept nogil:
    if work < 16384:
        return 1
    return omp_get_max_threads()


cdef inline void _update_row(const floating* src, floating* best, int32_t* arg,
                             Py_ssize_t j_lo, Py_ssize_t j_hi, Py_ssize_t sw,
                             Py_ssize_t off, int32_t base) noexcept nogil:
    """best[j], arg[j] <- src[j*sw + off] if it beats best[j] (strict >, NaN wins once)."""
    cdef Py_ssize_t j
    cdef floating val, b
    cdef bint take
    if sw == 2:
        for j in range(j_lo, j_hi):
            val = src[2 * j + off]
            b = best[j]
            take = (val > b) | ((val != val) & (b == b))
            best[j] = val if take else b
            arg[j] = <int32_t>(base + 2 * j) if take else arg[j]
    elif sw == 1:
        for j in range(j_lo, j_hi):
            val = src[j + off]
            b = best[j]
            take = (val > b) | ((val != val) & (b == b))
            best[j] = val if take else b
            arg[j] = <int32_t>(base + j) if take else arg[j]
    else:
        for j in range(j_lo, j_hi):
            val = src[j * sw + off]
            b = best[j]
            take = (val > b) | ((val != val) & (b == b))
            best[j] = val if take else b
            arg[j] = <int32_t>(base + j * sw) if take else arg[j]


cdef void _maxpool_fwd_impl(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                            int32_t[:, :, ::1] argmax,
                            Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                            Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t ho = out.shape[1], wo = out.shape[2]
    cdef Py_ssize_t p, i, j, u, v, y, y0, y1, off, j_lo, j_hi
    cdef floating* best
    cdef int32_t* arg
    cdef int nthreads = _threads_for(P * ho * wo * kh * kw)
    for p in prange(P, schedule="static", num_threads=nthreads):
        for i in range(ho):
            best = &out[p, i, 0]
            arg = &argmax[p, i, 0]
            y0 = _imax(i * sh - ph, 0)
            y1 = _imin(i * sh - ph + kh, H)
            # start from -inf at the window's first in-bounds element, so an
            # all -inf window still points at a real input (as np.argmax does)
            for j in range(wo):
                best[j] = -INFINITY
                arg[j] = <int32_t>(y0 * W + _imax(j * sw - pw, 0))
            for y in range(y0, y1):
                for v in range(kw):
                    off = v - pw                       # input column j*sw + off
                    j_lo = _imin(_imax(_ceil_div(-off, sw), 0), wo)
                    if W - 1 - off < 0:
                        j_hi = 0
                    else:
                        j_hi = _imin((W - 1 - off) // sw + 1, wo)
                    if j_lo < j_hi:
                        _update_row(&x[p, y, 0], best, arg, j_lo, j_hi, sw, off,
                                    <int32_t>(y * W + off))


cdef void _maxpool_bwd_impl(const floating[:, ::1] dout, const int32_t[:, ::1] argmax,
                            floating[:, ::1] dx, unsigned char[::1] bad) noexcept nogil:
    cdef Py_ssize_t P = dx.shape[0], HW = dx.shape[1], M = dout.shape[1]
    cdef Py_ssize_t p, m
    cdef int32_t k
    cdef floating* d
    cdef const floating* g
    cdef const int32_t* a
    cdef int nthreads = _threads_for(P * (M + HW))
    for p in prange(P, schedule="static", num_threads=nthreads):
        d = &dx[p, 0]
        g = &dout[p, 0]
        a = &argmax[p, 0]
        memset(d, 0, HW * sizeof(floating))
        for m in range(M):
            k = a[m]
            if k < 0 or k >= HW:       # corrupt cache: flag it instead of writing out of bounds
                bad[p] = 1
            else:
                d[k] += g[m]


cdef void _fwd_run(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                   int32_t[:, :, ::1] argmax, Py_ssize_t kh, Py_ssize_t kw,
                   Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph, Py_ssize_t pw):
    with nogil:
        _maxpool_fwd_impl(x, out, argmax, kh, kw, sh, sw, ph, pw)


cdef void _bwd_run(const floating[:, ::1] dout, const int32_t[:, ::1] argmax,
                   floating[:, ::1] dx, unsigned char[::1] bad):
    with nogil:
        _maxpool_bwd_impl(dout, argmax, dx, bad)


def maxpool_forward(x, int kh, int kw, int sh, int sw, int ph, int pw, int ho, int wo):
    """Max pool x: (N, C, H, W) -> (out (N, C, ho, wo), argmax int32 (N, C, ho, wo)).

    Window (i, j) covers input rows ``i*sh - ph ... + kh`` and columns
    ``j*sw - pw ... + kw`` clipped to the image (padding is -inf, never chosen);
    ``out = max(window)``, ``argmax = y*W + x`` of the first maximum (row-major).
    ``ho, wo`` are given by the caller (floor or ceil mode); every window must
    overlap the image.
    """
    x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    N, C, H, W = x.shape
    if kh < 1 or kw < 1 or sh < 1 or sw < 1 or ph < 0 or pw < 0 or ho < 0 or wo < 0:
        raise ValueError("pool size and stride must be positive, padding non-negative")
    if ph >= kh or pw >= kw or (ho and (ho - 1) * sh - ph >= H) or (wo and (wo - 1) * sw - pw >= W):
        raise ValueError(f"output {ho}x{wo} has windows outside the {H}x{W} input")
    if H * W >= 2 ** 31:
        raise ValueError("planes of 2**31 or more pixels are not supported")
    x3 = np.ascontiguousarray(x).reshape(N * C, H, W)
    out = np.empty((N * C, ho, wo), dtype=x.dtype)
    argmax = np.empty((N * C, ho, wo), dtype=np.int32)
    if out.size:
        if x.dtype == np.float32:
            _fwd_run[float](x3, out, argmax, kh, kw, sh, sw, ph, pw)
        else:
            _fwd_run[double](x3, out, argmax, kh, kw, sh, sw, ph, pw)
    return out.reshape(N, C, ho, wo), argmax.reshape(N, C, ho, wo)


def maxpool_backward(dout, argmax, int h, int w):
    """Scatter-add: dx (N, C, h, w) with ``dx.flat_plane[argmax[n, c, i, j]] += dout[n, c, i, j]``.

    dout: (N, C, ho, wo) float32/float64; argmax: same shape, flat indices into h*w.
    Local derivative of max is the 0/1 indicator of the winner; its adjoint is
    this scatter.  dtype of dx = dtype of dout.
    """
    dout = np.asarray(dout)
    if dout.dtype != np.float32 and dout.dtype != np.float64:
        raise TypeError(f"dout must be float32 or float64, got {dout.dtype}")
    argmax = np.asarray(argmax)
    if dout.ndim != 4 or argmax.shape != dout.shape:
        raise ValueError(f"dout {dout.shape} and argmax {argmax.shape} must be equal 4-d shapes")
    N, C, ho, wo = dout.shape
    a = argmax.reshape(N * C, ho * wo)
    if a.dtype != np.int32:
        a = a.astype(np.int32)
    a = np.ascontiguousarray(a)
    g = np.ascontiguousarray(dout).reshape(N * C, ho * wo)
    dx = np.empty((N * C, h * w), dtype=dout.dtype)
    bad = np.zeros(N * C, dtype=np.uint8)
    if dx.size:
        if dout.dtype == np.float32:
            _bwd_run[float](g, a, dx, bad)
        else:
            _bwd_run[double](g, a, dx, bad)
        if bad.any():
            raise ValueError("argmax holds indices outside the h*w plane")
    return dx.reshape(N, C, h, w)
