"""Composite layers built from the fast layer pairs; each backward mirrors its forward.

- ``conv_relu_forward / conv_relu_backward``: convolution followed by ReLU.
- ``fire_forward / fire_backward``: SqueezeNet's fire module (Iandola et al. 2016),
  squeeze 1x1 + ReLU, then [expand 1x1 + ReLU, expand 3x3 (pad 1) + ReLU]
  concatenated along channels, expand1x1 first.

All backward functions take ``relu_mode`` (see :data:`minicnn.layers.RELU_MODES`)
and ``param_grads``: with ``param_grads=False`` no weight gradient is computed
and ``None`` stands in its place (visualization of frozen networks).
"""
from . import fast_layers as fl
from .layers import check_relu_mode

__all__ = ["conv_relu_forward", "conv_relu_backward", "fire_forward", "fire_backward",
           "FIRE_PARTS"]

#: The three convolutions of a fire module, in the order of its parameters.
FIRE_PARTS = ("squeeze1x1", "expand1x1", "expand3x3")


def conv_relu_forward(x, w, b, conv_param):
    """relu(conv(x, w, b)).  x: (N, C, H, W), w: (F, C, KH, KW) -> (N, F, H', W')."""
    a, conv_cache = fl.conv_forward(x, w, b, conv_param)
    out, relu_cache = fl.relu_forward(a)
    return out, (conv_cache, relu_cache)


def conv_relu_backward(dout, cache, relu_mode="standard", param_grads=True):
    """Reverse of conv_relu_forward: da = relu'(a) dout, then the conv backward."""
    conv_cache, relu_cache = cache
    da = fl.relu_backward(dout, relu_cache, relu_mode)
    return fl.conv_backward(da, conv_cache, param_grads=param_grads)


def fire_forward(x, w_s, b_s, w_e1, b_e1, w_e3, b_e3):
    """SqueezeNet fire module.

    x: (N, C, H, W); w_s: (S, C, 1, 1); w_e1: (E1, S, 1, 1); w_e3: (E3, S, 3, 3)
    s   = relu(conv1x1(x, w_s) + b_s)                      (N, S, H, W)
    e1  = relu(conv1x1(s, w_e1) + b_e1)                    (N, E1, H, W)
    e3  = relu(conv3x3_pad1(s, w_e3) + b_e3)               (N, E3, H, W)
    out = concat(e1, e3)                                   (N, E1 + E3, H, W)

    The cache also carries the three activations (``cache["parts"]``) so that a
    model can expose them by name.
    """
    s, cache_s = conv_relu_forward(x, w_s, b_s, {"stride": 1, "pad": 0})
    e1, cache_e1 = conv_relu_forward(s, w_e1, b_e1, {"stride": 1, "pad": 0})
    e3, cache_e3 = conv_relu_forward(s, w_e3, b_e3, {"stride": 1, "pad": 1})
    out, cache_cat = fl.concat_forward(e1, e3)
    cache = {"s": cache_s, "e1": cache_e1, "e3": cache_e3, "cat": cache_cat,
             "parts": {"squeeze1x1": s, "expand1x1": e1, "expand3x3": e3}}
    return out, cache


def fire_backward(dout, cache, relu_mode="standard", param_grads=True):
    """Reverse of fire_forward -> (dx, dw_s, db_s, dw_e1, db_e1, dw_e3, db_e3).

    concat -> split (its adjoint); the squeeze output ``s`` fed both expand
    branches, so its gradient is the sum of the two branch gradients (fan-out
    -> add).
    """
    check_relu_mode(relu_mode)
    de1, de3 = fl.concat_backward(dout, cache["cat"])
    ds_e1, dw_e1, db_e1 = conv_relu_backward(de1, cache["e1"], relu_mode, param_grads)
    ds_e3, dw_e3, db_e3 = conv_relu_backward(de3, cache["e3"], relu_mode, param_grads)
    ds = ds_e1 + ds_e3
    dx, dw_s, db_s = conv_relu_backward(ds, cache["s"], relu_mode, param_grads)
    return dx, dw_s, db_s, dw_e1, db_e1, dw_e3, db_e3
