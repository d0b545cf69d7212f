"""The kernels of minicnn._kernels: each Cython kernel against its NumPy twin (side by
side, float32 and float64, C-contiguous and non-contiguous inputs) and both against
direct loop references; plus the backend selection rules of _kernels.py."""
import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from minicnn import _kernels
from minicnn import layers

ROOT = Path(__file__).resolve().parents[1]
IMPLS = ["numpy", "cython"]
DTYPES = [np.float32, np.float64]


def kernels(name):
    """The kernel namespace of one implementation, skipping when it is not built."""
    if name == "cython" and _kernels.cython is None:
        why = ("MINICNN_PURE_NUMPY=1 disables the compiled kernels" if _kernels.PURE_NUMPY
               else "the Cython extension is not built (python setup.py build_ext --inplace)")
        pytest.skip(f"Cython side skipped: {why}")
    return _kernels.get_kernels(name)


def both():
    """(numpy twins, cython kernels or None) for side-by-side comparisons."""
    return _kernels.numpy, _kernels.cython


def layouts(a):
    """The same values in several memory layouts: C order, a transposed view, a
    strided slice of a bigger array, Fortran order."""
    yield "C", np.ascontiguousarray(a)
    t = np.ascontiguousarray(a.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert not t.flags.c_contiguous or a.shape[2] == 1 or a.shape[3] == 1
    yield "transposed", t
    big = np.zeros(a.shape[:2] + (2 * a.shape[2], a.shape[3] + 3), dtype=a.dtype)
    big[:, :, ::2, 1:1 + a.shape[3]] = a
    yield "sliced", big[:, :, ::2, 1:1 + a.shape[3]]
    yield "fortran", np.asfortranarray(a)


# ----------------------------------------------------------------- direct references
def im2col_ref(x, kh, kw, sh, sw, ph, pw, row0=0, row1=None):
    N, C, H, W = x.shape
    ho = (H + 2 * ph - kh) // sh + 1
    wo = (W + 2 * pw - kw) // sw + 1
    row1 = ho if row1 is None else row1
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    cols = np.zeros((N, C, kh, kw, row1 - row0, wo), dtype=x.dtype)
    for i in range(row0, row1):
        for j in range(wo):
            cols[:, :, :, :, i - row0, j] = xp[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
    return cols.reshape(N, C * kh * kw, (row1 - row0) * wo)


def col2im_ref(cols, x_shape, kh, kw, sh, sw, ph, pw, row0=0):
    N, C, H, W = x_shape
    wo = (W + 2 * pw - kw) // sw + 1
    R = cols.shape[2] // wo
    c6 = cols.reshape(N, C, kh, kw, R, wo).astype(np.float64)
    dxp = np.zeros((N, C, H + 2 * ph + kh + R * sh, W + 2 * pw), dtype=np.float64)
    for i in range(R):
        for j in range(wo):
            y, x0 = (row0 + i) * sh, j * sw
            dxp[:, :, y:y + kh, x0:x0 + kw] += c6[:, :, :, :, i, j]
    return dxp[:, :, ph:ph + H, pw:pw + W]


GEOMETRIES = [  # (kh, kw, sh, sw, ph, pw)
    (1, 1, 1, 1, 0, 0), (1, 1, 2, 2, 0, 0), (3, 3, 1, 1, 1, 1), (3, 3, 2, 2, 0, 0),
    (3, 3, 3, 3, 2, 2), (5, 5, 1, 1, 2, 2), (3, 5, 2, 1, 1, 2), (1, 3, 1, 3, 0, 1),
    (3, 3, 1, 2, 2, 0), (4, 2, 3, 1, 0, 1), (2, 2, 1, 1, 1, 1),
]
SHAPES = [(1, 3, 7, 9), (2, 2, 11, 6), (3, 1, 5, 5)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("geom", GEOMETRIES)
def test_im2col_col2im_match_reference_and_twin(geom, dtype):
    kh, kw, sh, sw, ph, pw = geom
    rng = np.random.default_rng(0)
    twin, cy = both()
    for shape in SHAPES:
        x0 = rng.standard_normal(shape).astype(dtype)
        if (shape[2] + 2 * ph - kh) < 0 or (shape[3] + 2 * pw - kw) < 0:
            continue
        ref = im2col_ref(x0, *geom)
        for layout, x in layouts(x0):
            got = {"numpy": twin.im2col(x, *geom)}
            if cy is not None:
                got["cython"] = cy.im2col(x, *geom)
            for name, cols in got.items():
                assert cols.dtype == dtype, (name, layout)
                assert cols.flags.c_contiguous
                np.testing.assert_array_equal(cols, ref, err_msg=f"{name} {layout} {shape}")
        # col2im: against the float64 loop reference, and cython vs twin side by side
        dcols0 = rng.standard_normal(ref.shape).astype(dtype)
        dref = col2im_ref(dcols0, shape, *geom)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        for layout, dcols in layouts(dcols0[:, :, :, None]):
            dcols = dcols[:, :, :, 0]
            got = {"numpy": twin.col2im(dcols, shape, *geom)}
            if cy is not None:
                got["cython"] = cy.col2im(dcols, shape, *geom)
            for name, dx in got.items():
                assert dx.dtype == dtype and dx.shape == shape
                np.testing.assert_allclose(dx, dref, rtol=tol, atol=tol,
                                           err_msg=f"{name} {layout} {shape}")
            if cy is not None:
                np.testing.assert_allclose(got["cython"], got["numpy"], rtol=tol, atol=tol)


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_row_strips_and_out_buffers(impl, dtype):
    """im2col over a row range writes exactly those rows; col2im over strips,
    accumulated into one buffer, adds up to the whole col2im."""
    K = kernels(impl)
    rng = np.random.default_rng(1)
    shape, geom = (2, 3, 13, 10), (3, 3, 2, 1, 1, 1)
    x = rng.standard_normal(shape).astype(dtype)
    full = K.im2col(x, *geom)
    ho, wo = 7, 10
    strips = [(0, 3), (3, 4), (4, 7)]
    acc = np.zeros(shape, dtype=dtype)
    dfull = rng.standard_normal(full.shape).astype(dtype)
    for r0, r1 in strips:
        buf = np.full((2, 27, (r1 - r0) * wo), np.nan, dtype=dtype)
        res = K.im2col(x, *geom, r0, r1, out=buf)
        assert res is buf
        np.testing.assert_array_equal(
            buf, full.reshape(2, 27, ho, wo)[:, :, r0:r1].reshape(2, 27, -1))
        part = np.ascontiguousarray(dfull.reshape(2, 27, ho, wo)[:, :, r0:r1]).reshape(2, 27, -1)
        assert K.col2im(part, shape, *geom, r0, out=acc) is acc
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(acc, K.col2im(dfull, shape, *geom), rtol=tol, atol=tol)
    # accumulate=False overwrites whatever was in the buffer
    junk = np.full(shape, 7.0, dtype=dtype)
    K.col2im(dfull, shape, *geom, out=junk, accumulate=False)
    np.testing.assert_allclose(junk, K.col2im(dfull, shape, *geom), rtol=tol, atol=tol)
    with pytest.raises(ValueError):
        K.im2col(x, *geom, 0, 3, out=np.empty((2, 27, 31), dtype=dtype))
    with pytest.raises(ValueError):
        K.im2col(x, *geom, 5, 8)
    with pytest.raises(TypeError):
        K.im2col(x.astype(np.int64), *geom)


@pytest.mark.parametrize("impl", IMPLS)
def test_col2im_is_adjoint_of_im2col(impl):
    """<im2col(x), c> == <x, col2im(c)> (the defining property of the adjoint)."""
    K = kernels(impl)
    rng = np.random.default_rng(2)
    for shape, geom in [((2, 3, 9, 8), (3, 3, 2, 2, 1, 1)), ((1, 2, 7, 7), (5, 3, 1, 2, 2, 1))]:
        x = rng.standard_normal(shape)
        cols = K.im2col(x, *geom)
        c = rng.standard_normal(cols.shape)
        assert np.isclose(np.vdot(cols, c), np.vdot(x, K.col2im(c, shape, *geom)), rtol=1e-12)


# ----------------------------------------------------------------- max pooling
POOLS = [  # (kh, kw, sh, sw, ph, pw, ceil)
    (2, 2, 2, 2, 0, 0, False), (3, 3, 2, 2, 0, 0, False), (3, 3, 2, 2, 0, 0, True),
    (3, 3, 1, 1, 0, 0, False), (3, 3, 1, 1, 1, 1, False), (3, 2, 2, 1, 1, 0, True),
    (2, 3, 1, 2, 0, 1, True), (5, 5, 3, 3, 2, 2, True), (1, 1, 2, 2, 0, 0, False),
]


def pool_args(shape, p):
    kh, kw, sh, sw, ph, pw, ceil = p
    ho = layers.pool_output_size(shape[2], kh, sh, ph, ceil)
    wo = layers.pool_output_size(shape[3], kw, sw, pw, ceil)
    pp = {"pool_height": kh, "pool_width": kw, "stride": (sh, sw), "pad": (ph, pw),
          "ceil_mode": ceil}
    return (kh, kw, sh, sw, ph, pw, ho, wo), pp


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pool", POOLS)
def test_maxpool_matches_reference_and_twin(pool, dtype):
    rng = np.random.default_rng(3)
    twin, cy = both()
    for shape in [(2, 3, 6, 6), (1, 2, 7, 8), (2, 1, 11, 5)]:
        args, pp = pool_args(shape, pool)
        x0 = rng.permutation(np.prod(shape)).reshape(shape).astype(dtype)   # no ties
        ref, (_, ref_arg) = layers.max_pool_forward(x0, pp)
        g0 = rng.standard_normal(ref.shape).astype(dtype)
        dref = layers.max_pool_backward(g0, (shape, ref_arg))
        for layout, x in layouts(x0):
            impls = {"numpy": twin} if cy is None else {"numpy": twin, "cython": cy}
            res = {}
            for name, K in impls.items():
                out, arg = K.maxpool_forward(x, *args)
                assert out.dtype == dtype and arg.dtype == np.int32
                np.testing.assert_array_equal(out, ref, err_msg=f"{name} {layout}")
                np.testing.assert_array_equal(arg, ref_arg, err_msg=f"{name} {layout}")
                for glay, g in layouts(g0):
                    dx = K.maxpool_backward(g, arg, shape[2], shape[3])
                    assert dx.dtype == dtype and dx.shape == shape
                    tol = 1e-6 if dtype == np.float32 else 1e-14
                    np.testing.assert_allclose(dx, dref, rtol=tol, atol=tol,
                                               err_msg=f"{name} {layout} {glay}")
                res[name] = out, arg
            if cy is not None:    # side by side
                np.testing.assert_array_equal(res["cython"][0], res["numpy"][0])
                np.testing.assert_array_equal(res["cython"][1], res["numpy"][1])


@pytest.mark.parametrize("impl", IMPLS)
def test_maxpool_ties_inf_and_nan(impl):
    """Ties pick the first maximum in row-major window order (as layers.py / np.argmax);
    all -inf windows pick their first in-bounds element; the first NaN wins."""
    K = kernels(impl)
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(2, 3, 9, 10)).astype(np.float64)
    x[0, 0, :4, :4] = -np.inf
    x[1, 2, 2, 3] = np.nan
    x[1, 2, 3, 3] = np.nan
    for pool in [(3, 3, 2, 2, 0, 0, True), (3, 3, 1, 1, 1, 1, False), (2, 2, 2, 2, 0, 0, False)]:
        args, pp = pool_args(x.shape, pool)
        ref, (_, ref_arg) = layers.max_pool_forward(x, pp)
        out, arg = K.maxpool_forward(x, *args)
        np.testing.assert_array_equal(arg, ref_arg)
        np.testing.assert_array_equal(out, ref)        # treats NaN == NaN


@pytest.mark.parametrize("impl", IMPLS)
def test_maxpool_backward_rejects_bad_indices(impl):
    K = kernels(impl)
    g = np.ones((1, 1, 2, 2))
    with pytest.raises(ValueError):
        K.maxpool_backward(g, np.array([[[[0, 1], [2, 99]]]]), 3, 3)
    with pytest.raises(ValueError):
        K.maxpool_forward(np.ones((1, 1, 3, 3)), 2, 2, 2, 2, 0, 0, 3, 3)   # window off the image


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_cython_parallel_paths_match_twin(threads):
    """Force the OpenMP paths (normally only large jobs get several threads) and
    compare with the twins: col2im splits planes into bands of rows when N*C is
    small, pooling splits the planes."""
    kernels("cython")
    import importlib
    mods = {m: importlib.import_module(f"minicnn.{m}") for m in ("_im2col", "_maxpool")}
    knobs = {"_im2col": ("IM2COL_MIN_WORK", "COL2IM_MIN_WORK"),
             "_maxpool": ("POOL_FWD_MIN_WORK", "POOL_BWD_MIN_WORK")}
    twin, cy = both()
    rng = np.random.default_rng(5)
    try:
        for name, mod in mods.items():
            mod.set_num_threads(threads)
            for knob in knobs[name]:
                mod._set_min_work(knob, 0)
        _kernels.set_num_threads(threads)
        assert _kernels.get_num_threads() == threads
        for shape, geom in [((1, 1, 23, 9), (3, 3, 1, 1, 1, 1)), ((2, 3, 17, 12), (5, 3, 2, 1, 2, 1)),
                            ((1, 2, 8, 31), (3, 3, 2, 2, 0, 0))]:
            for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
                x = rng.standard_normal(shape).astype(dtype)
                cols = cy.im2col(x, *geom)
                np.testing.assert_array_equal(cols, twin.im2col(x, *geom))
                c = rng.standard_normal(cols.shape).astype(dtype)
                np.testing.assert_allclose(cy.col2im(c, shape, *geom), twin.col2im(c, shape, *geom),
                                           rtol=tol, atol=tol)
                x = rng.permutation(np.prod(shape)).reshape(shape).astype(dtype)
                args, _ = pool_args(shape, (3, 3, 2, 2, 1, 1, True))
                out, arg = cy.maxpool_forward(x, *args)
                out_t, arg_t = twin.maxpool_forward(x, *args)
                np.testing.assert_array_equal(out, out_t)
                np.testing.assert_array_equal(arg, arg_t)
                np.testing.assert_allclose(cy.maxpool_backward(out, arg, *shape[2:]),
                                           twin.maxpool_backward(out, arg, *shape[2:]),
                                           rtol=tol, atol=tol)
    finally:
        _kernels.set_num_threads(0)
        for name, mod in mods.items():
            for knob, default in zip(knobs[name], mod._DEFAULT_MIN_WORK):
                mod._set_min_work(knob, default)


# ----------------------------------------------------------------- instance norm
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("relu", [False, True])
def test_instance_norm_rows_match_definition(impl, dtype, relu):
    """out = gamma (x - mu) / sqrt(var + eps) + beta (ReLU'd), and the backward equals
    the readable layers' composition (transformer_layers + layers.relu)."""
    from minicnn import layers
    from minicnn import transformer_layers as tl
    K = kernels(impl)
    rng = np.random.default_rng(int(relu) + 2 * (dtype == np.float32))
    x = (rng.standard_normal((2, 3, 5, 7)) * 3 + 10).astype(dtype)   # mean >> std: the shift
    gamma, beta = 0.5 + rng.random(3), rng.standard_normal(3)
    ref, ref_cache = tl.instance_norm_forward(x.astype(np.float64), gamma, beta)
    if relu:
        ref, relu_cache = layers.relu_forward(ref)
    g, b = np.tile(gamma, 2), np.tile(beta, 2)
    out, mu, inv = K.instance_norm_rows(x.reshape(6, 35), g, b, 1e-5, relu)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    assert out.dtype == dtype
    np.testing.assert_allclose(out.reshape(x.shape), ref, rtol=tol, atol=tol)
    dout = rng.standard_normal(x.shape)
    d = layers.relu_backward(dout, relu_cache) if relu else dout
    dx_ref, dg_ref, db_ref = tl.instance_norm_backward(d, ref_cache)
    dx, s1, s2 = K.instance_norm_rows_backward(dout.reshape(6, 35).astype(dtype),
                                               x.reshape(6, 35), mu, inv, g, b, relu)
    assert dx.dtype == dtype
    np.testing.assert_allclose(dx.reshape(x.shape), dx_ref, rtol=50 * tol, atol=50 * tol)
    np.testing.assert_allclose(s2.reshape(2, 3).sum(0), dg_ref, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(s1.reshape(2, 3).sum(0), db_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_instance_norm_parallel_rows_match_twin(threads):
    kernels("cython")
    import importlib
    mod = importlib.import_module("minicnn._norm")
    twin, cy = both()
    rng = np.random.default_rng(threads)
    try:
        mod.set_num_threads(threads)
        mod._set_min_work("NORM_MIN_WORK", 0)
        for dtype, tol in ((np.float32, 1e-5), (np.float64, 1e-12)):
            x = rng.standard_normal((7, 40)).astype(dtype)
            g, b = rng.random(7) + 0.5, rng.standard_normal(7)
            got, want = cy.instance_norm_rows(x, g, b, 1e-5, True), \
                twin.instance_norm_rows(x, g, b, 1e-5, True)
            for a, c in zip(got, want):
                np.testing.assert_allclose(a, c, rtol=tol, atol=tol)
            d = rng.standard_normal(x.shape).astype(dtype)
            for a, c in zip(cy.instance_norm_rows_backward(d, x, *got[1:], g, b, True),
                            twin.instance_norm_rows_backward(d, x, *want[1:], g, b, True)):
                np.testing.assert_allclose(a, c, rtol=tol, atol=tol)
    finally:
        mod.set_num_threads(0)
        mod._set_min_work("NORM_MIN_WORK", mod._DEFAULT_MIN_WORK[0])


# ----------------------------------------------------------------- reflection padding
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,p", [((2, 3, 5, 7), 1), ((1, 2, 9, 9), 4), ((2, 1, 6, 5), 4),
                                     ((1, 1, 2, 3), 1), ((1, 2, 3, 3), 0)])
def test_reflect_pad_and_its_adjoint(impl, dtype, shape, p):
    """reflect_pad equals np.pad(mode="reflect"); reflect_pad_adjoint is its transpose:
    <pad(x), d> == <x, adjoint(d)>."""
    K = kernels(impl)
    rng = np.random.default_rng(shape[2] * 10 + p)
    x = rng.standard_normal(shape).astype(dtype)
    out = K.reflect_pad(x, p)
    np.testing.assert_array_equal(out, np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)),
                                              mode="reflect"))
    assert out.dtype == dtype
    d = rng.standard_normal(out.shape).astype(dtype)
    dx = K.reflect_pad_adjoint(d, p)
    assert dx.shape == x.shape and dx.dtype == dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.isclose(np.sum(out.astype(np.float64) * d), np.sum(x.astype(np.float64) * dx),
                      rtol=tol, atol=tol)
    with pytest.raises(ValueError, match="reflection pad"):
        K.reflect_pad(x, shape[2])


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_reflect_pad_parallel_planes_match_twin(threads):
    kernels("cython")
    import importlib
    mod = importlib.import_module("minicnn._pad")
    twin, cy = both()
    x = np.random.default_rng(threads).standard_normal((3, 5, 8, 11))
    try:
        mod.set_num_threads(threads)
        mod._set_min_work("PAD_MIN_WORK", 0)
        np.testing.assert_array_equal(cy.reflect_pad(x, 3), twin.reflect_pad(x, 3))
        d = np.random.default_rng(9).standard_normal((3, 5, 14, 17))
        np.testing.assert_allclose(cy.reflect_pad_adjoint(d, 3), twin.reflect_pad_adjoint(d, 3),
                                   rtol=1e-13, atol=1e-13)
    finally:
        mod.set_num_threads(0)
        mod._set_min_work("PAD_MIN_WORK", mod._DEFAULT_MIN_WORK[0])


# ----------------------------------------------------------------- sub-pixel shuffle
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(2, 12, 5, 7), (1, 4, 2, 2), (3, 8, 9, 4)])
def test_subpixel_shuffle_and_its_adjoint(impl, dtype, shape):
    """out[n, f, 2i+a, 2j+b] = z[n, (2a+b)F + f, i+a, j+b] by loops; the adjoint satisfies
    <shuffle(z), d> = <z, shuffle^T(d)> and leaves the cells no parity reads at zero."""
    K = kernels(impl)
    rng = np.random.default_rng(sum(shape))
    N, F4, Hz, Wz = shape
    F, H, W = F4 // 4, Hz - 1, Wz - 1
    z = rng.standard_normal(shape).astype(dtype)
    want = np.empty((N, F, 2 * H, 2 * W))
    for n, f, i, j, a, b in itertools.product(range(N), range(F), range(H), range(W),
                                              range(2), range(2)):
        want[n, f, 2 * i + a, 2 * j + b] = z[n, (2 * a + b) * F + f, i + a, j + b]
    for name, zl in layouts(z):
        got = K.subpixel_shuffle(zl, H, W)
        assert got.dtype == dtype, name
        np.testing.assert_array_equal(got, want, err_msg=name)
    d = rng.standard_normal((N, F, 2 * H, 2 * W)).astype(dtype)
    dz = K.subpixel_shuffle_adjoint(d, H, W)
    assert dz.shape == shape and dz.dtype == dtype
    tol = 1e-12 if dtype == np.float64 else 1e-4
    assert abs((want * d).sum() - (z * dz).sum()) <= tol * np.abs(want * d).sum()
    dz6 = dz.reshape(N, 2, 2, F, Hz, Wz)
    assert not dz6[:, 0, :, :, H].any() and not dz6[:, 1, :, :, 0].any()
    assert not dz6[:, :, 0, :, :, W].any() and not dz6[:, :, 1, :, :, 0].any()
    with pytest.raises(ValueError, match="must be"):
        K.subpixel_shuffle(z[:, :F4 - 1], H, W)
    with pytest.raises(ValueError, match="must be"):
        K.subpixel_shuffle_adjoint(d, H + 1, W)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_subpixel_shuffle_parallel_planes_match_twin(threads):
    kernels("cython")
    import importlib
    mod = importlib.import_module("minicnn._pad")
    twin, cy = both()
    rng = np.random.default_rng(threads)
    z, d = rng.standard_normal((3, 20, 8, 11)), rng.standard_normal((3, 5, 14, 20))
    try:
        mod.set_num_threads(threads)
        mod._set_min_work("PAD_MIN_WORK", 0)
        np.testing.assert_array_equal(cy.subpixel_shuffle(z, 7, 10), twin.subpixel_shuffle(z, 7, 10))
        np.testing.assert_array_equal(cy.subpixel_shuffle_adjoint(d, 7, 10),
                                      twin.subpixel_shuffle_adjoint(d, 7, 10))
    finally:
        mod.set_num_threads(0)
        mod._set_min_work("PAD_MIN_WORK", mod._DEFAULT_MIN_WORK[0])


# ----------------------------------------------------------------- Winograd transforms
WINO_CASES = [((2, 3, 7, 9), 1, (0, None)), ((1, 2, 6, 6), 0, (0, None)),
              ((3, 4, 5, 8), 1, (1, 5)), ((2, 3, 4, 4), 2, (2, 3)), ((2, 1, 3, 5), (1, 0), (0, 2)),
              ((2, 2, 13, 11), 1, (1, 7))]


def _direct_input_tiles(x, ph, pw, row0, row1, m):
    """B^T d B of every tile by loops over tiles (the definition)."""
    N, C, H, W = x.shape
    th, tw = -(-(H + 2 * ph - 2) // m), -(-(W + 2 * pw - 2) // m)
    xp = np.zeros((N, C, m * th + 2 + H, m * tw + 2 + W))
    xp[:, :, ph:ph + H, pw:pw + W] = x
    bt = _kernels.WINOGRAD_MATRICES[m][0]
    a = m + 2
    V = np.zeros((a * a, C, (row1 - row0) * tw))
    for r in range(row0, row1):
        n, ty = divmod(r, th)
        for tx in range(tw):
            for c in range(C):
                d = xp[n, c, m * ty:m * ty + a, m * tx:m * tx + a]
                V[:, c, (r - row0) * tw + tx] = (bt @ d @ bt.T).ravel()
    return V


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,pad,rows", WINO_CASES)
def test_winograd_transforms_and_their_adjoints(impl, dtype, shape, pad, rows, m):
    """winograd_input equals the tile-by-tile definition; each adjoint passes the
    dot-product test <T(a), b> == <a, T^T(b)>, on a range of tile rows."""
    K = kernels(impl)
    ph, pw = (pad, pad) if isinstance(pad, int) else pad
    rng = np.random.default_rng(sum(shape) + ph)
    x = rng.standard_normal(shape).astype(dtype)
    N, C, H, W = shape
    ho, wo = H + 2 * ph - 2, W + 2 * pw - 2
    th, tw, T = -(-ho // m), -(-wo // m), (m + 2) ** 2
    row0, row1 = min(rows[0], N * th), N * th if rows[1] is None else min(rows[1], N * th)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    V = K.winograd_input(x, ph, pw, row0, row1, m=m)
    assert V.shape == (T, C, (row1 - row0) * tw) and V.dtype == dtype
    np.testing.assert_allclose(V, _direct_input_tiles(x.astype(np.float64), ph, pw, row0, row1,
                                                      m), rtol=tol, atol=tol * 10)
    g = rng.standard_normal(V.shape).astype(dtype)
    dx = np.zeros_like(x)
    assert K.winograd_input_adjoint(g, dx, ph, pw, row0, m=m) is dx
    assert np.isclose(np.sum(V.astype(np.float64) * g), np.sum(x.astype(np.float64) * dx),
                      rtol=tol, atol=tol * 10)
    F = 3
    M = rng.standard_normal((T, F, V.shape[2])).astype(dtype)
    out = np.zeros((N, F, ho, wo), dtype)
    K.winograd_output(M, np.zeros(F, dtype), out, row0, m=m)
    dout = rng.standard_normal(out.shape).astype(dtype)
    dM = K.winograd_output_adjoint(dout, row0, row1, m=m)
    assert dM.shape == M.shape and dM.dtype == dtype
    assert np.isclose(np.sum(out.astype(np.float64) * dout), np.sum(M.astype(np.float64) * dM),
                      rtol=tol, atol=tol * 10)
    bias = rng.standard_normal(F).astype(dtype)
    out_b = np.zeros_like(out)
    K.winograd_output(M, bias, out_b, row0, m=m)
    written = np.zeros(out.shape, bool)                 # the pixels of rows [row0, row1)
    for r in range(row0, row1):
        n, ty = divmod(r, th)
        written[n, :, m * ty:m * ty + m] = True
    np.testing.assert_allclose(out_b - out, np.where(written, bias[:, None, None], 0),
                               rtol=tol, atol=tol)


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_winograd_kernels_match_twins(threads, m):
    """Cython transforms equal the NumPy twins (to round-off) on any thread count,
    with output planes spaced apart (as fast_layers allocates them)."""
    kernels("cython")
    import importlib
    mod = importlib.import_module("minicnn._winograd")
    twin, cy = both()
    rng = np.random.default_rng(threads)
    x = rng.standard_normal((2, 5, 17, 15))
    T, th, tw = (m + 2) ** 2, -(-17 // m), -(-15 // m)
    P = (2 * th - 1) * tw                                   # tile rows 1 .. 2 th
    try:
        mod.set_num_threads(threads)
        mod._set_min_work("WINO_MIN_WORK", 0)
        spaced = np.zeros((T, 5 * P + 3))[:, :5 * P].reshape(T, 5, P)
        V = cy.winograd_input(x, 1, 1, 1, 2 * th, out=spaced, m=m)
        assert V is spaced
        np.testing.assert_allclose(V, twin.winograd_input(x, 1, 1, 1, 2 * th, m=m),
                                   rtol=1e-13, atol=1e-12)
        a, b = np.zeros_like(x), np.zeros_like(x)
        cy.winograd_input_adjoint(V, a, 1, 1, 1, m=m)
        twin.winograd_input_adjoint(V, b, 1, 1, 1, m=m)
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-11)
        dout = rng.standard_normal((2, 5, 17, 15))
        np.testing.assert_allclose(cy.winograd_output_adjoint(dout, 1, 2 * th, m=m),
                                   twin.winograd_output_adjoint(dout, 1, 2 * th, m=m),
                                   rtol=1e-13, atol=1e-12)
        o1, o2 = np.zeros((2, 5, 17, 15)), np.zeros((2, 5, 17, 15))
        bias = rng.standard_normal(5)
        cy.winograd_output(V, bias, o1, 1, m=m)
        twin.winograd_output(V, bias, o2, 1, m=m)
        np.testing.assert_allclose(o1, o2, rtol=1e-12, atol=1e-11)
    finally:
        mod.set_num_threads(0)
        mod._set_min_work("WINO_MIN_WORK", mod._DEFAULT_MIN_WORK[0])


@pytest.mark.parametrize("impl", IMPLS)
def test_winograd_kernels_reject_bad_arguments(impl):
    K = kernels(impl)
    x = np.zeros((1, 2, 6, 6))
    with pytest.raises(ValueError, match="tile rows"):
        K.winograd_input(x, 1, 1, 2, 1)
    with pytest.raises(ValueError, match="tile rows"):
        K.winograd_input(x, 1, 1, 0, 4)
    with pytest.raises(ValueError, match="out must be"):
        K.winograd_input(x, 1, 1, out=np.zeros((16, 2, 8)))
    with pytest.raises(ValueError, match="at least 1x1"):
        K.winograd_input(np.zeros((1, 2, 1, 6)), 0, 0)
    with pytest.raises(TypeError, match="float32 or float64"):
        K.winograd_input(x.astype(int), 1, 1)
    with pytest.raises(ValueError, match="does not match"):
        K.winograd_input_adjoint(np.zeros((16, 3, 9)), np.zeros_like(x), 1, 1)
    with pytest.raises(ValueError, match="does not match"):
        K.winograd_output(np.zeros((16, 2, 5)), np.zeros(2), np.zeros((1, 2, 6, 6)))
    with pytest.raises(ValueError, match="does not match"):
        K.winograd_output(np.zeros((16, 2, 2)), np.zeros(2), np.zeros((1, 2, 4, 4)), m=4)
    with pytest.raises(ValueError, match="m must be 2 or 4"):
        K.winograd_input(x, 1, 1, m=3)


# ----------------------------------------------------------------- direct convolution
#: (x shape, w shape): rows narrower than one 64-byte run, rows that are not a multiple
#: of it, rows of several double runs; F below, at and above the block of 4; KH != KW
DIRECT_CASES = [((1, 3, 12, 10), (5, 3, 9, 9)), ((2, 2, 7, 40), (3, 2, 3, 5)),
                ((1, 16, 14, 60), (3, 16, 9, 9)), ((2, 3, 13, 77), (16, 3, 5, 7)),
                ((1, 1, 4, 35), (1, 1, 1, 1)), ((1, 4, 9, 19), (8, 4, 2, 3))]


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("xs,ws", DIRECT_CASES)
def test_conv_direct_matches_reference(impl, dtype, xs, ws):
    """conv_direct = the loop reference (a stride-1 unpadded conv plus bias), in any
    input layout, dtype preserved, ``out`` filled in place."""
    K = kernels(impl)
    rng = np.random.default_rng(sum(xs) + sum(ws))
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    ref = layers.conv_forward_naive(x.astype(np.float64), w.astype(np.float64),
                                    b.astype(np.float64), {"stride": 1, "pad": 0})[0]
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for name, xl in layouts(x):
        got = K.conv_direct(xl, w, b)
        assert got.dtype == dtype and got.shape == ref.shape, name
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol * np.abs(ref).max(), err_msg=name)
    out = np.full(ref.shape, np.nan, dtype=dtype)
    assert K.conv_direct(x, w, b, out=out) is out
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())
    # no input channels: an empty sum, the bias everywhere
    empty = K.conv_direct(x[:, :0], w[:, :0], b)
    np.testing.assert_allclose(empty, np.broadcast_to(b.reshape(1, -1, 1, 1), ref.shape), rtol=tol)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_conv_direct_parallel_rows_match_twin(threads):
    kernels("cython")
    import importlib
    mod = importlib.import_module("minicnn._direct")
    twin, cy = both()
    rng = np.random.default_rng(threads)
    x, w, b = rng.standard_normal((3, 3, 21, 50)), rng.standard_normal((6, 3, 9, 9)), \
        rng.standard_normal(6)
    try:
        mod.set_num_threads(threads)
        mod._set_min_work("DIRECT_MIN_WORK", 0)
        np.testing.assert_allclose(cy.conv_direct(x, w, b), twin.conv_direct(x, w, b),
                                   rtol=1e-12, atol=1e-12)
    finally:
        mod.set_num_threads(0)
        mod._set_min_work("DIRECT_MIN_WORK", mod._DEFAULT_MIN_WORK[0])


def test_conv_direct_every_vector_width_matches_twin():
    """The row kernel is written per instruction set (64-, 32-, 16-byte vectors): each
    one the CPU can run equals the twin, on rows narrower than a run, between runs and
    of several double runs."""
    kernels("cython")
    import importlib
    mod = importlib.import_module("minicnn._direct")
    twin, cy = both()
    assert _kernels.direct_isa() == mod.ISA in ("avx512", "avx2", "baseline")
    widths = ["avx512", "avx2", "baseline"]
    runnable = widths[widths.index(mod.ISA):]
    rng = np.random.default_rng(5)
    try:
        for isa in runnable:
            mod._set_isa(isa)
            for xs, ws in [((1, 3, 12, 10), (5, 3, 9, 9)), ((2, 3, 11, 83), (6, 3, 9, 9)),
                           ((1, 5, 10, 70), (3, 5, 3, 3))]:
                for dtype in DTYPES:
                    x = rng.standard_normal(xs).astype(dtype)
                    w, b = rng.standard_normal(ws).astype(dtype), rng.standard_normal(ws[0])
                    tol = 1e-12 if dtype == np.float64 else 2e-5
                    np.testing.assert_allclose(cy.conv_direct(x, w, b), twin.conv_direct(x, w, b),
                                               rtol=tol, atol=tol * 10, err_msg=f"{isa} {xs}")
        with pytest.raises(ValueError, match="isa must be one of"):
            mod._set_isa("neon")
    finally:
        mod._set_isa(runnable[0])


@pytest.mark.parametrize("impl", IMPLS)
def test_conv_direct_rejects_bad_arguments(impl):
    K = kernels(impl)
    x, w, b = np.zeros((1, 2, 6, 6)), np.zeros((3, 2, 3, 3)), np.zeros(3)
    with pytest.raises(ValueError, match="must agree on C"):
        K.conv_direct(x, np.zeros((3, 4, 3, 3)), b)
    with pytest.raises(ValueError, match="smaller than the kernel"):
        K.conv_direct(x, np.zeros((3, 2, 7, 3)), b)
    with pytest.raises(ValueError, match="b must have shape"):
        K.conv_direct(x, w, np.zeros(4))
    with pytest.raises(ValueError, match="out must be"):
        K.conv_direct(x, w, b, out=np.zeros((1, 3, 4, 5)))
    with pytest.raises(TypeError, match="float32 or float64"):
        K.conv_direct(x.astype(int), w, b)


# ----------------------------------------------------------------- backend selection
def _run(*code, **env):
    full_env = {k: v for k, v in os.environ.items()
                if k not in ("MINICNN_PURE_NUMPY", "MINICNN_REQUIRE_EXT")}
    full_env.update(env)
    full_env["PYTHONPATH"] = str(ROOT) + os.pathsep + full_env.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-c", "\n".join(map(textwrap.dedent, code))], env=full_env,
                          capture_output=True, text=True, timeout=60)


_HIDE_IM2COL = """
    import sys, importlib.abc
    class Hide(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name == "minicnn._im2col":
                raise ImportError("hidden for the test")
    sys.meta_path.insert(0, Hide())
"""


def test_pure_numpy_switch():
    r = _run("""
        from minicnn import _kernels
        print(_kernels.BACKEND, _kernels.cython is None, _kernels.im2col is _kernels.numpy.im2col)
        print(_kernels.describe())
    """, MINICNN_PURE_NUMPY="1", MINICNN_REQUIRE_EXT="1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "numpy True True"
    assert "MINICNN_PURE_NUMPY=1" in r.stdout


def test_missing_extension_warns_once_and_falls_back():
    r = _run(_HIDE_IM2COL, """
        import warnings
        with warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            from minicnn import _kernels
        msgs = [str(x.message) for x in w if "minicnn._im2col" in str(x.message)]
        print(len(msgs), _kernels.BACKEND, _kernels.KERNEL_SOURCES["im2col"])
        print(msgs[0])
    """)
    assert r.returncode == 0, r.stderr
    first, msg = r.stdout.splitlines()[:2]
    count, backend, *source = first.split()
    assert count == "1"
    assert backend in ("numpy", "mixed") and source[0] == "numpy"
    assert "build_ext --inplace" in msg


def test_require_ext_raises_when_missing():
    r = _run(_HIDE_IM2COL, "import minicnn._kernels", MINICNN_REQUIRE_EXT="1")
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "minicnn._im2col" in r.stderr


def test_preloaded_openmp_runtime_means_one_thread():
    """A libgomp loaded before minicnn (torch bundles one) busy-waits; the kernels
    then default to one thread (and say why), unless the user asked for passive."""
    if _kernels.cython is None:
        pytest.skip("Cython side skipped: compiled kernels not in use")
    code = """
        import ctypes, ctypes.util
        name = ctypes.util.find_library("gomp")
        if name is None:
            print("nogomp"); raise SystemExit
        ctypes.CDLL(name)
        from minicnn import _kernels
        print(_kernels.get_num_threads(), _kernels.THREADS_NOTE is not None)
    """
    r = _run(code)
    assert r.returncode == 0, r.stderr
    if r.stdout.strip() == "nogomp":
        pytest.skip("no libgomp found to preload")
    assert r.stdout.split() == ["1", "True"]
    r = _run(code, OMP_WAIT_POLICY="passive")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split()[1] == "False"


def test_tune_malloc_and_describe():
    r = _run("""
        from minicnn import _kernels
        ok = _kernels.tune_malloc()
        print(ok, _kernels.MALLOC_TUNED == ok)
        print(_kernels.describe())
    """)
    assert r.returncode == 0, r.stderr
    first = r.stdout.splitlines()[0].split()
    assert first[1] == "True" and first[0] in ("True", "False")
    assert "malloc" in r.stdout and "im2col" in r.stdout


def test_get_kernels_and_sources():
    assert set(_kernels.KERNEL_SOURCES) == set(_kernels.KERNEL_NAMES)
    assert _kernels.BACKEND in ("cython", "numpy", "mixed")
    assert _kernels.get_kernels("numpy") is _kernels.numpy
    active = _kernels.get_kernels()
    for name in _kernels.KERNEL_NAMES:
        assert getattr(active, name) is getattr(_kernels, name)
    if _kernels.cython is None:
        with pytest.raises(ImportError):
            _kernels.get_kernels("cython")
    else:
        assert _kernels.get_kernels("cython") is _kernels.cython
    with pytest.raises(ValueError):
        _kernels.get_kernels("fortran")
