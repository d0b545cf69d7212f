# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Efros-Leung window search  ->  module ``minicnn._texture``.

For one output pixel, Efros & Leung (1999) compare its partially known
neighbourhood (the template) with every window of the source texture::

    out[i, j] = sum_k  w_k * sum_c (source[c, i + a_k, j + b_k] - template[c, k])^2

where k runs over the template's *known* pixels only, at offsets (a_k, b_k)
inside the window, with weights w_k = Gaussian(a_k, b_k) (the caller drops
unknown pixels, so the work shrinks with the mask).  out is (H - win + 1,
W - win + 1): one weighted SSD per source window.

The accumulation order is fixed (k outer, c inner, one add per term) so that
the NumPy twin ``minicnn.techniques.texture.window_ssd_numpy`` gives
bit-identical results.  Rows of ``out`` run in parallel (OpenMP ``prange``,
GIL released) when the call is large enough; the innermost loop walks one contiguous source row so the C
compiler can vectorize it.  float32/float64 (fused).
"""
import numpy as np
from cython cimport floating
from cython.parallel cimport prange

cdef extern from "omp.h" nogil:
    int omp_get_max_threads()

#: below this many multiply-adds per call the search runs on one thread: a
#: parallel region costs more than it saves on small sources, and on a busy
#: machine an OpenMP barrier can wait for a whole scheduler time slice.
cdef Py_ssize_t PARALLEL_WORK = 4000000


def window_ssd(const floating[:, :, ::1] source, const floating[:, ::1] template,
               const Py_ssize_t[::1] rows, const Py_ssize_t[::1] cols,
               const floating[::1] weights, floating[:, ::1] out):
    """Weighted SSD of a sparse template against every window of ``source``.

    source: (C, H, W) contiguous; template: (C, K) values of the K known pixels;
    rows, cols: (K,) their offsets inside the window; weights: (K,);
    out: (H - win + 1, W - win + 1), overwritten (win > max offset).
    """
    cdef Py_ssize_t n_ch = source.shape[0]
    cdef Py_ssize_t n_k = template.shape[1]
    cdef Py_ssize_t oh = out.shape[0], ow = out.shape[1]
    cdef Py_ssize_t i, j, k, c, a, b
    cdef floating t, w, d
    cdef int threads
    if template.shape[0] != n_ch:
        raise ValueError(f"template has {template.shape[0]} channels, source has {n_ch}")
    if rows.shape[0] != n_k or cols.shape[0] != n_k or weights.shape[0] != n_k:
        raise ValueError("rows, cols and weights must have one entry per template pixel")
    for k in range(n_k):
        if rows[k] < 0 or cols[k] < 0 or rows[k] + oh > source.shape[1] \
                or cols[k] + ow > source.shape[2]:
            raise ValueError("template offsets fall outside the source windows")
    threads = 1 if oh * ow * n_k * n_ch < PARALLEL_WORK else omp_get_max_threads()
    with nogil:
        for i in prange(oh, schedule="static", num_threads=threads):
            for j in range(ow):
                out[i, j] = 0
            for k in range(n_k):
                a = rows[k]
                b = cols[k]
                w = weights[k]
                for c in range(n_ch):
                    t = template[c, k]
                    for j in range(ow):
                        d = source[c, i + a, j + b] - t
                        out[i, j] = out[i, j] + w * (d * d)


cdef inline void _ssd_row(const floating[:, :, ::1] source, const floating[:, ::1] template,
                          const Py_ssize_t[::1] rows, const Py_ssize_t[::1] cols,
                          const floating[::1] weights, Py_ssize_t n_k,
                          floating[:, ::1] out, Py_ssize_t i) noexcept nogil:
    """Row i of the window search over the first n_k template pixels (serial)."""
    cdef Py_ssize_t j, k, c, a, b
    cdef Py_ssize_t ow = out.shape[1]
    cdef floating t, w, d
    for j in range(ow):
        out[i, j] = 0
    for k in range(n_k):
        a = rows[k]
        b = cols[k]
        w = weights[k]
        for c in range(source.shape[0]):
            t = template[c, k]
            for j in range(ow):
                d = source[c, i + a, j + b] - t
                out[i, j] = out[i, j] + w * (d * d)


def fill_pass(const floating[:, :, ::1] source, floating[:, :, ::1] canvas,
              unsigned char[:, ::1] filled, long long[:, :, ::1] where,
              const Py_ssize_t[:, ::1] pix, const double[::1] u,
              const floating[::1] gauss, Py_ssize_t window, double err_threshold,
              double max_err, floating[:, ::1] dist):
    """One Efros-Leung pass over the frontier pixels ``pix`` (in order); returns
    how many were filled.  Same arithmetic as the NumPy twin
    ``minicnn.techniques.texture.fill_pass_numpy`` (see its docstring)."""
    cdef Py_ssize_t n_ch = source.shape[0], half = window // 2
    cdef Py_ssize_t oh = dist.shape[0], ow = dist.shape[1], ww = window * window
    cdef Py_ssize_t p, y, x, a, b, c, i, j, n_k, count, kth, bi = 0, bj = 0, n_new = 0
    cdef double wsum, limit
    cdef floating best
    if pix.shape[0] != u.shape[0] or pix.shape[1] != 2:
        raise ValueError("pix must be (P, 2) and u (P,)")
    if gauss.shape[0] != ww or canvas.shape[0] != n_ch:
        raise ValueError("gauss must have window*window entries and canvas the source's "
                         "channels")
    if oh != source.shape[1] - window + 1 or ow != source.shape[2] - window + 1:
        raise ValueError("dist must be (H - window + 1, W - window + 1)")
    for p in range(pix.shape[0]):
        if pix[p, 0] < 0 or pix[p, 1] < 0 or pix[p, 0] >= where.shape[0] \
                or pix[p, 1] >= where.shape[1] or pix[p, 0] + window > filled.shape[0] \
                or pix[p, 1] + window > filled.shape[1]:
            raise ValueError("pix holds positions outside the canvas")
    dtype = np.float32 if floating is float else np.float64
    cdef floating[:, ::1] tmpl = np.empty((n_ch, ww), dtype=dtype)
    cdef floating[::1] wts = np.empty(ww, dtype=dtype)
    cdef Py_ssize_t[::1] rows = np.empty(ww, dtype=np.intp)
    cdef Py_ssize_t[::1] cols = np.empty(ww, dtype=np.intp)
    with nogil:
        for p in range(pix.shape[0]):
            y = pix[p, 0]
            x = pix[p, 1]
            # the known pixels of the window, row-major
            n_k = 0
            wsum = 0.0
            for a in range(window):
                for b in range(window):
                    if filled[y + a, x + b]:
                        rows[n_k] = a
                        cols[n_k] = b
                        wts[n_k] = gauss[a * window + b]
                        wsum = wsum + <double>gauss[a * window + b]
                        for c in range(n_ch):
                            tmpl[c, n_k] = canvas[c, y + a, x + b]
                        n_k = n_k + 1
            if n_k == 0:
                continue
            for i in range(oh):
                _ssd_row(source, tmpl, rows, cols, wts, n_k, dist, i)
            best = dist[0, 0]
            for i in range(oh):
                for j in range(ow):
                    if dist[i, j] < best:
                        best = dist[i, j]
            limit = <double>best * (1.0 + err_threshold)
            count = 0
            for i in range(oh):
                for j in range(ow):
                    if <double>dist[i, j] <= limit:
                        count = count + 1
            kth = <Py_ssize_t>(u[p] * count)
            if kth >= count:
                kth = count - 1
            for i in range(oh):
                for j in range(ow):
                    if <double>dist[i, j] <= limit:
                        if kth == 0:
                            bi = i
                            bj = j
                        kth = kth - 1
            if <double>dist[bi, bj] / (wsum * n_ch) <= max_err:
                for c in range(n_ch):
                    canvas[c, y + half, x + half] = source[c, bi + half, bj + half]
                filled[y + half, x + half] = 1
                where[y, x, 0] = bi + half
                where[y, x, 1] = bj + half
                n_new = n_new + 1
    return n_new
