# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Instance normalization (+ optional ReLU) kernels  ->  module ``minicnn._norm``.

Rows are the (n, c) planes of an (N, C, H, W) array viewed as (P, M), P = N*C,
M = H*W.  Per row p, with g = gamma[p], b = beta[p]::

    mu = mean(x),  var = mean((x - mu)^2),  r = 1 / sqrt(var + eps)
    xhat = (x - mu) r,   out = g xhat + b   (then max(out, 0) when relu)

Backward (the mask m = [g xhat + b > 0] when relu, else 1; d = dout m)::

    s1 = sum d,  s2 = sum d xhat             (dbeta and dgamma of the row)
    dx = g r (d - s1 / M - xhat s2 / M)

The row loops are C (``kernels/norm_rows.h``: ``#pragma omp simd`` reductions,
so the sums vectorize while accumulating in double).  The forward keeps no normalized copy: backward recomputes xhat from x, mu and r
(two reads instead of a third array written and read).  Sums are accumulated in
double.  Rows are split across OpenMP threads (``prange``) when the array is
large.  The NumPy twins, with the same signatures and results to round-off,
are ``instance_norm_rows_numpy`` / ``instance_norm_rows_backward_numpy`` in
``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange

include "threads.pxi"

# Smallest arrays (elements) that get more than one thread (see im2col.pyx).
cdef Py_ssize_t NORM_MIN_WORK = 400000
_DEFAULT_MIN_WORK = (NORM_MIN_WORK,)


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in elements) that gets more than one thread."""
    global NORM_MIN_WORK
    if name != "NORM_MIN_WORK":
        raise KeyError(name)
    NORM_MIN_WORK = value


cdef extern from "norm_rows.h" nogil:
    void norm_fwd_row_f(const float *x, Py_ssize_t M, double g, double b, double eps, int relu,
                        float *out, double *mu, double *inv)
    void norm_fwd_row_d(const double *x, Py_ssize_t M, double g, double b, double eps,
                        int relu, double *out, double *mu, double *inv)
    void norm_bwd_row_f(const float *dout, const float *x, Py_ssize_t M, double m, double r,
                        double g, double b, int relu, float *dx, double *s1, double *s2)
    void norm_bwd_row_d(const double *dout, const double *x, Py_ssize_t M, double m, double r,
                        double g, double b, int relu, double *dx, double *s1, double *s2)


cdef void _forward(const floating[:, ::1] x, const double[::1] g, const double[::1] b,
                   double eps, bint relu, floating[:, ::1] out, double[::1] mu,
                   double[::1] inv) noexcept nogil:
    cdef Py_ssize_t P = x.shape[0], M = x.shape[1], p
    for p in prange(P, nogil=True, schedule="static",
                    num_threads=_threads_for(P * M, NORM_MIN_WORK)):
        if floating is float:
            norm_fwd_row_f(&x[p, 0], M, g[p], b[p], eps, relu, &out[p, 0], &mu[p], &inv[p])
        else:
            norm_fwd_row_d(&x[p, 0], M, g[p], b[p], eps, relu, &out[p, 0], &mu[p], &inv[p])


cdef void _backward(const floating[:, ::1] dout, const floating[:, ::1] x,
                    const double[::1] mu, const double[::1] inv, const double[::1] g,
                    const double[::1] b, bint relu, floating[:, ::1] dx, double[::1] s1,
                    double[::1] s2) noexcept nogil:
    cdef Py_ssize_t P = x.shape[0], M = x.shape[1], p
    for p in prange(P, nogil=True, schedule="static",
                    num_threads=_threads_for(P * M, NORM_MIN_WORK)):
        if floating is float:
            norm_bwd_row_f(&dout[p, 0], &x[p, 0], M, mu[p], inv[p], g[p], b[p], relu,
                           &dx[p, 0], &s1[p], &s2[p])
        else:
            norm_bwd_row_d(&dout[p, 0], &x[p, 0], M, mu[p], inv[p], g[p], b[p], relu,
                           &dx[p, 0], &s1[p], &s2[p])


def _rows(a, name):
    a = np.asarray(a)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{name} must be (P, M) rows, got shape {a.shape}")
    return np.ascontiguousarray(a)


def _vec(v, p, name):
    v = np.ascontiguousarray(v, dtype=np.float64).reshape(-1)
    if v.shape[0] != p:
        raise ValueError(f"{name} must have one value per row ({p}), got {v.shape[0]}")
    return v


def instance_norm_rows(x, gamma, beta, double eps, bint relu):
    """x: (P, M) float32/float64 rows; gamma, beta: (P,) -> (out, mu, inv_std).

    out (P, M) in the dtype of x; mu, inv_std (P,) float64 (see the module docstring)."""
    x = _rows(x, "x")
    P, M = x.shape
    if M == 0:
        raise ValueError("instance norm needs at least one position per row")
    g, b = _vec(gamma, P, "gamma"), _vec(beta, P, "beta")
    out = np.empty_like(x)
    mu = np.empty(P, dtype=np.float64)
    inv = np.empty(P, dtype=np.float64)
    if x.dtype == np.float32:
        _forward[float](x, g, b, eps, relu, out, mu, inv)
    else:
        _forward[double](x, g, b, eps, relu, out, mu, inv)
    return out, mu, inv


def instance_norm_rows_backward(dout, x, mu, inv_std, gamma, beta, bint relu):
    """-> (dx (P, M) in the dtype of x, s1 = sum d (P,), s2 = sum d xhat (P,))."""
    x = _rows(x, "x")
    P, M = x.shape
    dout = _rows(dout, "dout")
    if dout.shape != x.shape:
        raise ValueError(f"dout {dout.shape} and x {x.shape} differ")
    if dout.dtype != x.dtype:
        dout = dout.astype(x.dtype)
    m, r = _vec(mu, P, "mu"), _vec(inv_std, P, "inv_std")
    g, b = _vec(gamma, P, "gamma"), _vec(beta, P, "beta")
    dx = np.empty_like(x)
    s1 = np.empty(P, dtype=np.float64)
    s2 = np.empty(P, dtype=np.float64)
    if x.dtype == np.float32:
        _backward[float](dout, x, m, r, g, b, relu, dx, s1, s2)
    else:
        _backward[double](dout, x, m, r, g, b, relu, dx, s1, s2)
    return dx, s1, s2
