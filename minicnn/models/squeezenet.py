"""SqueezeNet 1.1 (Iandola et al. 2016, arXiv:1602.07360) with named layers.

The network is a list of 14 named blocks, as in the original Caffe release::

    conv1 pool1 fire2 fire3 pool3 fire4 fire5 pool5 fire6 fire7 fire8 fire9 conv10 pool10

Each block ends after its ReLU; ``pool10`` is the global average pool giving
the (N, 1000) class scores (before softmax).  A fire block's parts are named
``fireN/squeeze1x1``, ``fireN/expand1x1`` and ``fireN/expand3x3``.

The model is a thin, stateless driver over the layer pairs of
:mod:`minicnn.fast_layers` and :mod:`minicnn.layer_utils`::

    scores, cache = cnn.forward(x)                      # (N, 1000)
    fmap, cache   = cnn.forward(x, end="fire5")         # any contiguous range
    dx, grads     = cnn.backward(dfmap, cache)          # dx like x, grads like cnn.params
    dx, _ = cnn.backward(d, cache, relu_mode="guided")  # every ReLU uses that rule

``forward(x, 0, k)`` followed by ``forward(h, k + 1, end)`` equals
``forward(x, 0, end)``, and backward composes the same way.
"""
from collections import namedtuple

import numpy as np

from .. import checks
from .. import fast_layers as fl
from ..layer_utils import FIRE_PARTS, conv_relu_backward, conv_relu_forward, fire_backward, \
    fire_forward
from ..layers import check_relu_mode, conv_output_size, pool_output_size

__all__ = ["SqueezeNet", "ForwardCache", "check_images", "Predictions", "squeezenet_layers", "param_shapes",
           "LAYER_NAMES", "TORCHVISION_PREPROCESSING"]

#: squeeze, expand1x1, expand3x3 channels of each fire module of SqueezeNet 1.1.
FIRE_CHANNELS = {
    "fire2": (16, 64, 64), "fire3": (16, 64, 64),
    "fire4": (32, 128, 128), "fire5": (32, 128, 128),
    "fire6": (48, 192, 192), "fire7": (48, 192, 192),
    "fire8": (64, 256, 256), "fire9": (64, 256, 256),
}

#: Preprocessing of the torchvision ImageNet weights (the ones cs231n uses).
TORCHVISION_PREPROCESSING = {
    "channel_order": "RGB", "scale": 1.0 / 255.0,
    "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],
    "input_size": 224, "resize": 256,
}

Predictions = namedtuple("Predictions", ["indices", "names", "probabilities"])


def squeezenet_layers(conv1=64, fires=None, num_classes=1000):
    """The layer table of SqueezeNet 1.1: a list of dicts, one per named block.

    Each entry has ``name`` and ``type`` ("conv", "maxpool", "fire", "gap"), and
    ``kernel``, ``stride``, ``pad`` (for fire: those of its widest path, the
    3x3 expand), ``in`` and ``out`` channels.  ``fires`` maps fire names to
    (squeeze, expand1x1, expand3x3); the tiny test model shrinks them.
    """
    fires = FIRE_CHANNELS if fires is None else fires
    pool = {"type": "maxpool", "kernel": 3, "stride": 2, "pad": 0, "ceil_mode": True}
    table = [{"name": "conv1", "type": "conv", "kernel": 3, "stride": 2, "pad": 0,
              "in": 3, "out": conv1}]
    channels = conv1

    def add_fire(name):
        nonlocal channels
        s, e1, e3 = fires[name]
        table.append({"name": name, "type": "fire", "kernel": 3, "stride": 1, "pad": 1,
                      "in": channels, "squeeze": s, "expand1x1": e1, "expand3x3": e3,
                      "out": e1 + e3})
        channels = e1 + e3

    def add_pool(name):
        table.append(dict(pool, name=name, **{"in": channels, "out": channels}))

    add_pool("pool1")
    add_fire("fire2"); add_fire("fire3")
    add_pool("pool3")
    add_fire("fire4"); add_fire("fire5")
    add_pool("pool5")
    for name in ("fire6", "fire7", "fire8", "fire9"):
        add_fire(name)
    table.append({"name": "conv10", "type": "conv", "kernel": 1, "stride": 1, "pad": 0,
                  "in": channels, "out": num_classes})
    table.append({"name": "pool10", "type": "gap", "kernel": None, "stride": None, "pad": 0,
                  "in": num_classes, "out": num_classes})
    return table


LAYER_NAMES = tuple(layer["name"] for layer in squeezenet_layers())


def param_shapes(layers=None):
    """{'conv1/W': (64, 3, 3, 3), 'conv1/b': (64,), 'fire2/squeeze1x1/W': ...} in order."""
    layers = squeezenet_layers() if layers is None else layers
    shapes = {}
    for layer in layers:
        if layer["type"] == "conv":
            k = layer["kernel"]
            shapes[layer["name"] + "/W"] = (layer["out"], layer["in"], k, k)
            shapes[layer["name"] + "/b"] = (layer["out"],)
        elif layer["type"] == "fire":
            s = layer["squeeze"]
            for part, c_in, c_out, k in (("squeeze1x1", layer["in"], s, 1),
                                         ("expand1x1", s, layer["expand1x1"], 1),
                                         ("expand3x3", s, layer["expand3x3"], 3)):
                shapes[f"{layer['name']}/{part}/W"] = (c_out, c_in, k, k)
                shapes[f"{layer['name']}/{part}/b"] = (c_out,)
    return shapes


def check_images(x, argument="x"):
    """Raise a clear TypeError/ValueError unless ``x`` is a float (N, C, H, W) array
    (:func:`minicnn.checks.images`)."""
    return checks.images(x, argument)


class ForwardCache:
    """What ``forward`` remembers for ``backward``.

    Attributes: ``start``, ``end`` (block indices, inclusive), ``input_shape``,
    ``activations`` (name -> array for every block it ran, and for each fire
    block also ``fireN/squeeze1x1``, ``fireN/expand1x1``, ``fireN/expand3x3``),
    ``layer_caches`` (name -> that block's layer cache).
    """

    def __init__(self, start, end, input_shape):
        self.start, self.end, self.input_shape = start, end, input_shape
        self.activations = {}
        self.layer_caches = {}

    def __repr__(self):
        return (f"ForwardCache(start={self.start}, end={self.end}, "
                f"activations={list(self.activations)})")


class SqueezeNet:
    """SqueezeNet 1.1 as a list of named blocks over explicit forward/backward pairs.

    Parameters
    ----------
    params : dict name -> array, names as :func:`param_shapes` (``conv1/W``, ...).
    meta : preprocessing (``channel_order``, ``scale``, ``mean``, ``std``,
        ``input_size``, ``resize``) and provenance of the weights.
    layers : the layer table (default: the full SqueezeNet 1.1).
    class_names : list of class names, or None.
    """

    def __init__(self, params, meta=None, layers=None, class_names=None):
        self.layers = squeezenet_layers() if layers is None else layers
        self.layer_names = tuple(layer["name"] for layer in self.layers)
        expected = param_shapes(self.layers)
        missing = [k for k in expected if k not in params]
        if missing:
            raise ValueError(f"params is missing {missing[:5]}{'...' if len(missing) > 5 else ''}")
        bad = [f"{k}: {np.shape(params[k])} != {shape}" for k, shape in expected.items()
               if tuple(np.shape(params[k])) != shape]
        if bad:
            raise ValueError("params have wrong shapes: " + "; ".join(bad[:5]))
        dtypes = {np.asarray(params[k]).dtype for k in expected}
        if len(dtypes) != 1 or not np.issubdtype(next(iter(dtypes)), np.floating):
            raise TypeError(f"params must share one float dtype, got {sorted(map(str, dtypes))}")
        self.params = {k: np.ascontiguousarray(params[k]) for k in expected}
        self.dtype = next(iter(dtypes))
        self.meta = dict(TORCHVISION_PREPROCESSING if meta is None else meta)
        self.class_names = class_names
        self.num_classes = self.layers[-1]["out"]

    # ------------------------------------------------------------------ construction
    @classmethod
    def tiny(cls, rng=None, dtype=np.float64, num_classes=10):
        """A tiny SqueezeNet 1.1 (same blocks, few channels) with random weights.

        Used by the gradient tests; takes inputs of 3 x 32 x 32 or larger.
        The weights are He-initialised with positive biases so that most
        ReLUs are active (away from kinks).
        """
        rng = np.random.default_rng(0) if rng is None else rng
        fires = {name: (2 + i // 4, 3, 3) for i, name in enumerate(FIRE_CHANNELS)}
        layers = squeezenet_layers(conv1=4, fires=fires, num_classes=num_classes)
        params = {}
        for name, shape in param_shapes(layers).items():
            if name.endswith("/W"):
                fan_in = int(np.prod(shape[1:]))
                params[name] = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(dtype)
            else:
                params[name] = (0.1 + 0.1 * rng.random(shape)).astype(dtype)
        meta = dict(TORCHVISION_PREPROCESSING, input_size=32, resize=36)
        return cls(params, meta=meta, layers=layers)

    # ------------------------------------------------------------------ names and shapes
    def layer_index(self, layer, argument="layer"):
        """Block index of a name or an index (negative indices count from the end)."""
        if isinstance(layer, (int, np.integer)) and not isinstance(layer, bool):
            n = len(self.layer_names)
            if not -n <= layer < n:
                raise ValueError(f"{argument} index {layer} is out of range for "
                                 f"{n} layers (0..{n - 1})")
            return int(layer) % n
        if isinstance(layer, str):
            if layer not in self.layer_names:
                raise ValueError(f"unknown {argument} {layer!r}; valid layers are "
                                 f"{', '.join(self.layer_names)}")
            return self.layer_names.index(layer)
        raise TypeError(f"{argument} must be a layer name or index, got {layer!r}")

    def _propagate(self, input_shape, i0, i1):
        """(shape after block i1, None) or (last valid shape, name of the block that
        would produce an empty output)."""
        n, c, h, w = input_shape
        for layer in self.layers[i0:i1 + 1]:
            if layer["type"] == "conv":
                h = conv_output_size(h, layer["kernel"], layer["stride"], layer["pad"])
                w = conv_output_size(w, layer["kernel"], layer["stride"], layer["pad"])
            elif layer["type"] == "maxpool":
                args = (layer["kernel"], layer["stride"], layer["pad"], layer["ceil_mode"])
                h, w = pool_output_size(h, *args), pool_output_size(w, *args)
            elif layer["type"] == "gap":
                return (n, layer["out"]), None
            if h < 1 or w < 1:
                return (n, c, h, w), layer["name"]
            c = layer["out"]
        return (n, c, h, w), None

    def output_shape(self, input_shape, end=None, start=None):
        """Shape after block ``end`` for an input of shape (N, C, H, W) entering ``start``.

        Raises ``ValueError`` when the input is too small for some block.
        """
        i0 = 0 if start is None else self.layer_index(start, "start")
        i1 = len(self.layers) - 1 if end is None else self.layer_index(end, "end")
        shape, failed = self._propagate(tuple(input_shape), i0, i1)
        if failed:
            size = self.min_input_size(end=i1)
            raise ValueError(
                f"x of spatial size {tuple(input_shape[2:])} is too small: layer {failed!r} "
                f"would produce an empty output; the network up to "
                f"{self.layer_names[i1]!r} needs at least {size}x{size} pixels")
        return shape

    def min_input_size(self, end=None):
        """The smallest square input that blocks 0..``end`` accept."""
        i1 = len(self.layers) - 1 if end is None else self.layer_index(end, "end")
        size = 1
        while self._propagate((1, 3, size, size), 0, i1)[1] is not None:
            size += 1
        return size

    # ------------------------------------------------------------------ forward / backward
    def _check_input(self, x, start):
        check_images(x)
        expected_c = self.layers[start]["in"]
        if x.shape[1] != expected_c:
            raise ValueError(f"x must have {expected_c} channels to enter layer "
                             f"{self.layer_names[start]!r}, got shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("x contains NaN or infinite values")

    def _range(self, start, end):
        i0 = 0 if start is None else self.layer_index(start, "start")
        i1 = len(self.layers) - 1 if end is None else self.layer_index(end, "end")
        if i0 > i1:
            raise ValueError(f"start ({self.layer_names[i0]!r}) comes after end "
                             f"({self.layer_names[i1]!r})")
        return i0, i1

    def forward(self, x, start=None, end=None):
        """Run blocks ``start..end`` (names or indices, end inclusive) on ``x``.

        x: (N, C, H, W) float, the input of block ``start`` (for block 0 a
        preprocessed image, see :meth:`preprocess`).  Returns ``(out, cache)``;
        out is (N, C', H', W') or, after ``pool10``, the (N, 1000) raw scores.
        """
        i0, i1 = self._range(start, end)
        self._check_input(x, i0)
        if i0 == 0:
            self.output_shape(x.shape, end=i1)          # clear error if too small
        out = np.asarray(x, dtype=self.dtype)
        cache = ForwardCache(i0, i1, out.shape)
        for layer in self.layers[i0:i1 + 1]:
            name = layer["name"]
            out, layer_cache = self._layer_forward(layer, out)
            cache.layer_caches[name] = layer_cache
            cache.activations[name] = out
            if layer["type"] == "fire":
                for part, value in layer_cache["parts"].items():
                    cache.activations[f"{name}/{part}"] = value
        return out, cache

    def _layer_forward(self, layer, x):
        name, p = layer["name"], self.params
        if layer["type"] == "conv":
            conv_param = {"stride": layer["stride"], "pad": layer["pad"]}
            return conv_relu_forward(x, p[name + "/W"], p[name + "/b"], conv_param)
        if layer["type"] == "maxpool":
            pool_param = {"pool_height": layer["kernel"], "pool_width": layer["kernel"],
                          "stride": layer["stride"], "pad": layer["pad"],
                          "ceil_mode": layer["ceil_mode"]}
            return fl.max_pool_forward(x, pool_param)
        if layer["type"] == "fire":
            args = [p[f"{name}/{part}/{k}"] for part in FIRE_PARTS for k in "Wb"]
            return fire_forward(x, *args)
        return fl.global_avg_pool_forward(x)

    def backward(self, dout, cache, relu_mode="standard", param_grads=True):
        """Backpropagate from the end of ``cache``'s range to its start.

        dout: gradient of the objective with respect to the end block's output
        (same shape), or a dict ``{layer_name: gradient}`` injecting gradients
        at several blocks of the range (each added as the pass goes down).
        relu_mode: "standard", "deconvnet" or "guided" for every ReLU.
        param_grads: False skips all weight gradients (faster; visualization).

        Returns ``(dx, grads)``: dx has the shape of the input of the range,
        grads maps parameter names (as ``cnn.params``) of the blocks in range to
        their gradients (empty when ``param_grads`` is False).
        """
        check_relu_mode(relu_mode)
        if not isinstance(cache, ForwardCache):
            raise TypeError("cache must be the ForwardCache returned by forward")
        names = self.layer_names[cache.start:cache.end + 1]
        end_name = names[-1]
        if isinstance(dout, dict):
            injected = dict(dout)
            unknown = [k for k in injected if k not in names]
            if unknown:
                raise ValueError(f"dout has gradients for layers {unknown} outside the "
                                 f"forward range {names[0]!r}..{end_name!r}")
        else:
            injected = {end_name: dout}
        for name, g in injected.items():
            expected = cache.activations[name].shape
            if not isinstance(g, np.ndarray) or g.shape != expected:
                raise ValueError(f"dout for layer {name!r} must be an array of shape "
                                 f"{expected}, got {getattr(g, 'shape', type(g).__name__)}")
        grads = {}
        d = None
        for layer in reversed(self.layers[cache.start:cache.end + 1]):
            name = layer["name"]
            if name in injected:
                g = np.asarray(injected[name], dtype=self.dtype)
                d = g if d is None else d + g
            if d is None:              # nothing injected at or above this block yet
                continue
            d = self._layer_backward(layer, d, cache.layer_caches[name], relu_mode,
                                     param_grads, grads)
        if d is None:
            d = np.zeros(cache.input_shape, dtype=self.dtype)
        return d, grads

    def _layer_backward(self, layer, dout, layer_cache, relu_mode, param_grads, grads):
        name = layer["name"]
        if layer["type"] == "conv":
            dx, dw, db = conv_relu_backward(dout, layer_cache, relu_mode, param_grads)
            if param_grads:
                grads[name + "/W"], grads[name + "/b"] = dw, db
            return dx
        if layer["type"] == "maxpool":
            return fl.max_pool_backward(dout, layer_cache)
        if layer["type"] == "fire":
            dx, *pgrads = fire_backward(dout, layer_cache, relu_mode, param_grads)
            if param_grads:
                keys = [f"{name}/{part}/{k}" for part in FIRE_PARTS for k in "Wb"]
                grads.update(zip(keys, pgrads))
            return dx
        return fl.global_avg_pool_backward(dout, layer_cache)

    # ------------------------------------------------------------------ images
    def preprocess(self, img, size=None, crop="default"):
        """uint8 image(s) -> normalized float (N, 3, H, W) in this model's dtype.

        img: (H, W, 3) or (N, H, W, 3) uint8 RGB (grey and RGBA are converted),
        or a list of such images.  ``size``: resize the short side to this
        many pixels (bilinear; default ``meta['resize']``, 256); ``crop``:
        centre-crop this square (default ``meta['input_size']``, 224; None keeps
        the whole resized image, as cs231n's ``preprocess(img, size)``).
        Then ``x = (img * scale - mean) / std`` in the weights' channel order.
        """
        from ..data import prepare_images
        size = self.meta.get("resize", 256) if size is None else size
        crop = self.meta.get("input_size", 224) if crop == "default" else crop
        batch = prepare_images(img, size=size, crop=crop)          # (N, H, W, 3) uint8
        x = batch.astype(np.float32)
        if self.meta.get("channel_order", "RGB") == "BGR":
            x = x[..., ::-1]
        mean = np.asarray(self.meta["mean"], dtype=np.float32)
        std = np.asarray(self.meta["std"], dtype=np.float32)
        x = (x * np.float32(self.meta.get("scale", 1.0)) - mean) / std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=self.dtype)

    def deprocess(self, x):
        """Invert :meth:`preprocess`: (N, 3, H, W) or (3, H, W) -> uint8 (N, H, W, 3)
        or (H, W, 3) RGB, clipped to 0..255.  A batch of one returns (H, W, 3)."""
        x = np.asarray(x)
        if x.ndim == 3:
            x = x[None]
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (N, 3, H, W) or (3, H, W), got {x.shape}")
        mean = np.asarray(self.meta["mean"], dtype=np.float64)
        std = np.asarray(self.meta["std"], dtype=np.float64)
        img = (x.transpose(0, 2, 3, 1) * std + mean) / self.meta.get("scale", 1.0)
        if self.meta.get("channel_order", "RGB") == "BGR":
            img = img[..., ::-1]
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        return img[0] if img.shape[0] == 1 else img

    # ------------------------------------------------------------------ classification
    def scores(self, x, batch_size=16):
        """Raw class scores (N, num_classes) in batches (no cache kept)."""
        out = [self.forward(x[i:i + batch_size])[0] for i in range(0, len(x), batch_size)]
        return np.concatenate(out, axis=0)

    def predict(self, x, top=5, batch_size=16):
        """Top-``top`` classes of each image: ``Predictions(indices, names, probabilities)``
        with indices and probabilities (N, top) arrays and names a list of lists."""
        if isinstance(top, bool) or not isinstance(top, (int, np.integer)) \
                or not 1 <= top <= self.num_classes:
            raise ValueError(f"top must be in 1..{self.num_classes}, got {top}")
        s = self.scores(x, batch_size).astype(np.float64)
        p = np.exp(s - s.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        idx = np.argsort(-p, axis=1, kind="stable")[:, :top]
        names = [[self.class_name(i) for i in row] for row in idx]
        return Predictions(idx, names, np.take_along_axis(p, idx, axis=1))

    def class_name(self, index):
        """Short name of class ``index`` (``'class 17'`` when no names are known)."""
        index = int(index)
        if self.class_names is not None and 0 <= index < len(self.class_names):
            return self.class_names[index]
        return f"class {index}"

    def __repr__(self):
        n = sum(v.size for v in self.params.values())
        return (f"SqueezeNet({len(self.layers)} blocks, {n:,} parameters, {self.dtype}, "
                f"input {self.meta.get('channel_order')} {self.meta.get('input_size')}px)")
