"""Assignment 3 -- image synthesis steps (student file ``synthesis.py``):
class_visualization_step, fooling_step, deepdream_step, feature_inversion_loss.
Graded on the tiny random SqueezeNet; the reference is
:mod:`minicnn.techniques.synthesis` (each step is one iteration of its
``gradient_ascent``).
"""
from types import SimpleNamespace

import numpy as np

from ..techniques import synthesis as Y
from .a2_attribution import model
from .core import Check, Hint

L2_SIGN = Hint("l2_sign", "the L2 penalty is subtracted: ascend s - l2_reg ||x||^2, so "
               "g = ds/dx - 2 l2_reg x")
L2_FACTOR2 = Hint("l2_factor2", "the gradient of l2_reg ||x||^2 is 2 l2_reg x: the factor 2 is "
                  "missing")
JITTER_UNDONE = Hint("jitter_undone", "roll the gradient back (np.roll by (-oy, -ox)) before "
                     "adding it to the un-jittered image")
STEP_NORM = Hint("step_norm", "normalize the step: x + learning_rate * g / ||g||_2 (the L2 norm "
                 "of each image's gradient)")
DREAM_SUM = Hint("dream_sum", "DeepDream maximizes 0.5 ||a||^2, whose gradient is a itself: "
                 "pass the activations to cnn.backward, not ones (the gradient of sum(a))")
DREAM_NORM = Hint("dream_norm", "DeepDream divides the step by the mean absolute gradient, "
                  "mean(|g|), of each image")
INV_NORMALIZE = Hint("inv_normalize", "divide the feature term by ||phi0||^2 (and its "
                     "gradient 2 (phi - phi0) / ||phi0||^2)")
INV_SIGN = Hint("inv_sign", "this is a loss to minimize: return its gradient, not its negative")
TV_SIGN = Hint("tv_sign", "each difference d = x[i+1] - x[i] sends +grad to x[i+1] and -grad "
               "to x[i]: your TV gradient has the wrong sign")


def _images(rng, n=2, size=36):
    return rng.standard_normal((n, 3, size, size))


def _score_grad(cnn, x, target):
    scores, cache = cnn.forward(x)
    d = np.zeros_like(scores)
    d[:, target] = 1
    return cnn.backward(d, cache, param_grads=False)[0]


def _normalized(x, g, lr):
    return x + lr * g / np.sqrt((g ** 2).sum(axis=(1, 2, 3), keepdims=True))


def check_class_visualization_step(S, ctx):
    cnn = model()
    for name, shift, l2 in [("2 images (3, 36, 36), target 4, l2_reg 0.05, no jitter", (0, 0),
                             0.05),
                            ("jitter shift (3, 5), target 4, l2_reg 0.05", (3, 5), 0.05)]:
        x = _images(ctx.rng)
        with ctx.case(name):
            got = S.class_visualization_step(cnn, x, 4, l2, 0.7, shift)
            ref = Y.class_visualization_step(cnn, x, 4, l2, 0.7, shift)
            xj = np.roll(x, shift, axis=(2, 3))
            gs = np.roll(_score_grad(cnn, xj, 4), (-shift[0], -shift[1]), axis=(2, 3))
            mistakes = [(L2_SIGN, _normalized(x, gs + 2 * l2 * x, 0.7)),
                        (L2_FACTOR2, _normalized(x, gs - l2 * x, 0.7)),
                        (STEP_NORM, x + 0.7 * (gs - 2 * l2 * x))]
            if shift != (0, 0):
                mistakes.append((JITTER_UNDONE, _normalized(x, _score_grad(cnn, xj, 4)
                                                            - 2 * l2 * x, 0.7)))
                mistakes.append((JITTER_UNDONE, np.roll(_normalized(
                    xj, _score_grad(cnn, xj, 4) - 2 * l2 * xj, 0.7), (0, 0), axis=(2, 3))))
            ctx.expect(got, ref, "x", mistakes=mistakes)


def check_fooling_step(S, ctx):
    cnn = model()
    x = _images(ctx.rng)
    with ctx.case("2 images (3, 36, 36), target 6, learning_rate 2.0"):
        got = S.fooling_step(cnn, x, 6, 2.0)
        g = _score_grad(cnn, x, 6)
        ctx.expect(got, Y.fooling_step(cnn, x, 6, 2.0), "x",
                   mistakes=[(STEP_NORM, x + 2.0 * g)])


def check_deepdream_step(S, ctx):
    cnn = model()
    for name, layer in [("2 images (3, 36, 36), layer fire3", "fire3"),
                        ("2 images (3, 36, 36), layer conv1", "conv1")]:
        x = _images(ctx.rng)
        with ctx.case(name):
            got = S.deepdream_step(cnn, x, layer, 1.5)
            a, cache = cnn.forward(x, end=layer)
            g1 = cnn.backward(np.ones_like(a), cache, param_grads=False)[0]
            ga = cnn.backward(a, cache, param_grads=False)[0]

            def mean_abs(g):
                return x + 1.5 * g / np.abs(g).mean(axis=(1, 2, 3), keepdims=True)
            ctx.expect(got, Y.deepdream_step(cnn, x, layer, 1.5), "x",
                       mistakes=[(DREAM_SUM, mean_abs(g1)), (DREAM_SUM, _normalized(x, g1, 1.5)),
                                 (DREAM_NORM, _normalized(x, ga, 1.5)),
                                 (DREAM_NORM, x + 1.5 * ga)])


def check_feature_inversion_loss(S, ctx):
    cnn = model()
    for name, layer, beta in [("x (1, 3, 36, 36), layer fire3, tv_beta 2", "fire3", 2.0),
                              ("x (1, 3, 36, 36), layer conv1, tv_beta 1.5", "conv1", 1.5)]:
        x = _images(ctx.rng, 1)
        phi0 = cnn.forward(_images(ctx.rng, 1), end=layer)[0]
        tv = 0.03
        with ctx.case(name):
            loss, dx = ctx.unpack(S.feature_inversion_loss(cnn, x, layer, phi0, tv, beta), 2,
                                  "feature_inversion_loss")
            rl, rd = Y.feature_inversion_loss(cnn, x, layer, phi0, tv, beta)
            phi, cache = cnn.forward(x, end=layer)
            norm = np.sum(phi0 ** 2)
            raw = float(np.sum((phi - phi0) ** 2))
            tvv = rl - raw / norm
            ctx.expect(loss, rl, "loss", mistakes=[(INV_NORMALIZE, raw + tvv)])
            gf = cnn.backward(2 * (phi - phi0) / norm, cache, param_grads=False)[0]
            gt = rd - gf
            ctx.expect(dx, rd, "dx", mistakes=[(INV_NORMALIZE, gf * norm + gt),
                                               (INV_SIGN, -rd), (INV_SIGN, -gf + gt),
                                               (TV_SIGN, gf - gt)])
            # the gradient against centred differences at a few pixels
            pix = [(0, int(c), int(i), int(j)) for c, i, j in
                   zip(*(np.random.default_rng(3).integers(0, s, 16) for s in (3, 36, 36)))]

            def f(v):
                return Y.feature_inversion_loss(cnn, v, layer, phi0, tv, beta)[0]

            def compute():
                out = []
                for p in pix:
                    xp, xm = x.copy(), x.copy()
                    xp[p] += 1e-5
                    xm[p] -= 1e-5
                    out.append((f(xp) - f(xm)) / 2e-5)
                return np.array(out)
            num = ctx.memo((name,), compute)
            ctx.expect(np.array([np.asarray(dx)[p] for p in pix]), num, "dx at 16 pixels",
                       tol=1e-5, against="numeric gradient")


def reference():
    ns = SimpleNamespace(ASSIGNMENT=3, __name__="minicnn.techniques.synthesis (reference)")
    for name in ("class_visualization_step", "fooling_step", "deepdream_step",
                 "feature_inversion_loss"):
        setattr(ns, name, getattr(Y, name))
    return ns


CHECKS = [
    Check("class_visualization_step", 3, check_class_visualization_step),
    Check("fooling_step", 1, check_fooling_step),
    Check("deepdream_step", 2, check_deepdream_step),
    Check("feature_inversion_loss", 3, check_feature_inversion_loss),
]
