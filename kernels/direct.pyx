# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Direct stride-1 convolution  ->  module ``minicnn._direct``.

``conv_direct(x, w, b, out=None)``: x (N, C, Hp, Wp) already padded, w (F, C, KH, KW),
b (F,) -> out (N, F, Ho, Wo), Ho = Hp - KH + 1, Wo = Wp - KW + 1,

    out[n, f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * x[n, c, i + u, j + v]

computed without columns: for blocks of 4 output channels and runs of 64 bytes of an
output row, the accumulators stay in vector registers over the whole (c, u, v) sum
(``kernels/direct_rows.h``, written for AVX-512, AVX2 and baseline vectors, the widest
the CPU has picked at import: ``ISA``).  It pays where im2col does not: few channels and a large kernel (a
9x9 conv from 3 channels builds 243 column rows per output pixel and then a GEMM with
only 16 outputs; into 3 channels, a GEMM with 3 outputs).  Output rows (n, i) are
spread over OpenMP threads.  The NumPy twin (same signature, same result to
round-off) is ``conv_direct_numpy`` in ``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange

include "threads.pxi"

cdef extern from "direct_rows.h" nogil:
    int MINICNN_DIRECT_FB
    int direct_isa()
    void direct_row_f32(const float *x, Py_ssize_t C, Py_ssize_t Hp, Py_ssize_t Wp,
                        const float *wb, const float *bias, Py_ssize_t F, Py_ssize_t KH,
                        Py_ssize_t KW, float *out, Py_ssize_t Ho, Py_ssize_t Wo,
                        Py_ssize_t i, int isa)
    void direct_row_f64(const double *x, Py_ssize_t C, Py_ssize_t Hp, Py_ssize_t Wp,
                        const double *wb, const double *bias, Py_ssize_t F, Py_ssize_t KH,
                        Py_ssize_t KW, double *out, Py_ssize_t Ho, Py_ssize_t Wo,
                        Py_ssize_t i, int isa)

cdef int _isa = direct_isa()
#: the instruction set the row kernel runs with: "avx512", "avx2" or "baseline" (vectors
#: of 64, 32 or 16 bytes); ``_set_isa`` overrides it for tests (never above the CPU's)
ISA = {4: "avx512", 3: "avx2", 0: "baseline"}[_isa]
_CPU_ISA = _isa


def _set_isa(name):
    """Test hook: run the row kernel with a narrower instruction set ("avx512", "avx2",
    "baseline"); one the CPU lacks raises ValueError."""
    global _isa, ISA
    levels = {"avx512": 4, "avx2": 3, "baseline": 0}
    if name not in levels:
        raise ValueError(f"isa must be one of {', '.join(levels)}, got {name!r}")
    if levels[name] > _CPU_ISA:
        raise ValueError(f"this CPU cannot run {name}")
    _isa, ISA = levels[name], name


cdef Py_ssize_t DIRECT_MIN_WORK = 200000
_DEFAULT_MIN_WORK = (DIRECT_MIN_WORK,)


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in multiply-adds) that gets more than one thread."""
    global DIRECT_MIN_WORK
    if name != "DIRECT_MIN_WORK":
        raise KeyError(name)
    DIRECT_MIN_WORK = value


cdef void _run(const floating[:, :, :, ::1] x, const floating[::1] wb,
               const floating[::1] bias, floating[:, :, :, ::1] out,
               Py_ssize_t KH, Py_ssize_t KW) noexcept nogil:
    cdef Py_ssize_t N = x.shape[0], C = x.shape[1], Hp = x.shape[2], Wp = x.shape[3]
    cdef Py_ssize_t F = out.shape[1], Ho = out.shape[2], Wo = out.shape[3]
    cdef Py_ssize_t r, n, i
    cdef int isa = _isa
    cdef int nthreads = _threads_for(N * F * Ho * Wo * C * KH * KW, DIRECT_MIN_WORK)
    for r in prange(N * Ho, nogil=True, schedule="static", num_threads=nthreads):
        n = r // Ho
        i = r - n * Ho
        if floating is float:
            direct_row_f32(&x[n, 0, 0, 0], C, Hp, Wp, &wb[0], &bias[0], F, KH, KW,
                           &out[n, 0, 0, 0], Ho, Wo, i, isa)
        else:
            direct_row_f64(&x[n, 0, 0, 0], C, Hp, Wp, &wb[0], &bias[0], F, KH, KW,
                           &out[n, 0, 0, 0], Ho, Wo, i, isa)


def conv_direct(x, w, b, out=None):
    """(N, C, Hp, Wp), (F, C, KH, KW), (F,) -> (N, F, Hp-KH+1, Wp-KW+1): stride-1
    unpadded convolution plus bias, in the dtype of x (float32 or float64; w and b are
    cast to it).  ``out``, if given, must be a C-contiguous array of that shape and
    dtype and is overwritten."""
    x = np.asarray(x)
    if x.dtype != np.float32 and x.dtype != np.float64:
        raise TypeError(f"x must be float32 or float64, got {x.dtype}")
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
    dt = x.dtype
    x = np.ascontiguousarray(x)
    fb = MINICNN_DIRECT_FB
    G = -(-F // fb)
    wpad = np.zeros((G * fb, C, KH, KW), dtype=dt)
    wpad[:F] = w
    # wb[g, c, u, v, k] = w[g fb + k, c, u, v]: the block's weights of one tap adjacent
    wb = np.ascontiguousarray(wpad.reshape(G, fb, C, KH, KW).transpose(0, 2, 3, 4, 1)).ravel()
    bpad = np.zeros(G * fb, dtype=dt)
    bpad[:F] = b
    if out is None:
        out = np.empty((N, F, Ho, Wo), dtype=dt)
    elif (out.shape != (N, F, Ho, Wo) or out.dtype != dt
          or not out.flags["C_CONTIGUOUS"]):
        raise ValueError(f"out must be a C-contiguous {dt} array of shape "
                         f"{(N, F, Ho, Wo)}, got {out.dtype} {out.shape}")
    if out.size and C == 0:
        out[...] = bpad[:F].reshape(1, F, 1, 1)                 # an empty sum: the bias
    elif out.size:
        if dt == np.float32:
            _run[float](x, wb, bpad, out, KH, KW)
        else:
            _run[double](x, wb, bpad, out, KH, KW)
    return out
