"""The image transformation network of fast style transfer (Johnson et al. 2016),
with instance normalization (Ulyanov et al. 2016), nearest-neighbour
upsampling + conv instead of transposed convs, and optional conditional
instance normalization for several styles in one network (Dumoulin et al. 2017).

Named blocks (widths ``(w1, w2, w3)``, ``R`` residual blocks)::

    conv1   reflect-pad 4, conv 9x9  3 -> w1,        IN, ReLU     (H, W)
    conv2   reflect-pad 1, conv 3x3 w1 -> w2, str 2, IN, ReLU     (H/2, W/2)
    conv3   reflect-pad 1, conv 3x3 w2 -> w3, str 2, IN, ReLU     (H/4, W/4)
    res1..R x + [pad, conv 3x3, IN, ReLU, pad, conv 3x3, IN](x)
    up1     upsample x2, pad 1, conv 3x3 w3 -> w2,   IN, ReLU     (H/2, W/2)
    up2     upsample x2, pad 1, conv 3x3 w2 -> w1,   IN, ReLU     (H, W)
    out     reflect-pad 4, conv 9x9 w1 -> 3, tanh scaling         (H, W)

The 9x9 w1 -> 3 output conv uses ``conv_few_outputs`` (one GEMM of the 243
taps, then shifted sums) instead of im2col, whose columns would be 81*w1 rows
by H*W per image (2.6 GiB for w1 = 32, batch 4, 256x256).

Input and output are images normalized like the loss network's input
(``(pixel / 255 - mean) / std``); the tanh scaling maps the output onto exactly
the range of pixels in [0, 1].  H and W must be multiples of 4.

Convolutions followed by instance norm have no bias (the norm removes any
per-channel constant).  Parameters: ``conv1/W``, ``conv1/gamma``,
``conv1/beta``, ``res1/a/W``, ``res1/a/gamma``, ..., ``out/W``, ``out/b``.
With ``num_styles = S > 1`` (conditional) every gamma/beta is an (S, C) table
and ``forward`` takes ``style`` weights (an index, an (S,) vector or (N, S)).

The full network of the paper is ``widths=(32, 64, 128), res_blocks=5``.
"""
import json
from pathlib import Path

import numpy as np

from .. import fast_layers as fl
from .. import transformer_layers as tl
from ..models.squeezenet import TORCHVISION_PREPROCESSING

__all__ = ["TransformerNet", "ForwardCache"]

FORMAT = "minicnn-transformer-1"


class ForwardCache:
    """``activations`` (block name -> output) and ``layer_caches`` of one forward."""

    def __init__(self, names, input_shape, style_weights):
        self.names, self.input_shape, self.style_weights = names, input_shape, style_weights
        self.activations = {}
        self.layer_caches = {}


def _unit_names(block, kind):
    """The conv + norm units of a block: their parameter prefixes."""
    if kind == "res":
        return [f"{block}/a", f"{block}/b"]
    return [block]


class TransformerNet:
    """Feed-forward style transfer network over explicit layer pairs.

    Parameters
    ----------
    widths : (w1, w2, w3) channels of the three resolutions (default 32, 64, 128).
    res_blocks : number of residual blocks (default 5).
    num_styles : 1 for a single-style network (instance norm), S > 1 for a
        conditional network (conditional instance norm).
    style_names : names of the S styles (metadata).
    params : dict of arrays (default: random initialization with ``rng``).
    meta : preprocessing (``mean``, ``std``) shared with the loss network, and
        provenance (training command, steps, losses).
    dtype : float32 (default) or float64 (gradient tests).
    """

    def __init__(self, widths=(32, 64, 128), res_blocks=5, num_styles=1, style_names=None,
                 params=None, meta=None, rng=None, dtype=np.float32):
        widths = tuple(int(w) for w in widths)
        if len(widths) != 3 or min(widths) < 1:
            raise ValueError(f"widths must be three positive channel counts, got {widths}")
        if int(res_blocks) < 0:
            raise ValueError(f"res_blocks must be >= 0, got {res_blocks}")
        if int(num_styles) < 1:
            raise ValueError(f"num_styles must be >= 1, got {num_styles}")
        self.widths, self.res_blocks, self.num_styles = widths, int(res_blocks), int(num_styles)
        if style_names is None:
            style_names = [f"style{i}" for i in range(self.num_styles)]
        style_names = [str(s) for s in style_names]
        if len(style_names) != self.num_styles:
            raise ValueError(f"style_names has {len(style_names)} names for "
                             f"{self.num_styles} styles")
        self.style_names = style_names
        self.dtype = np.dtype(dtype)
        self.meta = dict(TORCHVISION_PREPROCESSING)
        if meta:
            self.meta.update(meta)
        self.blocks = self._build_blocks()
        self.block_names = tuple(b["name"] for b in self.blocks)
        shapes = self.param_shapes()
        if params is None:
            params = self.init_params(rng)
        missing = [k for k in shapes if k not in params]
        if missing:
            raise ValueError(f"params is missing {missing[:5]}")
        bad = [f"{k}: {np.shape(params[k])} != {s}" for k, s in shapes.items()
               if tuple(np.shape(params[k])) != s]
        if bad:
            raise ValueError("params have wrong shapes for this architecture: "
                             + "; ".join(bad[:4]))
        self.params = {k: np.ascontiguousarray(params[k], dtype=self.dtype) for k in shapes}
        mean = np.asarray(self.meta["mean"], dtype=np.float64)
        std = np.asarray(self.meta["std"], dtype=np.float64)
        self.out_scale = (0.5 / std).astype(self.dtype)
        self.out_shift = ((0.5 - mean) / std).astype(self.dtype)

    # ------------------------------------------------------------------ architecture
    @property
    def conditional(self):
        return self.num_styles > 1

    def _build_blocks(self):
        w1, w2, w3 = self.widths
        blocks = [
            {"name": "conv1", "kind": "conv", "in": 3, "out": w1, "k": 9, "stride": 1},
            {"name": "conv2", "kind": "conv", "in": w1, "out": w2, "k": 3, "stride": 2},
            {"name": "conv3", "kind": "conv", "in": w2, "out": w3, "k": 3, "stride": 2},
        ]
        blocks += [{"name": f"res{i + 1}", "kind": "res", "in": w3, "out": w3, "k": 3,
                    "stride": 1} for i in range(self.res_blocks)]
        blocks += [
            {"name": "up1", "kind": "up", "in": w3, "out": w2, "k": 3, "stride": 1},
            {"name": "up2", "kind": "up", "in": w2, "out": w1, "k": 3, "stride": 1},
            {"name": "out", "kind": "out", "in": w1, "out": 3, "k": 9, "stride": 1},
        ]
        return blocks

    def param_shapes(self):
        """{name: shape} of every parameter, in order."""
        shapes = {}
        s = self.num_styles
        for b in self.blocks:
            for unit in _unit_names(b["name"], b["kind"]):
                c_in = b["out"] if unit.endswith("/b") and b["kind"] == "res" else b["in"]
                shapes[unit + "/W"] = (b["out"], c_in, b["k"], b["k"])
                if b["kind"] == "out":
                    shapes[unit + "/b"] = (b["out"],)
                else:
                    norm = (b["out"],) if s == 1 else (s, b["out"])
                    shapes[unit + "/gamma"] = norm
                    shapes[unit + "/beta"] = norm
        return shapes

    def init_params(self, rng=None):
        """He-normal convolutions, gamma = 1, beta = 0, output bias 0; the last
        conv is scaled down so that the initial output is a mild image."""
        rng = np.random.default_rng(0) if rng is None else rng
        params = {}
        for name, shape in self.param_shapes().items():
            if name.endswith("/W"):
                fan_in = int(np.prod(shape[1:]))
                std = np.sqrt(2.0 / fan_in) * (0.1 if name.startswith("out/") else 1.0)
                params[name] = rng.standard_normal(shape) * std
            elif name.endswith("/gamma"):
                params[name] = np.ones(shape)
            else:
                params[name] = np.zeros(shape)
        return {k: v.astype(self.dtype) for k, v in params.items()}

    @classmethod
    def tiny(cls, rng=None, dtype=np.float64, num_styles=1, widths=(3, 4, 5), res_blocks=1):
        """A tiny random network for gradient and property tests (inputs of 8x8 or
        larger, multiples of 4).  Gammas and betas are random so that every
        parameter matters."""
        rng = np.random.default_rng(0) if rng is None else rng
        net = cls(widths, res_blocks, num_styles=num_styles, rng=rng, dtype=dtype)
        for k, v in net.params.items():
            if k.endswith("/gamma"):
                net.params[k] = (0.8 + 0.4 * rng.random(v.shape)).astype(dtype)
            elif k.endswith("/beta"):
                net.params[k] = (0.2 + 0.2 * rng.random(v.shape)).astype(dtype)
            elif k.startswith("out/W"):
                net.params[k] = (v * 10).astype(dtype)
        return net

    def num_params(self):
        return int(sum(v.size for v in self.params.values()))

    def block_index(self, block, argument="block"):
        if isinstance(block, (int, np.integer)) and not isinstance(block, bool):
            n = len(self.blocks)
            if not -n <= block < n:
                raise ValueError(f"{argument} index {block} out of range 0..{n - 1}")
            return int(block) % n
        if block not in self.block_names:
            raise ValueError(f"unknown {argument} {block!r}; valid blocks are "
                             f"{', '.join(self.block_names)}")
        return self.block_names.index(block)

    # ------------------------------------------------------------------ forward / backward
    def _style_matrix(self, style, n):
        if not self.conditional:
            if style is not None and not (np.ndim(style) <= 1 and np.size(style) == 1):
                raise ValueError("this network has a single style; pass style=None")
            return None
        if style is None:
            raise ValueError(f"this conditional network needs style weights over its "
                             f"{self.num_styles} styles ({', '.join(self.style_names)}): "
                             f"an index, a ({self.num_styles},) vector or an "
                             f"(N, {self.num_styles}) matrix")
        if isinstance(style, str):
            style = self.style_index(style)
        return tl.style_weight_matrix(style, self.num_styles, n).astype(self.dtype)

    def style_index(self, name):
        if name not in self.style_names:
            raise ValueError(f"unknown style {name!r}; this network has "
                             f"{', '.join(self.style_names)}")
        return self.style_names.index(name)

    def _unit_forward(self, x, unit, k, stride, w_style, relu, upsample=False):
        """reflect-pad, conv (no bias), (conditional) instance norm, optional ReLU;
        ``upsample``: nearest x2 first (upsample, pad and 3x3 conv as one sub-pixel
        conv, :func:`minicnn.fast_layers.upsample_conv_forward`)."""
        p = self.params
        w = p[unit + "/W"]
        if upsample:
            c_pad = None
            a, c_conv = fl.upsample_conv_forward(x, w)
        else:
            xp, c_pad = fl.reflection_pad_forward(x, k // 2)
            a, c_conv = fl.conv_forward(xp, w, np.zeros(w.shape[0], self.dtype),
                                        {"stride": stride, "pad": 0})
        # instance norm and the ReLU after it: one fused kernel pass
        if w_style is None:
            norm = fl.instance_norm_relu_forward if relu else fl.instance_norm_forward
            h, c_norm = norm(a, p[unit + "/gamma"], p[unit + "/beta"])
        else:
            h, c_norm = fl.conditional_instance_norm_forward(
                a, p[unit + "/gamma"], p[unit + "/beta"], w_style, relu=relu)
        return h, (c_pad, c_conv, c_norm, relu)

    def _unit_backward(self, dh, unit, cache, grads, param_grads, input_grad=True):
        c_pad, c_conv, c_norm, relu = cache
        if len(c_norm) == 4:                      # conditional: (dx, dgamma, dbeta, dw)
            da, dgamma, dbeta, _ = fl.conditional_instance_norm_backward(dh, c_norm)
        elif relu:                                # ReLU mask, then the norm (fused)
            da, dgamma, dbeta = fl.instance_norm_relu_backward(dh, c_norm)
        else:
            da, dgamma, dbeta = fl.instance_norm_backward(dh, c_norm)
        if c_pad is None:                         # the up-sampling sub-pixel conv
            dx, dw = fl.upsample_conv_backward(da, c_conv, param_grads=param_grads)
        else:
            dxp, dw, _ = fl.conv_backward(da, c_conv, param_grads=param_grads,
                                          input_grad=input_grad)
            dx = None if dxp is None else fl.reflection_pad_backward(dxp, c_pad)
        if param_grads:
            grads[unit + "/W"], grads[unit + "/gamma"], grads[unit + "/beta"] = dw, dgamma, dbeta
        return dx

    def _check_input(self, x):
        if not isinstance(x, np.ndarray) or not np.issubdtype(x.dtype, np.floating):
            raise TypeError("x must be a float NumPy array (N, 3, H, W) of normalized images")
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"x must have shape (N, 3, H, W), got {x.shape}")
        if x.shape[2] % 4 or x.shape[3] % 4 or min(x.shape[2:]) < 8:
            raise ValueError(f"x must have H and W multiples of 4 and at least 8 (two "
                             f"stride-2 convs and two x2 upsamplings), got {x.shape[2:]}")

    def forward(self, x, style=None):
        """x: (N, 3, H, W) normalized images -> (out (N, 3, H, W), cache).

        style: for a conditional network, style weights (index, name, (S,) or
        (N, S)); None for a single-style network.
        """
        self._check_input(x)
        x = np.asarray(x, dtype=self.dtype)
        w_style = self._style_matrix(style, x.shape[0])
        cache = ForwardCache(self.block_names, x.shape, w_style)
        h = x
        for b in self.blocks:
            name, kind = b["name"], b["kind"]
            if kind == "conv":
                h, c = self._unit_forward(h, name, b["k"], b["stride"], w_style, True)
            elif kind == "res":
                r, c_a = self._unit_forward(h, name + "/a", 3, 1, w_style, True)
                r, c_b = self._unit_forward(r, name + "/b", 3, 1, w_style, False)
                h, c_add = tl.residual_add_forward(h, r)
                c = (c_a, c_b, c_add)
            elif kind == "up":
                h, c = self._unit_forward(h, name, 3, 1, w_style, True, upsample=True)
            else:
                xp, c_pad = fl.reflection_pad_forward(h, b["k"] // 2)
                # 9x9 C -> 3: tap GEMM + shifted sums, no 81*C-row im2col
                a, c_conv = fl.conv_few_outputs_forward(xp, self.params["out/W"],
                                                        self.params["out/b"])
                h, c_tanh = tl.tanh_scale_forward(a, self.out_scale, self.out_shift)
                c = (c_pad, c_conv, c_tanh)
            cache.layer_caches[name] = c
            cache.activations[name] = h
        return h, cache

    def backward(self, dout, cache, param_grads=True, input_grad=True):
        """dout: (N, 3, H, W) gradient at the output -> (dx, grads).

        grads maps every parameter name to its gradient (empty when
        ``param_grads`` is False).  ``input_grad=False`` (training: the input
        is data) skips the first convolution's input gradient; dx is then None.
        """
        if not isinstance(cache, ForwardCache):
            raise TypeError("cache must be the ForwardCache returned by forward")
        out_shape = cache.activations["out"].shape
        if not isinstance(dout, np.ndarray) or dout.shape != out_shape:
            raise ValueError(f"dout must be an array of shape {out_shape}, got "
                             f"{getattr(dout, 'shape', type(dout).__name__)}")
        grads = {}
        d = np.asarray(dout, dtype=self.dtype)
        for b in reversed(self.blocks):
            name, kind = b["name"], b["kind"]
            c = cache.layer_caches[name]
            if kind == "conv":
                d = self._unit_backward(d, name, c, grads, param_grads,
                                        input_grad=input_grad or name != self.block_names[0])
            elif kind == "res":
                c_a, c_b, c_add = c
                d_skip, d_r = tl.residual_add_backward(d, c_add)
                d_r = self._unit_backward(d_r, name + "/b", c_b, grads, param_grads)
                d_r = self._unit_backward(d_r, name + "/a", c_a, grads, param_grads)
                d = d_skip + d_r                   # fan-out of x: gradients add
            elif kind == "up":
                d = self._unit_backward(d, name, c, grads, param_grads)
            else:
                c_pad, c_conv, c_tanh = c
                da = tl.tanh_scale_backward(d, c_tanh)
                dxp, dw, db = fl.conv_few_outputs_backward(da, c_conv)
                if param_grads:
                    grads["out/W"], grads["out/b"] = dw, db
                d = fl.reflection_pad_backward(dxp, c_pad)
        return d, grads

    # ------------------------------------------------------------------ images
    def preprocess(self, img, size=None):
        """uint8 (H, W, 3) image(s) -> normalized (N, 3, H', W') with H', W' cropped
        to multiples of 4 (``size`` resizes the short side first)."""
        from ..data import prepare_images
        batch = prepare_images(img, size=size, crop=None)
        h, w = batch.shape[1] // 4 * 4, batch.shape[2] // 4 * 4
        if min(h, w) < 8:
            raise ValueError(f"image too small for the transformer: {batch.shape[1:3]}")
        top, left = (batch.shape[1] - h) // 2, (batch.shape[2] - w) // 2
        batch = batch[:, top:top + h, left:left + w]
        mean = np.asarray(self.meta["mean"], dtype=np.float32)
        std = np.asarray(self.meta["std"], dtype=np.float32)
        x = (batch.astype(np.float32) / 255.0 - mean) / std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2), dtype=self.dtype)

    def deprocess(self, x):
        """Normalized (N, 3, H, W) -> uint8 (N, H, W, 3) ((H, W, 3) for N = 1)."""
        mean = np.asarray(self.meta["mean"], dtype=np.float64)
        std = np.asarray(self.meta["std"], dtype=np.float64)
        img = (np.asarray(x, dtype=np.float64).transpose(0, 2, 3, 1) * std + mean) * 255.0
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
        return img[0] if img.shape[0] == 1 else img

    def stylize(self, img, style=None, size=None, batch_size=4):
        """uint8 image(s) -> stylized uint8 image(s) of the same (4-aligned) size."""
        x = self.preprocess(img, size=size)
        outs = []
        for i in range(0, len(x), batch_size):
            w = self._style_matrix(style, x.shape[0])
            w = None if w is None else w[i:i + batch_size]
            outs.append(self.forward(x[i:i + batch_size], style=w)[0])
        return self.deprocess(np.concatenate(outs))

    # ------------------------------------------------------------------ save / load
    def config(self):
        return {"format": FORMAT, "widths": list(self.widths), "res_blocks": self.res_blocks,
                "num_styles": self.num_styles, "style_names": self.style_names,
                "meta": self.meta}

    def save(self, path, extra=None):
        """Write an ``.npz`` (params + a JSON config string; no pickles) atomically.

        extra: dict of additional arrays (name -> array) stored alongside.
        """
        path = Path(path)
        arrays = {f"param/{k}": v for k, v in self.params.items()}
        arrays["config"] = np.array(json.dumps(self.config()))
        for k, v in (extra or {}).items():
            arrays[k] = np.asarray(v)
        _atomic_savez(path, arrays)
        return path

    @classmethod
    def load(cls, path, dtype=np.float32):
        """Read a network written by :meth:`save` (``allow_pickle=False``)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"transformer weights not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as z:
                config = json.loads(str(z["config"]))
                params = {k[len("param/"):]: z[k] for k in z.files if k.startswith("param/")}
        except Exception as exc:  # zip, JSON or key errors all mean "not a valid file"
            raise ValueError(f"{path} is not a valid transformer file: "
                             f"{type(exc).__name__}: {exc}") from None
        if config.get("format") != FORMAT:
            raise ValueError(f"{path}: unknown format {config.get('format')!r} "
                             f"(expected {FORMAT!r})")
        return cls(config["widths"], config["res_blocks"], config["num_styles"],
                   config["style_names"], params=params, meta=config.get("meta"), dtype=dtype)

    def __repr__(self):
        kind = f"conditional, {self.num_styles} styles" if self.conditional else "single style"
        return (f"TransformerNet(widths={self.widths}, res_blocks={self.res_blocks}, {kind}, "
                f"{self.num_params():,} parameters, {self.dtype})")


def _atomic_savez(path, arrays):
    """np.savez written atomically: :func:`minicnn.weights._atomic_savez`, imported
    here on first use (minicnn.weights is slower to import)."""
    from ..weights import _atomic_savez as atomic_savez
    return atomic_savez(path, arrays)
