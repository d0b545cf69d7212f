"""Classic student mistakes as runnable mutants: each must FAIL with its hint.

A mutant replaces one or a few functions of the reference namespace
(:func:`minicnn.grading.reference_module`) by an implementation with one
classic mistake.  ``tests/test_grading.py`` grades every mutant and checks
that the function fails with the hint ``hint_id``; an instructor who adds a
hint adds its mutant here (see docs/assignments.md).
"""
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from .. import layers as L

Mutant = namedtuple("Mutant", ["hint_id", "assignment", "function", "replace", "mistake"])

MUTANTS = []


def mutant(hint_id, assignment, function, mistake):
    """Register the decorated ``build() -> {name: function}`` as a mutant."""
    def deco(build):
        MUTANTS.append(Mutant(hint_id, assignment, function, build, mistake))
        return build
    return deco


def mutated_module(m):
    """The reference namespace of ``m.assignment`` with the mutant's functions."""
    from . import reference_module
    ns = reference_module(m.assignment)
    module = SimpleNamespace(**vars(ns))
    for name, fn in m.replace().items():
        setattr(module, name, fn)
    return module


# =========================================================================== assignment 1
def _relu_x_cache():
    def relu_forward(x):
        return np.maximum(x, 0), x
    return relu_forward


def _relu_rules(standard, deconvnet, guided):
    def relu_backward(dout, cache, mode="standard"):
        x = cache
        return {"standard": standard, "deconvnet": deconvnet, "guided": guided}[mode](dout, x)
    return relu_backward


def _std(d, x):
    return d * (x > 0)


def _dec(d, x):
    return np.maximum(d, 0)


def _gui(d, x):
    return np.maximum(d, 0) * (x > 0)


@mutant("relu_ge", 1, "relu_backward", "ReLU backward with the mask x >= 0")
def _m_relu_ge():
    return {"relu_forward": _relu_x_cache(),
            "relu_backward": _relu_rules(lambda d, x: d * (x >= 0), _dec,
                                         lambda d, x: np.maximum(d, 0) * (x >= 0))}


@mutant("guided_activation", 1, "relu_backward",
        "guided backprop multiplying by the activation instead of the 0/1 mask")
def _m_guided_activation():
    return {"relu_forward": _relu_x_cache(),
            "relu_backward": _relu_rules(_std, _dec,
                                         lambda d, x: np.maximum(d, 0) * np.maximum(x, 0))}


@mutant("deconv_mask", 1, "relu_backward", "deconvnet applying the forward mask")
def _m_deconv_mask():
    return {"relu_forward": _relu_x_cache(), "relu_backward": _relu_rules(_std, _gui, _gui)}


@mutant("rules_swapped", 1, "relu_backward", "deconvnet and guided rules swapped")
def _m_rules_swapped():
    return {"relu_forward": _relu_x_cache(), "relu_backward": _relu_rules(_std, _gui, _dec)}


@mutant("conv_flipped", 1, "conv_forward", "true convolution (flipped kernel)")
def _m_conv_flipped():
    def conv_forward(x, w, b, conv_param):
        return L.conv_forward(x, np.ascontiguousarray(w[:, :, ::-1, ::-1]), b, conv_param)
    return {"conv_forward": conv_forward}


def _conv_backward_loops(dout, cache, crop=True, dw_last_only=False, db_axes=(0, 2, 3)):
    """A student's loop conv backward with optional mistakes."""
    x, w, b, (sh, sw, ph, pw) = cache
    kh, kw = w.shape[2:]
    xpad = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    dxpad = np.zeros_like(xpad)
    dw = np.zeros_like(w)
    for n in range(x.shape[0]):
        if dw_last_only:
            dw = np.zeros_like(w)                      # reset per image: the mistake
        for i in range(dout.shape[2]):
            for j in range(dout.shape[3]):
                win = xpad[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                g = dout[n, :, i, j]
                dxpad[n, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += np.tensordot(g, w, 1)
                dw += g[:, None, None, None] * win[None]
    db = dout.sum(axis=db_axes)
    dx = dxpad[:, :, ph:ph + x.shape[2], pw:pw + x.shape[3]] if crop else dxpad
    return dx, dw, db


@mutant("conv_no_crop", 1, "conv_backward", "conv backward not cropping the padding")
def _m_conv_no_crop():
    return {"conv_backward": lambda dout, cache: _conv_backward_loops(dout, cache, crop=False)}


@mutant("dw_batch", 1, "conv_backward", "conv backward dw missing the sum over the batch")
def _m_dw_batch():
    return {"conv_backward": lambda dout, cache: _conv_backward_loops(dout, cache,
                                                                      dw_last_only=True)}


@mutant("db_axes", 1, "conv_backward", "conv backward db summed over the wrong axes")
def _m_db_axes():
    return {"conv_backward": lambda dout, cache: _conv_backward_loops(dout, cache,
                                                                      db_axes=(2, 3))}


def _pool_x_cache():
    def max_pool_forward(x, pool_param):
        out, _ = L.max_pool_forward(x, pool_param)
        return out, (x, pool_param)
    return max_pool_forward


def _pool_windows(x, param):
    """(n, c, r0, r1, c0, c1, i, j) for every window (padding 0)."""
    kh, kw, s = param["pool_height"], param["pool_width"], param["stride"]
    ho = L.pool_output_size(x.shape[2], kh, s, 0, param.get("ceil_mode", False))
    wo = L.pool_output_size(x.shape[3], kw, s, 0, param.get("ceil_mode", False))
    for i in range(ho):
        for j in range(wo):
            yield i, j, slice(i * s, min(i * s + kh, x.shape[2])), \
                slice(j * s, min(j * s + kw, x.shape[3]))


def _pool_backward_with(route):
    def max_pool_backward(dout, cache):
        x, param = cache
        dx = np.zeros_like(x)
        for i, j, rs, cs in _pool_windows(x, param):
            for n in range(x.shape[0]):
                for c in range(x.shape[1]):
                    route(dx[n, c, rs, cs], x[n, c, rs, cs], dout[n, c, i, j])
        return dx
    return max_pool_backward


def _route_ties(dwin, win, g):
    dwin += g * (win == win.max())


def _route_all(dwin, win, g):
    dwin += g


def _route_overwrite(dwin, win, g):
    k = np.unravel_index(np.argmax(win), win.shape)
    dwin[k] = g


@mutant("pool_spread", 1, "max_pool_backward", "max-pool backward: gradient to all tied maxima")
def _m_pool_ties():
    return {"max_pool_forward": _pool_x_cache(),
            "max_pool_backward": _pool_backward_with(_route_ties)}


@mutant("pool_spread", 1, "max_pool_backward",
        "max-pool backward: gradient to every position of the window")
def _m_pool_all():
    return {"max_pool_forward": _pool_x_cache(),
            "max_pool_backward": _pool_backward_with(_route_all)}


@mutant("pool_overwrite", 1, "max_pool_backward",
        "max-pool backward overwriting instead of adding where windows overlap")
def _m_pool_overwrite():
    return {"max_pool_forward": _pool_x_cache(),
            "max_pool_backward": _pool_backward_with(_route_overwrite)}


@mutant("pool_ceil", 1, "max_pool_forward", "ceil mode ignored")
def _m_pool_ceil():
    def max_pool_forward(x, pool_param):
        return L.max_pool_forward(x, dict(pool_param, ceil_mode=False))
    return {"max_pool_forward": max_pool_forward}


@mutant("affine_reshape", 1, "affine_forward", "affine not reshaping (N, d1, ...)")
def _m_affine_reshape():
    def affine_forward(x, w, b):
        return x @ w + b, (x, w)
    return {"affine_forward": affine_forward}


@mutant("fire_concat", 1, "fire_forward", "fire module concat in the wrong order")
def _m_fire_concat():
    from .. import layer_utils as U

    def fire_forward(x, w_s, b_s, w_e1, b_e1, w_e3, b_e3):
        out, cache = U.fire_forward(x, w_s, b_s, w_e1, b_e1, w_e3, b_e3)
        p = cache["parts"]
        return np.concatenate([p["expand3x3"], p["expand1x1"]], axis=1), cache
    return {"fire_forward": fire_forward}


# =========================================================================== assignment 4
def _gram(scale_fn):
    def gram_forward(features, normalize=True):
        n, c, h, w = features.shape
        f = features.reshape(n, c, h * w)
        s = scale_fn(c, h, w) if normalize else 1.0
        return s * (f @ f.transpose(0, 2, 1)), (f, s, features.shape)
    return gram_forward


@mutant("gram_not_normalized", 4, "gram_forward", "Gram matrix not normalized")
def _m_gram_raw():
    return {"gram_forward": _gram(lambda c, h, w: 1.0)}


@mutant("gram_twice", 4, "gram_forward", "Gram matrix normalized twice")
def _m_gram_twice():
    return {"gram_forward": _gram(lambda c, h, w: 1.0 / (c * h * w) ** 2)}


@mutant("style_factor2", 4, "style_loss", "style loss gradient missing the factor 2")
def _m_style_factor2():
    from .. import losses as R

    def style_loss(feats, style_layers, style_targets, style_weights, normalize=True):
        loss, d = 0.0, {}
        for layer, target, weight in zip(style_layers, style_targets, style_weights):
            g, cache = R.gram_forward(feats[layer], normalize)
            loss += weight * float(np.sum((g - target) ** 2))
            d[layer] = R.gram_backward(weight * (g - target), cache)
        return loss, d
    return {"style_loss": style_loss}


def _tv(directions=("v", "h"), sign=1.0):
    def tv_loss(img, tv_weight):
        loss, dimg = 0.0, np.zeros_like(img)
        if "v" in directions:
            dv = img[:, :, 1:, :] - img[:, :, :-1, :]
            loss += tv_weight * float(np.sum(dv * dv))
            dimg[:, :, 1:, :] += sign * 2 * tv_weight * dv
            dimg[:, :, :-1, :] -= sign * 2 * tv_weight * dv
        if "h" in directions:
            dh = img[:, :, :, 1:] - img[:, :, :, :-1]
            loss += tv_weight * float(np.sum(dh * dh))
            dimg[:, :, :, 1:] += sign * 2 * tv_weight * dh
            dimg[:, :, :, :-1] -= sign * 2 * tv_weight * dh
        return loss, dimg
    return tv_loss


@mutant("tv_one_direction", 4, "tv_loss", "TV loss missing one direction")
def _m_tv_one():
    return {"tv_loss": _tv(("v",))}


@mutant("tv_sign", 4, "tv_loss", "TV gradient with the wrong sign")
def _m_tv_sign():
    return {"tv_loss": _tv(sign=-1.0)}


# =========================================================================== assignment 5
@mutant("in_batch_stats", 5, "instance_norm_forward", "instance norm using batch statistics")
def _m_in_batch():
    def instance_norm_forward(x, gamma, beta, in_param=None):
        mu = x.mean(axis=(0, 2, 3), keepdims=True)
        var = ((x - mu) ** 2).mean(axis=(0, 2, 3), keepdims=True)
        xhat = (x - mu) / np.sqrt(var + 1e-5)
        return gamma[None, :, None, None] * xhat + beta[None, :, None, None], xhat
    return {"instance_norm_forward": instance_norm_forward}


# =========================================================================== assignment 2
@mutant("saliency_signed", 2, "saliency_map",
        "saliency taking the signed gradient instead of max of absolute values")
def _m_saliency_signed():
    from ..techniques.attribution import class_score_gradient

    def saliency_map(cnn, x, y, batch_size=None):
        _, dx = class_score_gradient(cnn, x, y)
        return dx.max(axis=1)
    return {"saliency_map": saliency_map}


# =========================================================================== assignment 3
@mutant("dream_sum", 3, "deepdream_step",
        "DeepDream step using the gradient of sum(a) instead of 0.5 ||a||^2")
def _m_dream_sum():
    def deepdream_step(cnn, x, layer, learning_rate):
        a, cache = cnn.forward(x, end=layer)
        g, _ = cnn.backward(np.ones_like(a), cache, param_grads=False)
        return x + learning_rate * g / np.abs(g).mean(axis=(1, 2, 3), keepdims=True)
    return {"deepdream_step": deepdream_step}
