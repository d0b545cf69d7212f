"""Assignment 2 -- attribution (student file ``attribution.py``): saliency map,
neuron gradient under a ReLU rule, occlusion map, Grad-CAM.  Graded on the tiny
random SqueezeNet (``SqueezeNet.tiny(rng, dtype=np.float64)``: offline, no
weights); the reference is :mod:`minicnn.techniques.attribution`.
"""
from types import SimpleNamespace

import numpy as np

from ..models.squeezenet import SqueezeNet
from ..techniques import attribution as A
from .core import Check, Hint

SALIENCY_SIGNED = Hint("saliency_signed", "the saliency map is max over channels of the "
                       "ABSOLUTE gradient, max_c |g|: take np.abs before the max")
SALIENCY_LOSS = Hint("saliency_loss", "differentiate the raw class score s_y (one-hot dscores), "
                     "not the softmax probability or the loss")
NEURON_CHANNEL = Hint("neuron_channel", "the gradient of ONE neuron: dout is 1 at (n, channel, "
                      "i, j) only, not on the whole channel map")
NEURON_RULE = Hint("neuron_rule", "pass relu_mode to cnn.backward: the rule changes the "
                   "gradient")
OCCLUSION_TRANSPOSED = Hint("occlusion_transposed", "the map is indexed [n, p, q] with p the "
                            "row (vertical) position of the square; yours is transposed")
OCCLUSION_OUTPUT = Hint("occlusion_output", "output='probability' records the softmax "
                        "probability of class y, output='score' its raw score")
GRADCAM_RELU = Hint("gradcam_relu", "Grad-CAM keeps only the positive evidence: "
                    "cam = relu(sum_k alpha_k A_k)")
GRADCAM_MEAN = Hint("gradcam_mean", "alpha[n, k] is the MEAN of the gradient over the positions "
                    "(global average pooling), not the sum")

#: Number of pixel gradients spot-checked against centred differences.
SPOT = 24


def model():
    """The tiny float64 SqueezeNet every check uses (seeded; 10 classes)."""
    return SqueezeNet.tiny(np.random.default_rng(7), dtype=np.float64)


def _images(rng, n=2, size=36):
    return rng.standard_normal((n, 3, size, size))


def _spot_gradient(ctx, key, f, x, positions):
    """Numeric d f(x) / d x at the given (n, c, i, j) positions (memoized)."""
    def compute():
        out = []
        for pos in positions:
            xp, xm = x.copy(), x.copy()
            xp[pos] += 1e-5
            xm[pos] -= 1e-5
            out.append((f(xp) - f(xm)) / 2e-5)
        return np.array(out)
    return ctx.memo(key, compute)


def _positions(rng, shape, k=SPOT):
    return [tuple(int(rng.integers(s)) for s in shape) for _ in range(k)]


def check_saliency_map(S, ctx):
    cnn = model()
    x = _images(ctx.rng)
    y = np.array([3, 7])
    with ctx.case("2 images (3, 36, 36), classes [3, 7]"):
        got = S.saliency_map(cnn, x, y)
        ref = A.saliency_map(cnn, x, y)
        _, g = A.class_score_gradient(cnn, x, y)
        scores, cache = cnn.forward(x)
        p = np.exp(scores - scores.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dloss = p.copy()
        dloss[np.arange(2), y] -= 1
        gl, _ = cnn.backward(dloss, cache, param_grads=False)
        mistakes = [(SALIENCY_SIGNED, g.max(axis=1)), (SALIENCY_SIGNED, np.abs(g.max(axis=1))),
                    (SALIENCY_SIGNED, g.sum(axis=1)), (SALIENCY_SIGNED, np.abs(g.sum(axis=1))),
                    (SALIENCY_LOSS, np.abs(gl).max(axis=1))]
        ctx.expect(got, ref, "saliency", mistakes=mistakes)
        # the reference itself against centred differences of the score, at a few pixels
        pix = _positions(np.random.default_rng(1), (2, 36, 36))
        full = [(n, c, i, j) for n, i, j in pix for c in range(3)]
        num = _spot_gradient(ctx, ("saliency",), lambda v: cnn.forward(v)[0][
            np.arange(2), y].sum(), x, full).reshape(len(pix), 3)
        got_at = np.array([np.asarray(got)[n, i, j] for n, i, j in pix])
        ctx.expect(got_at, np.abs(num).max(axis=1), "saliency at 24 pixels", mistakes=mistakes[:0],
                   tol=1e-6, against="numeric gradient")


def check_neuron_gradient(S, ctx):
    cnn = model()
    x = _images(ctx.rng)
    cases = [("layer fire3, channel 2, strongest position per image, standard",
              ("fire3", 2, None, "standard")),
             ("layer fire5, channel 1, position (1, 2), guided", ("fire5", 1, (1, 2), "guided")),
             ("layer conv1, channel 3, strongest position, deconvnet",
              ("conv1", 3, None, "deconvnet"))]
    for name, (layer, ch, pos, mode) in cases:
        with ctx.case(name):
            got = S.neuron_gradient(cnn, x, layer, ch, pos, mode)
            ref = A.neuron_gradient(cnn, x, layer, ch, pos, mode)
            out, cache = cnn.forward(x, end=layer)
            d = np.zeros_like(out)
            d[:, ch] = 1
            whole = cnn.backward(d, cache, relu_mode=mode, param_grads=False)[0]
            others = [A.neuron_gradient(cnn, x, layer, ch, pos, m)
                      for m in ("standard", "deconvnet", "guided") if m != mode]
            ctx.expect(got, ref, "dx", mistakes=[(NEURON_CHANNEL, whole)] +
                       [(NEURON_RULE, o) for o in others])
            if mode == "standard":
                p = A.strongest_position(cnn, x, layer, ch)
                pix = _positions(np.random.default_rng(2), (2, 3, 36, 36))

                def f(v):
                    o, _ = cnn.forward(v, end=layer)
                    return o[np.arange(2), ch, p[:, 0], p[:, 1]].sum()
                num = _spot_gradient(ctx, ("neuron",), f, x, pix)
                ctx.expect(np.array([np.asarray(got)[q] for q in pix]), num,
                           "dx at 24 pixels", tol=1e-6, against="numeric gradient")


def check_occlusion_map(S, ctx):
    cnn = model()
    x = _images(ctx.rng)
    y = np.array([1, 4])
    for name, kw in [("size 12, stride 8, fill 0, probability", dict(size=12, stride=8)),
                     ("size 10, stride 6 (36 = 10 + 4*6 + 2), fill 0.5, score",
                      dict(size=10, stride=6, fill=0.5, output="score"))]:
        with ctx.case(name):
            got = S.occlusion_map(cnn, x, y, **kw)
            ref = A.occlusion_map(cnn, x, y, **kw)
            other = "score" if kw.get("output", "probability") == "probability" else "probability"
            alt = A.occlusion_map(cnn, x, y, **dict(kw, output=other))
            ctx.expect(got, ref, "heatmap", mistakes=[
                (OCCLUSION_TRANSPOSED, ref.transpose(0, 2, 1)), (OCCLUSION_OUTPUT, alt)])


def check_gradcam(S, ctx):
    cnn = model()
    x = _images(ctx.rng)
    y = np.array([2, 5])
    for name, layer, norm in [("layer fire5 (4x4 map), normalize=False", "fire5", False),
                              ("layer fire3 (8x8 map), normalize=True", "fire3", True)]:
        with ctx.case(name):
            got = S.gradcam(cnn, x, y, layer, norm)
            ref = A.gradcam(cnn, x, y, layer, norm)
            k = cnn.layer_index(layer)
            a, _ = cnn.forward(x, end=k)
            scores, cache = cnn.forward(a, start=k + 1)
            d = np.zeros_like(scores)
            d[np.arange(2), y] = 1
            da, _ = cnn.backward(d, cache, param_grads=False)
            raw = np.einsum("nk,nkij->nij", da.mean(axis=(2, 3)), a)
            no_relu = A._resize_maps(raw, x.shape[2:]).astype(np.float64)
            summed = A._resize_maps(np.maximum(np.einsum("nk,nkij->nij", da.sum(axis=(2, 3)), a),
                                               0), x.shape[2:]).astype(np.float64)
            if norm:
                no_relu = no_relu / np.abs(no_relu).max(axis=(1, 2), keepdims=True)
            ctx.expect(got, ref, "cam", tol=1e-5,
                       mistakes=[(GRADCAM_RELU, no_relu), (GRADCAM_MEAN, summed)])


def reference():
    ns = SimpleNamespace(ASSIGNMENT=2, __name__="minicnn.techniques.attribution (reference)")
    for name in ("saliency_map", "neuron_gradient", "occlusion_map", "gradcam"):
        setattr(ns, name, getattr(A, name))
    return ns


CHECKS = [
    Check("saliency_map", 2, check_saliency_map),
    Check("neuron_gradient", 2, check_neuron_gradient),
    Check("occlusion_map", 2, check_occlusion_map),
    Check("gradcam", 3, check_gradcam),
]
