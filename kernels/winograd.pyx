# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""Winograd F(m x m, 3x3) tile transforms (m = 2 or 4)  ->  module ``minicnn._winograd``.

A 3x3 stride-1 convolution (Lavin & Gray 2016, "Fast Algorithms for Convolutional
Neural Networks") computes each m x m output tile from an (m+2) x (m+2) input tile d as

    Y = A^T [ (G g G^T) o (B^T d B) ] A          (o: elementwise, per channel pair)

For m = 2:

    B^T = [[1, 0,-1, 0],    G = [[ 1,   0,   0 ],    A^T = [[1, 1, 1, 0],
           [0, 1, 1, 0],         [1/2, 1/2, 1/2],           [0, 1,-1,-1]]
           [0,-1, 1, 0],         [1/2,-1/2, 1/2],
           [0, 1, 0,-1]]         [ 0,   0,   1 ]]

and the 6-point matrices of m = 4 are written out above their code below (all of
them, with G, in ``minicnn._kernels.WINOGRAD_MATRICES``).  The sum over input
channels becomes T = (m+2)^2 GEMMs, M[xi] (F, P) = U[xi] (F, C) @ V[xi] (C, P), with
16 / 36 (m = 2) or 36 / 144 (m = 4) of the direct convolution's multiplications.
This module holds the four data transforms; the GEMMs and the weight transform
(tiny) are NumPy (``minicnn/fast_layers.py``).  Layouts, with P tiles numbered
row-major over "tile rows" r = n * TH + ty (TH = ceil(Ho / m), TW = ceil(Wo / m)),
the tile rows [row0, row1) of one call giving p = (r - row0) * TW + tx:

    winograd_input(x, ph, pw, row0, row1, out, m)    x (N, C, H, W) -> V (T, C, P)
        V[(m+2)a+b, c, p] = (B^T d B)[a, b],  d = the zero-padded input tile of (n, ty, tx)
    winograd_output(M, bias, out, row0, m)           M (T, F, P) -> out (N, F, Ho, Wo)
        out tile = A^T m A + bias (the tile's pixels beyond Ho, Wo are dropped)
    winograd_output_adjoint(dout, row0, row1, out, m)  dout (N, F, Ho, Wo) -> dM (T, F, P)
        dM tile = A dY A^T  (adjoint of the output transform; missing pixels read 0)
    winograd_input_adjoint(dV, dx, ph, pw, row0, m)  dV (T, C, P) -> dx += ...
        dx tile += B dV B^T  (adjoint of the input transform: overlapping tiles add,
        padding is cropped)

The T planes of V, M, dV and dM may be any distance apart (each (K, P) plane
C-contiguous).  Adjoint pairs: input transform / input adjoint (a gather of
overlapping padded tiles and its scatter-add), output transform / output adjoint.
Planes (channels) are split across OpenMP threads, so the scatter-adds never race.
The NumPy twins (same signatures and results to round-off) are ``winograd_*_numpy``
in ``minicnn/_kernels.py``.
"""
import numpy as np
cimport cython
from cython cimport floating
from cython.parallel cimport prange
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy, memset

include "threads.pxi"

cdef Py_ssize_t WINO_MIN_WORK = 200000
_DEFAULT_MIN_WORK = (WINO_MIN_WORK,)


def _set_min_work(name, Py_ssize_t value):
    """Tuning hook: smallest job (in elements) that gets more than one thread."""
    global WINO_MIN_WORK
    if name != "WINO_MIN_WORK":
        raise KeyError(name)
    WINO_MIN_WORK = value


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


# --------------------------------------------------------------------------- F(4x4, 3x3)
# alpha = 6 points (0, +-1, +-2, infinity), Lavin & Gray's matrices:
#   B^T = [[4, 0,-5, 0, 1, 0],       A^T = [[1, 1, 1, 1, 1, 0],
#          [0,-4,-4, 1, 1, 0],              [0, 1,-1, 2,-2, 0],
#          [0, 4,-4,-1, 1, 0],              [0, 1, 1, 4, 4, 0],
#          [0,-2,-1, 2, 1, 0],              [0, 1,-1, 8,-8, 1]]
#          [0, 2,-1,-2, 1, 0],
#          [0, 4, 0,-5, 0, 1]]
# Each 2-D transform is a 1-D one down the columns, then along the rows
# (the 1-D transforms: kernels/winograd_rows.h).
cdef extern from "winograd_rows.h" nogil:
    void bt6_f(const float* i, Py_ssize_t ti, Py_ssize_t si, float* o, Py_ssize_t to,
               Py_ssize_t so, Py_ssize_t n)
    void bt6_d(const double* i, Py_ssize_t ti, Py_ssize_t si, double* o, Py_ssize_t to,
               Py_ssize_t so, Py_ssize_t n)
    void b6_f(const float* i, Py_ssize_t ti, Py_ssize_t si, float* o, Py_ssize_t to,
              Py_ssize_t so, Py_ssize_t n)
    void b6_d(const double* i, Py_ssize_t ti, Py_ssize_t si, double* o, Py_ssize_t to,
              Py_ssize_t so, Py_ssize_t n)
    void at6_f(const float* i, Py_ssize_t ti, Py_ssize_t si, float* o, Py_ssize_t to,
               Py_ssize_t so, Py_ssize_t n)
    void at6_d(const double* i, Py_ssize_t ti, Py_ssize_t si, double* o, Py_ssize_t to,
               Py_ssize_t so, Py_ssize_t n)
    void a6_f(const float* i, Py_ssize_t ti, Py_ssize_t si, float* o, Py_ssize_t to,
              Py_ssize_t so, Py_ssize_t n)
    void a6_d(const double* i, Py_ssize_t ti, Py_ssize_t si, double* o, Py_ssize_t to,
              Py_ssize_t so, Py_ssize_t n)


# n vectors: vector t's element k at i[t*ti + k*si], its result's element k to o[t*to + k*so]
cdef inline void _bt6v(const floating* i, Py_ssize_t ti, Py_ssize_t si, floating* o,
                       Py_ssize_t to, Py_ssize_t so, Py_ssize_t n) noexcept nogil:
    if floating is float:
        bt6_f(i, ti, si, o, to, so, n)
    else:
        bt6_d(i, ti, si, o, to, so, n)


cdef inline void _b6v(const floating* i, Py_ssize_t ti, Py_ssize_t si, floating* o,
                      Py_ssize_t to, Py_ssize_t so, Py_ssize_t n) noexcept nogil:
    if floating is float:
        b6_f(i, ti, si, o, to, so, n)
    else:
        b6_d(i, ti, si, o, to, so, n)


cdef inline void _at6v(const floating* i, Py_ssize_t ti, Py_ssize_t si, floating* o,
                       Py_ssize_t to, Py_ssize_t so, Py_ssize_t n) noexcept nogil:
    if floating is float:
        at6_f(i, ti, si, o, to, so, n)
    else:
        at6_d(i, ti, si, o, to, so, n)


cdef inline void _a6v(const floating* i, Py_ssize_t ti, Py_ssize_t si, floating* o,
                      Py_ssize_t to, Py_ssize_t so, Py_ssize_t n) noexcept nogil:
    if floating is float:
        a6_f(i, ti, si, o, to, so, n)
    else:
        a6_d(i, ti, si, o, to, so, n)


# The m = 4 planes work a tile row at a time, each 1-D transform vectorized across
# the row's TW tiles (kernels/winograd_rows.h): the input rows are first copied into
# a zero-padded buffer (no bounds tests in the arithmetic), output rows are assembled
# in one and copied out.  Intermediate layout: buf[(k * 6 + b) * TW + tx] is element
# k of the 1-D transform along b of tile tx.  Buffers are malloc'ed per plane
# (threads own planes).
cdef void _input_plane4(const floating[:, :, :, ::1] x, floating[:, :, :] V, Py_ssize_t c,
                        Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TH, Py_ssize_t TW,
                        Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t H = x.shape[2], W = x.shape[3], Wp = 4 * TW + 2
    cdef Py_ssize_t sV = V.strides[0] // sizeof(floating)
    cdef Py_ssize_t r, n, ty, y, i, b, lo, hi
    cdef floating* rows = <floating*> malloc(6 * Wp * sizeof(floating))
    cdef floating* t = <floating*> malloc(36 * TW * sizeof(floating))
    cdef floating* row
    cdef floating* vp
    if rows == NULL or t == NULL:
        free(rows)
        free(t)
        return
    lo = min(pw, Wp)                                    # x columns land at [pw, pw + W)
    hi = min(pw + W, Wp)
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        for i in range(6):                              # the 6 zero-padded input rows
            row = rows + i * Wp
            y = 4 * ty - ph + i
            if y < 0 or y >= H or hi <= lo:
                memset(row, 0, Wp * sizeof(floating))
            else:
                memset(row, 0, lo * sizeof(floating))
                memcpy(row + lo, &x[n, c, y, lo - pw], (hi - lo) * sizeof(floating))
                memset(row + hi, 0, (Wp - hi) * sizeof(floating))
        for i in range(6):                              # t[i][b] = (d B)[i, b]
            _bt6v(rows + i * Wp, 4, 1, t + i * 6 * TW, 1, TW, TW)
        vp = &V[0, c, (r - r0) * TW]
        for b in range(6):                              # V[a][b] = (B^T t)[a, b]
            _bt6v(t + b * TW, 1, 6 * TW, vp + b * sV, 1, 6 * sV, TW)
    free(rows)
    free(t)


cdef void _input_adjoint_plane4(const floating[:, :, :] dV, floating[:, :, :, ::1] dx,
                                Py_ssize_t c, Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TH,
                                Py_ssize_t TW, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t H = dx.shape[2], W = dx.shape[3], Wp = 4 * TW + 2
    cdef Py_ssize_t sV = dV.strides[0] // sizeof(floating)
    cdef Py_ssize_t r, n, ty, tx, y, i, j, b, lo, hi
    cdef floating* row = <floating*> malloc(Wp * sizeof(floating))
    cdef floating* f = <floating*> malloc(36 * TW * sizeof(floating))
    cdef floating* g = <floating*> malloc(6 * TW * sizeof(floating))
    cdef floating* dst
    cdef const floating* vp
    if row == NULL or f == NULL or g == NULL:
        free(row)
        free(f)
        free(g)
        return
    lo = min(pw, Wp)
    hi = min(pw + W, Wp)
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        vp = &dV[0, c, (r - r0) * TW]
        for b in range(6):                              # f[i][b] = (B dV)[i, b]
            _b6v(vp + b * sV, 1, 6 * sV, f + b * TW, 1, 6 * TW, TW)
        for i in range(6):
            y = 4 * ty - ph + i
            if y < 0 or y >= H or hi <= lo:             # a padding row: cropped
                continue
            _b6v(f + i * 6 * TW, 1, TW, g, 1, TW, TW)   # g[j] = (f B^T)[i, j] per tile
            for tx in range(TW):                        # tile tx covers 4 tx .. 4 tx + 5:
                for j in range(4):                      # its first 4 columns are its own,
                    row[4 * tx + j] = g[j * TW + tx]
            row[4 * TW] = 0
            row[4 * TW + 1] = 0
            for tx in range(TW):                        # its last 2 the next tile's first
                row[4 * tx + 4] += g[4 * TW + tx]
                row[4 * tx + 5] += g[5 * TW + tx]
            dst = &dx[n, c, y, lo - pw]
            for j in range(hi - lo):
                dst[j] += row[lo + j]
    free(row)
    free(f)
    free(g)


cdef void _output_plane4(const floating[:, :, :] M, const floating[::1] bias,
                         floating[:, :, :, ::1] out, Py_ssize_t k, Py_ssize_t TH,
                         Py_ssize_t TW, Py_ssize_t r0, Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t Ho = out.shape[2], Wo = out.shape[3], Wq = 4 * TW
    cdef Py_ssize_t sM = M.strides[0] // sizeof(floating)
    cdef Py_ssize_t r, n, ty, y, i, j, b
    cdef floating bk = bias[k]
    cdef floating* s = <floating*> malloc(24 * TW * sizeof(floating))
    cdef floating* row = <floating*> malloc(Wq * sizeof(floating))
    cdef floating* dst
    cdef const floating* mp
    if s == NULL or row == NULL:
        free(s)
        free(row)
        return
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        mp = &M[0, k, (r - r0) * TW]
        for b in range(6):                              # s[i][b] = (A^T m)[i, b]
            _at6v(mp + b * sM, 1, 6 * sM, s + b * TW, 1, 6 * TW, TW)
        for i in range(4):
            y = 4 * ty + i
            if y >= Ho:
                break
            _at6v(s + i * 6 * TW, 1, TW, row, 4, 1, TW)  # row = (s A)[i, :] per tile
            dst = &out[n, k, y, 0]
            for j in range(Wo):
                dst[j] = row[j] + bk
    free(s)
    free(row)


cdef void _output_adjoint_plane4(const floating[:, :, :, ::1] dout, floating[:, :, :] dM,
                                 Py_ssize_t k, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                                 Py_ssize_t r1) noexcept nogil:
    cdef Py_ssize_t Ho = dout.shape[2], Wo = dout.shape[3], Wq = 4 * TW
    cdef Py_ssize_t sM = dM.strides[0] // sizeof(floating)
    cdef Py_ssize_t r, n, ty, y, i, b
    cdef floating* rows = <floating*> malloc(4 * Wq * sizeof(floating))
    cdef floating* e = <floating*> malloc(24 * TW * sizeof(floating))
    cdef floating* row
    cdef floating* mp
    if rows == NULL or e == NULL:
        free(rows)
        free(e)
        return
    for r in range(r0, r1):
        n = r // TH
        ty = r - n * TH
        for i in range(4):                              # dY rows, 0 beyond the edges
            row = rows + i * Wq
            y = 4 * ty + i
            if y < Ho:
                memcpy(row, &dout[n, k, y, 0], Wo * sizeof(floating))
                memset(row + Wo, 0, (Wq - Wo) * sizeof(floating))
            else:
                memset(row, 0, Wq * sizeof(floating))
        for i in range(4):                              # e[i][b] = (dY A^T)[i, b]
            _a6v(rows + i * Wq, 4, 1, e + i * 6 * TW, 1, TW, TW)
        mp = &dM[0, k, (r - r0) * TW]
        for b in range(6):                              # dM[a][b] = (A e)[a, b]
            _a6v(e + b * TW, 1, 6 * TW, mp + b * sM, 1, 6 * sM, TW)
    free(rows)
    free(e)


# --------------------------------------------------------------------------- parallel loops
cdef void _input(const floating[:, :, :, ::1] x, floating[:, :, :] V, Py_ssize_t ph,
                 Py_ssize_t pw, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                 Py_ssize_t r1, int m) noexcept nogil:
    cdef Py_ssize_t c, C = x.shape[1]
    for c in prange(C, nogil=True, schedule="static",
                    num_threads=_threads_for(V.shape[0] * V.shape[1] * V.shape[2],
                                             WINO_MIN_WORK)):
        if m == 4:
            _input_plane4(x, V, c, ph, pw, TH, TW, r0, r1)
        else:
            _input_plane(x, V, c, ph, pw, TH, TW, r0, r1)


cdef void _input_adjoint(const floating[:, :, :] dV, floating[:, :, :, ::1] dx,
                         Py_ssize_t ph, Py_ssize_t pw, Py_ssize_t TH, Py_ssize_t TW,
                         Py_ssize_t r0, Py_ssize_t r1, int m) noexcept nogil:
    cdef Py_ssize_t c, C = dx.shape[1]
    for c in prange(C, nogil=True, schedule="static",
                    num_threads=_threads_for(dV.shape[0] * dV.shape[1] * dV.shape[2],
                                             WINO_MIN_WORK)):
        if m == 4:
            _input_adjoint_plane4(dV, dx, c, ph, pw, TH, TW, r0, r1)
        else:
            _input_adjoint_plane(dV, dx, c, ph, pw, TH, TW, r0, r1)


cdef void _output(const floating[:, :, :] M, const floating[::1] bias,
                  floating[:, :, :, ::1] out, Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                  Py_ssize_t r1, int m) noexcept nogil:
    cdef Py_ssize_t k, F = out.shape[1]
    for k in prange(F, nogil=True, schedule="static",
                    num_threads=_threads_for(M.shape[0] * M.shape[1] * M.shape[2],
                                             WINO_MIN_WORK)):
        if m == 4:
            _output_plane4(M, bias, out, k, TH, TW, r0, r1)
        else:
            _output_plane(M, bias, out, k, TH, TW, r0, r1)


cdef void _output_adjoint(const floating[:, :, :, ::1] dout, floating[:, :, :] dM,
                          Py_ssize_t TH, Py_ssize_t TW, Py_ssize_t r0,
                          Py_ssize_t r1, int m) noexcept nogil:
    cdef Py_ssize_t k, F = dout.shape[1]
    for k in prange(F, nogil=True, schedule="static",
                    num_threads=_threads_for(dM.shape[0] * dM.shape[1] * dM.shape[2],
                                             WINO_MIN_WORK)):
        if m == 4:
            _output_adjoint_plane4(dout, dM, k, TH, TW, r0, r1)
        else:
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


def _tile_grid(Py_ssize_t ho, Py_ssize_t wo, Py_ssize_t n, int m):
    if m != 2 and m != 4:
        raise ValueError(f"output tile size m must be 2 or 4, got {m}")
    if ho < 1 or wo < 1:
        raise ValueError(f"a 3x3 convolution needs an output of at least 1x1, got {ho}x{wo}")
    return (ho + m - 1) // m, (wo + m - 1) // m, n * ((ho + m - 1) // m), (m + 2) ** 2


def _rows(row0, row1, total):
    row1 = total if row1 is None else int(row1)
    row0 = int(row0)
    if not 0 <= row0 <= row1 <= total:
        raise ValueError(f"bad tile rows [{row0}, {row1}) of {total}")
    return row0, row1


def winograd_input(x, Py_ssize_t ph, Py_ssize_t pw, row0=0, row1=None, out=None, int m=2):
    """x (N, C, H, W) -> V (T, C, (row1 - row0) * TW): the input tiles B^T d B
    (F(m x m, 3x3), T = (m + 2)^2 = 16 or 36)."""
    x = _float4(x, "x")
    if ph < 0 or pw < 0:
        raise ValueError("padding must be non-negative")
    N, C, H, W = x.shape
    TH, TW, R, T = _tile_grid(H + 2 * ph - 2, W + 2 * pw - 2, N, m)
    r0, r1 = _rows(row0, row1, R)
    V = _out(out, (T, C, (r1 - r0) * TW), x.dtype)
    if V.size:
        if x.dtype == np.float32:
            _input[float](x, V, ph, pw, TH, TW, r0, r1, m)
        else:
            _input[double](x, V, ph, pw, TH, TW, r0, r1, m)
    return V


def winograd_input_adjoint(dV, dx, Py_ssize_t ph, Py_ssize_t pw, row0=0, int m=2):
    """dx (N, C, H, W) += the adjoint of :func:`winograd_input` applied to dV
    (T, C, P), P a whole number of tile rows starting at ``row0``.  Returns dx."""
    dV = np.asarray(dV)
    if dx.dtype != dV.dtype or dx.ndim != 4 or not dx.flags.c_contiguous \
            or not dx.flags.writeable:
        raise ValueError(f"dx must be a writeable C-contiguous (N, C, H, W) {dV.dtype} array")
    if dV.ndim != 3 or dV.strides[2] != dV.itemsize or dV.strides[1] != dV.shape[2] * dV.itemsize:
        dV = np.ascontiguousarray(dV)
    N, C, H, W = dx.shape
    TH, TW, R, T = _tile_grid(H + 2 * ph - 2, W + 2 * pw - 2, N, m)
    if dV.ndim != 3 or dV.shape[:2] != (T, C) or dV.shape[2] % TW:
        raise ValueError(f"dV of shape {dV.shape} does not match dx {dx.shape}")
    r0, r1 = _rows(row0, int(row0) + dV.shape[2] // TW, R)
    if dV.size:
        if dV.dtype == np.float32:
            _input_adjoint[float](dV, dx, ph, pw, TH, TW, r0, r1, m)
        else:
            _input_adjoint[double](dV, dx, ph, pw, TH, TW, r0, r1, m)
    return dx


def winograd_output(M, bias, out, row0=0, int m=2):
    """Write A^T m A + bias for the tiles of M (T, F, P) into out (N, F, Ho, Wo),
    from tile row ``row0``.  Returns out."""
    M = np.asarray(M)
    if out.dtype != M.dtype or out.ndim != 4 or not out.flags.c_contiguous \
            or not out.flags.writeable:
        raise ValueError(f"out must be a writeable C-contiguous (N, F, Ho, Wo) {M.dtype} array")
    if M.ndim != 3 or M.strides[2] != M.itemsize or M.strides[1] != M.shape[2] * M.itemsize:
        M = np.ascontiguousarray(M)
    N, F, Ho, Wo = out.shape
    TH, TW, R, T = _tile_grid(Ho, Wo, N, m)
    if M.ndim != 3 or M.shape[:2] != (T, F) or M.shape[2] % TW:
        raise ValueError(f"M of shape {M.shape} does not match out {out.shape}")
    r0, r1 = _rows(row0, int(row0) + M.shape[2] // TW, R)
    b = np.ascontiguousarray(np.broadcast_to(np.asarray(bias, dtype=M.dtype).reshape(-1), (F,)))
    if M.size:
        if M.dtype == np.float32:
            _output[float](M, b, out, TH, TW, r0, r1, m)
        else:
            _output[double](M, b, out, TH, TW, r0, r1, m)
    return out


def winograd_output_adjoint(dout, row0=0, row1=None, out=None, int m=2):
    """dout (N, F, Ho, Wo) -> dM (T, F, (row1 - row0) * TW): A dY A^T per tile."""
    dout = _float4(dout, "dout")
    N, F, Ho, Wo = dout.shape
    TH, TW, R, T = _tile_grid(Ho, Wo, N, m)
    r0, r1 = _rows(row0, row1, R)
    dM = _out(out, (T, F, (r1 - r0) * TW), dout.dtype)
    if dM.size:
        if dout.dtype == np.float32:
            _output_adjoint[float](dout, dM, TH, TW, r0, r1, m)
        else:
            _output_adjoint[double](dout, dM, TH, TW, r0, r1, m)
    return dM
