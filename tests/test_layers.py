"""Numeric gradient checks for every layer pair (float64, h=1e-5, rel error < 1e-7),
generated from one spec list, plus the ReLU rules and the composites.

Inputs are chosen away from kinks: ReLU inputs are kept |x| > 0.05 and max-pool
inputs are random permutations (no ties) spaced far apart relative to h.
"""
import zlib

import numpy as np
import pytest

from minicnn import fast_layers, layer_utils, layers
from minicnn.gradient_check import (assert_gradients_close, eval_numerical_gradient,
                                    eval_numerical_gradient_array, rel_error)

TOL = 1e-7


def away_from_zero(rng, shape, margin=0.05):
    """Normal values with |x| >= margin (no ReLU kink within h of any input)."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin * 2, x)


def distinct(rng, shape):
    """A random permutation of well separated values: max pooling has no ties."""
    return rng.permutation(np.prod(shape)).reshape(shape) * 0.1 + rng.random(shape) * 0.01


# One spec per layer pair: (id, make inputs, forward(*inputs) -> out, backward(dout, cache)).
# inputs: dict name -> array; the gradient of every input is checked.
def _conv(stride, pad, kshape, xshape, conv=layers):
    def make(rng):
        return {"x": rng.standard_normal(xshape), "w": rng.standard_normal((4, xshape[1]) + kshape),
                "b": rng.standard_normal(4)}

    def fwd(x, w, b):
        return conv.conv_forward(x, w, b, {"stride": stride, "pad": pad})
    return make, fwd, conv.conv_backward


def _winograd_conv(m, pad, xshape):
    """fast_layers' conv forced onto the Winograd F(m x m, 3x3) path (odd sizes: edge tiles)."""
    make, fwd, bwd = _conv(1, pad, (3, 3), xshape, conv=fast_layers)

    def forward(x, w, b):
        with fast_layers.conv_algorithm(f"winograd{m}"):
            return fwd(x, w, b)

    def backward(dout, cache):
        with fast_layers.conv_algorithm(f"winograd{m}"):
            return bwd(dout, cache)
    return make, forward, backward


def _pool(kind, k, s, pad, ceil, shape):
    f = getattr(layers, f"{kind}_pool_forward")
    b = getattr(layers, f"{kind}_pool_backward")
    param = {"pool_height": k[0], "pool_width": k[1], "stride": s, "pad": pad, "ceil_mode": ceil}
    return (lambda rng: {"x": distinct(rng, shape)}), (lambda x: f(x, param)), b


SPECS = {
    "affine": ((lambda rng: {"x": rng.standard_normal((3, 2, 4)), "w": rng.standard_normal((8, 5)),
                             "b": rng.standard_normal(5)}),
               layers.affine_forward, layers.affine_backward),
    "relu": ((lambda rng: {"x": away_from_zero(rng, (3, 4, 5))}),
             layers.relu_forward, layers.relu_backward),
    "conv_3x3_s1_p1": _conv(1, 1, (3, 3), (2, 3, 5, 6)),
    "conv_3x3_s2_p0": _conv(2, 0, (3, 3), (2, 3, 7, 7)),
    "conv_3x5_s(2,1)_p(1,2)": _conv((2, 1), (1, 2), (3, 5), (2, 2, 6, 5)),
    "conv_1x1": _conv(1, 0, (1, 1), (2, 3, 4, 3)),
    "fast_conv_3x3_s2_p1": _conv(2, 1, (3, 3), (2, 3, 7, 6), conv=fast_layers),
    "fast_conv_1x1": _conv(1, 0, (1, 1), (2, 3, 4, 5), conv=fast_layers),
    "winograd2_conv_3x3_p1": _winograd_conv(2, 1, (2, 3, 5, 6)),
    "winograd2_conv_3x3_p0": _winograd_conv(2, 0, (2, 3, 7, 6)),
    "winograd4_conv_3x3_p1": _winograd_conv(4, 1, (2, 3, 7, 6)),
    "winograd4_conv_3x3_p0": _winograd_conv(4, 0, (1, 2, 9, 11)),
    "max_pool_2x2_s2": _pool("max", (2, 2), 2, 0, False, (2, 3, 4, 6)),
    "max_pool_3x3_s2_ceil": _pool("max", (3, 3), 2, 0, True, (2, 2, 6, 7)),
    "max_pool_3x2_s1_pad1": _pool("max", (3, 2), 1, 1, False, (1, 2, 5, 4)),
    "avg_pool_3x3_s2_ceil": _pool("avg", (3, 3), 2, 0, True, (2, 2, 6, 7)),
    "avg_pool_2x2_s1_pad1": _pool("avg", (2, 2), 1, 1, False, (1, 2, 4, 5)),
    "global_avg_pool": ((lambda rng: {"x": rng.standard_normal((2, 3, 4, 5))}),
                        layers.global_avg_pool_forward, layers.global_avg_pool_backward),
    "concat": ((lambda rng: {"a": rng.standard_normal((2, 3, 4, 4)),
                             "b": rng.standard_normal((2, 1, 4, 4)),
                             "c": rng.standard_normal((2, 2, 4, 4))}),
               layers.concat_forward, layers.concat_backward),
    "dropout_train": ((lambda rng: {"x": rng.standard_normal((3, 10))}),
                      (lambda x: layers.dropout_forward(
                          x, {"p": 0.3, "mode": "train", "rng": np.random.default_rng(5)})),
                      layers.dropout_backward),
    "conv_relu": ((lambda rng: {"x": rng.standard_normal((2, 3, 5, 5)),
                                "w": rng.standard_normal((4, 3, 3, 3)) * 0.3,
                                "b": np.array([0.5, -0.3, 0.7, 0.2])}),
                  (lambda x, w, b: layer_utils.conv_relu_forward(x, w, b, {"stride": 1, "pad": 1})),
                  layer_utils.conv_relu_backward),
    "fire": ((lambda rng: {"x": rng.standard_normal((2, 4, 5, 5)),
                           "w_s": rng.standard_normal((3, 4, 1, 1)) * 0.5,
                           "b_s": np.full(3, 1.5),
                           "w_e1": rng.standard_normal((2, 3, 1, 1)) * 0.5,
                           "b_e1": np.full(2, 1.0),
                           "w_e3": rng.standard_normal((3, 3, 3, 3)) * 0.2,
                           "b_e3": np.full(3, 2.0)}),
             layer_utils.fire_forward, layer_utils.fire_backward),
}


@pytest.mark.parametrize("name", sorted(SPECS))
def test_layer_gradient(name):
    make, forward, backward = SPECS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = make(rng)
    out, cache = forward(*inputs.values())
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    if not isinstance(grads, tuple):
        grads = (grads,)
    assert len(grads) == len(inputs), f"{name}: backward must return one gradient per input"
    for (arg, value), grad in zip(inputs.items(), grads):
        def f(v, arg=arg):
            args = dict(inputs, **{arg: v})
            return forward(*args.values())[0]
        num = eval_numerical_gradient_array(f, value, dout)
        assert_gradients_close(grad, num, name=f"{name}:{arg}", tol=TOL)


def test_softmax_loss_gradient():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((5, 7)), rng.integers(0, 7, 5)
    loss, dx = layers.softmax_loss(x, y)
    num = eval_numerical_gradient(lambda v: layers.softmax_loss(v, y)[0], x.copy())
    assert_gradients_close(dx, num, "x")
    assert abs(loss - np.log(7)) < 1.5


def test_softmax_loss_rejects_bad_shapes():
    with pytest.raises(ValueError, match="x \\(N, K\\)"):
        layers.softmax_loss(np.zeros((3, 4)), np.zeros(2, dtype=int))


# ----------------------------------------------------------------------------- ReLU rules
def test_relu_rules_formulas():
    x = np.array([[-2.0, -1.0, 1.0, 2.0]])
    dout = np.array([[3.0, -3.0, 4.0, -4.0]])
    _, cache = layers.relu_forward(x)
    np.testing.assert_array_equal(layers.relu_backward(dout, cache, "standard"), [[0, 0, 4, -4]])
    np.testing.assert_array_equal(layers.relu_backward(dout, cache, "deconvnet"), [[3, 0, 4, 0]])
    np.testing.assert_array_equal(layers.relu_backward(dout, cache, "guided"), [[0, 0, 4, 0]])


def test_relu_guided_support_and_positive_upstream():
    rng = np.random.default_rng(3)
    x, dout = rng.standard_normal((4, 50)), rng.standard_normal((4, 50))
    _, cache = layers.relu_forward(x)
    std = layers.relu_backward(dout, cache, "standard")
    guided = layers.relu_backward(dout, cache, "guided")
    assert np.all(guided[std == 0] == 0) and np.all(guided[~cache] == 0)
    pos = np.abs(dout)
    np.testing.assert_array_equal(layers.relu_backward(pos, cache, "guided"),
                                  layers.relu_backward(pos, cache, "standard"))
    # guided uses a 0/1 mask, never the activation value
    assert set(np.unique(guided[guided != 0] / dout[guided != 0])) == {1.0}


def test_relu_unknown_mode_lists_choices():
    _, cache = layers.relu_forward(np.ones(3))
    with pytest.raises(ValueError, match="standard.*deconvnet.*guided"):
        layers.relu_backward(np.ones(3), cache, "leaky")


# ----------------------------------------------------------------------------- shapes and errors
@pytest.mark.parametrize("size,k,s,p,ceil,expected", [
    (224, 3, 2, 0, False, 111), (111, 3, 2, 0, True, 55), (113, 3, 2, 0, True, 56),
    (56, 3, 2, 0, True, 28), (56, 3, 2, 0, False, 27), (6, 3, 2, 1, True, 4), (5, 2, 2, 1, True, 3),
])
def test_pool_output_size(size, k, s, p, ceil, expected):
    assert layers.pool_output_size(size, k, s, p, ceil) == expected


def test_ceil_mode_window_hangs_over_edge():
    x = distinct(np.random.default_rng(0), (1, 1, 6, 6))
    out, _ = layers.max_pool_forward(x, {"pool_height": 3, "pool_width": 3, "stride": 2,
                                         "ceil_mode": True})
    assert out.shape == (1, 1, 3, 3)
    assert out[0, 0, 2, 2] == x[0, 0, 4:, 4:].max()


def test_conv_rejects_bad_input():
    w, b = np.zeros((2, 3, 3, 3)), np.zeros(2)
    with pytest.raises(ValueError, match="channels"):
        layers.conv_forward(np.zeros((1, 4, 5, 5)), w, b, {})
    with pytest.raises(TypeError, match="float"):
        layers.conv_forward(np.zeros((1, 3, 5, 5), dtype=int), w, b, {})
    with pytest.raises(ValueError, match="too small"):
        layers.conv_forward(np.zeros((1, 3, 2, 2)), w, b, {})
    with pytest.raises(ValueError, match="dimensions"):
        layers.conv_forward(np.zeros((3, 5, 5)), w, b, {})


def test_dropout_modes_and_rng():
    x = np.ones((1000,))
    out, _ = layers.dropout_forward(x, {"p": 0.5, "mode": "test"})
    assert out is x
    param = {"p": 0.25, "mode": "train", "rng": np.random.default_rng(7)}
    a, _ = layers.dropout_forward(x, param)
    b, _ = layers.dropout_forward(x, dict(param, rng=np.random.default_rng(7)))
    np.testing.assert_array_equal(a, b)
    assert abs(a.mean() - 1.0) < 0.1 and set(np.unique(a)) <= {0.0, 1 / 0.75}
    with pytest.raises(ValueError, match="rng"):
        layers.dropout_forward(x, {"p": 0.5, "mode": "train"})
    with pytest.raises(ValueError, match="mode"):
        layers.dropout_forward(x, {"p": 0.5, "mode": "eval"})


def test_rel_error_and_messages():
    assert rel_error(np.ones(3), np.ones(3)) == 0
    with pytest.raises(AssertionError, match=r"gradient of w disagrees at index \(1,\)"):
        assert_gradients_close(np.array([1.0, 2.0]), np.array([1.0, 2.5]), "w")
