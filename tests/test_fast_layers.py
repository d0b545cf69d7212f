"""minicnn.fast_layers against the reference layers of minicnn.layers (float64, rel
error < 1e-9), dtype preservation, row-strip tiling, and the public API."""
import itertools

import numpy as np
import pytest

from minicnn import fast_layers as fl
from minicnn import layers


def rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300) if b.size else 0.0


# ----------------------------------------------------------------- convolution
KERNELS = [(1, 1), (3, 3), (5, 5), (3, 5), (1, 3)]
STRIDES = [1, 2, 3, (1, 2), (2, 3)]
PADS = [0, 1, 2, (0, 2), (2, 1)]
SIZES = [(7, 9), (11, 6)]


def _check_conv(x, w, b, conv_param, rng):
    ref, ref_cache = layers.conv_forward(x, w, b, conv_param)
    out, cache = fl.conv_forward(x, w, b, conv_param)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert rel_error(out, ref) < 1e-9, conv_param
    dout = rng.standard_normal(ref.shape)
    dx_r, dw_r, db_r = layers.conv_backward(dout, ref_cache)
    dx, dw, db = fl.conv_backward(dout, cache)
    for got, want in ((dx, dx_r), (dw, dw_r), (db, db_r)):
        assert got.shape == want.shape and got.dtype == want.dtype
        assert rel_error(got, want) < 1e-9, conv_param
    dx2, dw2, db2 = fl.conv_backward(dout, cache, param_grads=False)
    assert dw2 is None and db2 is None
    assert rel_error(dx2, dx_r) < 1e-9


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"{k[0]}x{k[1]}")
def test_conv_matches_naive(kernel, batch):
    rng = np.random.default_rng(hash((kernel, batch)) % 2 ** 32)
    kh, kw = kernel
    checked = 0
    for (H, W), stride, pad in itertools.product(SIZES, STRIDES, PADS):
        if H + 2 * pair(pad)[0] < kh or W + 2 * pair(pad)[1] < kw:
            continue
        x = rng.standard_normal((batch, 2, H, W))
        w = rng.standard_normal((3, 2, kh, kw))
        b = rng.standard_normal(3)
        _check_conv(x, w, b, {"stride": stride, "pad": pad}, rng)
        checked += 1
    assert checked >= 40


@pytest.mark.parametrize("kernel", KERNELS, ids=lambda k: f"{k[0]}x{k[1]}")
def test_conv_with_fewer_outputs_than_inputs(kernel):
    """F < C at stride 1 takes dx as the adjoint forward convolution (flipped,
    transposed kernel, pad k-1-p); other strides and pads >= k keep col2im."""
    rng = np.random.default_rng(sum(kernel))
    kh, kw = kernel
    checked = 0
    for (H, W), stride, pad in itertools.product(SIZES, STRIDES, PADS):
        if H + 2 * pair(pad)[0] < kh or W + 2 * pair(pad)[1] < kw:
            continue
        x = rng.standard_normal((2, 5, H, W))
        w = rng.standard_normal((2, 5, kh, kw))
        _check_conv(x, w, rng.standard_normal(2), {"stride": stride, "pad": pad}, rng)
        checked += 1
    assert checked >= 20


def test_conv_backward_without_input_gradient():
    rng = np.random.default_rng(3)
    x, w, b = rng.standard_normal((2, 3, 8, 9)), rng.standard_normal((4, 3, 3, 3)), np.zeros(4)
    out, cache = fl.conv_forward(x, w, b, {"stride": 1, "pad": 1})
    dout = rng.standard_normal(out.shape)
    dx, dw, db = fl.conv_backward(dout, cache, input_grad=False)
    _, dw_ref, db_ref = layers.conv_backward(dout, layers.conv_forward(x, w, b, {"stride": 1,
                                                                                "pad": 1})[1])
    assert dx is None
    assert rel_error(dw, dw_ref) < 1e-9 and rel_error(db, db_ref) < 1e-9
    assert fl.conv_backward(dout, cache, param_grads=False, input_grad=False) == \
        (None, None, None)


def pair(v):
    return (v, v) if isinstance(v, int) else v


def test_conv_noncontiguous_input_and_default_param():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 9, 4, 3)).transpose(0, 3, 2, 1)        # (2, 3, 4, 9) view
    w = rng.standard_normal((4, 3, 3, 3))
    b = rng.standard_normal(4)
    _check_conv(x, w, b, {"stride": 1, "pad": 1}, rng)
    _check_conv(x, w[:, :, :1, :1], b, None, rng)                      # 1x1, default params
    _check_conv(x[:, :, ::-1, 1:8], w, b, {"stride": (2, 1), "pad": (1, 0)}, rng)


def test_conv_accepts_naive_cache_and_vice_versa():
    """Both modules use the same cache structure (x, w, b, (sh, sw, ph, pw))."""
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 3, 8, 7)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    p = {"stride": 2, "pad": 1}
    _, c_ref = layers.conv_forward(x, w, b, p)
    out, c_fast = fl.conv_forward(x, w, b, p)
    d = rng.standard_normal(out.shape)
    for a, bb in zip(fl.conv_backward(d, c_ref), layers.conv_backward(d, c_fast)):
        assert rel_error(a, bb) < 1e-9


def test_conv_float32_stays_float32():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 4, 9, 9)).astype(np.float32)
    for kernel, p in [((3, 3), {"stride": 1, "pad": 1}), ((1, 1), {"stride": 1, "pad": 0}),
                      ((3, 3), {"stride": 2, "pad": 0})]:
        w = rng.standard_normal((5, 4) + kernel).astype(np.float32)
        b = rng.standard_normal(5).astype(np.float32)
        out, cache = fl.conv_forward(x, w, b, p)
        assert out.dtype == np.float32
        dx, dw, db = fl.conv_backward(np.ones_like(out), cache)
        assert dx.dtype == dw.dtype == db.dtype == np.float32
        ref, _ = layers.conv_forward(x.astype(np.float64), w.astype(np.float64),
                                     b.astype(np.float64), p)
        assert rel_error(out, ref) < 1e-5
        # float64 weights never upcast a float32 activation
        out64w, c = fl.conv_forward(x, w.astype(np.float64), b.astype(np.float64), p)
        assert out64w.dtype == np.float32
        dx, dw, db = fl.conv_backward(np.ones_like(out64w), c)
        assert dx.dtype == np.float32 and dw.dtype == db.dtype == np.float64
        # float64 dout into a float32 layer: dx stays float32
        assert fl.conv_backward(np.ones(out.shape), cache, False)[0].dtype == np.float32


def test_conv_validation_errors_match_layers():
    x, w, b = np.zeros((1, 3, 5, 5)), np.zeros((2, 3, 3, 3)), np.zeros(2)
    bad = [
        (x, np.zeros((2, 4, 3, 3)), b, {}),                 # channel mismatch
        (x, w, b, {"stride": 0}),                            # zero stride
        (x, np.zeros((2, 3, 7, 7)), b, {"pad": 0}),          # too small
        (x, w, b, {"pad": -1}),                              # negative pad
        (x.astype(np.int64), w, b, {}),                      # not float
        (x[0], w, b, {}),                                    # not 4-d
        (x, w, b, {"stride": (1, 2, 3)}),                    # not a pair
    ]
    for args in bad:
        with pytest.raises((ValueError, TypeError)) as e_ref:
            layers.conv_forward(*args)
        with pytest.raises(e_ref.type):
            fl.conv_forward(*args)


@pytest.mark.parametrize("cap_rows", [1, 2, 3, "images"])
def test_conv_row_strip_tiling_equals_untiled(monkeypatch, cap_rows):
    """With a tiny column-buffer cap the conv runs in strips of output rows (or a
    few images at a time) and must give the untiled result."""
    rng = np.random.default_rng(8)
    for dtype, (kh, kw), p in [(np.float64, (3, 3), {"stride": 1, "pad": 1}),
                               (np.float64, (5, 3), {"stride": (2, 1), "pad": (2, 0)}),
                               (np.float32, (9, 9), {"stride": 1, "pad": 4})]:
        x = rng.standard_normal((3, 2, 13, 12)).astype(dtype)
        w = rng.standard_normal((4, 2, kh, kw)).astype(dtype)
        b = rng.standard_normal(4).astype(dtype)
        out, cache = fl.conv_forward(x, w, b, p)
        dout = rng.standard_normal(out.shape).astype(dtype)
        grads = fl.conv_backward(dout, cache)
        ho, wo = out.shape[2:]
        row_bytes = 2 * kh * kw * wo * np.dtype(dtype).itemsize
        cap = 2 * ho * row_bytes if cap_rows == "images" else cap_rows * row_bytes
        monkeypatch.setattr(fl, "COL_BUFFER_BYTES", cap)
        tiles = list(fl._tiles(3, ho, row_bytes))
        if cap_rows == "images":
            assert tiles == [(0, 2, 0, ho), (2, 3, 0, ho)]
        else:
            assert all(r1 - r0 == min(cap_rows, ho - r0) for _, _, r0, r1 in tiles)
            assert len(tiles) == 3 * -(-ho // cap_rows)
        out_t, cache_t = fl.conv_forward(x, w, b, p)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        assert out_t.dtype == dtype
        assert rel_error(out_t, out) < tol
        for g_t, g in zip(fl.conv_backward(dout, cache_t), grads):
            assert g_t.dtype == dtype and rel_error(g_t, g) < tol
        dx_t, dw_t, db_t = fl.conv_backward(dout, cache_t, param_grads=False)
        assert dw_t is None and db_t is None and rel_error(dx_t, grads[0]) < tol
        monkeypatch.undo()


def test_big_conv_is_tiled_within_the_buffer_cap(monkeypatch):
    """A 9x9 conv whose full column buffer would be ~11x the cap stays within it."""
    monkeypatch.setattr(fl, "COL_BUFFER_BYTES", 1 << 20)
    fl.clear_buffers()
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 96, 96)).astype(np.float32)
    w = rng.standard_normal((8, 3, 9, 9)).astype(np.float32)
    b = np.zeros(8, np.float32)
    out, cache = fl.conv_forward(x, w, b, {"stride": 1, "pad": 4})
    dx, dw, db = fl.conv_backward(np.ones_like(out), cache)
    assert all(buf.nbytes <= 1 << 20 for buf in fl._tls.bufs.values())
    fl.clear_buffers()
    ref_out = fl.conv_forward(x[:1, :, :40, :40], w, b, {"stride": 1, "pad": 4})[0]
    # the top-left output corner only sees the input corner (away from its bottom/right edge)
    assert rel_error(out[:1, :, :30, :30], ref_out[:, :, :30, :30]) < 1e-5


# ----------------------------------------------------------------- Winograd F(2x2, 3x3)
@pytest.mark.parametrize("algo", ["winograd2", "winograd4"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_winograd_conv_matches_naive(dtype, algo):
    """The Winograd paths equal the reference conv: odd and even sizes (tiles that
    overhang the edge), pads 0-2, batches, and the input-only / weight-only backward."""
    rng = np.random.default_rng(11)
    tol = 1e-10 if dtype == np.float64 else 2e-5
    for (N, C, F, H, W), pad in itertools.product(
            [(1, 3, 4, 5, 6), (3, 2, 5, 7, 9), (2, 4, 3, 3, 4), (1, 2, 3, 11, 10)],
            [0, 1, 2, (1, 0)]):
        p = {"stride": 1, "pad": pad}
        x = rng.standard_normal((N, C, H, W)).astype(dtype)
        w = rng.standard_normal((F, C, 3, 3)).astype(dtype)
        b = rng.standard_normal(F).astype(dtype)
        ref, ref_cache = layers.conv_forward(x.astype(np.float64), w.astype(np.float64),
                                             b.astype(np.float64), p)
        dout = rng.standard_normal(ref.shape).astype(dtype)
        want = layers.conv_backward(dout.astype(np.float64), ref_cache)
        with fl.conv_algorithm(algo):
            out, cache = fl.conv_forward(x, w, b, p)
            grads = fl.conv_backward(dout, cache)
            dx_only = fl.conv_backward(dout, cache, param_grads=False)
            params_only = fl.conv_backward(dout, cache, input_grad=False)
        assert out.dtype == dtype and rel_error(out, ref) < tol, (x.shape, pad)
        for got, ref_g in zip(grads, want):
            assert got.dtype == dtype and rel_error(got, ref_g) < tol, (x.shape, pad)
        assert rel_error(dx_only[0], want[0]) < tol and dx_only[1:] == (None, None)
        assert params_only[0] is None
        assert rel_error(params_only[1], want[1]) < tol
        assert rel_error(params_only[2], want[2]) < tol


@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("cap_tile_rows", [1, 2, 5])
def test_winograd_chunks_of_tile_rows_equal_one_pass(monkeypatch, cap_tile_rows, m):
    """With a tiny buffer the tiles run in chunks of tile rows that cross image
    boundaries; the scatter-add of dx must add up across chunks."""
    rng = np.random.default_rng(12)
    x, w, b = rng.standard_normal((3, 4, 17, 8)), rng.standard_normal((5, 4, 3, 3)), \
        rng.standard_normal(5)
    p = {"stride": 1, "pad": 1}
    T, rows, tw = (m + 2) ** 2, 3 * -(-17 // m), -(-8 // m)
    with fl.conv_algorithm(f"winograd{m}"):
        out, cache = fl.conv_forward(x, w, b, p)
        dout = rng.standard_normal(out.shape)
        grads = fl.conv_backward(dout, cache)
        row_bytes = T * 5 * tw * 8
        monkeypatch.setattr(fl, "COL_BUFFER_BYTES", cap_tile_rows * row_bytes)
        assert len(list(fl._row_strips(rows, row_bytes))) == -(-rows // cap_tile_rows)
        out_t, cache_t = fl.conv_forward(x, w, b, p)
        grads_t = fl.conv_backward(dout, cache_t)
    assert rel_error(out_t, out) < 1e-12
    for g_t, g in zip(grads_t, grads):
        assert rel_error(g_t, g) < 1e-12


def test_conv_algorithm_switch():
    """auto picks Winograd only for wide 3x3 stride-1 layers on the compiled kernels;
    unknown names list the choices; the context manager restores the setting."""
    from minicnn import _kernels
    compiled = _kernels.KERNEL_SOURCES["winograd_input"].startswith("cython")
    tile = fl._winograd_tile
    assert fl.get_conv_algorithm() == "auto"
    assert tile(4, 128, 128, 3, 3, 1, 1, 64, 64) == (4 if compiled else 0)
    assert tile(1, 64, 32, 3, 3, 1, 1, 256, 256) == (4 if compiled else 0)
    assert tile(8, 16, 64, 3, 3, 1, 1, 55, 55) == 0                # too few channels
    assert tile(1, 32, 128, 3, 3, 1, 1, 27, 27) == 0               # too few tiles
    assert tile(4, 128, 128, 3, 3, 2, 2, 64, 64) == 0              # stride 2
    assert tile(4, 128, 128, 5, 5, 1, 1, 64, 64) == 0
    with fl.conv_algorithm("winograd2"):
        assert tile(1, 2, 2, 3, 3, 1, 1, 3, 3) == 2
        with fl.conv_algorithm("im2col"):
            assert tile(4, 128, 128, 3, 3, 1, 1, 64, 64) == 0
        assert fl.get_conv_algorithm() == "winograd2"
    with fl.conv_algorithm("winograd4"):
        assert tile(1, 2, 2, 3, 3, 1, 1, 3, 3) == 4
    assert fl.get_conv_algorithm() == "auto"
    with pytest.raises(ValueError, match="auto, im2col, winograd2, winograd4, direct"):
        fl.set_conv_algorithm("fft")
    with pytest.raises(ValueError, match="auto, im2col, winograd2, winograd4, direct"):
        fl.conv_algorithm("gemm")


def test_direct_conv_switch():
    """auto computes large kernels with few channels directly on the compiled kernel;
    "direct" forces every stride-1 conv there (and keeps them off Winograd), "im2col"
    none."""
    from minicnn import _kernels
    compiled = _kernels.KERNEL_SOURCES["conv_direct"].startswith("cython")
    direct = fl._direct
    assert direct(3, 16, 9, 9, 1, 1) == compiled                    # the transformer's conv1
    assert direct(16, 3, 9, 9, 1, 1) == compiled                    # and its output conv
    assert not direct(3, 16, 9, 9, 2, 2)                            # strided
    assert not direct(3, 64, 3, 3, 1, 1)                            # small kernel
    assert not direct(16, 16, 9, 9, 1, 1)                           # many channels
    with fl.conv_algorithm("direct"):
        assert direct(64, 64, 3, 3, 1, 1) and not direct(64, 64, 3, 3, 2, 1)
        assert fl._winograd_tile(4, 128, 128, 3, 3, 1, 1, 64, 64) == 0
    with fl.conv_algorithm("im2col"):
        assert not direct(3, 16, 9, 9, 1, 1)


def test_direct_conv_not_chosen_on_baseline_vectors(monkeypatch):
    """With only 16-byte vectors the direct kernel is slower than the GEMMs: auto keeps
    im2col there (and on the NumPy twin); "direct" still forces it."""
    from minicnn import _kernels
    for isa in ("baseline", None):
        monkeypatch.setattr(_kernels, "direct_isa", lambda isa=isa: isa)
        assert not fl._direct(3, 16, 9, 9, 1, 1)
        with fl.conv_algorithm("direct"):
            assert fl._direct(3, 16, 9, 9, 1, 1)
    for isa in ("avx2", "avx512"):
        monkeypatch.setattr(_kernels, "direct_isa", lambda isa=isa: isa)
        assert fl._direct(3, 16, 9, 9, 1, 1)


# ----------------------------------------------------------------- max pooling
POOLS = [
    dict(pool_height=2, pool_width=2, stride=2),
    dict(pool_height=3, pool_width=3, stride=2),
    dict(pool_height=3, pool_width=3, stride=2, ceil_mode=True),
    dict(pool_height=3, pool_width=3, stride=1),
    dict(pool_height=3, pool_width=3, stride=1, pad=1),
    dict(pool_height=3, pool_width=3, stride=2, pad=1, ceil_mode=True),
    dict(pool_height=2, pool_width=3, stride=(1, 2), pad=(1, 0)),
    dict(pool_height=3, pool_width=2, stride=(2, 1), pad=(0, 1), ceil_mode=True),
]


@pytest.mark.parametrize("pool_param", POOLS, ids=lambda p: "-".join(f"{v}" for v in p.values()))
@pytest.mark.parametrize("shape", [(1, 2, 6, 6), (3, 2, 7, 8), (2, 3, 11, 6)])
def test_max_pool_matches_naive(pool_param, shape):
    rng = np.random.default_rng(10)
    x = rng.permutation(np.prod(shape)).reshape(shape) / 7.0           # unique argmax
    ref, ref_cache = layers.max_pool_forward(x, pool_param)
    out, cache = fl.max_pool_forward(x, pool_param)
    assert out.shape == ref.shape and out.dtype == ref.dtype
    assert rel_error(out, ref) < 1e-9
    dout = rng.standard_normal(ref.shape)
    dx = fl.max_pool_backward(dout, cache)
    assert dx.shape == shape
    assert rel_error(dx, layers.max_pool_backward(dout, ref_cache)) < 1e-9
    # non-contiguous input
    xt = np.ascontiguousarray(x.transpose(0, 1, 3, 2)).transpose(0, 1, 3, 2)
    assert rel_error(fl.max_pool_forward(xt, pool_param)[0], ref) == 0


def test_ceil_mode_sizes_differ_where_expected():
    p = dict(pool_height=3, pool_width=3, stride=2)
    x = np.random.default_rng(11).permutation(2 * 6 * 6).reshape(1, 2, 6, 6).astype(float)
    assert fl.max_pool_forward(x, p)[0].shape == (1, 2, 2, 2)
    assert fl.max_pool_forward(x, dict(p, ceil_mode=True))[0].shape == (1, 2, 3, 3)
    x = x.reshape(-1)[:56].reshape(1, 1, 7, 8)
    assert fl.max_pool_forward(x, p)[0].shape == (1, 1, 3, 3)
    assert fl.max_pool_forward(x, dict(p, ceil_mode=True))[0].shape == (1, 1, 3, 4)


def test_max_pool_squeezenet_pool_and_float32():
    """pool1 of SqueezeNet on 224 input: 3x3/2 ceil on 111x111 -> 55x55, float32 throughout."""
    rng = np.random.default_rng(12)
    x = rng.permutation(2 * 4 * 111 * 111).reshape(2, 4, 111, 111).astype(np.float32)
    p = dict(pool_height=3, pool_width=3, stride=2, ceil_mode=True)
    out, cache = fl.max_pool_forward(x, p)
    ref, ref_cache = layers.max_pool_forward(x, p)
    assert out.dtype == np.float32 and out.shape == (2, 4, 55, 55)
    np.testing.assert_array_equal(out, ref)
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = fl.max_pool_backward(dout, cache)
    assert dx.dtype == np.float32
    np.testing.assert_allclose(dx, layers.max_pool_backward(dout, ref_cache), rtol=1e-6,
                               atol=1e-6)


def test_max_pool_validation_errors_match_layers():
    x = np.zeros((1, 1, 4, 4))
    for p in [dict(pool_height=3, pool_width=3, stride=2, pad=2),
              dict(pool_height=5, pool_width=5, stride=1),
              dict(pool_height=2, pool_width=2, stride=0)]:
        with pytest.raises(ValueError):
            layers.max_pool_forward(x, p)
        with pytest.raises(ValueError):
            fl.max_pool_forward(x, p)
    with pytest.raises(TypeError):
        fl.max_pool_forward(x.astype(int), dict(pool_height=2, pool_width=2, stride=2))


# ----------------------------------------------------------------- average pooling
@pytest.mark.parametrize("pool_param", POOLS, ids=lambda p: "-".join(f"{v}" for v in p.values()))
def test_avg_pool_matches_naive(pool_param):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((2, 3, 7, 8))
    ref, ref_cache = layers.avg_pool_forward(x, pool_param)
    out, cache = fl.avg_pool_forward(x, pool_param)
    assert out.shape == ref.shape and rel_error(out, ref) < 1e-9
    dout = rng.standard_normal(ref.shape)
    assert rel_error(fl.avg_pool_backward(dout, cache),
                     layers.avg_pool_backward(dout, ref_cache)) < 1e-9
    x32 = x.astype(np.float32)
    o32, c32 = fl.avg_pool_forward(x32, pool_param)
    assert o32.dtype == np.float32
    assert fl.avg_pool_backward(dout.astype(np.float32), c32).dtype == np.float32


# ----------------------------------------------------------------- API
def test_public_api_matches_layers():
    for name in layers.__all__:
        assert hasattr(fl, name), name
    for name in ("check_relu_mode", "RELU_MODES", "conv_forward_fast", "conv_backward_fast",
                 "max_pool_forward_fast", "max_pool_backward_fast"):
        assert hasattr(fl, name), name
    assert fl.conv_forward_fast is fl.conv_forward
    assert fl.conv_backward_fast is fl.conv_backward
    assert fl.max_pool_forward_fast is fl.max_pool_forward
    assert fl.max_pool_backward_fast is fl.max_pool_backward
    assert fl.relu_forward is layers.relu_forward
    assert fl.softmax_loss is layers.softmax_loss
    assert fl.conv_forward_naive is layers.conv_forward
