"""Assignment 5 -- fast style layers (student file ``transformer_layers.py``).

Instance norm and conditional instance norm, nearest upsampling and reflection
padding with their adjoints; the reference is :mod:`minicnn.transformer_layers`.
"""
from types import SimpleNamespace

import numpy as np

from .. import transformer_layers as T
from ..gradient_check import eval_numerical_gradient_array
from .core import Check, Hint

IN_BATCH_STATS = Hint("in_batch_stats", "instance norm takes the mean and variance of each "
                      "image and channel over H x W only (axes (2, 3)); you used batch "
                      "statistics (over the images too)")
IN_CHANNEL_STATS = Hint("in_channel_stats", "the statistics are per channel: average over "
                        "axes (2, 3), not over the channels")
IN_PARAM_AXES = Hint("in_param_axes", "dgamma and dbeta sum over the images AND the positions "
                     "(axes (0, 2, 3))")
UPSAMPLE_MEAN = Hint("upsample_mean", "the adjoint of copying a pixel to s x s places is the "
                     "SUM of their gradients, not the mean")
REFLECT_EDGE = Hint("reflect_edge", "reflection padding does not repeat the edge pixel "
                    "(np.pad mode='reflect', not 'symmetric' or 'edge')")
PAD_NO_FOLD = Hint("pad_no_fold", "the padded border copies inner pixels: add its gradient "
                   "back onto them, do not just crop it away")


def _numeric(ctx, key, f, inputs, name, dout):
    def compute():
        args = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in inputs.items()}

        def g(v):
            args[name] = v
            return f(**args)
        return eval_numerical_gradient_array(g, inputs[name].copy(), dout)
    return ctx.memo(key + (name,), compute)


def _norm(x, axes, eps=1e-5):
    mu = x.mean(axis=axes, keepdims=True)
    return (x - mu) / np.sqrt(((x - mu) ** 2).mean(axis=axes, keepdims=True) + eps)


IN_CASES = [("x (2, 3, 4, 5) (a batch: per-image statistics)", (2, 3, 4, 5)),
            ("x (3, 2, 3, 3)", (3, 2, 3, 3))]


def check_instance_norm_forward(S, ctx):
    for name, shape in IN_CASES:
        rng = ctx.rng
        x = rng.standard_normal(shape) * 2 + rng.standard_normal((shape[0], 1, 1, 1)) * 3
        g, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        with ctx.case(name):
            out, _ = ctx.unpack(S.instance_norm_forward(x, g, b), 2, "instance_norm_forward")
            gg, bb = g[None, :, None, None], b[None, :, None, None]
            ctx.expect(out, T.instance_norm_forward(x, g, b)[0], "out",
                       mistakes=[(IN_BATCH_STATS, gg * _norm(x, (0, 2, 3)) + bb),
                                 (IN_CHANNEL_STATS, gg * _norm(x, (1, 2, 3)) + bb)])


def check_instance_norm_backward(S, ctx):
    for name, shape in IN_CASES:
        rng = ctx.rng
        x = rng.standard_normal(shape)
        g, b = rng.standard_normal(shape[1]), rng.standard_normal(shape[1])
        with ctx.case(name):
            out, cache = ctx.unpack(S.instance_norm_forward(x, g, b), 2, "instance_norm_forward")
            dout = rng.standard_normal(shape)
            dx, dg, db = ctx.unpack(S.instance_norm_backward(dout, cache), 3,
                                    "instance_norm_backward")
            ref = T.instance_norm_backward(dout, T.instance_norm_forward(x, g, b)[1])
            inputs = {"x": x, "gamma": g, "beta": b}

            def f(x, gamma, beta):
                return T.instance_norm_forward(x, gamma, beta)[0]
            key = ("in", name)
            ctx.expect_gradient(dx, ref[0], _numeric(ctx, key, f, inputs, "x", dout), "dx")
            xhat = _norm(x, (2, 3))
            ctx.expect_gradient(dg, ref[1], _numeric(ctx, key, f, inputs, "gamma", dout),
                                "dgamma", mistakes=[(IN_PARAM_AXES, (dout * xhat).sum((2, 3))),
                                                    (IN_PARAM_AXES, (dout * xhat).sum((0, 2, 3))
                                                     / shape[0])])
            ctx.expect_gradient(db, ref[2], _numeric(ctx, key, f, inputs, "beta", dout),
                                "dbeta", mistakes=[(IN_PARAM_AXES, dout.sum((2, 3)))])


def _cin_case(rng):
    x = rng.standard_normal((2, 3, 4, 4))
    gamma, beta = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    w = np.array([[0.0, 1.0, 0.0, 0.0], [0.2, 0.3, 0.4, 0.1]])
    return x, gamma, beta, w


def check_cin_forward(S, ctx):
    x, gamma, beta, w = _cin_case(ctx.rng)
    with ctx.case("x (2, 3, 4, 4), 4 styles; image 0 one-hot, image 1 a blend"):
        out, _ = ctx.unpack(S.conditional_instance_norm_forward(x, gamma, beta, w), 2,
                            "conditional_instance_norm_forward")
        ctx.expect(out, T.conditional_instance_norm_forward(x, gamma, beta, w)[0], "out")


def check_cin_backward(S, ctx):
    x, gamma, beta, w = _cin_case(ctx.rng)
    with ctx.case("x (2, 3, 4, 4), 4 styles; image 0 one-hot, image 1 a blend"):
        out, cache = ctx.unpack(S.conditional_instance_norm_forward(x, gamma, beta, w), 2,
                                "conditional_instance_norm_forward")
        dout = ctx.rng.standard_normal(x.shape)
        got = ctx.unpack(S.conditional_instance_norm_backward(dout, cache), 4,
                         "conditional_instance_norm_backward")
        ref = T.conditional_instance_norm_backward(
            dout, T.conditional_instance_norm_forward(x, gamma, beta, w)[1])
        inputs = {"x": x, "gamma": gamma, "beta": beta, "style_weights": w}

        def f(x, gamma, beta, style_weights):
            return T.conditional_instance_norm_forward(x, gamma, beta, style_weights)[0]
        for name, g, r in zip(("x", "gamma", "beta", "style_weights"), got, ref):
            ctx.expect_gradient(g, r, _numeric(ctx, ("cin",), f, inputs, name, dout), "d" + name)


def check_upsample_forward(S, ctx):
    for name, shape, s in [("x (2, 3, 3, 4), scale 2", (2, 3, 3, 4), 2),
                           ("x (1, 2, 2, 3), scale 3", (1, 2, 2, 3), 3)]:
        x = ctx.rng.standard_normal(shape)
        with ctx.case(name):
            out, _ = ctx.unpack(S.upsample_nearest_forward(x, s), 2, "upsample_nearest_forward")
            ctx.expect(out, T.upsample_nearest_forward(x, s)[0], "out")


def check_upsample_backward(S, ctx):
    for name, shape, s in [("x (2, 3, 3, 4), scale 2", (2, 3, 3, 4), 2),
                           ("x (1, 2, 2, 3), scale 3", (1, 2, 2, 3), 3)]:
        x = ctx.rng.standard_normal(shape)
        with ctx.case(name):
            out, cache = ctx.unpack(S.upsample_nearest_forward(x, s), 2,
                                    "upsample_nearest_forward")
            dout = ctx.rng.standard_normal((shape[0], shape[1], shape[2] * s, shape[3] * s))
            dx = S.upsample_nearest_backward(dout, cache)
            ref = T.upsample_nearest_backward(dout, T.upsample_nearest_forward(x, s)[1])
            num = _numeric(ctx, ("up", name), lambda x: T.upsample_nearest_forward(x, s)[0],
                           {"x": x}, "x", dout)
            ctx.expect_gradient(dx, ref, num, "dx", mistakes=[(UPSAMPLE_MEAN, ref / s ** 2)])


PAD_CASES = [("x (2, 2, 4, 5), pad 1", (2, 2, 4, 5), 1), ("x (1, 3, 5, 4), pad 3", (1, 3, 5, 4), 3)]


def check_pad_forward(S, ctx):
    for name, shape, p in PAD_CASES:
        x = ctx.rng.standard_normal(shape)
        with ctx.case(name):
            out, _ = ctx.unpack(S.reflection_pad_forward(x, p), 2, "reflection_pad_forward")
            widths = ((0, 0), (0, 0), (p, p), (p, p))
            ctx.expect(out, T.reflection_pad_forward(x, p)[0], "out",
                       mistakes=[(REFLECT_EDGE, np.pad(x, widths, mode="symmetric")),
                                 (REFLECT_EDGE, np.pad(x, widths, mode="edge"))])


def check_pad_backward(S, ctx):
    for name, shape, p in PAD_CASES:
        x = ctx.rng.standard_normal(shape)
        with ctx.case(name):
            out, cache = ctx.unpack(S.reflection_pad_forward(x, p), 2, "reflection_pad_forward")
            dout = ctx.rng.standard_normal((shape[0], shape[1], shape[2] + 2 * p,
                                            shape[3] + 2 * p))
            dx = S.reflection_pad_backward(dout, cache)
            ref = T.reflection_pad_backward(dout, T.reflection_pad_forward(x, p)[1])
            num = _numeric(ctx, ("pad", name), lambda x: T.reflection_pad_forward(x, p)[0],
                           {"x": x}, "x", dout)
            ctx.expect_gradient(dx, ref, num, "dx",
                                mistakes=[(PAD_NO_FOLD, dout[:, :, p:-p, p:-p])])


def reference():
    ns = SimpleNamespace(ASSIGNMENT=5, __name__="minicnn.transformer_layers (reference)")
    for name in ("instance_norm_forward", "instance_norm_backward",
                 "conditional_instance_norm_forward", "conditional_instance_norm_backward",
                 "upsample_nearest_forward", "upsample_nearest_backward",
                 "reflection_pad_forward", "reflection_pad_backward"):
        setattr(ns, name, getattr(T, name))
    return ns


CHECKS = [
    Check("instance_norm_forward", 2, check_instance_norm_forward),
    Check("instance_norm_backward", 3, check_instance_norm_backward, ("instance_norm_forward",)),
    Check("conditional_instance_norm_forward", 1, check_cin_forward),
    Check("conditional_instance_norm_backward", 2, check_cin_backward,
          ("conditional_instance_norm_forward",)),
    Check("upsample_nearest_forward", 1, check_upsample_forward),
    Check("upsample_nearest_backward", 1, check_upsample_backward, ("upsample_nearest_forward",)),
    Check("reflection_pad_forward", 1, check_pad_forward),
    Check("reflection_pad_backward", 2, check_pad_backward, ("reflection_pad_forward",)),
]
