# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""im2col / col2im kernels for convolution as GEMM  ->  module ``minicnn._im2col``.

Column layout (one block per image, output rows ``row0 <= r < row0 + R``)::

    cols[n, k, i*Wo + j] = xpad[n, c, (row0 + i)*sh + u, j*sw + v]
    k = (c*KH + u)*KW + v,     xpad = x zero-padded by (ph, pw)

so ``W.reshape(F, C*KH*KW) @ cols[n]`` is ``out[n, :, row0:row0+R, :]`` already
in NCHW order (no transposes).  Padding is handled by bounds, never by
``np.pad``.  Rows of ``cols`` are written contiguously (the loop runs over
``(n, k)`` rows, in parallel with OpenMP ``prange``, and sweeps ``i, j`` inside).

``col2im`` is the adjoint (transpose) of ``im2col``: it scatter-adds every column
entry back to the input pixel it was read from (overlapping windows add up) and
drops the entries that fell in the padding (crop = adjoint of pad).  It runs in
parallel over (image, channel, band of input rows); each task owns its band of
``dx`` so there are no write races.

Both accept float32 or float64 input of any memory layout (a non-C-contiguous
input is copied once) and keep the dtype.  The NumPy twins with the same
signatures live in ``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

include "threads.pxi"


cdef inline Py_ssize_t _ceil_div(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    """ceil(a / b) for b > 0 and any sign of a (C division truncates)."""
    if a >= 0:
        return (a + b - 1) // b
    return -((-a) // b)


cdef inline Py_ssize_t _imin(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a < b else b


cdef inline Py_ssize_t _imax(Py_ssize_t a, Py_ssize_t b) noexcept nogil:
    return a if a > b else b


# Smallest jobs (in elements touched) that get more than one thread.  Waking a
# sleeping OpenMP worker costs 50-90 us on the 2-vCPU VM this was tuned on, and
# right after a GEMM OpenBLAS's own worker keeps spinning on the other core for
# milliseconds, so only jobs of a few hundred microseconds gain from a second
# thread (measured by benchmarks/bench_layers.py-style loops, float32).
cdef Py_ssize_t IM2COL_MIN_WORK = 1000000
cdef Py_ssize_t COL2IM_MIN_WORK = 700000


#: the defaults of the thresholds above, in ``_set_min_work`` order
_DEFAULT_MIN_WORK = (IM2COL_MIN_WORK, COL2IM_MIN_WORK)


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in elements) that gets more than one thread."""
    global IM2COL_MIN_WORK, COL2IM_MIN_WORK
    if name == "IM2COL_MIN_WORK":
        IM2COL_MIN_WORK = value
    elif name == "COL2IM_MIN_WORK":
        COL2IM_MIN_WORK = value
    else:
        raise KeyError(name)


cdef void _im2col_impl(const floating[:, :, :, ::1] x, floating[:, :, ::1] cols,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t nrows,
                       Py_ssize_t wo) noexcept nogil:
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t K = C * kh * kw
    cdef Py_ssize_t t, n, k, c, u, v, i, j, y, j_lo, j_hi, off
    cdef floating* dst
    cdef const floating* src
    cdef int nthreads = _threads_for(N * K * nrows * wo, IM2COL_MIN_WORK)
    for t in prange(N * K, schedule="static", num_threads=nthreads):
        n = t // K
        k = t - n * K
        c = k // (kh * kw)
        u = (k // kw) % kh
        v = k % kw
        off = v - pw                       # input column = j*sw + off
        # valid output columns: 0 <= j*sw + off <= W - 1
        j_lo = _imin(_imax(_ceil_div(-off, sw), 0), wo)
        if W - 1 - off < 0:
            j_hi = 0
        else:
            j_hi = _imin((W - 1 - off) // sw + 1, wo)
        if j_lo > j_hi:
            j_lo = j_hi
        for i in range(nrows):
            dst = &cols[n, k, i * wo]
            y = (row0 + i) * sh + u - ph
            if y < 0 or y >= H:
                memset(dst, 0, wo * sizeof(floating))
                continue
            src = &x[n, c, y, 0]
            for j in range(j_lo):
                dst[j] = 0
            if sw == 1:                    # a contiguous run: one memcpy
                if j_hi > j_lo:
                    memcpy(dst + j_lo, src + j_lo + off, (j_hi - j_lo) * sizeof(floating))
            elif sw == 2:
                for j in range(j_lo, j_hi):
                    dst[j] = src[2 * j + off]
            else:
                for j in range(j_lo, j_hi):
                    dst[j] = src[j * sw + off]
            for j in range(j_hi, wo):
                dst[j] = 0


cdef void _col2im_impl(const floating[:, :, ::1] cols, floating[:, :, :, ::1] dx,
                       Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t nrows,
                       Py_ssize_t wo, bint zero) noexcept nogil:
    cdef Py_ssize_t N = dx.shape[0], C = dx.shape[1], H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t t, n, c, b, u, v, k, i, j, y, y0, y1, i_lo, i_hi, j_lo, j_hi, off
    cdef Py_ssize_t nbands, band
    cdef floating* dst
    cdef const floating* src
    cdef int nthreads = _threads_for(N * C * kh * kw * nrows * wo, COL2IM_MIN_WORK)
    # split each plane into bands of input rows so that small N*C still feeds all threads
    nbands = 1
    if nthreads > 1 and N * C < 8 * nthreads:
        nbands = _imin(H, _ceil_div(8 * nthreads, N * C))
    band = _ceil_div(H, nbands)
    nbands = _ceil_div(H, band)
    for t in prange(N * C * nbands, schedule="static", num_threads=nthreads):
        n = t // (C * nbands)
        c = (t // nbands) % C
        b = t % nbands
        y0 = b * band
        y1 = _imin(H, y0 + band)
        if zero:
            memset(&dx[n, c, y0, 0], 0, (y1 - y0) * W * sizeof(floating))
        for u in range(kh):
            # local output rows i whose input row y = (row0 + i)*sh + u - ph lies in [y0, y1)
            i_lo = _imax(_ceil_div(y0 - u + ph, sh) - row0, 0)
            i_hi = _imin(_ceil_div(y1 - u + ph, sh) - row0, nrows)
            for v in range(kw):
                k = (c * kh + u) * kw + v
                off = v - pw
                j_lo = _imin(_imax(_ceil_div(-off, sw), 0), wo)
                if W - 1 - off < 0:
                    j_hi = 0
                else:
                    j_hi = _imin((W - 1 - off) // sw + 1, wo)
                for i in range(i_lo, i_hi):
                    y = (row0 + i) * sh + u - ph
                    dst = &dx[n, c, y, 0]
                    src = &cols[n, k, i * wo]
                    if sw == 1:
                        for j in range(j_lo, j_hi):
                            dst[j + off] += src[j]
                    elif sw == 2:
                        for j in range(j_lo, j_hi):
                            dst[2 * j + off] += src[j]
                    else:
                        for j in range(j_lo, j_hi):
                            dst[j * sw + off] += src[j]


cdef void _im2col_run(const floating[:, :, :, ::1] x, floating[:, :, ::1] cols,
                      Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                      Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t nrows,
                      Py_ssize_t wo):
    with nogil:
        _im2col_impl(x, cols, kh, kw, sh, sw, ph, pw, row0, nrows, wo)


cdef void _col2im_run(const floating[:, :, ::1] cols, floating[:, :, :, ::1] dx,
                      Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                      Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t row0, Py_ssize_t nrows,
                      Py_ssize_t wo, bint zero):
    with nogil:
        _col2im_impl(cols, dx, kh, kw, sh, sw, ph, pw, row0, nrows, wo, zero)


def _as_float(a, name):
    a = np.asarray(a)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    return np.ascontiguousarray(a)


def im2col(x, int kh, int kw, int sh, int sw, int ph, int pw, row0=0, row1=None, out=None):
    """Columns of x for output rows ``row0 <= r < row1`` (default all rows).

    x: (N, C, H, W) float32/float64.  Returns cols: (N, C*kh*kw, (row1-row0)*Wo)
    with ``Wo = (W + 2*pw - kw)//sw + 1`` and
    ``cols[n, (c*kh+u)*kw+v, i*Wo+j] = xpad[n, c, (row0+i)*sh+u, j*sw+v]``.
    ``out``: optional C-contiguous buffer of that shape and dtype to write into.
    """
    x = _as_float(x, "x")
    if x.ndim != 4:
        raise ValueError(f"x must be (N, C, H, W), got shape {x.shape}")
    if kh < 1 or kw < 1 or sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError("kernel and stride must be positive, padding non-negative")
    N, C, H, W = x.shape
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    r0 = int(row0)
    r1 = ho if row1 is None else int(row1)
    if not (0 <= r0 <= r1 <= ho) or wo < 1:
        raise ValueError(f"bad output rows [{r0}, {r1}) for {ho}x{wo} output")
    shape = (N, C * kh * kw, (r1 - r0) * wo)
    if out is None:
        out = np.empty(shape, dtype=x.dtype)
    elif (out.shape != shape or out.dtype != x.dtype or not out.flags.c_contiguous
          or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous {x.dtype} array of "
                         f"shape {shape}")
    if out.size == 0:
        return out
    if x.dtype == np.float32:
        _im2col_run[float](x, out, kh, kw, sh, sw, ph, pw, r0, r1 - r0, wo)
    else:
        _im2col_run[double](x, out, kh, kw, sh, sw, ph, pw, r0, r1 - r0, wo)
    return out


def col2im(cols, x_shape, int kh, int kw, int sh, int sw, int ph, int pw, row0=0, out=None,
           accumulate=True):
    """Adjoint of :func:`im2col`: scatter-add columns back onto (N, C, H, W).

    cols: (N, C*kh*kw, R*Wo) for output rows ``row0 <= r < row0 + R``.
    ``dx[n, c, y, x] = sum of cols[n, (c*kh+u)*kw+v, i*Wo+j]`` over all (u, v, i, j)
    with ``(row0+i)*sh + u - ph == y`` and ``j*sw + v - pw == x`` (padding dropped).
    out=None: returns a new array.  Otherwise writes into ``out`` (a writeable
    C-contiguous array of shape x_shape and the dtype of cols) and returns it:
    ``accumulate=True`` adds to its contents, ``False`` overwrites them.
    """
    cols = _as_float(cols, "cols")
    N, C, H, W = (int(s) for s in x_shape)
    if kh < 1 or kw < 1 or sh < 1 or sw < 1 or ph < 0 or pw < 0:
        raise ValueError("kernel and stride must be positive, padding non-negative")
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    if wo < 1 or cols.ndim != 3 or cols.shape[0] != N or cols.shape[1] != C * kh * kw \
            or cols.shape[2] % wo:
        raise ValueError(f"cols of shape {cols.shape} do not match x_shape {tuple(x_shape)}")
    nrows = cols.shape[2] // wo
    r0 = int(row0)
    if not (0 <= r0 and r0 + nrows <= ho):
        raise ValueError(f"bad output rows [{r0}, {r0 + nrows}) for {ho} output rows")
    zero = out is None or not accumulate
    if out is None:
        out = np.empty((N, C, H, W), dtype=cols.dtype)
    elif (out.shape != (N, C, H, W) or out.dtype != cols.dtype or not out.flags.c_contiguous
          or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous {cols.dtype} array of "
                         f"shape {(N, C, H, W)}")
    if out.size == 0:
        return out
    if cols.dtype == np.float32:
        _col2im_run[float](cols, out, kh, kw, sh, sw, ph, pw, r0, nrows, wo, zero)
    else:
        _col2im_run[double](cols, out, kh, kw, sh, sw, ph, pw, r0, nrows, wo, zero)
    return out
