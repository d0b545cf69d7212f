/* The 1-D transforms of Winograd F(4x4, 3x3), vectorized across a row of n tiles.
 *
 * Each function applies one 6-point (or 4-point) transform to n independent
 * vectors: vector t has element k at  in[t * ti + k * si]  and its result element k
 * goes to  out[t * to + k * so].  The loops over t carry `omp simd` (inputs and
 * outputs never overlap), so with unit tile strides they compile to vector code.
 *
 *   bt6: o = B^T i   (input transform)         b6: o = B v   (its adjoint)
 *   at6: o = A^T m   (output transform, 6->4)  a6: o = A y   (its adjoint, 4->6)
 *
 * with Lavin & Gray's matrices (points 0, +-1, +-2, infinity), written out in
 * kernels/winograd.pyx.
 */
#ifndef MINICNN_WINOGRAD_ROWS_H
#define MINICNN_WINOGRAD_ROWS_H

#include <stddef.h>

#define MINICNN_WINO_ROWS(T, SUFFIX)                                                     \
static inline void bt6_##SUFFIX(const T *restrict in, ptrdiff_t ti, ptrdiff_t si,        \
                                T *restrict out, ptrdiff_t to, ptrdiff_t so, ptrdiff_t n) \
{                                                                                        \
    _Pragma("omp simd")                                                                  \
    for (ptrdiff_t t = 0; t < n; t++) {                                                  \
        const T *p = in + t * ti;                                                        \
        T i0 = p[0], i1 = p[si], i2 = p[2 * si], i3 = p[3 * si], i4 = p[4 * si];         \
        T i5 = p[5 * si];                                                                \
        T *q = out + t * to;                                                             \
        q[0] = 4 * i0 - 5 * i2 + i4;                                                     \
        q[so] = i3 + i4 - 4 * (i1 + i2);                                                 \
        q[2 * so] = 4 * (i1 - i2) + i4 - i3;                                             \
        q[3 * so] = 2 * (i3 - i1) + i4 - i2;                                             \
        q[4 * so] = 2 * (i1 - i3) + i4 - i2;                                             \
        q[5 * so] = 4 * i1 - 5 * i3 + i5;                                                \
    }                                                                                    \
}                                                                                        \
static inline void b6_##SUFFIX(const T *restrict in, ptrdiff_t ti, ptrdiff_t si,         \
                               T *restrict out, ptrdiff_t to, ptrdiff_t so, ptrdiff_t n)  \
{                                                                                        \
    _Pragma("omp simd")                                                                  \
    for (ptrdiff_t t = 0; t < n; t++) {                                                  \
        const T *p = in + t * ti;                                                        \
        T v0 = p[0], v1 = p[si], v2 = p[2 * si], v3 = p[3 * si], v4 = p[4 * si];         \
        T v5 = p[5 * si];                                                                \
        T *q = out + t * to;                                                             \
        q[0] = 4 * v0;                                                                   \
        q[so] = 4 * (v2 + v5 - v1) + 2 * (v4 - v3);                                      \
        q[2 * so] = -5 * v0 - 4 * (v1 + v2) - v3 - v4;                                   \
        q[3 * so] = v1 - v2 + 2 * (v3 - v4) - 5 * v5;                                    \
        q[4 * so] = v0 + v1 + v2 + v3 + v4;                                              \
        q[5 * so] = v5;                                                                  \
    }                                                                                    \
}                                                                                        \
static inline void at6_##SUFFIX(const T *restrict in, ptrdiff_t ti, ptrdiff_t si,        \
                                T *restrict out, ptrdiff_t to, ptrdiff_t so, ptrdiff_t n) \
{                                                                                        \
    _Pragma("omp simd")                                                                  \
    for (ptrdiff_t t = 0; t < n; t++) {                                                  \
        const T *p = in + t * ti;                                                        \
        T m0 = p[0], m1 = p[si], m2 = p[2 * si], m3 = p[3 * si], m4 = p[4 * si];         \
        T m5 = p[5 * si];                                                                \
        T ap = m1 + m2, am = m1 - m2, bp = m3 + m4, bm = m3 - m4;                        \
        T *q = out + t * to;                                                             \
        q[0] = m0 + ap + bp;                                                             \
        q[so] = am + 2 * bm;                                                             \
        q[2 * so] = ap + 4 * bp;                                                         \
        q[3 * so] = am + 8 * bm + m5;                                                    \
    }                                                                                    \
}                                                                                        \
static inline void a6_##SUFFIX(const T *restrict in, ptrdiff_t ti, ptrdiff_t si,         \
                               T *restrict out, ptrdiff_t to, ptrdiff_t so, ptrdiff_t n)  \
{                                                                                        \
    _Pragma("omp simd")                                                                  \
    for (ptrdiff_t t = 0; t < n; t++) {                                                  \
        const T *p = in + t * ti;                                                        \
        T y0 = p[0], y1 = p[si], y2 = p[2 * si], y3 = p[3 * si];                         \
        T ev = y0 + y2, od = y1 + y3, ev4 = y0 + 4 * y2, od4 = 2 * y1 + 8 * y3;          \
        T *q = out + t * to;                                                             \
        q[0] = y0;                                                                       \
        q[so] = ev + od;                                                                 \
        q[2 * so] = ev - od;                                                             \
        q[3 * so] = ev4 + od4;                                                           \
        q[4 * so] = ev4 - od4;                                                           \
        q[5 * so] = y3;                                                                  \
    }                                                                                    \
}

MINICNN_WINO_ROWS(float, f)
MINICNN_WINO_ROWS(double, d)

#endif
