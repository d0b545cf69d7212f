"""Activation maps of one image and channel statistics over many
(lecture: "Visualizing activations", Yosinski et al. 2015, "Understanding
Neural Networks Through Deep Visualization": most channels of a ReLU layer are
zero on most of an image, and some never fire at all).

Every named block of SqueezeNet ends with a ReLU (or a max-pool of ReLU
outputs), so activations are >= 0 and "zero" means "the ReLU is off".
"""
from collections import namedtuple

import numpy as np

from .features import _positive, iter_batches

__all__ = ["activation_maps", "zero_fraction", "activation_stats", "ActivationStats",
           "dead_channels"]

#: Per-channel statistics of a layer over a set of images (arrays of shape (C,)).
ActivationStats = namedtuple("ActivationStats", ["layer", "n_images", "zero_fraction", "mean",
                                                 "max", "dead"])


def _as_input(cnn, image):
    """One image (uint8 (H, W, 3), a path, or preprocessed (3, H, W) / (1, 3, H, W))
    -> (1, 3, H, W) in the model's dtype."""
    import os

    from ..data import load_image
    if isinstance(image, (str, os.PathLike)):
        image = load_image(image)
    a = np.asarray(image)
    if np.issubdtype(a.dtype, np.floating) and a.ndim in (3, 4) and a.shape[-3] == 3:
        a = a[None] if a.ndim == 3 else a
        if len(a) != 1:
            raise ValueError(f"image must be one image, got a batch of {len(a)}")
        return np.asarray(a, dtype=cnn.dtype)
    if a.dtype == np.uint8 and a.ndim in (2, 3):
        return cnn.preprocess(a)
    raise TypeError("image must be a path, a uint8 (H, W, 3) image or a preprocessed "
                    f"(3, H, W) array, got dtype {a.dtype} shape {a.shape}")


def activation_maps(cnn, image, layer):
    """All channels of ``layer`` for one image -> (C, H', W') (or (C,) for pool10).

    image: a path, a uint8 (H, W, 3) image or a preprocessed (3, H, W) array;
    layer: a block name (``fire5``) or a fire part (``fire5/expand3x3``).
    """
    x = _as_input(cnn, image)
    block = layer.split("/")[0] if isinstance(layer, str) else layer
    end = cnn.layer_names[cnn.layer_index(block)]
    out, cache = cnn.forward(x, end=end)
    if isinstance(layer, str) and "/" in layer:
        if layer not in cache.activations:
            raise ValueError(f"unknown layer part {layer!r}; fire parts are "
                             "squeeze1x1, expand1x1 and expand3x3")
        out = cache.activations[layer]
    return out[0]


def zero_fraction(activations):
    """Fraction of exact zeros per channel of (C, H, W) or (N, C, H, W) -> (C,)."""
    a = np.asarray(activations)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4:
        raise ValueError(f"activations must be (C, H, W) or (N, C, H, W), got {a.shape}")
    return (a == 0).mean(axis=(0, 2, 3))


def activation_stats(cnn, images, layer, batch_size=16, progress=False):
    """Per-channel statistics of ``layer`` over an image source (folder, list of
    paths, or preprocessed (N, 3, H, W)) -> :class:`ActivationStats`.

    ``zero_fraction``: share of zero values over all images and positions;
    ``mean``, ``max``: over all images and positions; ``dead``: indices of the
    channels that are zero everywhere on every image.
    """
    batch_size = _positive(batch_size, "batch_size")
    name = cnn.layer_names[cnn.layer_index(layer)]
    zeros = total = mx = sm = None
    n = 0
    for _, x in iter_batches(cnn, images, batch_size=batch_size, progress=progress,
                             desc=f"activations {name}"):
        a, _ = cnn.forward(x, end=name)
        if a.ndim == 2:
            a = a[:, :, None, None]
        a = a.astype(np.float64)
        z, s, m = (a == 0).sum(axis=(0, 2, 3)), a.sum(axis=(0, 2, 3)), a.max(axis=(0, 2, 3))
        if zeros is None:
            zeros, sm, mx = z, s, m
        else:
            zeros, sm, mx = zeros + z, sm + s, np.maximum(mx, m)
        n += len(a)
        total = (total or 0) + a.shape[0] * a.shape[2] * a.shape[3]
    if n == 0:
        raise ValueError("no image could be read")
    zf = zeros / total
    return ActivationStats(name, n, zf, sm / total, mx, np.flatnonzero(mx == 0))


def dead_channels(cnn, images, layer, batch_size=16, progress=False):
    """Indices of ``layer``'s channels that are zero on all images (see
    :func:`activation_stats`)."""
    return activation_stats(cnn, images, layer, batch_size, progress).dead
