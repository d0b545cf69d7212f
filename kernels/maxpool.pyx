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
compiler can vectorize them; the per-plane forward is a small C function
(embedded below) that GCC on x86-64 Linux also compiles as an AVX2 clone,
picked at load time when the CPU supports it (build with
-DMINICNN_NO_CLONES to disable).  float32/float64 (fused), dtype preserved.
The NumPy twins with the same signatures live in ``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.string cimport memset
from libc.stdint cimport int32_t

include "threads.pxi"


# Smallest jobs (in elements touched) that get more than one thread.  Waking a
# sleeping OpenMP worker costs 50-90 us on the 2-vCPU VM this was tuned on, and
# right after a GEMM OpenBLAS's own worker keeps spinning on the other core for
# milliseconds, so only jobs of a few hundred microseconds gain from a second
# thread (measured by benchmarks/bench_layers.py-style loops, float32).
cdef Py_ssize_t POOL_FWD_MIN_WORK = 600000
cdef Py_ssize_t POOL_BWD_MIN_WORK = 1500000


#: the defaults of the thresholds above, in ``_set_min_work`` order
_DEFAULT_MIN_WORK = (POOL_FWD_MIN_WORK, POOL_BWD_MIN_WORK)


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in elements) that gets more than one thread."""
    global POOL_FWD_MIN_WORK, POOL_BWD_MIN_WORK
    if name == "POOL_FWD_MIN_WORK":
        POOL_FWD_MIN_WORK = value
    elif name == "POOL_BWD_MIN_WORK":
        POOL_BWD_MIN_WORK = value
    else:
        raise KeyError(name)


cdef extern from *:
    """
    /* One plane of max pooling: out/arg rows are the running best values/indices.
       Branch-free compare/select along an output row so the compiler vectorizes it;
       on x86-64 Linux with GCC an AVX2 clone is chosen at load time (ifunc) when the
       CPU has it (about 1.5x faster than the SSE2 baseline build).  */
    #include <math.h>
    #include <stdint.h>
    #if !defined(MINICNN_NO_CLONES) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__) && __GNUC__ >= 7
    #define MINICNN_CLONES __attribute__((target_clones("avx2", "default")))
    #else
    #define MINICNN_CLONES
    #endif
    #if defined(__GNUC__) || defined(_MSC_VER)
    #define MINICNN_RESTRICT __restrict
    #else
    #define MINICNN_RESTRICT
    #endif
    #define MINICNN_ROW_UPDATE(T, STRIDE)                                              \
        for (Py_ssize_t j = j_lo; j < j_hi; j++) {                                     \
            T val = src[(STRIDE) * j + off], b = best[j];                              \
            int take = (val > b) | ((val != val) & (b == b));                          \
            best[j] = take ? val : b;                                                  \
            arg[j] = take ? (int32_t)(base + (STRIDE) * j) : arg[j];                   \
        }
    #define MINICNN_POOL_PLANE(T, NAME)                                                \
    static MINICNN_CLONES void NAME(const T *MINICNN_RESTRICT x, T *MINICNN_RESTRICT out,              \
            int32_t *MINICNN_RESTRICT argm, Py_ssize_t H, Py_ssize_t W, Py_ssize_t ho,         \
            Py_ssize_t wo, Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, \
            Py_ssize_t ph, Py_ssize_t pw) {                                            \
        for (Py_ssize_t i = 0; i < ho; i++) {                                          \
            T *MINICNN_RESTRICT best = out + i * wo;                                           \
            int32_t *MINICNN_RESTRICT arg = argm + i * wo;                                     \
            Py_ssize_t y0 = i * sh - ph, y1 = i * sh - ph + kh;                        \
            if (y0 < 0) y0 = 0;                                                        \
            if (y1 > H) y1 = H;                                                        \
            for (Py_ssize_t j = 0; j < wo; j++) {                                      \
                Py_ssize_t c0 = j * sw - pw;                                           \
                best[j] = -INFINITY;                                                   \
                arg[j] = (int32_t)(y0 * W + (c0 > 0 ? c0 : 0));                        \
            }                                                                          \
            for (Py_ssize_t y = y0; y < y1; y++) {                                     \
                const T *MINICNN_RESTRICT src = x + y * W;                                     \
                for (Py_ssize_t v = 0; v < kw; v++) {                                  \
                    Py_ssize_t off = v - pw, j_lo, j_hi;                               \
                    int32_t base = (int32_t)(y * W + off);                             \
                    j_lo = off >= 0 ? 0 : (-off + sw - 1) / sw;                        \
                    j_hi = (W - 1 - off < 0) ? 0 : (W - 1 - off) / sw + 1;             \
                    if (j_hi > wo) j_hi = wo;                                          \
                    if (j_lo >= j_hi) continue;                                        \
                    if (sw == 2) { MINICNN_ROW_UPDATE(T, 2) }                          \
                    else if (sw == 1) { MINICNN_ROW_UPDATE(T, 1) }                     \
                    else { MINICNN_ROW_UPDATE(T, sw) }                                 \
                }                                                                      \
            }                                                                          \
        }                                                                              \
    }
    MINICNN_POOL_PLANE(float, minicnn_pool_plane_f32)
    MINICNN_POOL_PLANE(double, minicnn_pool_plane_f64)
    """
    void minicnn_pool_plane_f32(const float* x, float* out, int32_t* argm, Py_ssize_t H,
                                Py_ssize_t W, Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t kh,
                                Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                                Py_ssize_t pw) noexcept nogil
    void minicnn_pool_plane_f64(const double* x, double* out, int32_t* argm, Py_ssize_t H,
                                Py_ssize_t W, Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t kh,
                                Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw, Py_ssize_t ph,
                                Py_ssize_t pw) noexcept nogil


cdef void _maxpool_fwd_impl(const floating[:, :, ::1] x, floating[:, :, ::1] out,
                            int32_t[:, :, ::1] argmax,
                            Py_ssize_t kh, Py_ssize_t kw, Py_ssize_t sh, Py_ssize_t sw,
                            Py_ssize_t ph, Py_ssize_t pw) noexcept nogil:
    cdef Py_ssize_t P = x.shape[0], H = x.shape[1], W = x.shape[2]
    cdef Py_ssize_t ho = out.shape[1], wo = out.shape[2]
    cdef Py_ssize_t p
    cdef int nthreads = _threads_for(P * ho * wo * kh * kw, POOL_FWD_MIN_WORK)
    for p in prange(P, schedule="static", num_threads=nthreads):
        # window (i, j): rows i*sh - ph + [0, kh), cols j*sw - pw + [0, kw), clipped;
        # best starts at -inf with the index of the window's first in-bounds element
        # (so an all -inf window still points at a real input, as np.argmax does)
        if floating is float:
            minicnn_pool_plane_f32(&x[p, 0, 0], &out[p, 0, 0], &argmax[p, 0, 0],
                                   H, W, ho, wo, kh, kw, sh, sw, ph, pw)
        else:
            minicnn_pool_plane_f64(&x[p, 0, 0], &out[p, 0, 0], &argmax[p, 0, 0],
                                   H, W, ho, wo, kh, kw, sh, sw, ph, pw)


cdef void _maxpool_bwd_impl(const floating[:, ::1] dout, const int32_t[:, ::1] argmax,
                            floating[:, ::1] dx, unsigned char[::1] bad) noexcept nogil:
    cdef Py_ssize_t P = dx.shape[0], HW = dx.shape[1], M = dout.shape[1]
    cdef Py_ssize_t p, m
    cdef int32_t k
    cdef floating* d
    cdef const floating* g
    cdef const int32_t* a
    cdef int nthreads = _threads_for(P * (M + HW), POOL_BWD_MIN_WORK)
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
