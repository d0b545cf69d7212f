"""Losses of neural style transfer and texture synthesis, each with its gradient.

cs231n-compatible (assignment 3, "StyleTransfer"), extended to return the
gradient so that the pixels can be optimized with explicit backward passes:

- content loss (Gatys et al. 2016, eq. 1):   L_c = w_c * sum((F - P)^2)
- Gram matrix (Gatys et al. 2015):          G = F F^T / (C H W)   (per image)
- style loss (Gatys et al. 2016, eq. 5):    L_s = sum_l w_l * sum((G^l - A^l)^2)
- total variation (Mahendran & Vedaldi 2015; Johnson et al. 2016):
      L_tv = w_tv * (sum (x[:, :, i+1, j] - x[:, :, i, j])^2
                     + sum (x[:, :, i, j+1] - x[:, :, i, j])^2)

Shapes follow (N, C, H, W); Gram matrices are (N, C, C).  ``softmax_loss`` is
re-exported from :mod:`minicnn.layers` so that every loss lives here.
"""
from collections.abc import Mapping, Sequence

import numpy as np

from .layers import softmax_loss

__all__ = ["content_loss", "gram_forward", "gram_backward", "gram_matrix", "style_loss",
           "tv_loss", "softmax_loss"]


def _check_features(x, name, ndim=4):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
    if x.ndim != ndim:
        shape = "(N, C, H, W)" if ndim == 4 else "(N, C, C)"
        raise ValueError(f"{name} must have shape {shape}, got shape {x.shape}")


# --------------------------------------------------------------------------- content
def content_loss(content_weight, content_current, content_original):
    """Content loss ``w * sum((F - P)^2)`` and its gradient with respect to F.

    content_weight: scalar w; content_current F and content_original P:
    features of the same shape, e.g. (1, C, H, W).

    Returns ``(loss, dcurrent)`` with ``dcurrent = 2 w (F - P)``.
    """
    if not isinstance(content_current, np.ndarray) or \
            not np.issubdtype(content_current.dtype, np.floating):
        raise TypeError("content_current must be a float NumPy array, got "
                        f"{getattr(content_current, 'dtype', type(content_current).__name__)}")
    content_original = np.asarray(content_original)
    if content_original.shape != content_current.shape:
        raise ValueError(f"content_original must have the shape of content_current "
                         f"{content_current.shape}, got {content_original.shape}")
    diff = content_current - content_original
    loss = content_weight * np.sum(diff * diff)
    dcurrent = (2.0 * content_weight) * diff          # d/dF of w (F-P)^2
    return float(loss), dcurrent.astype(content_current.dtype, copy=False)


# --------------------------------------------------------------------------- Gram
def gram_forward(features, normalize=True):
    """Gram matrices of a batch of feature maps.

    features: (N, C, H, W).  With F the (N, C, M = H*W) reshape,
    ``G[n] = F[n] F[n]^T`` (divided by ``C*H*W`` when ``normalize``), so
    G is (N, C, C), symmetric positive semidefinite, and with normalization
    ``trace(G[n]) = mean(features[n]^2)``.

    Returns ``(gram, cache)`` for :func:`gram_backward`.
    """
    _check_features(features, "features")
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    scale = 1.0 / (c * h * w) if normalize else 1.0
    gram = np.matmul(f, f.transpose(0, 2, 1))
    if normalize:
        gram *= features.dtype.type(scale)
    return gram, (f, scale, features.shape)


def gram_backward(dgram, cache):
    """Backward of :func:`gram_forward`: dgram (N, C, C) -> dfeatures (N, C, H, W).

    G = s F F^T is bilinear in F; its adjoint pairs are (dG, F^T) and (F, dG):
    ``dF = s (dG + dG^T) F``.
    """
    f, scale, shape = cache
    _check_features(dgram, "dgram", ndim=3)
    if dgram.shape != (f.shape[0], f.shape[1], f.shape[1]):
        raise ValueError(f"dgram must have shape {(f.shape[0], f.shape[1], f.shape[1])}, "
                         f"got {dgram.shape}")
    sym = dgram + dgram.transpose(0, 2, 1)
    df = np.matmul(sym, f)
    if scale != 1.0:
        df *= f.dtype.type(scale)
    return df.reshape(shape)


def gram_matrix(features, normalize=True):
    """Gram matrices (N, C, C) of features (N, C, H, W); see :func:`gram_forward`."""
    return gram_forward(features, normalize)[0]


# --------------------------------------------------------------------------- style
def _per_layer(values, layers, argument):
    """Align a list/tuple (in ``layers`` order) or a dict (by name) with ``layers``."""
    if isinstance(values, Mapping):
        missing = [name for name in layers if name not in values]
        if missing:
            raise ValueError(f"{argument} has no entry for layers {missing}")
        return [values[name] for name in layers]
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise TypeError(f"{argument} must be a list aligned with style_layers or a dict "
                        f"keyed by layer name, got {type(values).__name__}")
    values = list(values)
    if len(values) != len(layers):
        raise ValueError(f"{argument} has {len(values)} entries but style_layers has "
                         f"{len(layers)}")
    return values


def style_loss(feats, style_layers, style_targets, style_weights, normalize=True):
    """Style loss ``sum_l w_l * sum((G_l - A_l)^2)`` and its gradients.

    feats: dict layer name -> features (N, C, H, W) of the current image
    (e.g. ``cache.activations``; a list indexed by ``style_layers`` works too,
    as in cs231n).  style_layers: names (or indices into a list ``feats``).
    style_targets: target Gram matrices A_l, (N, C, C) or (1, C, C) or (C, C),
    as a list aligned with ``style_layers`` or a dict by name.
    style_weights: scalars w_l, a list aligned with ``style_layers`` or a dict.

    Returns ``(loss, dfeats)`` where ``dfeats`` maps each style layer to the
    gradient with respect to its features:
    ``dF_l = gram_backward(2 w_l (G_l - A_l))``.
    """
    if isinstance(style_layers, (str, int)):
        style_layers = [style_layers]
    style_layers = list(style_layers)
    if len(set(style_layers)) != len(style_layers):
        raise ValueError(f"style_layers has repeated layers: {style_layers}")
    targets = _per_layer(style_targets, style_layers, "style_targets")
    weights = _per_layer(style_weights, style_layers, "style_weights")
    loss = 0.0
    dfeats = {}
    for layer, target, weight in zip(style_layers, targets, weights):
        try:
            f = feats[layer]
        except (KeyError, IndexError):
            raise ValueError(f"feats has no features for style layer {layer!r}") from None
        gram, cache = gram_forward(f, normalize)
        target = np.asarray(target)
        if target.ndim == 2:
            target = target[None]
        if target.shape[1:] != gram.shape[1:] or target.shape[0] not in (1, gram.shape[0]):
            raise ValueError(f"style target for layer {layer!r} must have shape "
                             f"{gram.shape} or (1, C, C), got {target.shape}")
        diff = gram - target
        loss += float(weight) * float(np.sum(diff * diff))
        dgram = (2.0 * float(weight)) * diff           # d/dG of w (G-A)^2
        dfeats[layer] = gram_backward(dgram.astype(f.dtype, copy=False), cache)
    return loss, dfeats


# --------------------------------------------------------------------------- TV
def tv_loss(img, tv_weight):
    """Total-variation loss and its gradient.

    img: (N, C, H, W).  ``loss = w * (sum dv^2 + sum dh^2)`` with
    ``dv = img[:, :, 1:, :] - img[:, :, :-1, :]`` and
    ``dh = img[:, :, :, 1:] - img[:, :, :, :-1]`` over all channels.
    Each difference ``d = a - b`` sends ``2 w d`` to a and ``-2 w d`` to b.

    Returns ``(loss, dimg)``.
    """
    _check_features(img, "img")
    dv = img[:, :, 1:, :] - img[:, :, :-1, :]
    dh = img[:, :, :, 1:] - img[:, :, :, :-1]
    loss = tv_weight * (np.sum(dv * dv) + np.sum(dh * dh))
    gv = (2.0 * tv_weight) * dv
    gh = (2.0 * tv_weight) * dh
    dimg = np.zeros_like(img)
    dimg[:, :, 1:, :] += gv
    dimg[:, :, :-1, :] -= gv
    dimg[:, :, :, 1:] += gh
    dimg[:, :, :, :-1] -= gh
    return float(loss), dimg
