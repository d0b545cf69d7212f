# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Winograd F(2x2, 3x3) tile transforms  ->  module ``minicnn._winograd``.

A 3x3 stride-1 convolution (Lavin & Gray 2016, "Fast Algorithms for Convolutional
Neural Networks") computes each 2x2 output tile from a 4x4 input tile d as

    Y = A^T [ (G g G^T) o (B^T d B) ] A          (o: elementwise, per channel pair)

    B^T = [[1, 0,-1, 0],    G = [[ 1,   0,   0 ],    A^T = [[1, 1, 1, 0],
           [0, 1, 1, 0],         [1/2, 1/2, 1/2],           [0, 1,-1,-1]]
           [0,-1, 1, 0],         [1/2,-1/2, 1/2],
           [0, 1, 0,-1]]         [ 0,   0,   1 ]]

so the sum over input channels becomes 16 GEMMs, M[xi] (F, P) = U[xi] (F, C) @
V[xi] (C, P), with 16 / 36 of the direct convolution's multiplications.  This module
holds the four data transforms; the GEMMs and the weight transform (tiny) are NumPy
(``minicnn/fast_layers.py``).  Layouts, with P tiles numbered row-major over
"tile rows" r = n * TH + ty (TH = ceil(Ho / 2), TW = ceil(Wo / 2)), the tile rows
[row0, row1) of one call giving p = (r - row0) * TW + tx:

    winograd_input(x, ph, pw, row0, row1, out)      x (N, C, H, W) -> V (16, C, P)
        V[4a+b, c, p] = (B^T d B)[a, b],  d = the zero-padded 4x4 input tile of (n, ty, tx)
    winograd_output(M, bias, out, row0)             M (16, F, P) -> out (N, F, Ho, Wo)
        out tile = A^T m A + bias (the tile's pixels beyond Ho, Wo are dropped)
    winograd_output_adjoint(dout, row0, row1, out)  dout (N, F, Ho, Wo) -> dM (16, F, P)
        dM tile = A dY A^T  (adjoint of the output transform; missing pixels read 0)
    winograd_input_adjoint(dV, dx, ph, pw, row0)    dV (16, C, P) -> dx += ...
        dx tile += B dV B^T  (adjoint of the input transform: overlapping tiles add,
        padding is cropped)

Adjoint pairs: input transform / input adjoint (a gather of overlapping padded tiles
and its scatter-add), output transform / output adjoint.  Planes (channels) are
split across OpenMP threads, so the scatter-adds never race.  The NumPy twins (same
signatures and results to round-off) are ``winograd_*_numpy`` in
``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange

cdef extern from "omp.h" nogil:
    int omp_get_max_threads()

cdef Py_ssize_t WINO_MIN_WORK = 200000
cdef int _num_threads = 0
_DEFAULT_MIN_WORK = (WINO_MIN_WORK,)


def set_num_threads(int n):
    """Threads for this module's kernels (n >= 1), or 0 for the OpenMP default."""
    global _num_threads
    if n < 0:
        raise ValueError("n must be >= 0")
    _num_threads = n


def get_num_threads():
    return _num_threads if _num_threads > 0 else omp_get_max_threads()


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in elements) that gets more than one thread."""
    global WINO_MIN_WORK
    if name != "WINO_MIN_WORK":
        raise KeyError(name)
    WINO_MIN_WORK = value


cdef inline int _threads(Py_ssize_t work) noexcept nogil:
    if work < WINO_MIN_WORK:
        return 1
    return _num_threads if _num_threads > 0 else omp_get_max_threads()


# --------------------------------------------------------------------------- one plane each
cdef void _input_plane(const floating[:, :, :, ::1] x, floating[:, :, :] V, Py_ssize_t c,
                       Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TH, Py_ssize_t TW,
                       Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3]
    cdef Py_ssize_t r, n, ty, tx, y0, x0, i, j, p, yy, xx
    cdef floating d[16]
    cdef floating t[16]
    cdef const floating* row
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        y0 = 2 * ty - ph
        for tx in range(TW):
            x0 = 2 * tx - pw
            p = (r - r0) * TW + tx
            if y0 >= 0 and y0 + 4 <= H and x0 >= 0 and x0 + 4 <= W:
                for i in range(4):
                    row = &x[n, c, y0 + i, x0]
                    d[4 * i] = row[0]
                    d[4 * i + 1] = row[1]
                    d[4 * i + 2] = row[2]
                    d[4 * i + 3] = row[3]
            else:                                       # the tile overlaps the padding
                for i in range(4):
                    yy = y0 + i
                    for j in range(4):
                        xx = x0 + j
                        if yy >= 0 and yy < H and xx >= 0 and xx < W:
                            d[4 * i + j] = x[n, c, yy, xx]
                        else:
                            d[4 * i + j] = 0
            for j in range(4):                          # t = B^T d  (down each column)
                t[j] = d[j] - d[8 + j]
                t[4 + j] = d[4 + j] + d[8 + j]
                t[8 + j] = d[8 + j] - d[4 + j]
                t[12 + j] = d[4 + j] - d[12 + j]
            for i in range(4):                          # V = t B  (along each row)
                V[4 * i, c, p] = t[4 * i] - t[4 * i + 2]
                V[4 * i + 1, c, p] = t[4 * i + 1] + t[4 * i + 2]
                V[4 * i + 2, c, p] = t[4 * i + 2] - t[4 * i + 1]
                V[4 * i + 3, c, p] = t[4 * i + 1] - t[4 * i + 3]


cdef void _input_adjoint_plane(const floating[:, :, :] dV, floating[:, :, :, ::1] dx,
                               Py_ssize_t c, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TH,
                               Py_ssize_t TW, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t H = dx.shape[2], W = dx.shape[3]
    cdef Py_ssize_t r, n, ty, tx, y0, x0, i, j, p, yy, xx
    cdef floating v0, v1, v2, v3
    cdef floating f[16]
    cdef floating dd[16]
    cdef floating* row
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        y0 = 2 * ty - ph
        for tx in range(TW):
            x0 = 2 * tx - pw
            p = (r - r0) * TW + tx
            for i in range(4):                          # f = dV B^T  (along each row)
                v0 = dV[4 * i, c, p]
                v1 = dV[4 * i + 1, c, p]
                v2 = dV[4 * i + 2, c, p]
                v3 = dV[4 * i + 3, c, p]
                f[4 * i] = v0
                f[4 * i + 1] = v1 - v2 + v3
                f[4 * i + 2] = v1 + v2 - v0
                f[4 * i + 3] = -v3
            for j in range(4):                          # dd = B f  (down each column)
                dd[j] = f[j]
                dd[4 + j] = f[4 + j] - f[8 + j] + f[12 + j]
                dd[8 + j] = f[4 + j] + f[8 + j] - f[j]
                dd[12 + j] = -f[12 + j]
            if y0 >= 0 and y0 + 4 <= H and x0 >= 0 and x0 + 4 <= W:
                for i in range(4):
                    row = &dx[n, c, y0 + i, x0]
                    row[0] += dd[4 * i]
                    row[1] += dd[4 * i + 1]
                    row[2] += dd[4 * i + 2]
                    row[3] += dd[4 * i + 3]
            else:                                       # crop: padding takes nothing back
                for i in range(4):
                    yy = y0 + i
                    for j in range(4):
                        xx = x0 + j
                        if yy >= 0 and yy < H and xx >= 0 and xx < W:
                            dx[n, c, yy, xx] += dd[4 * i + j]


cdef void _output_plane(const floating[:, :, :] M, const floating[::1] bias,
                        floating[:, :, :, ::1] out, Py_ssize_t k, Py_ssize_t TH,
                        Py_ssize_t TW, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3]
    cdef Py_ssize_t r, n, ty, tx, i, p, yy, xx
    cdef floating m0, m1, m2, m3, b = bias[k]
    cdef floating s[8]
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        yy = 2 * ty
        for tx in range(TW):
            p = (r - r0) * TW + tx
            xx = 2 * tx
            for i in range(4):                          # s = m A  (along each row)
                m0 = M[4 * i, k, p]
                m1 = M[4 * i + 1, k, p]
                m2 = M[4 * i + 2, k, p]
                m3 = M[4 * i + 3, k, p]
                s[2 * i] = m0 + m1 + m2
                s[2 * i + 1] = m1 - m2 - m3
            out[n, k, yy, xx] = s[0] + s[2] + s[4] + b  # Y = A^T s
            if xx + 1 < Wo:
                out[n, k, yy, xx + 1] = s[1] + s[3] + s[5] + b
            if yy + 1 < Ho:
                out[n, k, yy + 1, xx] = s[2] - s[4] - s[6] + b
                if xx + 1 < Wo:
                    out[n, k, yy + 1, xx + 1] = s[3] - s[5] - s[7] + b


cdef void _output_adjoint_plane(const floating[:, :, :, ::1] dout, floating[:, :, :] dM,
                                Py_ssize_t k, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                                Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t Ho = dout.shape[2], Wo = dout.shape[3]
    cdef Py_ssize_t r, n, ty, tx, b, p, yy, xx
    cdef floating y00, y01, y10, y11
    cdef floating e[8]
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        yy = 2 * ty
        for tx in range(TW):
            p = (r - r0) * TW + tx
            xx = 2 * tx
            y00 = dout[n, k, yy, xx]
            y01 = dout[n, k, yy, xx + 1] if xx + 1 < Wo else 0
            y10 = dout[n, k, yy + 1, xx] if yy + 1 < Ho else 0
            y11 = dout[n, k, yy + 1, xx + 1] if (yy + 1 < Ho and xx + 1 < Wo) else 0
            # e = A dY  (rows a = 0..3 of a 4x2), then dM = e A^T
            e[0] = y00
            e[1] = y01
            e[2] = y00 + y10
            e[3] = y01 + y11
            e[4] = y00 - y10
            e[5] = y01 - y11
            e[6] = -y10
            e[7] = -y11
            for b in range(4):
                dM[4 * b, k, p] = e[2 * b]
                dM[4 * b + 1, k, p] = e[2 * b] + e[2 * b + 1]
                dM[4 * b + 2, k, p] = e[2 * b] - e[2 * b + 1]
                dM[4 * b + 3, k, p] = -e[2 * b + 1]


# --------------------------------------------------------------------------- parallel loops
cdef void _input(const floating[:, :, :, ::1] x, floating[:, :, :] V, Py_ssize_t ph,
                 Py_ssize_t pw, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                 Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t c, C = x.shape[1]
    for c in prange(C, nogil=True, schedule="static", num_threads=_threads(V.shape[0] * V.shape[1] * V.shape[2])):
        _input_plane(x, V, c, ph, pw, TH, TW, r0, r1)


cdef void _input_adjoint(const floating[:, :, :] dV, floating[:, :, :, ::1] dx,
                         Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TH, Py_ssize_t TW,
                         Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t c, C = dx.shape[1]
    for c in prange(C, nogil=True, schedule="static", num_threads=_threads(dV.shape[0] * dV.shape[1] * dV.shape[2])):
        _input_adjoint_plane(dV, dx, c, ph, pw, TH, TW, r0, r1)


cdef void _output(const floating[:, :, :] M, const floating[::1] bias,
                  floating[:, :, :, ::1] out, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                  Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t k, F = out.shape[1]
    for k in prange(F, nogil=True, schedule="static", num_threads=_threads(M.shape[0] * M.shape[1] * M.shape[2])):
        _output_plane(M, bias, out, k, TH, TW, r0, r1)


cdef void _output_adjoint(const floating[:, :, :, ::1] dout, floating[:, :, :] dM,
                          Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                          Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t k, F = dout.shape[1]
    for k in prange(F, nogil=True, schedule="static", num_threads=_threads(dM.shape[0] * dM.shape[1] * dM.shape[2])):
        _output_adjoint_plane(dout, dM, k, TH, TW, r0, r1)


# --------------------------------------------------------------------------- Python API
def _float4(a, name):
    a = np.asarray(a)
    if a.dtype != np.float32 and a.dtype != np.float64:
        raise TypeError(f"{name} must be float32 or float64, got {a.dtype}")
    if a.ndim != 4:
        raise ValueError(f"{name} must be (N, C, H, W), got shape {a.shape}")
    return np.ascontiguousarray(a)


def _out(out, shape, dtype, name="out"):
    """A new (16, K, P) array, or ``out`` checked: its (K, P) planes C-contiguous
    (the 16 planes may be any stride apart: callers space them so that the 16
    streams a tile writes do not fall into the same cache sets)."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    item = np.dtype(dtype).itemsize
    if (out.shape != shape or out.dtype != dtype or not out.flags.writeable
            or out.strides[1:] != (shape[2] * item, item)):
        raise ValueError(f"{name} must be a writeable {np.dtype(dtype)} array of shape {shape} "
                         f"with C-contiguous planes")
    return out


def _tile_grid(Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t n):
    if ho < 1 or wo < 1:
        raise ValueError(f"a 3x3 convolution needs an output of at least 1x1, got {ho}x{wo}")
    return (ho + 1) // 2, (wo + 1) // 2, n * ((ho + 1) // 2)


def _rows(row0, row1, total):
    row1 = total if row1 is None else int(row1)
    row0 = int(row0)
    if not 0 <= row0 <= row1 <= total:
        raise ValueError(f"bad tile rows [{row0}, {row1}) of {total}")
    return row0, row1


def winograd_input(x, Py_ssize_t ph, Py_ssize_t pw, row0=0, row1=None, out=None):
    """x (N, C, H, W) -> V (16, C, (row1 - row0) * TW): the input tiles B^T d B."""
    x = _float4(x, "x")
    if ph < 0 or pw < 0:
        raise ValueError("padding must be non-negative")
    N, C, H, W = x.shape
    TH, TW, R = _tile_grid(H + 2 * ph - 2, W + 2 * pw - 2, N)
    r0, r1 = _rows(row0, row1, R)
    V = _out(out, (16, C, (r1 - r0) * TW), x.dtype)
    if V.size:
        if x.dtype == np.float32:
            _input[float](x, V, ph, pw, TH, TW, r0, r1)
        else:
            _input[double](x, V, ph, pw, TH, TW, r0, r1)
    return V


def winograd_input_adjoint(dV, dx, Py_ssize_t ph, Py_ssize_t pw, row0=0):
    """dx (N, C, H, W) += the adjoint of :func:`winograd_input` applied to dV
    (16, C, P), P a whole number of tile rows starting at ``row0``.  Returns dx."""
    dV = np.asarray(dV)
    if dx.dtype != dV.dtype or dx.ndim != 4 or not dx.flags.c_contiguous \
            or not dx.flags.writeable:
        raise ValueError(f"dx must be a writeable C-contiguous (N, C, H, W) {dV.dtype} array")
    if dV.ndim != 3 or dV.strides[2] != dV.itemsize or dV.strides[1] != dV.shape[2] * dV.itemsize:
        dV = np.ascontiguousarray(dV)
    N, C, H, W = dx.shape
    TH, TW, R = _tile_grid(H + 2 * ph - 2, W + 2 * pw - 2, N)
    if dV.ndim != 3 or dV.shape[:2] != (16, C) or dV.shape[2] % TW:
        raise ValueError(f"dV of shape {dV.shape} does not match dx {dx.shape}")
    r0, r1 = _rows(row0, int(row0) + dV.shape[2] // TW, R)
    if dV.size:
        if dV.dtype == np.float32:
            _input_adjoint[float](dV, dx, ph, pw, TH, TW, r0, r1)
        else:
            _input_adjoint[double](dV, dx, ph, pw, TH, TW, r0, r1)
    return dx


def winograd_output(M, bias, out, row0=0):
    """Write A^T m A + bias for the tiles of M (16, F, P) into out (N, F, Ho, Wo),
    from tile row ``row0``.  Returns out."""
    M = np.asarray(M)
    if out.dtype != M.dtype or out.ndim != 4 or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous (N, F, Ho, Wo) {M.dtype} array")
    if M.ndim != 3 or M.strides[2] != M.itemsize or M.strides[1] != M.shape[2] * M.itemsize:
        M = np.ascontiguousarray(M)
    N, F, Ho, Wo = out.shape
    TH, TW, R = _tile_grid(Ho, Wo, N)
    if M.ndim != 3 or M.shape[:2] != (16, F) or M.shape[2] % TW:
        raise ValueError(f"M of shape {M.shape} does not match out {out.shape}")
    r0, r1 = _rows(row0, int(row0) + M.shape[2] // TW, R)
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(bias, dtype=M.dtype).reshape(-1), (F,)))
    if M.size:
        if M.dtype == np.float32:
            _output[float](M, b, out, TH, TW, r0, r1)
        else:
            _output[double](M, b, out, TH, TW, r0, r1)
    return out


def winograd_output_adjoint(dout, row0=0, row1=None, out=None):
    """dout (N, F, Ho, Wo) -> dM (16, F, (row1 - row0) * TW): A dY A^T per tile."""
    dout = _float4(dout, "dout")
    N, F, Ho, Wo = dout.shape
    TH, TW, R = _tile_grid(Ho, Wo, N)
    r0, r1 = _rows(row0, row1, R)
    dM = _out(out, (16, F, (r1 - r0) * TW), dout.dtype)
    if dM.size:
        if dout.dtype == np.float32:
            _output_adjoint[float](dout, dM, TH, TW, r0, r1)
        else:
            _output_adjoint[double](dout, dM, TH, TW, r0, r1)
    return dM
