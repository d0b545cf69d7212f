"""Losses of style transfer: gradient checks (float64) and closed-form properties."""
import numpy as np
import pytest

from minicnn.gradient_check import assert_gradients_close, eval_numerical_gradient, \
    eval_numerical_gradient_array
from minicnn.losses import content_loss, gram_backward, gram_forward, gram_matrix, \
    softmax_loss, style_loss, tv_loss


def _rand(rng, *shape):
    return rng.standard_normal(shape)


# One spec list drives every gradient check: (id, build(rng) -> (f, x, analytic)).
def _gram_case(normalize, shape):
    def build(rng):
        x = _rand(rng, *shape)
        dgram = _rand(rng, shape[0], shape[1], shape[1])
        gram, cache = gram_forward(x, normalize)
        dx = gram_backward(dgram, cache)
        numeric = eval_numerical_gradient_array(lambda v: gram_forward(v, normalize)[0], x, dgram)
        return dx, numeric
    return build


def _content_case(rng):
    cur, orig = _rand(rng, 1, 4, 3, 5), _rand(rng, 1, 4, 3, 5)
    loss, d = content_loss(0.7, cur, orig)
    numeric = eval_numerical_gradient(lambda v: content_loss(0.7, v, orig)[0], cur)
    return d, numeric


def _style_case(rng):
    feats = {"a": _rand(rng, 1, 3, 4, 4), "b": _rand(rng, 1, 5, 2, 3)}
    targets = {k: gram_matrix(_rand(rng, *v.shape)) for k, v in feats.items()}
    weights = {"a": 2.0, "b": 30.0}
    loss, dfeats = style_loss(feats, ["a", "b"], targets, weights)
    analytic, numeric = [], []
    for name in ("a", "b"):
        def f(v, name=name):
            return style_loss(dict(feats, **{name: v}), ["a", "b"], targets, weights)[0]
        analytic.append(dfeats[name].ravel())
        numeric.append(eval_numerical_gradient(f, feats[name]).ravel())
    return np.concatenate(analytic), np.concatenate(numeric)


def _tv_case(rng):
    img = _rand(rng, 2, 3, 5, 4)
    loss, d = tv_loss(img, 0.3)
    numeric = eval_numerical_gradient(lambda v: tv_loss(v, 0.3)[0], img)
    return d, numeric


GRADIENT_SPECS = [
    ("gram_normalized", _gram_case(True, (2, 3, 4, 5))),
    ("gram_unnormalized", _gram_case(False, (1, 4, 3, 3))),
    ("content", _content_case),
    ("style_two_layers", _style_case),
    ("tv", _tv_case),
]


@pytest.mark.parametrize("name,build", GRADIENT_SPECS, ids=[s[0] for s in GRADIENT_SPECS])
def test_gradients(name, build, rng):
    analytic, numeric = build(rng)
    assert_gradients_close(analytic, numeric, name=name, tol=1e-7)


def test_gram_symmetric_psd_and_trace(rng):
    x = rng.standard_normal((3, 6, 5, 7))
    g = gram_matrix(x)
    assert g.shape == (3, 6, 6)
    np.testing.assert_allclose(g, g.transpose(0, 2, 1), atol=1e-14)
    assert np.linalg.eigvalsh(g).min() > -1e-12
    np.testing.assert_allclose(np.trace(g, axis1=1, axis2=2), (x ** 2).mean(axis=(1, 2, 3)))
    np.testing.assert_allclose(gram_matrix(x, normalize=False), g * 6 * 5 * 7)


def test_gram_float32_stays_float32(rng):
    x = rng.standard_normal((1, 4, 3, 3)).astype(np.float32)
    g, cache = gram_forward(x)
    assert g.dtype == np.float32
    assert gram_backward(np.ones_like(g), cache).dtype == np.float32


def test_content_loss_value():
    cur, orig = np.ones((1, 2, 2, 2)), np.zeros((1, 2, 2, 2))
    loss, d = content_loss(3.0, cur, orig)
    assert loss == pytest.approx(24.0)
    np.testing.assert_allclose(d, 6.0)


def test_tv_constant_image_is_zero():
    loss, d = tv_loss(np.full((1, 3, 6, 5), 0.42), 2.0)
    assert loss == 0.0
    assert not d.any()


@pytest.mark.parametrize("shape", [(1, 3, 4, 4), (2, 1, 5, 3)])
def test_tv_checkerboard_closed_form(shape):
    n, c, h, w = shape
    board = np.where((np.arange(h)[:, None] + np.arange(w)[None]) % 2 == 0, 1.0, -1.0)
    img = np.broadcast_to(board, shape).copy()
    loss, _ = tv_loss(img, 0.5)
    # every adjacent pair differs by 2: 4 per pair, (H-1)W vertical + H(W-1) horizontal
    assert loss == pytest.approx(0.5 * 4 * n * c * ((h - 1) * w + h * (w - 1)))


def test_style_loss_zero_at_target_and_cs231n_list_form(rng):
    feats = [rng.standard_normal((1, 3, 4, 4)) for _ in range(3)]
    targets = [gram_matrix(feats[i]) for i in (0, 2)]
    loss, dfeats = style_loss(feats, [0, 2], targets, [1.0, 5.0])
    assert loss == pytest.approx(0.0, abs=1e-20)
    assert set(dfeats) == {0, 2}
    assert all(np.abs(d).max() < 1e-12 for d in dfeats.values())
    # cs231n's definition: sum_l w_l * sum((G - A)^2)
    a = rng.standard_normal((1, 3, 3))
    loss, _ = style_loss(feats, [1], [a], [4.0])
    assert loss == pytest.approx(4.0 * np.sum((gram_matrix(feats[1]) - a) ** 2))


def test_style_loss_bad_input(rng):
    feats = {"fire2": rng.standard_normal((1, 3, 4, 4))}
    g = gram_matrix(feats["fire2"])
    with pytest.raises(ValueError, match="style_weights has 2 entries"):
        style_loss(feats, ["fire2"], [g], [1.0, 2.0])
    with pytest.raises(ValueError, match="no features for style layer 'fire3'"):
        style_loss(feats, ["fire3"], [g], [1.0])
    with pytest.raises(ValueError, match="style target for layer 'fire2'"):
        style_loss(feats, ["fire2"], [np.zeros((1, 4, 4))], [1.0])
    with pytest.raises(TypeError, match="features must be a float array"):
        gram_forward(np.ones((1, 2, 2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"features must have shape \(N, C, H, W\)"):
        gram_forward(np.ones((2, 2, 2)))
    with pytest.raises(ValueError, match="content_original must have the shape"):
        content_loss(1.0, np.ones((1, 2, 2, 2)), np.ones((1, 2, 2, 3)))


def test_softmax_loss_reexported():
    loss, dx = softmax_loss(np.zeros((2, 4)), np.array([0, 3]))
    assert loss == pytest.approx(np.log(4))
