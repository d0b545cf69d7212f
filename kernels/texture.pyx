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
