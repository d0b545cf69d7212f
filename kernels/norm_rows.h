/* Row kernels of minicnn._norm (instance norm + optional ReLU), one (n, c) plane
 * per row of M values.  Written in C so that `#pragma omp simd reduction` lets the
 * compiler vectorize the sums without -ffast-math: partial sums over blocks of
 * 2048 values in the input's precision, block totals accumulated in double.
 * Included by kernels/norm.pyx; the formulas are in its docstring. */
#ifndef MINICNN_NORM_ROWS_H
#define MINICNN_NORM_ROWS_H
#include <math.h>
#include <stddef.h>

#define MINICNN_BLOCK 2048

/* Compiled for AVX-512, AVX2+FMA and baseline x86-64, picked at load time (GCC's
 * function multiversioning): a portable build still runs the wide vectors. */
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && defined(__x86_64__) \
    && defined(__linux__) && defined(__GLIBC__)   /* ifunc dispatch: GCC 11+, glibc */
#define MINICNN_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MINICNN_CLONES
#endif

#define MINICNN_NORM_ROW_FUNCS(T, SUF)                                                   \
MINICNN_CLONES static void norm_fwd_row_##SUF(const T *x, ptrdiff_t M, double g, double b, double eps, \
                               int relu, T *out, double *mu_out, double *inv_out) {     \
    double s = 0.0, sq = 0.0;                                                            \
    T k = x[0];                     /* shift: sums of (x - k) keep their precision */    \
    for (ptrdiff_t j0 = 0; j0 < M; j0 += MINICNN_BLOCK) {                                \
        ptrdiff_t j1 = j0 + MINICNN_BLOCK < M ? j0 + MINICNN_BLOCK : M;                  \
        T bs = 0, bq = 0;                                                                \
        _Pragma("omp simd reduction(+:bs,bq)")                                           \
        for (ptrdiff_t j = j0; j < j1; j++) {                                            \
            T d = x[j] - k;                                                              \
            bs += d;                                                                     \
            bq += d * d;                                                                 \
        }                                                                                \
        s += (double)bs;                                                                 \
        sq += (double)bq;                                                                \
    }                                                                                    \
    double m = s / (double)M, v = sq / (double)M - m * m;                                \
    if (v < 0.0) v = 0.0;                                                                \
    double r = 1.0 / sqrt(v + eps);                                                      \
    m += (double)k;                                                                      \
    *mu_out = m;                                                                         \
    *inv_out = r;                                                                        \
    T gg = (T)(g * r), bb = (T)(b - g * r * m);     /* out = gg x + bb */                 \
    if (relu) {                                                                          \
        _Pragma("omp simd")                                                              \
        for (ptrdiff_t j = 0; j < M; j++) {                                              \
            T o = gg * x[j] + bb;                                                        \
            out[j] = o > (T)0 ? o : (T)0;                                                \
        }                                                                                \
    } else {                                                                             \
        _Pragma("omp simd")                                                              \
        for (ptrdiff_t j = 0; j < M; j++) out[j] = gg * x[j] + bb;                       \
    }                                                                                    \
}                                                                                        \
MINICNN_CLONES static void norm_bwd_row_##SUF(const T *dout, const T *x, ptrdiff_t M, double m,        \
                               double r, double g, double b, int relu, T *dx,            \
                               double *s1_out, double *s2_out) {                         \
    /* ReLU mask: g xhat + b > 0 with xhat = (x - m) r, i.e. gr x + off > 0.  Pass 1    \
       writes the masked dout into dx and sums it; pass 2 overwrites dx. */              \
    double a = 0.0, c = 0.0;                                                             \
    T gr = (T)(g * r), off = (T)(b - g * r * m), mt = (T)m, rt = (T)r;                   \
    for (ptrdiff_t j0 = 0; j0 < M; j0 += MINICNN_BLOCK) {                                \
        ptrdiff_t j1 = j0 + MINICNN_BLOCK < M ? j0 + MINICNN_BLOCK : M;                  \
        T sa = 0, sc = 0;                                                                \
        if (relu) {                                                                      \
            _Pragma("omp simd reduction(+:sa,sc)")                                       \
            for (ptrdiff_t j = j0; j < j1; j++) {                                        \
                T d = dout[j] * (T)(gr * x[j] + off > (T)0);  /* branch-free mask */   \
                dx[j] = d;                                                               \
                sa += d;                                                                 \
                sc += d * ((x[j] - mt) * rt);                                            \
            }                                                                            \
        } else {                                                                         \
            _Pragma("omp simd reduction(+:sa,sc)")                                       \
            for (ptrdiff_t j = j0; j < j1; j++) {                                        \
                T d = dout[j];                                                           \
                dx[j] = d;                                                               \
                sa += d;                                                                 \
                sc += d * ((x[j] - mt) * rt);                                            \
            }                                                                            \
        }                                                                                \
        a += (double)sa;                                                                 \
        c += (double)sc;                                                                 \
    }                                                                                    \
    *s1_out = a;                                                                         \
    *s2_out = c;                                                                         \
    T ka = (T)(g * r), ma = (T)(a / (double)M), mc = (T)(c / (double)M);                 \
    _Pragma("omp simd")                                                                  \
    for (ptrdiff_t j = 0; j < M; j++)                                                    \
        dx[j] = ka * (dx[j] - ma - ((x[j] - mt) * rt) * mc);                             \
}

MINICNN_NORM_ROW_FUNCS(float, f)
MINICNN_NORM_ROW_FUNCS(double, d)

#endif
