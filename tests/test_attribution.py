"""Attribution techniques: saliency, neuron gradients under the three ReLU rules,
Grad-CAM, SmoothGrad, Integrated Gradients and occlusion.

Properties on the tiny float64 SqueezeNet (fast, can fail); a few checks with the
pretrained weights (skipped without them)."""
import numpy as np
import pytest

import minicnn
from minicnn import fast_layers
from minicnn.gradient_check import assert_gradients_close
from minicnn.techniques.attribution import (class_score_gradient, gradcam, guided_gradcam,
                                            integrated_gradients, neuron_gradient,
                                            neuron_gradients, occlusion_map, receptive_field,
                                            saliency_map, smoothgrad, strongest_position)

MODES = ("standard", "deconvnet", "guided")


@pytest.fixture(scope="module")
def x40():
    return np.random.default_rng(0).standard_normal((2, 3, 40, 40))


# --------------------------------------------------------------------------- saliency
def test_saliency_is_max_abs_class_score_gradient(tiny, x40):
    y = np.array([1, 4])
    sal = saliency_map(tiny, x40, y)
    assert sal.shape == (2, 40, 40)
    _, dx = class_score_gradient(tiny, x40, y)
    np.testing.assert_array_equal(sal, np.abs(dx).max(axis=1))
    assert (sal > 0).mean() > 0.5
    # batched == one image at a time == split batches
    for n in range(2):
        np.testing.assert_allclose(saliency_map(tiny, x40[n:n + 1], y[n]), sal[n:n + 1],
                                   rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(saliency_map(tiny, x40, y, batch_size=1), sal, rtol=1e-12,
                               atol=1e-15)


#: (what, layer, channel/class, position) -- one finite-difference check each.
GRAD_SPECS = [
    ("score", None, 1, None),
    ("score", None, 5, None),
    ("neuron", "conv1", 2, (3, 4)),
    ("neuron", "fire2", 4, None),
    ("neuron", "fire4", 5, (1, 2)),
    ("neuron", "fire9", 4, None),
    ("neuron", "pool10", 8, None),
]


@pytest.mark.parametrize("what,layer,index,position", GRAD_SPECS,
                         ids=[f"{s[0]}-{s[1]}-{s[2]}" for s in GRAD_SPECS])
def test_gradients_match_finite_differences(tiny, what, layer, index, position):
    x = np.random.default_rng(3).standard_normal((1, 3, 36, 36))
    if what == "score":
        analytic = class_score_gradient(tiny, x, index)[1]

        def f(z):
            return tiny.forward(z)[0][0, index]
    else:
        analytic = neuron_gradient(tiny, x, layer, index, position)
        out = tiny.forward(x, end=layer)[0]
        if out.ndim == 2:
            sel = (0, index)
        else:
            pos = position if position is not None else \
                strongest_position(tiny, x, layer, index)[0]
            sel = (0, index, int(pos[0]), int(pos[1]))

        def f(z):
            return tiny.forward(z, end=layer)[0][sel]
    assert np.abs(analytic).max() > 0, "the gradient should not vanish"
    # relative errors are meaningful where the gradient is not tiny: sample pixels
    # with |g| >= 1% of the largest (centred differences of f ~ 1 lose ~1e-11
    # absolute); pixels where the analytic gradient is exactly 0 must be 0 numerically
    rng = np.random.default_rng(7)
    big = np.argwhere(np.abs(analytic) >= 0.01 * np.abs(analytic).max())
    zero = np.argwhere(analytic == 0)
    h = 1e-5

    def numeric(ix):
        xp, xm = x.copy(), x.copy()
        xp[ix] += h
        xm[ix] -= h
        return (f(xp) - f(xm)) / (2 * h)

    for i in rng.choice(len(big), min(8, len(big)), replace=False):
        ix = tuple(big[i])
        assert_gradients_close(np.array([analytic[ix]]), np.array([numeric(ix)]),
                               name=str(ix))
    for i in rng.choice(len(zero), min(4, len(zero)), replace=False):
        assert abs(numeric(tuple(zero[i]))) < 1e-9


# --------------------------------------------------------------------------- ReLU rules
def test_three_rules_agree_without_relus(tiny, x40, monkeypatch):
    """The rules differ only at ReLUs: replace every ReLU by the identity and the
    standard, deconvnet and guided gradients coincide (and are nonzero)."""
    monkeypatch.setattr(fast_layers, "relu_forward", lambda x: (x, None))
    monkeypatch.setattr(fast_layers, "relu_backward", lambda dout, cache, mode="standard": dout)
    g = neuron_gradients(tiny, x40, "fire5", 3)
    assert np.abs(g["standard"]).max() > 0
    for mode in ("deconvnet", "guided"):
        np.testing.assert_array_equal(g[mode], g["standard"])


def test_rules_differ_with_relus_and_guided_support_is_inside_standard(tiny, x40):
    g = neuron_gradients(tiny, x40, "fire4", 5)
    assert not np.array_equal(g["guided"], g["standard"])
    assert not np.array_equal(g["deconvnet"], g["standard"])
    guided, standard = g["guided"] != 0, g["standard"] != 0
    assert guided.any()
    assert not (guided & ~standard).any(), "guided backprop has support outside standard's"
    # guided keeps only positive signals at every ReLU: never more pixels than standard
    assert guided.sum() <= standard.sum()


@pytest.mark.parametrize("layer", ["conv1", "pool1", "fire3", "fire5"])
def test_neuron_gradient_is_zero_outside_its_receptive_field(tiny, layer):
    x = np.random.default_rng(5).standard_normal((1, 3, 48, 48))
    out = tiny.forward(x, end=layer)[0]
    # the strongest unit of the map, away from the border, so that its field is clipped
    # by nothing and is smaller than the image
    h, w = out.shape[2:]
    inner = out[0, :, 1:h - 1, 1:w - 1]
    for flat in np.argsort(-inner.ravel(), kind="stable"):     # strongest live unit
        channel, i, j = np.unravel_index(int(flat), inner.shape)
        position = (int(i) + 1, int(j) + 1)
        if neuron_gradient(tiny, x, layer, int(channel), position).any():
            break
    (r0, r1), (c0, c1) = receptive_field(tiny, layer, position, 48)
    inside = np.zeros((48, 48), bool)
    inside[r0:r1 + 1, c0:c1 + 1] = True
    assert inside.sum() < 48 * 48
    for mode in MODES:
        dx = neuron_gradient(tiny, x, layer, int(channel), position, relu_mode=mode)
        support = (dx != 0).any(axis=(0, 1))
        assert support.any() or mode == "guided"
        assert not (support & ~inside).any(), f"{mode}: gradient outside the receptive field"
    if layer == "conv1":     # 3x3 stride 2: exactly the 3x3 window at (2i, 2j)
        assert (r0, r1, c0, c1) == (2 * position[0], 2 * position[0] + 2,
                                    2 * position[1], 2 * position[1] + 2)
        assert support[r0:r1 + 1, c0:c1 + 1].all()


def test_strongest_position_default(tiny, x40):
    pos = strongest_position(tiny, x40, "fire2", 4)
    a = tiny.forward(x40, end="fire2")[0][:, 4]
    for n in range(2):
        assert a[n, pos[n, 0], pos[n, 1]] == a[n].max()
    np.testing.assert_array_equal(neuron_gradient(tiny, x40, "fire2", 4),
                                  neuron_gradient(tiny, x40, "fire2", 4, pos))


# --------------------------------------------------------------------------- Grad-CAM
def test_gradcam_matches_definition_with_numeric_alpha(tiny, x40):
    # fire9: no max-pool downstream, so finite differences see no pool ties
    layer, y = "fire9", 1
    a = tiny.forward(x40[:1], end=layer)[0]
    num = np.zeros_like(a)
    h = 1e-5
    for ix in np.ndindex(a.shape):
        ap, am = a.copy(), a.copy()
        ap[ix] += h
        am[ix] -= h
        num[ix] = (tiny.forward(ap, start="conv10")[0][0, y]
                   - tiny.forward(am, start="conv10")[0][0, y]) / (2 * h)
    raw = np.maximum(np.einsum("nk,nkij->nij", num.mean(axis=(2, 3)), a), 0)
    cam = gradcam(tiny, x40[:1], y, layer=layer, normalize=False)
    assert cam.shape == (1, 40, 40)
    # the upsampled map's mean equals the small map's mean (bilinear, half-pixel)
    from minicnn.techniques.attribution import _resize_maps
    np.testing.assert_allclose(cam, _resize_maps(raw, (40, 40)), rtol=1e-5, atol=1e-9)
    assert cam.max() > 0
    camn = gradcam(tiny, x40[:1], y, layer=layer)
    assert camn.min() >= 0 and abs(camn.max() - 1) < 1e-12


def _cam_checks(model, x, y):
    from minicnn.techniques.attribution import cam
    raw = cam(model, x, y, normalize=False, upsample=False)
    h, w = model.output_shape(x.shape, end="conv10")[2:]
    assert raw.shape == (len(x), h, w)
    # Zhou et al.: the score is the global average of the class map (pool10)
    np.testing.assert_allclose(raw.mean(axis=(1, 2)),
                               model.scores(x)[np.arange(len(x)), y], rtol=1e-5, atol=1e-6)
    # Grad-CAM at conv10: weights one-hot on channel y (1 / hw), so the same map / hw
    np.testing.assert_allclose(gradcam(model, x, y, layer="conv10", normalize=False),
                               cam(model, x, y, normalize=False) / (h * w),
                               rtol=1e-5, atol=1e-9)
    up = cam(model, x, y)
    np.testing.assert_allclose(up, gradcam(model, x, y, layer="conv10"), rtol=1e-5,
                               atol=1e-6)
    assert up.shape == (len(x),) + x.shape[2:] and up.min() >= 0
    assert np.all(np.isclose(up.max(axis=(1, 2)), 1) | (up.max(axis=(1, 2)) == 0))
    return up


def test_cam_equals_gradcam_at_conv10(tiny, x40):
    """Issue 11: CAM (Zhou et al. 2016) is exact for SqueezeNet (conv10 + global
    average pooling) and equals Grad-CAM at conv10 up to the ReLU and a factor hw."""
    _cam_checks(tiny, x40, np.array([1, 8]))


def test_cam_pretrained_photo(cnn):
    from minicnn.data import find_image, load_image
    x = cnn.preprocess(load_image(find_image("chelsea")))
    y = int(cnn.scores(x).argmax())
    up = _cam_checks(cnn, x, np.array([y]))
    # a map, not a constant: measured std 0.15 (the cat fills the photo)
    assert up[0].std() > 0.05, up[0].std()


def test_cam_needs_a_class_map_model(tiny, x40):
    from minicnn.techniques.attribution import cam

    class NoGap:
        layers = [{"type": "conv", "out": 10}, {"type": "conv", "out": 10}]
        num_classes = 10
    with pytest.raises(ValueError, match="global average pooling"):
        cam(NoGap(), x40, 1)


def test_guided_gradcam_is_guided_backprop_times_cam(tiny, x40):
    y = [1, 8]
    ggc = guided_gradcam(tiny, x40, y, layer="fire4")
    _, g = class_score_gradient(tiny, x40, y, relu_mode="guided")
    np.testing.assert_allclose(ggc, g * gradcam(tiny, x40, y, layer="fire4")[:, None])


# --------------------------------------------------------------------------- SmoothGrad
def test_smoothgrad_zero_noise_is_saliency_and_seeded_runs_are_identical(tiny, x40):
    y = [1, 4]
    np.testing.assert_allclose(smoothgrad(tiny, x40, y, num_samples=3, sigma=0.0),
                               saliency_map(tiny, x40, y), rtol=1e-12, atol=1e-15)
    a = smoothgrad(tiny, x40, y, num_samples=6, batch_size=4, rng=np.random.default_rng(9))
    b = smoothgrad(tiny, x40, y, num_samples=6, batch_size=4, rng=np.random.default_rng(9))
    c = smoothgrad(tiny, x40, y, num_samples=6, batch_size=4, rng=np.random.default_rng(10))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    raw = smoothgrad(tiny, x40, y, num_samples=4, reduce="none", magnitude=True)
    assert raw.shape == x40.shape and (raw >= 0).all()


def test_smoothgrad_noise_scales_with_input_range(tiny, x40, monkeypatch):
    seen = []
    real = class_score_gradient

    def spy(cnn, xs, y, relu_mode="standard"):
        seen.append(xs - x40[0])
        return real(cnn, xs, y, relu_mode)

    monkeypatch.setattr("minicnn.techniques.attribution.class_score_gradient", spy)
    smoothgrad(tiny, x40[:1], 1, num_samples=64, sigma=0.2, batch_size=64)
    std = np.concatenate(seen).std()
    expected = 0.2 * (x40[0].max() - x40[0].min())
    assert abs(std / expected - 1) < 0.01


# --------------------------------------------------------------------------- Integrated Gradients
class SmoothModel:
    """s = tanh(x_flat) @ W.T: smooth, so quadrature converges fast."""
    num_classes = 4

    def __init__(self, shape, rng):
        self.W = rng.standard_normal((4, int(np.prod(shape))))

    def forward(self, x, start=None, end=None):
        t = np.tanh(x.reshape(len(x), -1))
        return t @ self.W.T, (x, t)

    def backward(self, dout, cache, relu_mode="standard", param_grads=False):
        x, t = cache
        return ((dout @ self.W) * (1 - t * t)).reshape(x.shape), {}


def test_integrated_gradients_completeness_on_a_smooth_model():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 3, 6, 6))
    model = SmoothModel(x.shape[1:], rng)
    base = 0.3 * rng.standard_normal(x.shape)
    for method in ("trapezoid", "gauss_legendre", "riemann_middle"):
        attr, delta = integrated_gradients(model, x, [0, 1, 3], baseline=base, steps=50,
                                           method=method, return_delta=True)
        s = model.forward(x)[0] - model.forward(base)[0]
        target = s[np.arange(3), [0, 1, 3]]
        np.testing.assert_allclose(attr.reshape(3, -1).sum(1), target, rtol=1e-2)
        np.testing.assert_allclose(delta, attr.reshape(3, -1).sum(1) - target, atol=1e-9)
        assert np.all(np.abs(delta) < 0.01 * np.abs(target))


def test_integrated_gradients_completeness_on_squeezenet_without_biases(tiny, x40):
    """With zero biases the ReLU/max-pool network is positively homogeneous, so the
    gradient is constant along the ray from 0 and completeness holds exactly."""
    t = minicnn.SqueezeNet.tiny(np.random.default_rng(2))     # a seed that stays alive
    params = {k: (np.zeros_like(v) if k.endswith("/b") else v) for k, v in t.params.items()}
    net = minicnn.SqueezeNet(params, meta=t.meta, layers=t.layers)
    scores = net.forward(x40)[0]
    y = scores.argmax(axis=1)
    assert scores[np.arange(2), y].min() > 0.5
    # (the gradient at alpha = 0 itself is 0: every ReLU sees exactly 0 -> midpoints)
    attr, delta = integrated_gradients(net, x40, y, steps=4, method="riemann_middle",
                                       return_delta=True)
    np.testing.assert_allclose(attr.reshape(2, -1).sum(1), scores[np.arange(2), y],
                               rtol=1e-10)
    assert np.abs(delta).max() < 1e-10
    # baseline == x: nothing to attribute
    np.testing.assert_array_equal(integrated_gradients(net, x40, y, baseline=x40, steps=3), 0)


def test_integrated_gradients_refinement_reaches_the_tolerance():
    """Nested refinement equals the finer trapezoid rule exactly, stops once the
    completeness gap is within rtol, and never exceeds max_steps."""
    rng = np.random.default_rng(2)
    x = 2 * rng.standard_normal((2, 3, 8, 8))
    model = SmoothModel(x.shape[1:], rng)
    calls = []
    real_backward = model.backward

    def counting_backward(dout, cache, relu_mode="standard", param_grads=False):
        calls.append(len(dout))
        return real_backward(dout, cache, relu_mode, param_grads)

    model.backward = counting_backward
    a, _ = integrated_gradients(model, x, [0, 1], steps=5, rtol=1e-12, max_steps=9,
                                return_delta=True)
    np.testing.assert_allclose(a, integrated_gradients(model, x, [0, 1], steps=9),
                               rtol=1e-12, atol=1e-15)
    s = model.forward(x)[0] - model.forward(np.zeros_like(x))[0]
    s = s[np.arange(2), [0, 1]]
    _, coarse = integrated_gradients(model, x, [0, 1], steps=3, return_delta=True)
    assert np.all(np.abs(coarse) > 1e-3 * np.abs(s))
    calls.clear()
    _, fine = integrated_gradients(model, x, [0, 1], steps=3, rtol=1e-3, max_steps=1000,
                                   return_delta=True)
    assert np.all(np.abs(fine) <= 1e-3 * np.abs(s))
    assert sum(calls) < 2 * 1000
    calls.clear()
    integrated_gradients(model, x, [0, 1], steps=3, rtol=1e-14, max_steps=20)
    assert sum(calls) <= 2 * 20


# --------------------------------------------------------------------------- occlusion
class LinearModel:
    num_classes = 3

    def __init__(self, shape, rng):
        self.W = rng.standard_normal((3,) + tuple(shape))
        self.b = rng.standard_normal(3)

    def forward(self, x, start=None, end=None):
        return np.einsum("nchw,kchw->nk", x, self.W) + self.b, None


def test_occlusion_of_a_linear_model_equals_the_analytic_drop():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 20, 24))
    model = LinearModel(x.shape[1:], rng)
    fill = np.array([0.5, -1.0, 2.0])
    size, stride, y = 6, 4, np.array([2, 0])
    heat = occlusion_map(model, x, y, size=size, stride=stride, fill=fill, output="score",
                         batch_size=5)
    assert heat.shape == (2, (20 - 6) // 4 + 1, (24 - 6) // 4 + 1)
    base = model.forward(x)[0]
    for n in range(2):
        for p in range(heat.shape[1]):
            for q in range(heat.shape[2]):
                win = (slice(None), slice(p * stride, p * stride + size),
                       slice(q * stride, q * stride + size))
                drop = np.sum(model.W[y[n]][win] * (x[n][win] - fill[:, None, None]))
                assert heat[n, p, q] == pytest.approx(base[n, y[n]] - drop, rel=1e-10)
    prob = occlusion_map(model, x, y, size=size, stride=stride, fill=fill)
    s = heat  # probability = softmax over all classes of the occluded scores
    assert prob.shape == s.shape and (prob > 0).all() and (prob < 1).all()
    assert np.corrcoef(prob.ravel(), s.ravel())[0, 1] > 0


def test_occlusion_interrupt_returns_partial_map():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 3, 16, 16))
    model = LinearModel(x.shape[1:], rng)

    def stop(done, total, heat):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="interrupted"):
        heat = occlusion_map(model, x, 1, size=4, stride=4, batch_size=2, callback=stop)
    assert np.isfinite(heat).sum() == 4 and np.isnan(heat).sum() == 12
    # resume computes only the missing positions and equals an uninterrupted run
    seen = []
    done = occlusion_map(model, x, 1, size=4, stride=4, batch_size=2, resume=heat,
                         callback=lambda d, t, h: seen.append(d))
    np.testing.assert_array_equal(done, occlusion_map(model, x, 1, size=4, stride=4))
    assert seen[0] == 6 and seen[-1] == 16 and len(seen) == 6
    with pytest.raises(ValueError, match="resume must be"):
        occlusion_map(model, x, 1, size=4, stride=2, resume=heat)


# --------------------------------------------------------------------------- bad input
@pytest.mark.parametrize("call,match", [
    (lambda m, x: saliency_map(m, x, 10), "unknown class index 10"),
    (lambda m, x: saliency_map(m, x, [1, 2, 3]), "one per image"),
    (lambda m, x: saliency_map(m, x.astype(np.int64), 1), "float"),
    (lambda m, x: neuron_gradient(m, x, "fire99", 0), "unknown layer 'fire99'"),
    (lambda m, x: neuron_gradient(m, x, "fire2", 6), "channel must be"),
    (lambda m, x: neuron_gradient(m, x, "fire2", 0, (50, 0)), "position"),
    (lambda m, x: neuron_gradient(m, x, "fire2", 0, relu_mode="leaky"), "relu_mode"),
    (lambda m, x: neuron_gradient(m, x[:, :, :8, :8], "fire9", 0), "too small"),
    (lambda m, x: gradcam(m, x, 1, layer="pool10"), "layer must come before"),
    (lambda m, x: smoothgrad(m, x, 1, num_samples=0), "num_samples must be a positive"),
    (lambda m, x: smoothgrad(m, x, 1, reduce="mean"), "reduce must be one of"),
    (lambda m, x: integrated_gradients(m, x, 1, steps=0), "steps must be a positive"),
    (lambda m, x: integrated_gradients(m, x, 1, method="simpson"), "method must be one of"),
    (lambda m, x: integrated_gradients(m, x, 1, rtol=0.01, method="riemann_left"), "rtol needs"),
    (lambda m, x: integrated_gradients(m, x, 1, rtol=-1), "rtol must be positive"),
    (lambda m, x: occlusion_map(m, x, 1, size=0), "size must be a positive"),
    (lambda m, x: occlusion_map(m, x, 1, stride=-2), "stride must be a positive"),
    (lambda m, x: occlusion_map(m, x, 1, size=64), "must not exceed"),
    (lambda m, x: occlusion_map(m, x, 1, output="logit"), "output must be one of"),
])
def test_bad_input_raises_clear_errors(tiny, x40, call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(tiny, x40)


# --------------------------------------------------------------------------- real weights
@pytest.fixture(scope="module")
def photos(cnn, data):
    from minicnn.data import imagenet_sample, load_image
    paths, labels = imagenet_sample(limit=2)
    return cnn.preprocess([load_image(p) for p in paths]), labels


def test_pretrained_saliency_and_guided_backprop(cnn, photos):
    x, labels = photos
    sal = saliency_map(cnn, x, labels)
    assert sal.shape == (2, 224, 224) and np.isfinite(sal).all() and sal.max() > 0
    # saliency concentrates: the top 5% of pixels carry well over 5% of the mass
    for s in sal:
        top = np.sort(s.ravel())[::-1]
        assert top[:len(top) // 20].sum() > 0.15 * top.sum()
    g = neuron_gradients(cnn, x[:1], "fire5", 10)
    guided, standard = g["guided"] != 0, g["standard"] != 0
    assert guided.any() and not (guided & ~standard).any()


def test_cli_writes_pngs_and_reports_bad_arguments(cnn, data, tmp_path, capsys):
    from minicnn.cli import main
    from minicnn.data import imagenet_sample
    path = str(imagenet_sample(limit=1)[0][0])
    assert main(["saliency", path, "--class", "0", "--out", str(tmp_path)]) == 0
    assert main(["occlusion", path, "--class", "0", "--size", "112", "--stride", "112",
                 "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.glob("*.png"))
    assert names == ["occlusion_n01440764_tench_class0.png",
                     "saliency_n01440764_tench_class0.png"]
    assert main(["guided", path, "--layer", "fire99", "--out", str(tmp_path)]) == 1
    assert "unknown layer 'fire99'" in capsys.readouterr().err
    assert main(["gradcam", path, "--class", "1000", "--out", str(tmp_path)]) == 1
    assert "--class must be in 0..999" in capsys.readouterr().err


def test_smoothgrad_interrupt_returns_the_average_so_far(tiny, x40):
    def stop(done, total):
        if done >= 4:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="averaged 4 of 20"):
        part = smoothgrad(tiny, x40[:1], 1, num_samples=20, batch_size=4, rng=3,
                          callback=stop)
    first = smoothgrad(tiny, x40[:1], 1, num_samples=4, batch_size=4, rng=3)
    np.testing.assert_allclose(part, first, rtol=1e-12)


def test_issue10_empty_batches_and_nan_baselines(tiny, x40):
    """Issue 10, item 12: empty batches and NaN baselines are named, not 'x contains NaN'
    or an IndexError deep inside."""
    with pytest.raises(ValueError, match="x is an empty batch"):
        neuron_gradient(tiny, x40[:0], "fire2", 0)
    with pytest.raises(ValueError, match="x is an empty batch"):
        gradcam(tiny, x40[:0], [])
    with pytest.raises(ValueError, match="baseline contains"):
        integrated_gradients(tiny, x40, 1, baseline=np.nan, steps=2)
    with pytest.raises(TypeError, match="rng must be"):
        smoothgrad(tiny, x40, 1, num_samples=1, rng="seed")


def test_cli_cam_writes_panel(cnn, tmp_path, capsys):
    from minicnn.cli import main
    from minicnn.data import find_image
    path = str(find_image("chelsea"))
    assert main(["cam", path, "--class", "285", "--out", str(tmp_path)]) == 0
    assert main(["gradcam", path, "--method", "cam", "--class", "281",
                 "--out", str(tmp_path)]) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["cam_chelsea_class281.png", "cam_chelsea_class285.png"], names
    side = cnn.output_shape((1, 3, cnn.meta["input_size"], cnn.meta["input_size"]),
                            end="conv10")[2]        # 13 at 224 (torchvision), 14 at 227
    assert f"mean of its {side}x{side} conv10 map" in capsys.readouterr().out
