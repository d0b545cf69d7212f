"""Efros-Leung texture synthesis (Cython kernel and NumPy twin) and Gram texture synthesis."""
import numpy as np
import pytest

from minicnn.techniques import texture as T
from minicnn.techniques.texture import efros_leung, window_ssd_numpy

try:
    from minicnn._texture import window_ssd as cython_window_ssd
except ImportError:  # pragma: no cover - depends on the build
    cython_window_ssd = None

needs_ext = pytest.mark.skipif(cython_window_ssd is None, reason="minicnn._texture not built")


def _noise_texture(rng, shape=(20, 20, 3)):
    return rng.integers(1, 256, size=shape, dtype=np.uint8)


def test_every_output_pixel_comes_from_the_source(rng):
    src = _noise_texture(rng)
    out = efros_leung(src, (14, 17), window=5, rng=1)
    assert out.shape == (14, 17, 3) and out.dtype == np.uint8
    source_pixels = {tuple(p) for p in src.reshape(-1, 3)}
    assert all(tuple(p) in source_pixels for p in out.reshape(-1, 3))


def test_no_pixel_left_unfilled_even_with_tiny_threshold(rng):
    src = _noise_texture(rng, (16, 16))          # grey, values >= 1, so 0 means unfilled
    fractions = []
    out = efros_leung(src, 12, window=5, rng=2, max_err_threshold=1e-4,
                      callback=lambda f, img: fractions.append(f))
    assert out.shape == (12, 12)
    assert (out > 0).all()
    assert fractions[-1] == 1.0 and np.all(np.diff(fractions) >= 0)


def test_seeded_runs_identical_and_seeds_differ(rng):
    src = _noise_texture(rng)
    a = efros_leung(src, 12, window=5, rng=np.random.default_rng(7))
    b = efros_leung(src, 12, window=5, rng=np.random.default_rng(7))
    c = efros_leung(src, 12, window=5, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_periodic_source_gives_periodic_output(rng):
    period = 4
    tile = rng.permutation(256)[:period * period].reshape(period, period).astype(np.uint8)
    src = np.tile(tile, (6, 6))                                  # 24 x 24, period 4
    out = efros_leung(src, 18, window=7, rng=3)
    np.testing.assert_array_equal(out[period:], out[:-period])
    np.testing.assert_array_equal(out[:, period:], out[:, :-period])
    assert len(np.unique(out)) == period * period


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels,known", [(1, 121), (3, 40), (3, 1)])
def test_cython_kernel_equals_numpy_twin(dtype, channels, known, rng):
    win = 11
    src = rng.random((channels, 30, 25)).astype(dtype)
    ks = np.sort(rng.permutation(win * win)[:known])
    rows, cols = np.divmod(ks, win)
    tmpl = rng.random((channels, known)).astype(dtype)
    w = rng.random(known).astype(dtype)
    out_c = np.empty((20, 15), dtype)
    out_n = np.empty((20, 15), dtype)
    cython_window_ssd(src, tmpl, rows.astype(np.intp), cols.astype(np.intp), w, out_c)
    window_ssd_numpy(src, tmpl, rows.astype(np.intp), cols.astype(np.intp), w, out_n)
    np.testing.assert_array_equal(out_c, out_n)
    # and the formula itself, computed independently
    ref = np.zeros((20, 15))
    for k in range(known):
        patch = src[:, rows[k]:rows[k] + 20, cols[k]:cols[k] + 15].astype(np.float64)
        ref += w[k] * ((patch - tmpl[:, k, None, None]) ** 2).sum(0)
    np.testing.assert_allclose(out_c, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)


@needs_ext
def test_cython_and_numpy_syntheses_identical(rng, monkeypatch):
    src = _noise_texture(rng, (18, 18, 3))
    monkeypatch.setattr(T, "window_ssd", cython_window_ssd)
    a = efros_leung(src, 12, window=5, rng=4)
    monkeypatch.setattr(T, "window_ssd", window_ssd_numpy)
    b = efros_leung(src, 12, window=5, rng=4)
    np.testing.assert_array_equal(a, b)


@needs_ext
def test_kernel_rejects_bad_offsets(rng):
    src = rng.random((1, 10, 10))
    out = np.empty((6, 6))
    with pytest.raises(ValueError, match="outside"):
        cython_window_ssd(src, np.zeros((1, 1)), np.array([5], np.intp),
                          np.array([0], np.intp), np.ones(1), out)


def test_grey_and_colour_shared_textures():
    from PIL import Image

    from minicnn.data import find_image, load_image
    img = load_image(find_image("brick"))
    small = np.asarray(Image.fromarray(img).resize((32, 32)))
    colour = efros_leung(small, 20, window=7, rng=0)
    grey = efros_leung(small.mean(-1).astype(np.uint8), 20, window=7, rng=0)
    assert colour.shape == (20, 20, 3) and grey.shape == (20, 20)
    assert colour.std() > 5 and grey.std() > 5        # a texture, not a flat image


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(window=4), ValueError, "window must be an odd integer"),
    (dict(window=31), ValueError, "must not exceed the source's short side"),
    (dict(rng="seed"), TypeError, "rng must be"),
    (dict(out_size=(3, 4, 5)), ValueError, "out_size"),
    (dict(out_size=0), ValueError, "out_size must be positive"),
])
def test_bad_input(kwargs, error, match, rng):
    args = dict(source=_noise_texture(rng), out_size=10, window=5)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        efros_leung(**args)
    with pytest.raises(ValueError, match="source must be"):
        efros_leung(np.zeros((2, 3, 4, 5)), 10)


def test_pure_numpy_env_selects_the_twin():
    import os
    import subprocess
    import sys
    code = ("from minicnn.techniques import texture as T; "
            "print(T.TEXTURE_BACKEND, T.window_ssd is T.window_ssd_numpy)")
    env = dict(os.environ, MINICNN_PURE_NUMPY="1")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert r.stdout.split() == ["numpy", "True"], r.stderr


def test_cli_texture_efros_leung(tmp_path, capsys):
    from minicnn.cli import main
    assert main(["texture", "gravel", "--size", "12", "--source-size", "20", "--window", "5",
                 "--out", str(tmp_path)]) == 0
    from minicnn.data import load_image
    img = load_image(tmp_path / "texture_efros_leung_gravel.png")
    assert img.shape == (12, 12, 3)


@needs_ext
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cython_fill_pass_equals_numpy_twin(dtype, rng):
    from minicnn._texture import fill_pass
    win, half = 5, 2
    src = rng.random((3, 14, 16)).astype(dtype)
    gauss = T.gaussian_window(win).astype(dtype).ravel()
    states = []
    for fn in (fill_pass, T.fill_pass_numpy):
        r = np.random.default_rng(3)
        canvas = np.zeros((3, 10 + 2 * half, 9 + 2 * half), dtype)
        filled = np.zeros(canvas.shape[1:], np.uint8)
        canvas[:, 6:9, 5:8] = src[:, 2:5, 3:6]
        filled[6:9, 5:8] = 1
        where = np.full((10, 9, 2), -1, np.int64)
        pix = np.argwhere(np.ones((10, 9), bool)).astype(np.intp)[r.permutation(90)]
        u = r.random(90)
        dist = np.empty((10, 12), dtype)
        n = fn(src, canvas, filled, where, np.ascontiguousarray(pix), u, gauss, win, 0.1,
               0.05, dist)
        states.append((n, canvas, filled, where))
    assert states[0][0] == states[1][0] > 0
    for a, b in zip(states[0][1:], states[1][1:]):
        np.testing.assert_array_equal(a, b)


def test_nan_source_is_refused_not_a_hang(rng):
    """Issue 10, item 10: a 3x3 block of NaN pixels made the synthesis loop forever."""
    src = _noise_texture(rng).astype(np.float64)
    src[4:7, 4:7] = np.nan
    with pytest.raises(ValueError, match="source contains 27 NaN"):
        efros_leung(src, 10, window=5)
    with pytest.raises(ValueError, match="relax must be"):
        efros_leung(_noise_texture(rng), 10, window=5, relax=float("nan"))


def test_texture_twins_live_in_kernels():
    from minicnn import _kernels
    from minicnn.techniques import texture as T
    assert T.window_ssd_numpy is _kernels.window_ssd_numpy is _kernels.numpy.window_ssd
    assert T.fill_pass_numpy is _kernels.fill_pass_numpy


def test_cli_texture_defaults_are_not_thumbnails_and_show_the_source(cnn, tmp_path):
    """Issue 11, item 6: Efros-Leung defaults to 96 px and Gram synthesis to 192 px
    (64 px thumbnails hid the texture), and the source as used is saved beside."""
    from minicnn.cli import main
    from minicnn.data import load_image
    assert main(["texture", "gravel", "--source-size", "24", "--window", "5",
                 "--out", str(tmp_path)]) == 0
    assert load_image(tmp_path / "texture_efros_leung_gravel.png").shape == (96, 96, 3)
    assert min(load_image(tmp_path / "texture_source_gravel.png").shape[:2]) == 24
    assert main(["texture", "starry_night", "--method", "gram", "--steps", "5",
                 "--out", str(tmp_path)]) == 0
    assert load_image(tmp_path / "texture_gram_starry_night.png").shape == (192, 192, 3)
    assert min(load_image(tmp_path / "texture_source_starry_night.png").shape[:2]) == 192
