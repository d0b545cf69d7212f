"""SqueezeNet driver: end-to-end gradients on the tiny model, ranges, injection,
ReLU rules, the DeepDream loop, preprocessing and input validation."""

import numpy as np
import pytest

from minicnn import SqueezeNet
from minicnn.gradient_check import assert_gradients_close
from minicnn.models.squeezenet import LAYER_NAMES, param_shapes


def sampled_numeric_gradient(f, x, indices, h=1e-5):
    """Centred differences of scalar f at the given flat indices of x."""
    flat = x.reshape(-1)
    out = []
    for i in indices:
        old = flat[i]
        flat[i] = old + h
        fp = f()
        flat[i] = old - h
        fm = f()
        flat[i] = old
        out.append((fp - fm) / (2 * h))
    return np.array(out)


def informative_indices(grad, k, rng, floor=1e-2):
    """k flat indices where the analytic gradient is not negligible: centred
    differences of an O(1) objective carry ~1e-11 of float64 round-off, so a
    gradient of 1e-6 cannot be checked to 1e-7 relative error."""
    flat = np.abs(grad).reshape(-1)
    candidates = np.flatnonzero(flat >= floor * flat.max())
    return rng.choice(candidates, min(k, candidates.size), replace=False)


@pytest.fixture
def x_tiny(rng):
    return rng.standard_normal((2, 3, 35, 33))


def test_layer_names_and_shapes(cnn):
    assert cnn.layer_names == LAYER_NAMES == (
        "conv1", "pool1", "fire2", "fire3", "pool3", "fire4", "fire5", "pool5",
        "fire6", "fire7", "fire8", "fire9", "conv10", "pool10")
    assert sum(np.prod(s) for s in param_shapes().values()) == 1235496
    sizes = {"conv1": 111, "pool1": 55, "fire3": 55, "pool3": 27, "fire5": 27, "pool5": 13,
             "fire9": 13, "conv10": 13}
    for name, size in sizes.items():
        assert cnn.output_shape((1, 3, 224, 224), end=name)[2:] == (size, size)
    assert cnn.output_shape((1, 3, 227, 227), end="pool5")[2:] == (14, 14)   # ceil mode
    assert cnn.output_shape((2, 3, 224, 224)) == (2, 1000)


def test_tiny_end_to_end_input_gradient(tiny, x_tiny, rng):
    scores, cache = tiny.forward(x_tiny)
    dscores = rng.standard_normal(scores.shape)
    dx, grads = tiny.backward(dscores, cache)
    idx = informative_indices(dx, 40, rng)
    num = sampled_numeric_gradient(lambda: float(np.sum(tiny.forward(x_tiny)[0] * dscores)),
                                   x_tiny, idx)
    assert_gradients_close(dx.reshape(-1)[idx], num, "x", tol=1e-7)


def test_tiny_end_to_end_param_gradients(x_tiny, rng):
    model = SqueezeNet.tiny(np.random.default_rng(1))
    scores, cache = model.forward(x_tiny)
    dscores = rng.standard_normal(scores.shape)
    _, grads = model.backward(dscores, cache)
    assert set(grads) == set(model.params)
    for name, p in model.params.items():
        assert grads[name].shape == p.shape and grads[name].dtype == np.float64
        idx = informative_indices(grads[name], 3, rng)
        num = sampled_numeric_gradient(
            lambda: float(np.sum(model.forward(x_tiny)[0] * dscores)), p, idx)
        assert_gradients_close(grads[name].reshape(-1)[idx], num, name, tol=1e-7)


def test_forward_ranges_compose(tiny, x_tiny):
    full, _ = tiny.forward(x_tiny)
    for k in (0, 3, 7, 12):
        h, _ = tiny.forward(x_tiny, 0, k)
        out, _ = tiny.forward(h, k + 1, None)
        np.testing.assert_allclose(out, full, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(tiny.forward(x_tiny, end="fire5")[0],
                                  tiny.forward(x_tiny, end=6)[0])


def test_backward_ranges_compose(tiny, x_tiny, rng):
    scores, cache = tiny.forward(x_tiny)
    dscores = rng.standard_normal(scores.shape)
    dx_full, grads_full = tiny.backward(dscores, cache)
    h, cache_a = tiny.forward(x_tiny, end="fire5")
    _, cache_b = tiny.forward(h, start="pool5")
    dh, grads_b = tiny.backward(dscores, cache_b)
    dx, grads_a = tiny.backward(dh, cache_a)
    np.testing.assert_allclose(dx, dx_full, rtol=1e-10, atol=1e-12)
    assert set(grads_a) | set(grads_b) == set(grads_full)
    assert not set(grads_a) & set(grads_b)


def test_cache_exposes_activations_by_name(tiny, x_tiny):
    _, cache = tiny.forward(x_tiny, end="fire3")
    assert list(cache.activations)[:4] == ["conv1", "pool1", "fire2", "fire2/squeeze1x1"]
    fire3 = cache.activations["fire3"]
    e1 = cache.activations["fire3/expand1x1"]
    np.testing.assert_array_equal(fire3[:, :e1.shape[1]], e1)        # expand1x1 first
    assert all((a >= 0).all() for n, a in cache.activations.items() if n != "pool1")


def test_backward_dict_injection_equals_sum_of_separate_passes(tiny, x_tiny, rng):
    out, cache = tiny.forward(x_tiny, end="fire5")
    g5 = rng.standard_normal(out.shape)
    g2 = rng.standard_normal(cache.activations["fire2"].shape)
    dx_both, grads = tiny.backward({"fire5": g5, "fire2": g2}, cache)
    dx5, _ = tiny.backward(g5, cache)
    _, cache2 = tiny.forward(x_tiny, end="fire2")
    dx2, _ = tiny.backward(g2, cache2)
    np.testing.assert_allclose(dx_both, dx5 + dx2, rtol=1e-10, atol=1e-12)
    # injection only below the end layer: layers above receive nothing
    dx_low, grads_low = tiny.backward({"fire2": g2}, cache)
    np.testing.assert_allclose(dx_low, dx2, rtol=1e-12)
    assert "fire5/expand3x3/W" not in grads_low


def test_backward_rejects_bad_dout(tiny, x_tiny):
    out, cache = tiny.forward(x_tiny, end="fire3")
    with pytest.raises(ValueError, match="shape"):
        tiny.backward(np.zeros((1, 2, 3, 4)), cache)
    with pytest.raises(ValueError, match="outside the forward range"):
        tiny.backward({"fire5": out}, cache)
    with pytest.raises(ValueError, match="relu_mode"):
        tiny.backward(out, cache, relu_mode="positive")


@pytest.mark.parametrize("mode", ["deconvnet", "guided"])
def test_relu_modes_reach_every_relu(tiny, x_tiny, rng, mode):
    scores, cache = tiny.forward(x_tiny, end="fire3")
    dout = rng.standard_normal(scores.shape)
    dx_std, _ = tiny.backward(dout, cache)
    dx_mode, _ = tiny.backward(dout, cache, relu_mode=mode)
    assert not np.allclose(dx_std, dx_mode)
    if mode == "guided":
        # with all upstream gradients positive and non-negative weights, guided == standard
        params = {k: np.abs(v) for k, v in tiny.params.items()}
        pos = SqueezeNet(params, meta=tiny.meta, layers=tiny.layers)
        s, c = pos.forward(x_tiny, end="fire3")
        d = np.abs(dout)
        np.testing.assert_allclose(pos.backward(d, c, relu_mode="guided")[0],
                                   pos.backward(d, c)[0])


def test_param_grads_false(tiny, x_tiny, rng):
    scores, cache = tiny.forward(x_tiny)
    d = rng.standard_normal(scores.shape)
    dx, grads = tiny.backward(d, cache, param_grads=False)
    assert grads == {}
    np.testing.assert_allclose(dx, tiny.backward(d, cache)[0], rtol=1e-12)


def test_param_grads_false_computes_no_weight_gradient(cnn, rng, monkeypatch):
    """param_grads=False never calls a layer backward for weight gradients (what it
    saves is measured by benchmarks/bench_squeezenet.py, not asserted here)."""
    from minicnn import fast_layers as fl
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    out, cache = cnn.forward(x)
    real, flags = fl.conv_backward, []

    def spy(dout, layer_cache, param_grads=True, **kw):
        flags.append(param_grads)
        return real(dout, layer_cache, param_grads=param_grads, **kw)
    monkeypatch.setattr(fl, "conv_backward", spy)
    dx, grads = cnn.backward(np.ones_like(out), cache, param_grads=False)
    assert grads == {} and flags and not any(flags)


def test_deepdream_loop_from_the_lecture_notes(cnn, data):
    from minicnn.data import load_image
    image = cnn.preprocess(load_image(data / "images" / "sky.jpg"), size=160, crop=None)
    layer_num, learning_rate, iterations = 6, 0.05, 4
    _, c0 = cnn.forward(image, end=layer_num)
    before = float(np.sum(c0.activations["fire5"] ** 2))
    for i in range(iterations):
        feature_map, cache = cnn.forward(image, end=layer_num)
        dimage, _ = cnn.backward(feature_map, cache)
        image += learning_rate * dimage
    after = float(np.sum(cnn.forward(image, end=layer_num)[0] ** 2))
    assert image.dtype == np.float32
    assert after > 1.5 * before


def _check_round_trip(cnn, rng):
    """preprocess/deprocess at the weights' own crop size (224 torchvision, 227 Caffe)."""
    from minicnn.techniques.regularizers import pixel_scale
    c = int(cnn.meta["input_size"])
    img = rng.integers(0, 256, (230, 300, 3), dtype=np.uint8)
    x = cnn.preprocess(img, size=None, crop=None)
    assert x.shape == (1, 3, 256, 333) and x.dtype == np.float32
    x = cnn.preprocess(img)
    assert x.shape == (1, 3, c, c)
    same = cnn.preprocess(img, size=230, crop=(230))
    np.testing.assert_array_equal(cnn.deprocess(same), img[:, 35:265])
    own = cnn.preprocess(img[:c, :c + 40], size=c, crop=c)        # at the crop size itself
    assert own.shape == (1, 3, c, c)
    np.testing.assert_array_equal(cnn.deprocess(own), img[:c, 20:c + 20])
    grey = cnn.preprocess(img[..., 0])
    assert grey.shape == (1, 3, c, c)
    rgba = np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)], axis=2)
    np.testing.assert_array_equal(cnn.preprocess(rgba), x)
    # mean and std come from the weights' metadata (scale, mean, std, channel order);
    # compared in pixel levels (2.85 levels = 0.05 torchvision units or less)
    top, left = (230 - c) // 2, (300 - c) // 2
    rgb_mean = img[top:top + c, left:left + c].reshape(-1, 3).mean(0)
    order = rgb_mean[::-1] if cnn.meta.get("channel_order", "RGB") == "BGR" else rgb_mean
    expected = (order * cnn.meta.get("scale", 1.0) - np.array(cnn.meta["mean"])) / \
        np.array(cnn.meta["std"])
    np.testing.assert_allclose(x.mean(axis=(0, 2, 3)) * pixel_scale(cnn).ravel(),
                               expected * pixel_scale(cnn).ravel(), atol=2.85)


def test_preprocess_deprocess_round_trip(cnn, rng):
    _check_round_trip(cnn, rng)


def test_preprocess_deprocess_round_trip_both_sets(weight_set, rng):
    _check_round_trip(weight_set[1], rng)


def test_predict(cnn, data):
    from minicnn.data import load_image
    x = cnn.preprocess(load_image(data / "images" / "photos" / "chelsea.png"))
    pred = cnn.predict(x, top=5)
    assert pred.indices.shape == (1, 5) and np.all(np.diff(pred.probabilities[0]) <= 0)
    assert 281 <= pred.indices[0, 0] <= 287, pred.names      # a cat
    assert pred.names[0][0] == cnn.class_name(pred.indices[0, 0])


@pytest.mark.parametrize("bad,exc,match", [
    (np.zeros((1, 3, 224, 224), dtype=np.uint8), TypeError, "float"),
    (np.zeros((3, 224, 224), dtype=np.float32), ValueError, r"\(N, C, H, W\)"),
    (np.zeros((1, 4, 224, 224), dtype=np.float32), ValueError, "3 channels"),
    (np.full((1, 3, 64, 64), np.nan, dtype=np.float32), ValueError, "NaN"),
    (np.zeros((1, 3, 8, 8), dtype=np.float32), ValueError, "too small"),
    ([[0.0]], TypeError, "NumPy array"),
])
def test_forward_rejects_bad_input(tiny, bad, exc, match):
    with pytest.raises(exc, match=match):
        tiny.forward(bad)


def test_layer_range_errors(tiny, x_tiny):
    with pytest.raises(ValueError, match="unknown end 'fire99'.*valid layers"):
        tiny.forward(x_tiny, end="fire99")
    with pytest.raises(ValueError, match="comes after end"):
        tiny.forward(x_tiny, start="fire5", end="fire3")
    with pytest.raises(ValueError, match="out of range"):
        tiny.forward(x_tiny, end=14)


def test_model_rejects_bad_params(tiny):
    params = dict(tiny.params)
    params["conv1/W"] = params["conv1/W"][:, :2]
    with pytest.raises(ValueError, match="conv1/W"):
        SqueezeNet(params, layers=tiny.layers)
    params = dict(tiny.params)
    del params["fire2/squeeze1x1/b"]
    with pytest.raises(ValueError, match="missing"):
        SqueezeNet(params, layers=tiny.layers)
