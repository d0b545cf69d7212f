"""Assignment 5 -- the layers of the fast style transfer network.

Johnson, Alahi & Fei-Fei 2016, "Perceptual losses for real-time style transfer";
Ulyanov et al. 2016, "Instance normalization"; Dumoulin et al. 2017, "A learned
representation for artistic style" (conditional instance norm); Odena et al.
2016, "Deconvolution and checkerboard artifacts" (upsample then convolve).

Same contract as assignment 1: ``out, cache = x_forward(...)``, backward
returns the gradients in argument order.  Shapes (N, C, H, W).  Grade with
``python -m minicnn grade .``.  Only NumPy here (minicnn.transformer_layers is
the answer key).
"""
import numpy as np

ASSIGNMENT = 5


def instance_norm_forward(x, gamma, beta, in_param=None):
    """Instance normalization: statistics per image AND channel, over H x W only.

    x: (N, C, H, W); gamma, beta: (C,); in_param: {"eps": 1e-5}.
        mu[n, c]  = mean_{h,w} x[n, c]        var[n, c] = mean_{h,w} (x[n, c] - mu)^2
        out = gamma[c] * (x - mu) / sqrt(var + eps) + beta[c]
    (Batch norm would average over N too: not here.)
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("instance_norm_forward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def instance_norm_backward(dout, cache):
    """-> (dx, dgamma, dbeta).  dgamma = sum_{n,h,w} dout * xhat, dbeta = sum dout;
    with dxhat = gamma * dout and M = H * W positions per (n, c):
        dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("instance_norm_backward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return dx, dgamma, dbeta


def conditional_instance_norm_forward(x, gamma, beta, style_weights, in_param=None):
    """Conditional instance norm (Dumoulin et al. 2017): one (gamma, beta) row per style.

    x: (N, C, H, W); gamma, beta: (S, C); style_weights w: (N, S) (a one-hot row
    picks a style, other rows blend them).
        g = w @ gamma, b = w @ beta                      (N, C)
        out[n, c] = g[n, c] * xhat[n, c] + b[n, c]       (xhat as instance norm)
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("conditional_instance_norm_forward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def conditional_instance_norm_backward(dout, cache):
    """-> (dx, dgamma (S, C), dbeta (S, C), dstyle_weights (N, S)).

    dg[n, c] = sum_hw dout * xhat, db[n, c] = sum_hw dout; g = w @ gamma gives
    dgamma = w^T dg and dw = dg gamma^T (+ db beta^T); dx as instance norm with
    dxhat = g * dout.
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("conditional_instance_norm_backward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return dx, dgamma, dbeta, dw


def upsample_nearest_forward(x, scale=2):
    """Nearest-neighbour upsampling: out[..., i, j] = x[..., i // s, j // s].
    x: (N, C, H, W) -> (N, C, s H, s W); the cache is whatever the backward needs."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("upsample_nearest_forward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def upsample_nearest_backward(dout, cache):
    """Adjoint of the copy: each input pixel receives the SUM of the s x s block
    it was copied to."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("upsample_nearest_backward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return dx


def reflection_pad_forward(x, pad):
    """Mirror padding by ``pad`` pixels on each side of H and W, the edge pixel NOT
    repeated (np.pad mode "reflect", nn.ReflectionPad2d): row -k is row k.
    x: (N, C, H, W) -> (N, C, H + 2p, W + 2p); needs p < H and p < W."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("reflection_pad_forward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return out, cache


def reflection_pad_backward(dout, cache):
    """Adjoint of reflection padding: crop the centre, then add every padded
    row/column back onto the row/column it copied."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("reflection_pad_backward: not implemented yet (the TODO block in transformer_layers.py)")
    # ---------------------- end of your code ----------------
    return dx
