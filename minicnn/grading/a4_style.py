"""Assignment 4 -- style losses with hand-written gradients (student file ``style.py``).

content_loss, gram_forward, gram_backward, style_loss, tv_loss; the reference
is :mod:`minicnn.losses`.
"""
from types import SimpleNamespace

import numpy as np

from .. import losses as R
from ..gradient_check import eval_numerical_gradient, eval_numerical_gradient_array
from .core import Check, Hint

CONTENT_FACTOR2 = Hint("content_factor2", "d/dF of w * sum((F - P)^2) is 2 w (F - P): the "
                       "factor 2 is missing")
GRAM_NOT_NORMALIZED = Hint("gram_not_normalized", "with normalize=True divide F F^T by "
                           "C * H * W (you did not normalize)")
GRAM_TWICE = Hint("gram_twice", "the Gram matrix is normalized twice: divide F F^T by C*H*W "
                  "once")
GRAM_HW = Hint("gram_hw", "divide by C * H * W (the number of feature values), not by H * W "
               "or C alone")
GRAM_SYMMETRIC = Hint("gram_symmetric", "dG is not symmetric in general: dF = s (dG + dG^T) F, "
                      "not 2 s dG F")
STYLE_FACTOR2 = Hint("style_factor2", "d/dG of w * sum((G - A)^2) is 2 w (G - A): the factor 2 "
                     "is missing in the style gradient")
TV_ONE_DIRECTION = Hint("tv_one_direction", "total variation sums the squared differences in "
                        "BOTH directions: vertical (rows, axis 2) and horizontal (columns, "
                        "axis 3)")
TV_SIGN = Hint("tv_sign", "each difference d = x[i+1] - x[i] sends +2 w d to x[i+1] and -2 w d "
               "to x[i]: your signs are swapped")


def _numeric_scalar(ctx, key, f, x):
    return ctx.memo(key, lambda: eval_numerical_gradient(lambda v: f(v), x.copy()))


def check_content_loss(S, ctx):
    rng = ctx.rng
    for name, shape, w in [("features (1, 4, 3, 5), weight 0.3", (1, 4, 3, 5), 0.3),
                           ("a batch: features (2, 3, 4, 4), weight 2.5", (2, 3, 4, 4), 2.5)]:
        f, p = rng.standard_normal(shape), rng.standard_normal(shape)
        with ctx.case(name):
            loss, d = ctx.unpack(S.content_loss(w, f, p), 2, "content_loss")
            rl, rd = R.content_loss(w, f, p)
            ctx.expect(loss, rl, "loss")
            num = _numeric_scalar(ctx, (name,), lambda v: R.content_loss(w, v, p)[0], f)
            ctx.expect_gradient(d, rd, num, "dcurrent", mistakes=[(CONTENT_FACTOR2, rd / 2)])


GRAM_CASES = [("features (1, 3, 4, 5), normalize=True", (1, 3, 4, 5), True),
              ("a batch: features (2, 4, 3, 3), normalize=True", (2, 4, 3, 3), True),
              ("features (2, 3, 2, 5), normalize=False", (2, 3, 2, 5), False)]


def check_gram_forward(S, ctx):
    for name, shape, norm in GRAM_CASES:
        x = ctx.rng.standard_normal(shape)
        with ctx.case(name):
            g, _ = ctx.unpack(S.gram_forward(x, norm), 2, "gram_forward")
            n, c, h, w = shape
            raw = R.gram_forward(x, False)[0]
            ctx.expect(g, R.gram_forward(x, norm)[0], "gram",
                       mistakes=[(GRAM_NOT_NORMALIZED, raw), (GRAM_TWICE, raw / (c * h * w) ** 2),
                                 (GRAM_HW, raw / (h * w)), (GRAM_HW, raw / c)] if norm else [])


def check_gram_backward(S, ctx):
    for name, shape, norm in GRAM_CASES:
        x = ctx.rng.standard_normal(shape)
        dgram = ctx.rng.standard_normal((shape[0], shape[1], shape[1]))    # not symmetric
        with ctx.case(name + ", dgram not symmetric"):
            g, cache = ctx.unpack(S.gram_forward(x, norm), 2, "gram_forward")
            d = S.gram_backward(dgram, cache)
            rcache = R.gram_forward(x, norm)[1]
            ref = R.gram_backward(dgram, rcache)
            num = ctx.memo((name,), lambda: eval_numerical_gradient_array(
                lambda v: R.gram_forward(v, norm)[0], x.copy(), dgram))
            f, s, _ = rcache
            wrong = (2 * s * (dgram @ f)).reshape(shape)
            c, h, w = shape[1:]
            ctx.expect_gradient(d, ref, num, "dfeatures",
                                mistakes=[(GRAM_SYMMETRIC, wrong),
                                          (GRAM_NOT_NORMALIZED, ref * (c * h * w)),
                                          (GRAM_TWICE, ref / (c * h * w))] if norm else
                                [(GRAM_SYMMETRIC, wrong)])


def _style_case(rng):
    feats = {"conv1": rng.standard_normal((1, 3, 5, 4)), "fire3": rng.standard_normal((1, 5, 3, 3))}
    targets = [R.gram_matrix(rng.standard_normal((1, 3, 4, 4))),
               R.gram_matrix(rng.standard_normal((1, 5, 2, 3)))]
    return feats, ["conv1", "fire3"], targets, [2.0, 0.5]


def check_style_loss(S, ctx):
    feats, layers, targets, weights = _style_case(ctx.rng)
    for name, fs, ls in [("two layers, feats a dict by name", feats, layers),
                         ("feats a list, style_layers indices (cs231n)",
                          [feats["conv1"], None, feats["fire3"]], [0, 2])]:
        with ctx.case(name):
            loss, d = ctx.unpack(S.style_loss(fs, list(ls), list(targets), list(weights)), 2,
                                 "style_loss")
            rl, rd = R.style_loss(feats, layers, targets, weights)
            ctx.expect(loss, rl, "loss")
            if not isinstance(d, dict):
                ctx.fail(f"the gradients must be a dict {{layer: dF}}, got {type(d).__name__}")
            for key, layer in zip(ls, layers):
                if key not in d:
                    ctx.fail(f"no gradient for style layer {key!r} in the returned dict")

                def f(v, layer=layer):
                    return R.style_loss(dict(feats, **{layer: v}), layers, targets, weights)[0]
                num = _numeric_scalar(ctx, (layer,), f, feats[layer])
                k = layers.index(layer)
                _, cache = R.gram_forward(feats[layer])
                half = R.gram_backward(weights[k] * (R.gram_matrix(feats[layer]) - targets[k]),
                                       cache)
                ctx.expect_gradient(d[key], rd[layer], num, f"dfeats[{key!r}]",
                                    mistakes=[(STYLE_FACTOR2, half)])


def _tv_parts(img, w):
    dv = img[:, :, 1:, :] - img[:, :, :-1, :]
    dh = img[:, :, :, 1:] - img[:, :, :, :-1]
    gv, gh = np.zeros_like(img), np.zeros_like(img)
    gv[:, :, 1:] += 2 * w * dv
    gv[:, :, :-1] -= 2 * w * dv
    gh[:, :, :, 1:] += 2 * w * dh
    gh[:, :, :, :-1] -= 2 * w * dh
    return w * np.sum(dv * dv), w * np.sum(dh * dh), gv, gh


def check_tv_loss(S, ctx):
    for name, shape, w in [("img (1, 3, 4, 6) (not square), weight 0.5", (1, 3, 4, 6), 0.5),
                           ("a batch: img (2, 2, 5, 3), weight 1.5", (2, 2, 5, 3), 1.5)]:
        img = ctx.rng.standard_normal(shape)
        with ctx.case(name):
            loss, d = ctx.unpack(S.tv_loss(img, w), 2, "tv_loss")
            lv, lh, gv, gh = _tv_parts(img, w)
            ctx.expect(loss, lv + lh, "loss", mistakes=[(TV_ONE_DIRECTION, lv),
                                                        (TV_ONE_DIRECTION, lh)])
            num = _numeric_scalar(ctx, (name,), lambda v: R.tv_loss(v, w)[0], img)
            ctx.expect_gradient(d, gv + gh, num, "dimg",
                                mistakes=[(TV_SIGN, -(gv + gh)), (TV_SIGN, gv - gh),
                                          (TV_SIGN, gh - gv), (TV_ONE_DIRECTION, gv),
                                          (TV_ONE_DIRECTION, gh)])


def reference():
    ns = SimpleNamespace(ASSIGNMENT=4, __name__="minicnn.losses (reference)")
    for name in ("content_loss", "gram_forward", "gram_backward", "gram_matrix", "style_loss",
                 "tv_loss"):
        setattr(ns, name, getattr(R, name))
    return ns


CHECKS = [
    Check("content_loss", 1, check_content_loss),
    Check("gram_forward", 2, check_gram_forward),
    Check("gram_backward", 3, check_gram_backward, ("gram_forward",)),
    Check("style_loss", 2, check_style_loss, ("gram_forward", "gram_backward")),
    Check("tv_loss", 2, check_tv_loss),
]
