"""Neural style transfer: one forward/backward per iteration, blends, presets, bad input,
and (real weights) the style-loss reductions of cs231n's three presets."""
import numpy as np
import pytest

from minicnn.gradient_check import rel_error
from minicnn.techniques.regularizers import IMAGENET_PIXEL_STD
from minicnn.techniques import style as S
from minicnn.techniques.style import style_targets, style_transfer, style_transfer_preset


class Counting:
    """A model proxy that records every forward/backward call."""

    def __init__(self, cnn):
        self.cnn, self.forwards, self.backwards = cnn, [], []

    def __getattr__(self, name):
        return getattr(self.cnn, name)

    def forward(self, x, start=None, end=None):
        self.forwards.append(end)
        return self.cnn.forward(x, start=start, end=end)

    def backward(self, dout, cache, relu_mode="standard", param_grads=True):
        self.backwards.append((sorted(dout) if isinstance(dout, dict) else None, param_grads))
        return self.cnn.backward(dout, cache, relu_mode=relu_mode, param_grads=param_grads)


def _img(rng, h=40, w=48, channels=3):
    shape = (h, w) if channels == 1 else (h, w, channels)
    return rng.integers(0, 256, size=shape, dtype=np.uint8)


#: One normalized unit of the tiny model (torchvision normalization) in pixel levels:
#: learning rates, clamps and TV weights are in pixel units.
PX = IMAGENET_PIXEL_STD

TINY = dict(style_weights=(2.0, 1.0, 1.0, 1.0), content_weight=0.1, tv_weight=1e-3 / PX ** 2,
            style_size=36, image_size=36)


def test_one_forward_and_one_backward_per_iteration(tiny, rng):
    model = Counting(tiny)
    style_transfer(model, _img(rng), _img(rng), iterations=5, **TINY)
    # setup: content target (to fire2) and style targets (to fire5); then 5 + 1 final
    loop = model.forwards[2:]
    assert loop == ["fire5"] * 6
    assert len(model.backwards) == 5
    assert all(keys == ["conv1", "fire2", "fire3", "fire4", "fire5"] and not pg
               for keys, pg in model.backwards)


def test_forward_stops_at_deepest_needed_layer(tiny, rng):
    model = Counting(tiny)
    style_transfer(model, _img(rng), _img(rng), iterations=2, init="noise",
                   **dict(TINY, style_weights=(0, 0, 0, 0)))        # feature inversion
    assert model.forwards == ["fire2"] * 4
    model = Counting(tiny)
    style_transfer(model, _img(rng), _img(rng), iterations=2,
                   style_layers=("conv1", "fire3"), **dict(TINY, style_weights=(1, 1)))
    assert set(model.forwards[1:]) == {"fire3"}


def test_objective_gradient_matches_numeric(tiny, rng):
    """The summed content + style + TV loss, its gradient by the injected backward."""
    objective, content_x = S._build_objective(tiny, _img(rng), _img(rng), TINY["style_weights"],
                                              0.1, 1e-3, "fire2", S.DEFAULT_STYLE_LAYERS, 36,
                                              36, None)
    x = content_x + rng.uniform(-0.5, 0.5, content_x.shape)
    losses, dx = objective(x)
    f = lambda v: objective(v, grad=False)[0]["total"]             # noqa: E731
    h = 1e-5
    for _ in range(3):                                              # random directions
        v = rng.standard_normal(x.shape)
        numeric = (f(x + h * v) - f(x - h * v)) / (2 * h)
        assert rel_error(np.sum(dx * v), numeric) < 1e-7
    for idx in [(0, 0, 0, 0), (0, 1, 17, 5), (0, 2, 35, 42), (0, 0, 20, 30)]:   # coordinates
        e = np.zeros_like(x)
        e[idx] = 1
        numeric = (f(x + h * e) - f(x - h * e)) / (2 * h)
        assert rel_error(dx[idx], numeric) < 1e-7


def test_blending_a_style_with_itself_or_reordering_changes_nothing(tiny, rng):
    a, b = _img(rng), _img(rng, 50, 40)
    layers = S.DEFAULT_STYLE_LAYERS
    single = style_targets(tiny, a, layers, 36)
    doubled = style_targets(tiny, [a, a], layers, 36, blend=[0.3, 1.7])
    for name in layers:
        np.testing.assert_allclose(doubled[name], single[name], rtol=1e-12, atol=1e-15)
    ab = style_targets(tiny, [a, b], layers, 36, blend=[1, 3])
    ba = style_targets(tiny, [b, a], layers, 36, blend=[0.75, 0.25])
    for name in layers:
        np.testing.assert_allclose(ab[name], ba[name], rtol=1e-12, atol=1e-15)
    content = _img(rng)
    y1 = style_transfer(tiny, content, [a, b], blend=[1, 3], iterations=3, **TINY)
    y2 = style_transfer(tiny, content, [b, a], blend=[6, 2], iterations=3, **TINY)
    np.testing.assert_allclose(y1, y2, rtol=1e-10, atol=1e-12)


def test_blend_weights_are_the_weighted_average(tiny, rng):
    a, b = _img(rng), _img(rng)
    ga, gb = (style_targets(tiny, s, ("fire3",), 36)["fire3"] for s in (a, b))
    mix = style_targets(tiny, [a, b], ("fire3",), 36, blend=[1, 3])["fire3"]
    np.testing.assert_allclose(mix, 0.25 * ga + 0.75 * gb, rtol=1e-12)


def test_seeded_noise_runs_identical(tiny, rng):
    content, style = _img(rng), _img(rng)
    runs = [style_transfer(tiny, content, style, iterations=3, init="noise",
                           rng=np.random.default_rng(5), **TINY) for _ in range(2)]
    np.testing.assert_array_equal(*runs)


def test_loss_decreases_on_tiny(tiny, rng):
    history = []
    style_transfer(tiny, _img(rng), _img(rng), iterations=30, history=history,
                   learning_rate=0.05 * PX, decay_lr_at=25, decayed_lr=0.01 * PX, **TINY)
    assert len(history) == 31
    assert history[-1]["total"] < 0.5 * history[0]["total"]


def test_grey_rgba_and_different_sizes_are_accepted(tiny, rng):
    grey = _img(rng, 60, 80, channels=1)
    rgba = _img(rng, 120, 45, channels=4)
    x = style_transfer(tiny, grey, rgba, iterations=1, **TINY)
    assert x.shape == (1, 3, 36, 48)                  # content short side 36, aspect kept
    small = style_targets(tiny, rgba, ("fire5",), 36)["fire5"]
    large = style_targets(tiny, rgba, ("fire5",), 72)["fire5"]
    assert small.shape == large.shape and not np.allclose(small, large)


def test_keep_colors_keeps_content_chrominance(tiny, rng):
    content = _img(rng)
    x = style_transfer(tiny, content, _img(rng), iterations=3, keep_colors=True, **TINY)
    out = tiny.deprocess(x).astype(float) @ S._RGB_TO_YIQ.T
    ref = tiny.deprocess(S.prepare_image(tiny, content, 36)).astype(float) @ S._RGB_TO_YIQ.T
    clipped = (tiny.deprocess(x) == 0) | (tiny.deprocess(x) == 255)
    ok = ~clipped.any(-1)
    assert np.abs(out[ok, 1:] - ref[ok, 1:]).max() < 2.0


def test_interrupt_returns_best_so_far(tiny, rng):
    seen, images = [], []

    def callback(t, x, losses):
        seen.append(losses["total"])
        images.append(x.copy())
        if t == 3:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted"):
        x = style_transfer(tiny, _img(rng), _img(rng), iterations=10, callback=callback, **TINY)
    assert x.shape == (1, 3, 36, 43) and len(seen) == 4
    np.testing.assert_array_equal(x, images[int(np.argmin(seen))])


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(init="zeros"), ValueError, "unknown init 'zeros'; choose one of content, noise"),
    (dict(style_layers=("conv1", "fire33"), style_weights=(1, 1)), ValueError,
     "unknown style layer 'fire33'"),
    (dict(style_weights=(1, 2)), ValueError, "style_weights has 2 entries"),
    (dict(blend=[1, 2]), ValueError, "blend must have one weight per style"),
    (dict(tv_weight=-1.0), ValueError, "tv_weight must be a non-negative"),
    (dict(rng="x"), TypeError, "rng must be"),
])
def test_bad_arguments(tiny, rng, kwargs, error, match):
    args = dict(TINY)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        style_transfer(tiny, _img(rng), _img(rng), iterations=1, **args)


def test_unknown_style_name_lists_available(tiny):
    with pytest.raises(ValueError, match="unknown style 'monet'; available styles: "
                                         "composition_vii, the_scream, starry_night"):
        S.load_style_image("monet")
    with pytest.raises(ValueError, match="unknown preset 'monet'; available presets"):
        style_transfer_preset(tiny, "monet")


# --------------------------------------------------------------------------- real weights
def _reduction(history):
    return 1.0 - history[-1]["style"] / history[0]["style"]


@pytest.mark.parametrize("preset", ["composition_vii", "the_scream", "starry_night"])
def test_presets_lower_style_loss_80_percent(cnn, data, preset):
    history = []
    x = style_transfer_preset(cnn, preset, history=history)
    assert x.shape == (1, 3, 192, 256)
    assert _reduction(history) >= 0.80, f"{preset}: {_reduction(history):.1%}"
    assert history[-1]["content"] < 1e6 and np.isfinite(x).all()


def test_gram_texture_synthesis_lowers_loss_85_percent(cnn, data):
    from minicnn.techniques import texture_synthesis
    history = []
    x = texture_synthesis(cnn, "starry_night", history=history, rng=0)
    assert x.shape[:2] == (1, 3)
    assert _reduction(history) >= 0.85, f"{_reduction(history):.1%}"


def test_cli_style_and_unknown_style(cnn, data, tmp_path, capsys):
    from minicnn.cli import main
    args = ["--steps", "2", "--image-size", "48", "--style-size", "48", "--out", str(tmp_path)]
    assert main(["style", "tubingen", "starry_night", "the_scream", "--blend", "1,3"]
                + args) == 0
    assert (tmp_path / "style_tubingen_starry_night+the_scream.png").is_file()
    assert main(["style", "tubingen", "monet"] + args) == 1
    assert "unknown style 'monet'; available styles" in capsys.readouterr().err


def test_checkpoint_resume_is_bit_identical(tiny, rng, tmp_path):
    content, style = _img(rng), _img(rng)
    args = dict(TINY, iterations=9, learning_rate=0.05 * PX, decay_lr_at=5,
                decayed_lr=0.01 * PX)
    full = style_transfer(tiny, content, style, **args)
    ckpt = tmp_path / "run.npz"

    def stop_at_6(t, x, losses):
        if t == 6:
            raise KeyboardInterrupt

    with pytest.warns(UserWarning, match="interrupted"):
        style_transfer(tiny, content, style, checkpoint=ckpt, checkpoint_every=4,
                       callback=stop_at_6, **args)
    assert ckpt.is_file()
    resumed = style_transfer(tiny, content, style, checkpoint=ckpt, checkpoint_every=4, **args)
    np.testing.assert_array_equal(resumed, full)
    # periodic checkpoints alone (as after SIGKILL): resume from iteration 4
    ckpt2 = tmp_path / "periodic.npz"
    style_transfer(tiny, content, style, checkpoint=ckpt2, checkpoint_every=4,
                   **dict(args, iterations=6))          # leaves a checkpoint at 4
    with np.load(ckpt2) as z:
        assert int(z["iteration"]) == 4
    resumed = style_transfer(tiny, content, style, checkpoint=ckpt2, **args)
    np.testing.assert_array_equal(resumed, full)


def test_corrupted_checkpoint_is_refused(tiny, rng, tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="corrupted or not a style-transfer checkpoint"):
        style_transfer(tiny, _img(rng), _img(rng), iterations=2, checkpoint=bad, **TINY)
    assert bad.read_bytes() == b"not a zip file"


def test_checkpoint_of_other_settings_is_refused(tiny, rng, tmp_path):
    """Issue 10, item 6: a checkpoint written with other style weights (or other
    images) is refused, as fast-style training does; the same settings resume."""
    content, style = _img(rng), _img(rng)
    ckpt = tmp_path / "run.npz"
    style_transfer(tiny, content, style, iterations=2, checkpoint=ckpt, checkpoint_every=1,
                   **TINY)
    before = ckpt.read_bytes()
    with pytest.raises(ValueError, match=r"different settings \(style_weights: \[2\.0"):
        style_transfer(tiny, content, style, iterations=3, checkpoint=ckpt,
                       **dict(TINY, style_weights=(5.0, 1.0, 1.0, 1.0)))
    with pytest.raises(ValueError, match="different settings.*inputs"):
        style_transfer(tiny, content, _img(rng), iterations=3, checkpoint=ckpt, **TINY)
    assert ckpt.read_bytes() == before
    style_transfer(tiny, content, style, iterations=3, checkpoint=ckpt, **TINY)


@pytest.mark.parametrize("kwargs,match", [
    (dict(learning_rate=-3), "learning_rate must be positive, got -3"),
    (dict(learning_rate=float("nan")), "learning_rate must be positive, got nan"),
    (dict(decayed_lr=0), "decayed_lr must be positive"),
    (dict(checkpoint_every=0), "checkpoint_every must be positive"),
    (dict(style_size=-4), "style_size must be positive"),
])
def test_bad_schedule_is_refused(tiny, rng, kwargs, match):
    """Issue 10, items 5 and 11: negative / NaN learning rates, checkpoint_every=0."""
    with pytest.raises(ValueError, match=match):
        style_transfer(tiny, _img(rng), _img(rng), iterations=1, **dict(TINY, **kwargs))


def test_any_image_name_is_a_content_or_style(cnn, tmp_path, capsys):
    """Every image name of minicnn.data.find_image works as content (issue 10's
    catalogue found `style chelsea ...` refused)."""
    from minicnn.cli import main
    from minicnn.techniques.style import available_styles, load_style_image
    assert {"chelsea", "kitten", "brick", "starry_night", "tubingen"} <= set(available_styles())
    assert load_style_image("chelsea").shape == (300, 451, 3)
    assert main(["style", "chelsea", "starry_night", "--steps", "2", "--image-size", "48",
                 "--out", str(tmp_path)]) == 0
    assert (tmp_path / "style_chelsea_starry_night.png").is_file()
    assert "style loss" in capsys.readouterr().out


def test_keep_content_colors_keeps_the_content_size(cnn):
    """Issue 11, item 6: --keep-colors returned 341x256 for a 256x192 content (the
    model's default resize); the output now has the content's size."""
    from minicnn.data import find_image, load_image
    from minicnn.techniques.style import keep_content_colors
    content = cnn.preprocess(load_image(find_image("chelsea")), size=192, crop=(192, 256))
    x = content[:, ::-1].copy()                                  # some other colours
    out = keep_content_colors(cnn, x, content)
    assert out.shape == content.shape == (1, 3, 192, 256)


def test_prepare_image_with_no_size_keeps_the_size(cnn):
    """size=None keeps the image as it is (the model's own preprocess(size=None) resizes
    to its evaluation size, 256: a 128 px content once met a 256 px target)."""
    from minicnn.techniques.style import prepare_image
    img = np.random.default_rng(0).integers(0, 256, (100, 130, 3), dtype=np.uint8)
    assert prepare_image(cnn, img, None).shape == (1, 3, 100, 130)
    assert prepare_image(cnn, img, 50).shape == (1, 3, 50, 65)
