"""Assignment 1 -- layers and gradient checks (student file ``layers.py``).

Functions: affine_forward/backward, relu_forward/backward (three rules),
conv_forward/backward (naive: stride, padding, non-square kernels),
max_pool_forward/backward (overlapping windows, ceil mode) and the fire module
forward/backward built from those pieces.  The reference is
:mod:`minicnn.layers` and :mod:`minicnn.layer_utils`.
"""
import itertools
from types import SimpleNamespace

import numpy as np

from .. import layer_utils, layers as L
from ..gradient_check import eval_numerical_gradient_array
from .core import Check, Hint

# --------------------------------------------------------------------------- hints
AFFINE_RESHAPE = Hint("affine_reshape", "x has shape (N, d1, ..., dk): reshape it to (N, D) "
                      "with x.reshape(x.shape[0], -1) for the product, and give dx back the "
                      "shape of x")
RELU_GE = Hint("relu_ge", "ReLU's gradient at x == 0 is 0 here (the mask is x > 0): you used "
               "x >= 0")
GUIDED_ACTIVATION = Hint("guided_activation", "guided backprop multiplies by the 0/1 mask "
                         "(x > 0), not by the activation max(x, 0): dx = max(dout, 0) * (x > 0)")
DECONV_MASK = Hint("deconv_mask", "the deconvnet rule ignores the forward mask: "
                   "dx = max(dout, 0), whatever the sign of x")
RULES_SWAPPED = Hint("rules_swapped", "the deconvnet and guided rules are swapped: deconvnet "
                     "is max(dout, 0), guided is max(dout, 0) * (x > 0)")
CONV_FLIPPED = Hint("conv_flipped", "conv_forward is a cross-correlation (as F.conv2d): "
                    "out[n,f,i,j] = b[f] + sum w[f,c,u,v] xpad[n,c,i*sh+u,j*sw+v]; you flipped "
                    "the kernel (true convolution)")
CONV_NO_CROP = Hint("conv_no_crop", "dx has the padded shape: crop the padding, "
                    "dx = dxpad[:, :, ph:ph+H, pw:pw+W] (crop is the adjoint of pad)")
DW_BATCH = Hint("dw_batch", "dw must add the contributions of every image of the batch "
                "(sum over n); yours holds one image's (or their mean)")
DB_AXES = Hint("db_axes", "db sums dout over every axis but the channel (bias) one: "
               "conv: axes (0, 2, 3); affine: axis 0")
POOL_SPREAD = Hint("pool_spread", "max-pool backward sends each window's gradient to ONE "
                   "input, the argmax (the first maximum on ties): not to every position of "
                   "the window, nor to every tied maximum")
POOL_OVERWRITE = Hint("pool_overwrite", "windows overlap (stride < window): an input that "
                      "wins several windows receives the sum of their gradients; add "
                      "(dx[...] += g), do not overwrite (dx[...] = g)")
POOL_CEIL = Hint("pool_ceil", "pool_param['ceil_mode'] is True: round the output size up, "
                 "H' = ceil((H + 2p - k) / s) + 1, and let the last window hang over the edge "
                 "(it covers only the part inside the input)")
FIRE_CONCAT = Hint("fire_concat", "the fire module concatenates expand1x1 FIRST, then "
                   "expand3x3, along the channels (axis 1); the backward splits in the same order")
FIRE_FANOUT = Hint("fire_fanout", "the squeeze output feeds both expand branches: its "
                   "gradient is the SUM of the two branch gradients")


# --------------------------------------------------------------------------- inputs
def away_from_zero(rng, shape, margin=0.05):
    """Normal values with |x| >= margin: no ReLU kink within the numeric step."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * (margin + np.abs(x)), x)


def distinct(rng, shape):
    """Well separated values in random order: max pooling has no ties."""
    return rng.permutation(int(np.prod(shape))).reshape(shape) * 0.1 + rng.random(shape) * 0.01


def numeric(ctx, key, f, inputs, name, dout):
    """Numeric gradient of sum(f(**inputs) * dout) w.r.t. inputs[name], memoized per case."""
    def compute():
        args = {k: v.copy() for k, v in inputs.items()}

        def g(v):
            args[name] = v
            return f(**args)
        return eval_numerical_gradient_array(g, inputs[name].copy(), dout)
    return ctx.memo(key + (name,), compute)


# --------------------------------------------------------------------------- affine
def _affine_cases(rng):
    yield "x (4, 5): a batch of 4 vectors", rng.standard_normal((4, 5)), \
        rng.standard_normal((5, 3)), rng.standard_normal(3)
    yield "x (2, 3, 4): N=2 inputs of shape (3, 4), D=12", rng.standard_normal((2, 3, 4)), \
        rng.standard_normal((12, 5)), rng.standard_normal(5)
    yield "x (3, 2, 2, 3): N=3, D=12", rng.standard_normal((3, 2, 2, 3)), \
        rng.standard_normal((12, 2)), rng.standard_normal(2)


def check_affine_forward(S, ctx):
    for name, x, w, b in _affine_cases(ctx.rng):
        with ctx.case(name, error_hint=AFFINE_RESHAPE if x.ndim > 2 else None):
            out, _ = ctx.unpack(S.affine_forward(x, w, b), 2, "affine_forward")
            ctx.expect(out, L.affine_forward(x, w, b)[0], "out",
                       hint=AFFINE_RESHAPE if x.ndim > 2 else None)


def check_affine_backward(S, ctx):
    for name, x, w, b in _affine_cases(ctx.rng):
        with ctx.case(name, error_hint=AFFINE_RESHAPE if x.ndim > 2 else None):
            out, cache = ctx.unpack(S.affine_forward(x, w, b), 2, "affine_forward")
            dout = ctx.rng.standard_normal(np.shape(out))
            dx, dw, db = ctx.unpack(S.affine_backward(dout, cache), 3, "affine_backward")
            rdx, rdw, rdb = L.affine_backward(dout, L.affine_forward(x, w, b)[1])
            inputs = {"x": x, "w": w, "b": b}

            def f(x, w, b):
                return L.affine_forward(x, w, b)[0]
            key = ("affine", name)
            ctx.expect_gradient(dx, rdx, numeric(ctx, key, f, inputs, "x", dout), "dx",
                                mistakes=[(AFFINE_RESHAPE, lambda g: np.shape(g) == rdx.reshape(
                                    len(x), -1).shape and x.ndim > 2)])
            ctx.expect_gradient(dw, rdw, numeric(ctx, key, f, inputs, "w", dout), "dw")
            ctx.expect_gradient(db, rdb, numeric(ctx, key, f, inputs, "b", dout), "db",
                                mistakes=[(DB_AXES, _wrong_axes_sum(dout, (0,)))])


def _wrong_axes_sum(dout, right):
    """Predicate: got equals dout summed over some other set of axes."""
    def pred(got):
        got = np.asarray(got)
        for r in range(0, dout.ndim + 1):
            for axes in itertools.combinations(range(dout.ndim), r):
                if axes == tuple(right):
                    continue
                cand = dout.sum(axis=axes) if axes else dout
                if cand.shape == got.shape and np.allclose(got, cand, rtol=1e-6, atol=1e-9):
                    return True
        return False
    return pred


# --------------------------------------------------------------------------- ReLU
def check_relu_forward(S, ctx):
    for name, x in [("x (3, 4) with exact zeros", np.array([[-2.0, 0.0, 1.5, 3.0],
                                                            [0.5, -0.5, 0.0, -3.0],
                                                            [1.0, 2.0, -1.0, 0.0]])),
                    ("x (2, 3, 4, 5)", away_from_zero(ctx.rng, (2, 3, 4, 5)))]:
        with ctx.case(name):
            out, _ = ctx.unpack(S.relu_forward(x), 2, "relu_forward")
            ctx.expect(out, np.maximum(x, 0), "out")


def _relu_candidates(x, dout):
    pos = np.maximum(dout, 0)
    return {"standard": dout * (x > 0), "deconvnet": pos, "guided": pos * (x > 0),
            "standard_ge": dout * (x >= 0), "guided_ge": pos * (x >= 0),
            "guided_act": pos * np.maximum(x, 0), "guided_act2": dout * np.maximum(x, 0) * (dout > 0)}


def check_relu_backward(S, ctx):
    rng = ctx.rng
    # exact zeros in x and negative upstream gradients expose every rule's mistakes
    x = away_from_zero(rng, (2, 3, 4, 5))
    x.reshape(-1)[::7] = 0.0
    dout = away_from_zero(rng, x.shape)
    cases = [("standard", "x (2, 3, 4, 5) with exact zeros, dout of both signs"),
             ("guided", "relu_mode='guided', x with zeros, dout of both signs"),
             ("deconvnet", "relu_mode='deconvnet', x with zeros, dout of both signs")]
    c = _relu_candidates(x, dout)
    got = {}
    for mode, name in cases:
        with ctx.case(name):
            _, cache = ctx.unpack(S.relu_forward(x), 2, "relu_forward")
            got[mode] = S.relu_backward(dout, cache, mode) if mode != "standard" \
                else S.relu_backward(dout, cache)
    swapped = all(np.shape(got[m]) == x.shape for m in got) and \
        np.allclose(got["guided"], c["deconvnet"]) and np.allclose(got["deconvnet"], c["guided"])
    for mode, name in cases:
        with ctx.case(name):
            mistakes = [(RULES_SWAPPED, lambda g: swapped)]
            if mode == "standard":
                mistakes.append((RELU_GE, c["standard_ge"]))
            if mode == "guided":
                mistakes += [(RELU_GE, c["guided_ge"]), (GUIDED_ACTIVATION, c["guided_act"]),
                             (GUIDED_ACTIVATION, c["guided_act2"])]
            if mode == "deconvnet":
                mistakes.append((DECONV_MASK, c["guided"]))
            ctx.expect(got[mode], L.relu_backward(dout, x > 0, mode), "dx", mistakes=mistakes)
    # the standard rule is the true gradient: compare with a numeric one
    x = away_from_zero(rng, (3, 4, 5))
    dout = rng.standard_normal(x.shape)
    with ctx.case("x (3, 4, 5) away from 0: dx against the numeric gradient"):
        _, cache = ctx.unpack(S.relu_forward(x), 2, "relu_forward")
        dx = S.relu_backward(dout, cache)
        num = numeric(ctx, ("relu",), lambda x: np.maximum(x, 0), {"x": x}, "x", dout)
        ctx.expect_gradient(dx, dout * (x > 0), num, "dx")


# --------------------------------------------------------------------------- convolution
CONV_CASES = [
    # name, x shape, w shape, conv_param
    ("3x3 kernel, stride 1, pad 1, x (2, 3, 5, 6)", (2, 3, 5, 6), (4, 3, 3, 3),
     {"stride": 1, "pad": 1}),
    ("3x3 kernel, stride 2, pad 0, x (2, 3, 7, 7) (odd size: a remainder)", (2, 3, 7, 7),
     (3, 3, 3, 3), {"stride": 2, "pad": 0}),
    ("non-square 3x5 kernel, stride (2, 1), pad (1, 2), x (2, 2, 6, 5)", (2, 2, 6, 5),
     (3, 2, 3, 5), {"stride": (2, 1), "pad": (1, 2)}),
    ("1x1 kernel, x (3, 3, 4, 3)", (3, 3, 4, 3), (2, 3, 1, 1), {"stride": 1, "pad": 0}),
]


def _conv_case(rng, xs, ws):
    return rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])


def check_conv_forward(S, ctx):
    for name, xs, ws, param in CONV_CASES:
        x, w, b = _conv_case(ctx.rng, xs, ws)
        with ctx.case(name):
            out, _ = ctx.unpack(S.conv_forward(x, w, b, dict(param)), 2, "conv_forward")
            ref = L.conv_forward(x, w, b, param)[0]
            flipped = L.conv_forward(x, np.ascontiguousarray(w[:, :, ::-1, ::-1]), b, param)[0]
            ctx.expect(out, ref, "out", mistakes=[(CONV_FLIPPED, flipped)] if ws[2] > 1 else [])


def check_conv_backward(S, ctx):
    for name, xs, ws, param in CONV_CASES:
        x, w, b = _conv_case(ctx.rng, xs, ws)
        with ctx.case(name):
            out, cache = ctx.unpack(S.conv_forward(x, w, b, dict(param)), 2, "conv_forward")
            ref_out, ref_cache = L.conv_forward(x, w, b, param)
            dout = ctx.rng.standard_normal(ref_out.shape)
            if np.shape(out) != ref_out.shape:
                ctx.fail(f"conv_forward returns shape {np.shape(out)}, expected "
                         f"{ref_out.shape}: fix conv_forward first")
            dx, dw, db = ctx.unpack(S.conv_backward(dout, cache), 3, "conv_backward")
            rdx, rdw, rdb = L.conv_backward(dout, ref_cache)
            wf = np.ascontiguousarray(w[:, :, ::-1, ::-1])
            fdx, fdw, _ = L.conv_backward(dout, L.conv_forward(x, wf, b, param)[1])
            pad = L.pair(param["pad"], "pad")
            inputs = {"x": x, "w": w, "b": b}

            def f(x, w, b):
                return L.conv_forward(x, w, b, param)[0]
            key = ("conv", name)
            flip = [(CONV_FLIPPED, fdx)] if ws[2] > 1 else []
            ctx.expect_gradient(dx, rdx, numeric(ctx, key, f, inputs, "x", dout), "dx",
                                mistakes=flip + [(CONV_NO_CROP, lambda g: np.shape(g) == (
                                    xs[0], xs[1], xs[2] + 2 * pad[0], xs[3] + 2 * pad[1])
                                    and pad != (0, 0))])
            one = [L.conv_backward(dout[i:i + 1], L.conv_forward(x[i:i + 1], w, b, param)[1])[1]
                   for i in (0, len(x) - 1)]
            ctx.expect_gradient(dw, rdw, numeric(ctx, key, f, inputs, "w", dout), "dw",
                                mistakes=[(DW_BATCH, one[0]), (DW_BATCH, one[1]),
                                          (DW_BATCH, rdw / len(x)),
                                          (CONV_FLIPPED, fdw[:, :, ::-1, ::-1])])
            ctx.expect_gradient(db, rdb, numeric(ctx, key, f, inputs, "b", dout), "db",
                                mistakes=[(DB_AXES, _wrong_axes_sum(dout, (0, 2, 3)))])


# --------------------------------------------------------------------------- max pooling
def _pool_cases(rng):
    def p(k, s, ceil=False):
        return {"pool_height": k[0], "pool_width": k[1], "stride": s, "ceil_mode": ceil}
    yield "2x2 windows, stride 2, x (2, 3, 4, 6)", distinct(rng, (2, 3, 4, 6)), p((2, 2), 2)
    # overlapping windows: put each plane's maximum where four 3x3 windows overlap
    x = distinct(rng, (2, 2, 7, 7))
    x[:, :, 2, 2] = x.max() + 1.0
    x[:, :, 4, 4] = x.max() + 1.0
    yield "overlapping 3x3 windows, stride 2, x (2, 2, 7, 7) (maxima shared by windows)", \
        x, p((3, 3), 2)
    yield "ceil mode: 3x3, stride 2 on x (2, 2, 8, 8) (the last window hangs over the edge)", \
        distinct(rng, (2, 2, 8, 8)), p((3, 3), 2, True)
    yield "non-square 2x3 windows, stride 1, x (3, 1, 5, 6)", distinct(rng, (3, 1, 5, 6)), \
        p((2, 3), 1)


def check_max_pool_forward(S, ctx):
    for name, x, param in _pool_cases(ctx.rng):
        with ctx.case(name):
            out, _ = ctx.unpack(S.max_pool_forward(x, dict(param)), 2, "max_pool_forward")
            ref = L.max_pool_forward(x, param)[0]
            floor = L.max_pool_forward(x, dict(param, ceil_mode=False))[0]
            mistakes = [(POOL_CEIL, lambda g: np.shape(g) == floor.shape)] \
                if param["ceil_mode"] else []
            ctx.expect(out, ref, "out", mistakes=mistakes)


def _pool_overwrite(x, param, dout):
    """What assignment (dx[argmax] = g) instead of accumulation gives."""
    _, (shape, argmax) = L.max_pool_forward(x, param)
    n, c, h, w = shape
    dx = np.zeros((n * c, h * w))
    am, d = argmax.reshape(n * c, -1), dout.reshape(n * c, -1)
    for r in range(n * c):
        for k in range(am.shape[1]):
            dx[r, am[r, k]] = d[r, k]
    return dx.reshape(shape)


def _spread_pred(x, param):
    """Predicate: gradient where no window has its maximum (spread over windows)."""
    winners = np.zeros(x.shape, bool)
    _, (shape, argmax) = L.max_pool_forward(x, param)
    flat = winners.reshape(shape[0] * shape[1], -1)
    flat[np.repeat(np.arange(flat.shape[0]), argmax[0, 0].size), argmax.reshape(-1)] = True

    def pred(g):
        g = np.asarray(g)
        return g.shape == x.shape and np.abs(g[~winners]).max() > 0
    return pred


def check_max_pool_backward(S, ctx):
    for name, x, param in _pool_cases(ctx.rng):
        with ctx.case(name):
            out, cache = ctx.unpack(S.max_pool_forward(x, dict(param)), 2, "max_pool_forward")
            ref_out, ref_cache = L.max_pool_forward(x, param)
            if np.shape(out) != ref_out.shape:
                ctx.fail(f"max_pool_forward returns shape {np.shape(out)}, expected "
                         f"{ref_out.shape}: fix max_pool_forward first",
                         hint=POOL_CEIL if param["ceil_mode"] else None)
            dout = ctx.rng.standard_normal(ref_out.shape)
            dx = S.max_pool_backward(dout, cache)
            num = numeric(ctx, ("pool", name), lambda x: L.max_pool_forward(x, param)[0],
                          {"x": x}, "x", dout)
            ctx.expect_gradient(dx, L.max_pool_backward(dout, ref_cache), num, "dx",
                                mistakes=[(POOL_SPREAD, _spread_pred(x, param)),
                                          (POOL_OVERWRITE, _pool_overwrite(x, param, dout))])
    # ties: every window of this input holds its maximum twice or more
    x = np.kron(ctx.rng.permutation(8).reshape(1, 2, 2, 2) * 1.0, np.ones((1, 1, 2, 2)))
    x = np.concatenate([x, x + 10], axis=0)
    param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    with ctx.case("ties: 2x2 windows whose four inputs are equal, x (2, 2, 4, 4)"):
        out, cache = ctx.unpack(S.max_pool_forward(x, dict(param)), 2, "max_pool_forward")
        ref_out, ref_cache = L.max_pool_forward(x, param)
        dout = ctx.rng.standard_normal(ref_out.shape)
        dx = ctx.array(S.max_pool_backward(dout, cache), "dx")
        if dx.shape != x.shape:
            ctx.expect(dx, L.max_pool_backward(dout, ref_cache), "dx")
        # any one tied maximum may take the gradient: check window by window
        win = dx.reshape(2, 2, 2, 2, 2, 2).transpose(0, 1, 2, 4, 3, 5).reshape(2, 2, 2, 2, 4)
        if np.any((win != 0).sum(axis=-1) > 1):
            ctx.fail("dx gives a window's gradient to several of its tied maxima",
                     hint=POOL_SPREAD)
        ctx.expect(win.sum(axis=-1), dout, "the gradient each window passes on",
                   hint=POOL_SPREAD)


# --------------------------------------------------------------------------- fire module
def _fire_case(rng, n=2, c=3, h=5, w=4, s=3, e1=2, e3=3):
    """Inputs whose pre-activations all stay away from 0 (no kink in the numeric step)."""
    for _ in range(100):
        params = {"x": rng.standard_normal((n, c, h, w)),
                  "w_s": rng.standard_normal((s, c, 1, 1)), "b_s": rng.standard_normal(s),
                  "w_e1": rng.standard_normal((e1, s, 1, 1)), "b_e1": rng.standard_normal(e1),
                  "w_e3": rng.standard_normal((e3, s, 3, 3)) * 0.5,
                  "b_e3": rng.standard_normal(e3)}
        conv = layer_utils.fl.conv_forward
        a = [conv(params["x"], params["w_s"], params["b_s"], {"stride": 1, "pad": 0})[0]]
        s_out = np.maximum(a[0], 0)
        a.append(conv(s_out, params["w_e1"], params["b_e1"], {"stride": 1, "pad": 0})[0])
        a.append(conv(s_out, params["w_e3"], params["b_e3"], {"stride": 1, "pad": 1})[0])
        if min(np.abs(v).min() for v in a) > 1e-3:
            return params
    raise RuntimeError("could not draw a fire case away from the ReLU kinks")


FIRE_ARGS = ("x", "w_s", "b_s", "w_e1", "b_e1", "w_e3", "b_e3")


def _fire_swapped(p):
    _, cache = layer_utils.fire_forward(**p)
    parts = cache["parts"]
    return np.concatenate([parts["expand3x3"], parts["expand1x1"]], axis=1)


def check_fire_forward(S, ctx):
    for name, shape in [("x (2, 3, 5, 4), squeeze 3, expand 2 + 3", {}),
                        ("x (1, 4, 3, 3), squeeze 2, expand 3 + 2",
                         {"n": 1, "c": 4, "h": 3, "w": 3, "s": 2, "e1": 3, "e3": 2})]:
        p = _fire_case(ctx.rng, **shape)
        with ctx.case(name):
            out, _ = ctx.unpack(S.fire_forward(*[p[k] for k in FIRE_ARGS]), 2, "fire_forward")
            ctx.expect(out, layer_utils.fire_forward(**p)[0], "out",
                       mistakes=[(FIRE_CONCAT, _fire_swapped(p))])


def check_fire_backward(S, ctx):
    p = _fire_case(ctx.rng)
    name = "x (2, 3, 5, 4), squeeze 3, expand 2 + 3"
    with ctx.case(name):
        out, cache = ctx.unpack(S.fire_forward(*[p[k] for k in FIRE_ARGS]), 2, "fire_forward")
        ref_out, ref_cache = layer_utils.fire_forward(**p)
        if np.shape(out) != ref_out.shape:
            ctx.fail(f"fire_forward returns shape {np.shape(out)}, expected {ref_out.shape}: "
                     "fix fire_forward first")
        dout = ctx.rng.standard_normal(ref_out.shape)
        grads = ctx.unpack(S.fire_backward(dout, cache), 7, "fire_backward")
        ref = layer_utils.fire_backward(dout, ref_cache)
        e1, e3 = p["w_e1"].shape[0], p["w_e3"].shape[0]
        # split in the wrong order: de3 = dout[:, :E3], de1 = dout[:, E3:]
        swapped = np.concatenate([dout[:, e3:], dout[:, :e3]], axis=1)
        wrong = layer_utils.fire_backward(swapped, ref_cache)[0]

        def f(**kw):
            return layer_utils.fire_forward(**kw)[0]
        for k, (arg, g, r) in enumerate(zip(FIRE_ARGS, grads, ref)):
            mistakes = [(FIRE_CONCAT, wrong)] if arg == "x" else []
            if arg == "x":
                # gradient through one branch only (fan-out not summed)
                ds_e1 = layer_utils.conv_relu_backward(dout[:, :e1], ref_cache["e1"])[0]
                ds_e3 = layer_utils.conv_relu_backward(dout[:, e1:], ref_cache["e3"])[0]
                for ds in (ds_e1, ds_e3):
                    mistakes.append((FIRE_FANOUT,
                                     layer_utils.conv_relu_backward(ds, ref_cache["s"])[0]))
            ctx.expect_gradient(g, r, numeric(ctx, ("fire",), f, p, arg, dout), "d" + arg,
                                mistakes=mistakes)
    with ctx.case("relu_mode='guided' passed down to every ReLU"):
        out, cache = ctx.unpack(S.fire_forward(*[p[k] for k in FIRE_ARGS]), 2, "fire_forward")
        grads = ctx.unpack(S.fire_backward(dout, cache, "guided"), 7, "fire_backward")
        ref = layer_utils.fire_backward(dout, ref_cache, "guided")
        ctx.expect(grads[0], ref[0], "dx")


def reference():
    """The library's functions under the student's names."""
    ns = SimpleNamespace(ASSIGNMENT=1, __name__="minicnn.layers (reference)")
    for name in ("affine_forward", "affine_backward", "relu_forward", "relu_backward",
                 "conv_forward", "conv_backward", "max_pool_forward", "max_pool_backward"):
        setattr(ns, name, getattr(L, name))
    ns.fire_forward = layer_utils.fire_forward
    ns.fire_backward = layer_utils.fire_backward
    return ns


def _checks():
    return [
        Check("affine_forward", 1, check_affine_forward),
        Check("affine_backward", 2, check_affine_backward, ("affine_forward",)),
        Check("relu_forward", 1, check_relu_forward),
        Check("relu_backward", 2, check_relu_backward, ("relu_forward",)),
        Check("conv_forward", 2, check_conv_forward),
        Check("conv_backward", 3, check_conv_backward, ("conv_forward",)),
        Check("max_pool_forward", 2, check_max_pool_forward),
        Check("max_pool_backward", 2, check_max_pool_backward, ("max_pool_forward",)),
        Check("fire_forward", 1, check_fire_forward, ("conv_forward", "relu_forward")),
        Check("fire_backward", 2, check_fire_backward,
              ("fire_forward", "conv_backward", "relu_backward")),
    ]


CHECKS = _checks()
