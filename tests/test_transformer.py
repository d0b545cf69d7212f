"""Fast style transfer network: gradient checks of every new layer pair (float64,
h = 1e-5, rel error < 1e-7, one spec list), the properties of instance norm and
conditional instance norm, and the TransformerNet (gradients through the
residual blocks, shapes, output range, save/load)."""
import zlib

import numpy as np
import pytest

from minicnn import fast_layers as fl
from minicnn import transformer_layers as tl
from minicnn.gradient_check import assert_gradients_close, eval_numerical_gradient_array
from minicnn.models.transformer import TransformerNet

TOL = 1e-7


def _in_inputs(rng, shape=(2, 3, 4, 5)):
    return {"x": rng.standard_normal(shape) * 2 + 1, "gamma": 0.5 + rng.random(shape[1]),
            "beta": rng.standard_normal(shape[1])}


def _cin_inputs(rng, shape=(2, 3, 4, 5), styles=3):
    return {"x": rng.standard_normal(shape) * 2 + 1,
            "gamma": 0.5 + rng.random((styles, shape[1])),
            "beta": rng.standard_normal((styles, shape[1])),
            "style_weights": rng.random((shape[0], styles))}


# id -> (make inputs (dict, in argument order), forward(*inputs) -> (out, cache), backward)
SPECS = {
    "reflection_pad_1": ((lambda rng: {"x": rng.standard_normal((2, 2, 4, 5))}),
                         (lambda x: tl.reflection_pad_forward(x, 1)), tl.reflection_pad_backward),
    "reflection_pad_3": ((lambda rng: {"x": rng.standard_normal((1, 2, 5, 4))}),
                         (lambda x: tl.reflection_pad_forward(x, 3)), tl.reflection_pad_backward),
    "instance_norm": (_in_inputs, tl.instance_norm_forward, tl.instance_norm_backward),
    "instance_norm_1x1_channel": ((lambda rng: _in_inputs(rng, (3, 1, 3, 3))),
                                  tl.instance_norm_forward, tl.instance_norm_backward),
    "conditional_instance_norm": (_cin_inputs, tl.conditional_instance_norm_forward,
                                  tl.conditional_instance_norm_backward),
    "conditional_instance_norm_1_style": ((lambda rng: _cin_inputs(rng, (2, 2, 3, 4), 1)),
                                          tl.conditional_instance_norm_forward,
                                          tl.conditional_instance_norm_backward),
    "upsample_x2": ((lambda rng: {"x": rng.standard_normal((2, 3, 3, 4))}),
                    (lambda x: tl.upsample_nearest_forward(x, 2)), tl.upsample_nearest_backward),
    "upsample_x3": ((lambda rng: {"x": rng.standard_normal((1, 2, 2, 3))}),
                    (lambda x: tl.upsample_nearest_forward(x, 3)), tl.upsample_nearest_backward),
    "upsample_conv": ((lambda rng: {"x": rng.standard_normal((2, 3, 3, 4)),
                                    "w": 0.5 * rng.standard_normal((4, 3, 3, 3))}),
                      tl.upsample_conv_forward, tl.upsample_conv_backward),
    "upsample_conv_thin": ((lambda rng: {"x": rng.standard_normal((1, 2, 1, 3)),
                                         "w": rng.standard_normal((3, 2, 3, 3))}),
                           tl.upsample_conv_forward, tl.upsample_conv_backward),
    "residual_add": ((lambda rng: {"x": rng.standard_normal((2, 3, 4, 4)),
                                   "fx": rng.standard_normal((2, 3, 4, 4))}),
                     tl.residual_add_forward, tl.residual_add_backward),
    "conv_few_outputs_9x9": ((lambda rng: {"x": rng.standard_normal((1, 3, 10, 11)),
                                           # small w keeps sum(out * dout), whose round-off
                                           # bounds the finite differences, near O(1)
                                           "w": 0.1 * rng.standard_normal((3, 3, 9, 9)),
                                           "b": rng.standard_normal(3)}),
                             tl.conv_few_outputs_forward, tl.conv_few_outputs_backward),
    "conv_few_outputs_3x5": ((lambda rng: {"x": rng.standard_normal((1, 2, 5, 7)),
                                           "w": rng.standard_normal((2, 2, 3, 5)),
                                           "b": rng.standard_normal(2)}),
                             tl.conv_few_outputs_forward, tl.conv_few_outputs_backward),
    "tanh_scale": ((lambda rng: {"x": rng.standard_normal((2, 3, 4, 5))}),
                   (lambda x: tl.tanh_scale_forward(x, [2.0, 0.5, 1.5], [0.1, -0.2, 0.3])),
                   tl.tanh_scale_backward),
}

#: the fast twins in minicnn.fast_layers (what TransformerNet runs): the same
#: inputs and numeric gradient checks, and tested equal to the readable layers
FAST_SPECS = {
    "fast_reflection_pad_1": (SPECS["reflection_pad_1"][0],
                              (lambda x: fl.reflection_pad_forward(x, 1)),
                              fl.reflection_pad_backward),
    "fast_reflection_pad_3": (SPECS["reflection_pad_3"][0],
                              (lambda x: fl.reflection_pad_forward(x, 3)),
                              fl.reflection_pad_backward),
    "fast_instance_norm": (_in_inputs, fl.instance_norm_forward, fl.instance_norm_backward),
    "fast_instance_norm_1x1_channel": (SPECS["instance_norm_1x1_channel"][0],
                                       fl.instance_norm_forward, fl.instance_norm_backward),
    "fast_conditional_instance_norm": (_cin_inputs, fl.conditional_instance_norm_forward,
                                       fl.conditional_instance_norm_backward),
    "fast_upsample_x2": (SPECS["upsample_x2"][0], (lambda x: fl.upsample_nearest_forward(x, 2)),
                         fl.upsample_nearest_backward),
    "fast_upsample_x3": (SPECS["upsample_x3"][0], (lambda x: fl.upsample_nearest_forward(x, 3)),
                         fl.upsample_nearest_backward),
    "fast_upsample_conv": (SPECS["upsample_conv"][0], fl.upsample_conv_forward,
                           fl.upsample_conv_backward),
    "fast_upsample_conv_thin": (SPECS["upsample_conv_thin"][0], fl.upsample_conv_forward,
                                fl.upsample_conv_backward),
    "fast_conv_few_outputs_9x9": (SPECS["conv_few_outputs_9x9"][0],
                                  fl.conv_few_outputs_forward, fl.conv_few_outputs_backward),
    "fast_conv_few_outputs_3x5": (SPECS["conv_few_outputs_3x5"][0],
                                  fl.conv_few_outputs_forward, fl.conv_few_outputs_backward),
}
SPECS.update(FAST_SPECS)


@pytest.mark.parametrize("name", sorted(FAST_SPECS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_twins_equal_the_readable_layers(name, dtype):
    """Forward and every gradient of each fast twin equal the readable layer's
    (float64 to round-off, float32 kept as float32), on larger, odd-sized inputs too."""
    make, fast_f, fast_b = FAST_SPECS[name]
    _, ref_f, ref_b = SPECS[name[len("fast_"):]]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    inputs = {k: (v.astype(dtype) if k != "style_weights" else v)
              for k, v in make(rng).items()}
    out, cache = fast_f(*inputs.values())
    ref, ref_cache = ref_f(*inputs.values())
    assert out.dtype == dtype and out.shape == ref.shape
    tol = 1e-12 if dtype == np.float64 else 1e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())
    dout = rng.standard_normal(out.shape).astype(dtype)
    got, want = fast_b(dout, cache), ref_b(dout, ref_cache)
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(np.abs(w).max(), 1))


@pytest.mark.parametrize("shape,pad", [((2, 3, 9, 11), 4), ((1, 2, 5, 5), 4), ((1, 1, 2, 3), 1)])
def test_fast_reflection_pad_on_thin_images(rng, shape, pad):
    """The strip-wise fold at its edge cases: pad = size - 1, and 2-pixel images."""
    x = rng.standard_normal(shape)
    out, cache = fl.reflection_pad_forward(x, pad)
    np.testing.assert_array_equal(out, tl.reflection_pad_forward(x, pad)[0])
    d = rng.standard_normal(out.shape)
    np.testing.assert_allclose(fl.reflection_pad_backward(d, cache),
                               tl.reflection_pad_backward(d, cache), rtol=1e-13)

@pytest.mark.parametrize("name", sorted(SPECS))
def test_layer_gradients(name):
    make, forward, backward = SPECS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))  # str hash() is salted per run
    inputs = make(rng)
    out, cache = forward(*inputs.values())
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    assert len(grads) == len(inputs)
    for (arg, value), analytic in zip(inputs.items(), grads):
        def f(_, arg=arg):
            return forward(*inputs.values())[0]
        numeric = eval_numerical_gradient_array(f, value, dout)
        assert_gradients_close(analytic, numeric, f"{name}:{arg}", TOL)


def test_reflection_pad_matches_definition_and_adjoint(rng):
    x = rng.standard_normal((1, 1, 4, 5))
    out, cache = tl.reflection_pad_forward(x, 2)
    assert out.shape == (1, 1, 8, 9)
    assert out[0, 0, 0, 0] == x[0, 0, 2, 2]          # mirrored, edge not repeated
    assert out[0, 0, 7, 8] == x[0, 0, 1, 2]
    y = rng.standard_normal(out.shape)
    # adjoint pair: <pad(x), y> == <x, pad^T(y)>
    assert np.isclose(np.sum(out * y), np.sum(x * tl.reflection_pad_backward(y, cache)))
    with pytest.raises(ValueError, match="reflection pad"):
        tl.reflection_pad_forward(x, 4)


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 4, 7, 7)])
def test_instance_norm_invariant_to_positive_affine_map(rng, shape):
    x = rng.standard_normal(shape)
    gamma, beta = rng.random(shape[1]) + 0.5, rng.standard_normal(shape[1])
    a = rng.uniform(0.2, 5.0, size=(1, shape[1], 1, 1))      # positive scale per channel
    b = rng.standard_normal((1, shape[1], 1, 1)) * 10
    p = {"eps": 1e-12}
    out1, _ = tl.instance_norm_forward(x, gamma, beta, p)
    out2, _ = tl.instance_norm_forward(a * x + b, gamma, beta, p)
    np.testing.assert_allclose(out2, out1, atol=1e-9)
    # statistics are per instance: mean beta and std gamma of each (n, c) plane
    np.testing.assert_allclose(out1.mean(axis=(2, 3)), np.broadcast_to(beta, shape[:2]),
                               atol=1e-9)
    np.testing.assert_allclose(out1.std(axis=(2, 3)), np.broadcast_to(gamma, shape[:2]),
                               rtol=1e-6)
    # a negative scale flips the sign of the normalized output
    out3, _ = tl.instance_norm_forward(-x, np.ones(shape[1]), np.zeros(shape[1]), p)
    out4, _ = tl.instance_norm_forward(x, np.ones(shape[1]), np.zeros(shape[1]), p)
    np.testing.assert_allclose(out3, -out4, atol=1e-9)


def test_conditional_instance_norm_one_hot_and_linearity(rng):
    x, gamma, beta, _ = _cin_inputs(rng, (3, 4, 5, 6), styles=3).values()
    for s in range(3):
        cin, _ = tl.conditional_instance_norm_forward(x, gamma, beta, np.eye(3)[s])
        ref, _ = tl.instance_norm_forward(x, gamma[s], beta[s])
        np.testing.assert_allclose(cin, ref, atol=1e-12)
        by_index, _ = tl.conditional_instance_norm_forward(x, gamma, beta, s)
        np.testing.assert_array_equal(by_index, cin)
    w1, w2 = rng.random(3), rng.random(3)
    a, b = 0.3, -1.7
    mix, _ = tl.conditional_instance_norm_forward(x, gamma, beta, a * w1 + b * w2)
    o1, _ = tl.conditional_instance_norm_forward(x, gamma, beta, w1)
    o2, _ = tl.conditional_instance_norm_forward(x, gamma, beta, w2)
    np.testing.assert_allclose(mix, a * o1 + b * o2, atol=1e-10)
    # per-image weights: row n only affects image n
    wn = np.stack([np.eye(3)[0], np.eye(3)[2], np.eye(3)[1]])
    out, _ = tl.conditional_instance_norm_forward(x, gamma, beta, wn)
    for n, s in enumerate((0, 2, 1)):
        ref, _ = tl.instance_norm_forward(x[n:n + 1], gamma[s], beta[s])
        np.testing.assert_allclose(out[n:n + 1], ref, atol=1e-12)


def test_conditional_instance_norm_rejects_bad_weights(rng):
    x, gamma, beta, _ = _cin_inputs(rng).values()
    with pytest.raises(ValueError, match="style_weights"):
        tl.conditional_instance_norm_forward(x, gamma, beta, np.ones(4))
    with pytest.raises(ValueError, match="out of range"):
        tl.conditional_instance_norm_forward(x, gamma, beta, 5)
    with pytest.raises(ValueError, match=r"\(S, 3\)"):
        tl.conditional_instance_norm_forward(x, gamma[:, :2], beta, 0)


def test_conv_few_outputs_equals_the_im2col_conv(rng):
    from minicnn import fast_layers as fl
    x, w, b = rng.standard_normal((2, 5, 14, 13)), rng.standard_normal((3, 5, 9, 9)), \
        rng.standard_normal(3)
    out, cache = tl.conv_few_outputs_forward(x, w, b)
    ref, ref_cache = fl.conv_forward(x, w, b, {"stride": 1, "pad": 0})
    np.testing.assert_allclose(out, ref, atol=1e-11)
    dout = rng.standard_normal(out.shape)
    for mine, theirs in zip(tl.conv_few_outputs_backward(dout, cache),
                            fl.conv_backward(dout, ref_cache)):
        np.testing.assert_allclose(mine, theirs, atol=1e-10)


@pytest.mark.parametrize("strip_rows", [1, 3, 7])
def test_fast_conv_few_outputs_in_row_strips_equals_the_reference(rng, monkeypatch, strip_rows):
    """With a small buffer the fast few-outputs conv makes its taps for strips of input
    rows (each strip's taps added where they land) and must equal the reference."""
    from minicnn import fast_layers as fl
    x, w, b = rng.standard_normal((2, 4, 16, 13)), rng.standard_normal((3, 4, 9, 9)), \
        rng.standard_normal(3)
    ref, ref_cache = tl.conv_few_outputs_forward(x, w, b)
    dout = rng.standard_normal(ref.shape)
    want = tl.conv_few_outputs_backward(dout, ref_cache)
    monkeypatch.setattr(fl, "COL_BUFFER_BYTES", strip_rows * 3 * 81 * 13 * 8)
    assert len(list(fl._row_strips(16, 3 * 81 * 13 * 8))) == -(-16 // strip_rows)
    with fl.conv_algorithm("im2col"):                   # the tap GEMM, not conv_direct
        out, cache = fl.conv_few_outputs_forward(x, w, b)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-11)
    for mine, theirs in zip(fl.conv_few_outputs_backward(dout, cache), want):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12, atol=1e-10)


@pytest.mark.parametrize("algo", ["auto", "im2col", "direct"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_9x9_convs_equal_the_reference_on_every_algorithm(rng, algo, dtype):
    """The transformer's 9x9 convs (3 -> 16 padded by the caller, 16 -> 3 few-outputs)
    give the reference's output and gradients whichever way the forward is computed
    (direct on the compiled kernel or its twin, im2col / tap GEMM)."""
    from minicnn import fast_layers as fl
    tol = 1e-12 if dtype == np.float64 else 2e-5
    x = rng.standard_normal((2, 3, 19, 40)).astype(dtype)
    w1, b1 = rng.standard_normal((16, 3, 9, 9)).astype(dtype), rng.standard_normal(16)
    w2, b2 = rng.standard_normal((3, 16, 9, 9)).astype(dtype), rng.standard_normal(3)
    for conv_param in ({"stride": 1, "pad": 0}, {"stride": 1, "pad": 4}):
        ref, ref_cache = fl.conv_forward_naive(x.astype(np.float64), w1.astype(np.float64),
                                               b1, conv_param)
        with fl.conv_algorithm(algo):
            out, cache = fl.conv_forward(x, w1, b1, conv_param)
        assert out.dtype == dtype
        np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())
        dout = rng.standard_normal(ref.shape)
        for g, want in zip(fl.conv_backward(dout.astype(dtype), cache),
                           fl.conv_backward_naive(dout, ref_cache)):
            np.testing.assert_allclose(g, want, rtol=tol, atol=tol * np.abs(want).max())
    h = rng.standard_normal((2, 16, 19, 40)).astype(dtype)
    ref, ref_cache = tl.conv_few_outputs_forward(h.astype(np.float64), w2.astype(np.float64), b2)
    with fl.conv_algorithm(algo):
        out, cache = fl.conv_few_outputs_forward(h, w2, b2)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())
    dout = rng.standard_normal(ref.shape)
    for g, want in zip(fl.conv_few_outputs_backward(dout.astype(dtype), cache),
                       tl.conv_few_outputs_backward(dout, ref_cache)):
        np.testing.assert_allclose(g, want, rtol=tol, atol=tol * np.abs(want).max())


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fast_upsample_conv_in_strips_equals_the_composition(rng, monkeypatch, dtype):
    """The sub-pixel form equals upsample + reflect-pad + 3x3 conv on odd sizes, with
    the 2x2 conv's columns split into strips of rows; param_grads=False skips dw."""
    monkeypatch.setattr(fl, "COL_BUFFER_BYTES", 3000)
    x = rng.standard_normal((2, 5, 7, 9)).astype(dtype)
    w = rng.standard_normal((6, 5, 3, 3)).astype(dtype)
    out, cache = fl.upsample_conv_forward(x, w)
    ref, ref_cache = tl.upsample_conv_forward(x, w)
    assert out.dtype == dtype and out.shape == (2, 6, 14, 18)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(out, ref, rtol=tol, atol=tol * np.abs(ref).max())
    d = rng.standard_normal(out.shape).astype(dtype)
    dx, dw = fl.upsample_conv_backward(d, cache)
    rdx, rdw = tl.upsample_conv_backward(d, ref_cache)
    np.testing.assert_allclose(dx, rdx, rtol=tol, atol=tol * np.abs(rdx).max())
    np.testing.assert_allclose(dw, rdw, rtol=tol, atol=tol * np.abs(rdw).max())
    dx2, dw2 = fl.upsample_conv_backward(d, cache, param_grads=False)
    assert dw2 is None
    np.testing.assert_array_equal(dx2, dx)
    with pytest.raises(ValueError, match=r"w must be \(F, 5, 3, 3\)"):
        fl.upsample_conv_forward(x, w[:, :, :2])


def test_upsample_is_nearest_neighbour(rng):
    x = rng.standard_normal((1, 2, 3, 4))
    out, _ = tl.upsample_nearest_forward(x, 2)
    np.testing.assert_array_equal(out, x.repeat(2, axis=2).repeat(2, axis=3))


# ---------------------------------------------------------------------------- TransformerNet
@pytest.fixture(scope="module")
def tiny_nets():
    rng = np.random.default_rng(3)
    return {1: TransformerNet.tiny(rng, num_styles=1), 3: TransformerNet.tiny(rng, num_styles=3)}


def _relu_margin(net, cache):
    """Smallest |pre-ReLU value| over the network (distance to the nearest kink)."""
    margins = []
    for name, c in cache.layer_caches.items():
        units = {"res": [(f"{name}/a", c[0])], "up": [(name, c)]}.get(
            name.rstrip("0123456789"), [(name, c)] if name.startswith("conv") else [])
        for unit, (_, _, c_norm, _) in units:
            # the fused norm's kernel cache: conv output x, plane mean and 1/sigma,
            # the gamma and beta rows of every (n, c) plane
            x, mu, inv, g, b, _ = c_norm[0]
            rows = x.reshape(len(mu), -1)
            pre = ((rows - mu[:, None]) * inv[:, None]) * g[:, None] + b[:, None]
            margins.append(np.abs(pre).min())
    return min(margins)


def _input_away_from_kinks(net, style, shape=(1, 3, 8, 8), margin=3e-3):
    """The candidate input (of 40 seeded draws) farthest from every ReLU kink."""
    xs = [np.random.default_rng(seed).standard_normal(shape) for seed in range(40)]
    margins = [_relu_margin(net, net.forward(x, style)[1]) for x in xs]
    assert max(margins) > margin, "no input away from the ReLU kinks found"
    return xs[int(np.argmax(margins))]


@pytest.mark.parametrize("num_styles,param", [
    (1, "x"), (1, "res1/a/W"), (1, "res1/b/gamma"), (1, "conv2/beta"), (1, "out/b"),
    (3, "x"), (3, "res1/b/W"), (3, "up1/gamma"), (3, "conv1/beta"),
])
def test_transformer_gradients(tiny_nets, num_styles, param):
    """Gradients through the whole network, residual blocks included (the input
    is chosen so that no ReLU input lies within 3e-3 of its kink).

    Each layer pair above meets 1e-7; composed through ~20 layers, with instance
    norm over 2x2 planes at the bottleneck, the centred difference's own
    truncation error (it shrinks as h^2: 3e-4 at h=1e-3, 3e-6 at h=1e-4) leaves
    absolute errors of ~1e-9, so the tolerance for the whole network is 1e-6."""
    net = tiny_nets[num_styles]
    style = None if num_styles == 1 else np.array([[0.2, 0.5, 0.3]])
    x = _input_away_from_kinks(net, style)
    out, cache = net.forward(x, style)
    dout = np.random.default_rng(7).standard_normal(out.shape)
    dx, grads = net.backward(dout, cache)
    assert set(grads) == set(net.params)
    value = x if param == "x" else net.params[param]
    analytic = dx if param == "x" else grads[param]
    numeric = eval_numerical_gradient_array(lambda _: net.forward(x, style)[0], value, dout)
    assert_gradients_close(analytic, numeric, param, 1e-6)


def test_transformer_shapes_range_and_names(tiny_nets, rng):
    net = tiny_nets[1]
    x = rng.standard_normal((2, 3, 16, 20)) * 3
    out, cache = net.forward(x)
    assert out.shape == x.shape
    assert list(cache.activations) == list(net.block_names)
    assert cache.activations["conv3"].shape == (2, net.widths[2], 4, 5)
    # tanh scaling: the output is the normalized image of pixels in [0, 1]
    mean, std = np.array(net.meta["mean"]), np.array(net.meta["std"])
    pixels = out.transpose(0, 2, 3, 1) * std + mean
    assert pixels.min() >= 0 and pixels.max() <= 1
    _, no_grads = net.backward(out, cache, param_grads=False)
    assert no_grads == {}
    with pytest.raises(ValueError, match="multiples of 4"):
        net.forward(rng.standard_normal((1, 3, 10, 12)))
    with pytest.raises(ValueError, match="single style"):
        net.forward(x, style=np.ones((2, 3)))


def test_conditional_network_one_hot_equals_single_style_network(tiny_nets, rng):
    cond = tiny_nets[3]
    x = rng.standard_normal((1, 3, 12, 12))
    single = TransformerNet(cond.widths, cond.res_blocks, num_styles=1, dtype=np.float64,
                            params={k: (v[1] if k.endswith(("gamma", "beta")) else v)
                                    for k, v in cond.params.items()})
    np.testing.assert_allclose(cond.forward(x, style=1)[0], single.forward(x)[0], atol=1e-12)
    with pytest.raises(ValueError, match="style weights"):
        cond.forward(x)
    with pytest.raises(ValueError, match="unknown style"):
        cond.forward(x, style="picasso")


def test_save_load_roundtrip_and_corruption(tiny_nets, tmp_path, rng):
    net = tiny_nets[3]
    path = net.save(tmp_path / "net.npz")
    back = TransformerNet.load(path, dtype=np.float64)
    assert back.style_names == net.style_names and back.widths == net.widths
    for k in net.params:
        np.testing.assert_array_equal(back.params[k], net.params[k])
    x = rng.standard_normal((1, 3, 8, 8))
    np.testing.assert_array_equal(back.forward(x, 2)[0], net.forward(x, 2)[0])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="not a valid transformer file"):
        TransformerNet.load(bad)
    with pytest.raises(ValueError, match="widths"):
        TransformerNet(widths=(4, 4))


def test_stylize_converts_grey_and_rgba(tiny_nets, rng):
    net = tiny_nets[1]
    grey = rng.integers(0, 256, (18, 23), dtype=np.uint8)
    rgba = rng.integers(0, 256, (18, 23, 4), dtype=np.uint8)
    for img in (grey, rgba):
        out = net.stylize(img)
        assert out.dtype == np.uint8 and out.shape == (16, 20, 3)


def test_network_with_sub_pixel_up_blocks_equals_the_composition(tiny_nets, rng, monkeypatch):
    """The up-sampling blocks' sub-pixel conv gives the network (output, dx, every
    parameter gradient) of upsample + pad + conv, the readable composition."""
    net = tiny_nets[3]
    x = rng.standard_normal((2, 3, 12, 8))
    style = np.array([[0.2, 0.5, 0.3], [1.0, 0.0, 0.0]])
    out, cache = net.forward(x, style)
    dout = rng.standard_normal(out.shape)
    dx, grads = net.backward(dout, cache)
    monkeypatch.setattr(fl, "upsample_conv_forward", tl.upsample_conv_forward)
    monkeypatch.setattr(fl, "upsample_conv_backward",
                        lambda d, c, param_grads=True: tl.upsample_conv_backward(d, c))
    ref, ref_cache = net.forward(x, style)
    ref_dx, ref_grads = net.backward(dout, ref_cache)
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, ref_dx, rtol=1e-10, atol=1e-12)
    for k in grads:
        np.testing.assert_allclose(grads[k], ref_grads[k], rtol=1e-9,
                                   atol=1e-10 * max(1, np.abs(ref_grads[k]).max()), err_msg=k)
