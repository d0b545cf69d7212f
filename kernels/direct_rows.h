/* Row kernel of minicnn._direct: a stride-1, unpadded convolution computed directly
 * (no columns), for layers with few input or few output channels and large kernels
 * (the 9x9 3 -> 16 and 16 -> 3 convolutions of the style transformer).
 *
 * One call computes output row i of every output plane of one image:
 *
 *     out[f, i, j] = b[f] + sum_{c, u, v} w[f, c, u, v] * x[c, i + u, j + v]
 *
 * Weights come reordered in blocks of FB output channels, wb[(g, c, u, v, k)] =
 * w[g FB + k, c, u, v] (zero past F), so the FB weights of one tap are adjacent.
 * For each block and each run of VN output columns, FB vector accumulators stay in
 * registers for the whole sum over (c, u, v): per tap, one unaligned load of VN
 * inputs feeds FB multiply-adds.  The runs are VN = 64 bytes wide (GCC vector
 * extensions: one AVX-512 register, two AVX2 ones); a row that is not a multiple of
 * VN ends with a run shifted left to end at Wo (it recomputes a few columns, which
 * are stored again with the same values); rows narrower than VN are done per column.
 */
#ifndef MINICNN_DIRECT_ROWS_H
#define MINICNN_DIRECT_ROWS_H
#include <stddef.h>
#include <string.h>

#define MINICNN_DIRECT_FB 4

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define MINICNN_DIRECT_X86 1
#define MINICNN_TARGET_V4 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define MINICNN_TARGET_V3 __attribute__((target("avx2,fma")))
#endif

#define MINICNN_DIRECT_ROW(T, SUF, VB, ATTR)                                              \
typedef T vec_##SUF __attribute__((vector_size(VB)));                                    \
ATTR static void direct_row_##SUF(                                                       \
        const T *x, ptrdiff_t C, ptrdiff_t Hp, ptrdiff_t Wp,                             \
        const T *wb, const T *bias, ptrdiff_t F, ptrdiff_t KH, ptrdiff_t KW,             \
        T *out, ptrdiff_t Ho, ptrdiff_t Wo, ptrdiff_t i)                                 \
{                                                                                        \
    enum { VN = VB / sizeof(T), FB = MINICNN_DIRECT_FB };                                \
    const ptrdiff_t taps = C * KH * KW;                                                  \
    (void)Hp;                                                                            \
    for (ptrdiff_t g = 0; g * FB < F; g++) {                                             \
        const T *wg = wb + g * taps * FB;                                                \
        const ptrdiff_t nf = F - g * FB < FB ? F - g * FB : FB;                          \
        if (Wo < VN) {                          /* narrow rows: one column at a time */  \
            for (ptrdiff_t j = 0; j < Wo; j++) {                                         \
                T a[FB];                                                                 \
                for (int k = 0; k < FB; k++) a[k] = bias[g * FB + k];                    \
                const T *wt = wg;                                                        \
                for (ptrdiff_t c = 0; c < C; c++)                                        \
                    for (ptrdiff_t u = 0; u < KH; u++) {                                 \
                        const T *xr = x + (c * Hp + i + u) * Wp + j;                     \
                        for (ptrdiff_t v = 0; v < KW; v++, wt += FB)                     \
                            for (int k = 0; k < FB; k++) a[k] += wt[k] * xr[v];          \
                    }                                                                    \
                for (ptrdiff_t k = 0; k < nf; k++)                                       \
                    out[((g * FB + k) * Ho + i) * Wo + j] = a[k];                        \
            }                                                                            \
            continue;                                                                    \
        }                                                                                \
        ptrdiff_t j1 = 0;                                                                \
        for (; j1 + 2 * VN <= Wo; j1 += 2 * VN) {     /* two runs: 8 accumulators */    \
            const vec_##SUF z = {0};                                                     \
            vec_##SUF a0 = z + bias[g * FB], a1 = z + bias[g * FB + 1];                  \
            vec_##SUF a2 = z + bias[g * FB + 2], a3 = z + bias[g * FB + 3];              \
            vec_##SUF b0 = a0, b1 = a1, b2 = a2, b3 = a3;                                \
            const T *wt = wg;                                                            \
            for (ptrdiff_t c = 0; c < C; c++)                                            \
                for (ptrdiff_t u = 0; u < KH; u++) {                                     \
                    const T *xr = x + (c * Hp + i + u) * Wp + j1;                        \
                    for (ptrdiff_t v = 0; v < KW; v++, wt += FB) {                       \
                        vec_##SUF xv, yv;                                                \
                        memcpy(&xv, xr + v, sizeof xv);     /* unaligned loads */        \
                        memcpy(&yv, xr + v + VN, sizeof yv);                             \
                        a0 += wt[0] * xv; b0 += wt[0] * yv;                              \
                        a1 += wt[1] * xv; b1 += wt[1] * yv;                              \
                        a2 += wt[2] * xv; b2 += wt[2] * yv;                              \
                        a3 += wt[3] * xv; b3 += wt[3] * yv;                              \
                    }                                                                    \
                }                                                                        \
            T *o = out + (g * FB * Ho + i) * Wo + j1;                                    \
            memcpy(o, &a0, sizeof a0); memcpy(o + VN, &b0, sizeof b0);                   \
            if (nf > 1) { memcpy(o + Ho * Wo, &a1, sizeof a1);                           \
                          memcpy(o + Ho * Wo + VN, &b1, sizeof b1); }                    \
            if (nf > 2) { memcpy(o + 2 * Ho * Wo, &a2, sizeof a2);                       \
                          memcpy(o + 2 * Ho * Wo + VN, &b2, sizeof b2); }                \
            if (nf > 3) { memcpy(o + 3 * Ho * Wo, &a3, sizeof a3);                       \
                          memcpy(o + 3 * Ho * Wo + VN, &b3, sizeof b3); }                \
        }                                                                                \
        for (; j1 < Wo; j1 += VN) {                   /* the rest: one run at a time */  \
            const ptrdiff_t j0 = j1 + VN <= Wo ? j1 : Wo - VN;                           \
            const vec_##SUF z = {0};                                                     \
            vec_##SUF a0 = z + bias[g * FB], a1 = z + bias[g * FB + 1];                  \
            vec_##SUF a2 = z + bias[g * FB + 2], a3 = z + bias[g * FB + 3];              \
            const T *wt = wg;                                                            \
            for (ptrdiff_t c = 0; c < C; c++)                                            \
                for (ptrdiff_t u = 0; u < KH; u++) {                                     \
                    const T *xr = x + (c * Hp + i + u) * Wp + j0;                        \
                    for (ptrdiff_t v = 0; v < KW; v++, wt += FB) {                       \
                        vec_##SUF xv;                                                    \
                        memcpy(&xv, xr + v, sizeof xv);     /* unaligned load */         \
                        a0 += wt[0] * xv;                                                \
                        a1 += wt[1] * xv;                                                \
                        a2 += wt[2] * xv;                                                \
                        a3 += wt[3] * xv;                                                \
                    }                                                                    \
                }                                                                        \
            T *o = out + (g * FB * Ho + i) * Wo + j0;                                    \
            memcpy(o, &a0, sizeof a0);                                                   \
            if (nf > 1) memcpy(o + Ho * Wo, &a1, sizeof a1);                             \
            if (nf > 2) memcpy(o + 2 * Ho * Wo, &a2, sizeof a2);                         \
            if (nf > 3) memcpy(o + 3 * Ho * Wo, &a3, sizeof a3);                         \
        }                                                                                \
    }                                                                                    \
}

MINICNN_DIRECT_ROW(float, f32_base, 16, )
MINICNN_DIRECT_ROW(double, f64_base, 16, )
#ifdef MINICNN_DIRECT_X86
MINICNN_DIRECT_ROW(float, f32_v3, 32, MINICNN_TARGET_V3)
MINICNN_DIRECT_ROW(double, f64_v3, 32, MINICNN_TARGET_V3)
MINICNN_DIRECT_ROW(float, f32_v4, 64, MINICNN_TARGET_V4)
MINICNN_DIRECT_ROW(double, f64_v4, 64, MINICNN_TARGET_V4)
#endif

/* 4: AVX-512, 3: AVX2 + FMA, 0: baseline (what direct_row_f32 / _f64 will run) */
static int direct_isa(void)
{
#ifdef MINICNN_DIRECT_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")
        && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq"))
        return 4;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return 3;
#endif
    return 0;
}

#define MINICNN_DIRECT_DISPATCH(T, SUF)                                                   \
static void direct_row_##SUF(const T *x, ptrdiff_t C, ptrdiff_t Hp, ptrdiff_t Wp,        \
        const T *wb, const T *bias, ptrdiff_t F, ptrdiff_t KH, ptrdiff_t KW,             \
        T *out, ptrdiff_t Ho, ptrdiff_t Wo, ptrdiff_t i, int isa)                        \
{                                                                                        \
    (void)isa;                                                                           \
    MINICNN_DIRECT_CALL_X86(T, SUF)                                                      \
    direct_row_##SUF##_base(x, C, Hp, Wp, wb, bias, F, KH, KW, out, Ho, Wo, i);          \
}

#ifdef MINICNN_DIRECT_X86
#define MINICNN_DIRECT_CALL_X86(T, SUF)                                                   \
    if (isa == 4) {                                                                      \
        direct_row_##SUF##_v4(x, C, Hp, Wp, wb, bias, F, KH, KW, out, Ho, Wo, i);        \
        return;                                                                          \
    }                                                                                    \
    if (isa == 3) {                                                                      \
        direct_row_##SUF##_v3(x, C, Hp, Wp, wb, bias, F, KH, KW, out, Ho, Wo, i);        \
        return;                                                                          \
    }
#else
#define MINICNN_DIRECT_CALL_X86(T, SUF)
#endif

MINICNN_DIRECT_DISPATCH(float, f32)
MINICNN_DIRECT_DISPATCH(double, f64)

#endif
