"""Layer pairs of the fast style transfer network (Johnson et al. 2016,
"Perceptual losses for real-time style transfer and super-resolution"; Ulyanov
et al. 2016, "Instance normalization"; Dumoulin et al. 2017, "A learned
representation for artistic style").

Same contract as :mod:`minicnn.layers`: ``out, cache = x_forward(x, *params,
x_param)`` and ``dx`` or ``(dx, dparam1, ...)`` ``= x_backward(dout, cache)``
in argument order, no hidden state.  Shapes are (N, C, H, W).

- ``reflection_pad``: mirror padding without repeating the edge (as
  ``np.pad(mode="reflect")`` / ``nn.ReflectionPad2d``); removes the dark
  border that zero padding leaves around stylized images.
- ``instance_norm``: per image and channel statistics over H x W, at train
  and at test time; learned per-channel gamma, beta.
- ``conditional_instance_norm``: a table of (gamma, beta) per style; a weight
  vector over styles (one-hot selects a style, any other vector blends them)
  mixes the table rows.
- ``upsample_nearest``: nearest-neighbour upsampling (followed by a conv in
  the network instead of a transposed conv, which avoids checkerboard
  artifacts; Odena et al. 2016, "Deconvolution and checkerboard artifacts").
- ``residual_add``: out = x + f(x) (He et al. 2016).
- ``tanh_scale``: out = scale * tanh(x) + shift per channel, mapping the last
  conv to the valid (normalized) pixel range.
- ``conv_few_outputs``: a stride-1 unpadded convolution for few output channels
  and a large kernel (the final 9x9 C -> 3 conv): one GEMM of all kernel taps
  against the input, then shifted sums, instead of im2col columns K*K times
  the size of the input.
"""
import numpy as np

__all__ = [
    "reflection_pad_forward", "reflection_pad_backward",
    "instance_norm_forward", "instance_norm_backward",
    "conditional_instance_norm_forward", "conditional_instance_norm_backward",
    "upsample_nearest_forward", "upsample_nearest_backward",
    "upsample_conv_forward", "upsample_conv_backward",
    "residual_add_forward", "residual_add_backward",
    "tanh_scale_forward", "tanh_scale_backward",
    "conv_few_outputs_forward", "conv_few_outputs_backward",
    "style_weight_matrix",
]


def _check4(x, name="x"):
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (N, C, H, W), got "
                        f"{type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float array, got dtype {x.dtype}")
    if x.ndim != 4:
        raise ValueError(f"{name} must have shape (N, C, H, W), got shape {x.shape}")


# --------------------------------------------------------------------------- reflection pad
def reflection_pad_forward(x, pad):
    """Mirror-pad H and W by ``pad`` pixels (edge pixel not repeated).

    x: (N, C, H, W) -> out: (N, C, H + 2p, W + 2p);  needs p < H and p < W.
    out[..., i, j] = x[..., r(i - p), r(j - p)] with r(k) = -k for k < 0 and
    2 (H - 1) - k for k > H - 1.
    """
    _check4(x)
    pad = int(pad)
    if pad < 0:
        raise ValueError(f"pad must be non-negative, got {pad}")
    if pad >= x.shape[2] or pad >= x.shape[3]:
        raise ValueError(f"reflection pad {pad} needs an input larger than {pad} pixels, "
                         f"got spatial size {x.shape[2:]}")
    out = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    return out, (x.shape, pad)


def _fold_reflect(d, pad, axis):
    """Adjoint of reflection padding along one axis: crop the centre and add
    each padded row back onto the row it copied."""
    n = d.shape[axis] - 2 * pad
    centre = [slice(None)] * d.ndim
    centre[axis] = slice(pad, pad + n)
    out = d[tuple(centre)].copy()
    if pad == 0:
        return out

    def take(idx):
        s = [slice(None)] * d.ndim
        s[axis] = idx
        return tuple(s)
    # top padded rows 0..p-1 copied x rows p..1 (row i <- x[p - i])
    top = d[take(slice(0, pad))]
    out[take(slice(1, pad + 1))] += np.flip(top, axis=axis)
    # bottom padded rows p+n+k (k=0..p-1) copied x rows n-2-k
    bottom = d[take(slice(pad + n, 2 * pad + n))]
    out[take(slice(n - 1 - pad, n - 1))] += np.flip(bottom, axis=axis)
    return out


def reflection_pad_backward(dout, cache):
    """dx: fold the borders back (the adjoint of the copy is a sum)."""
    x_shape, pad = cache
    dx = _fold_reflect(dout, pad, axis=3)
    dx = _fold_reflect(dx, pad, axis=2)
    assert dx.shape == x_shape
    return dx


# --------------------------------------------------------------------------- instance norm
def _normalize(x, eps):
    """xhat = (x - mu) / sqrt(var + eps) per (n, c); returns xhat and 1/sigma."""
    mu = x.mean(axis=(2, 3), keepdims=True)
    xc = x - mu
    var = np.mean(xc * xc, axis=(2, 3), keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    return xc * inv_std, inv_std


def _normalize_backward(dxhat, xhat, inv_std):
    """Backward of the per-(n, c) standardization over H x W (M = H W positions):

        dx = inv_std * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))

    The two means are the adjoints of subtracting the mean and of dividing by
    the standard deviation, which both depend on every position.
    """
    m1 = dxhat.mean(axis=(2, 3), keepdims=True)
    m2 = np.mean(dxhat * xhat, axis=(2, 3), keepdims=True)
    return inv_std * (dxhat - m1 - xhat * m2)


def instance_norm_forward(x, gamma, beta, in_param=None):
    """Instance normalization (Ulyanov et al. 2016).

    x: (N, C, H, W); gamma, beta: (C,); in_param: {'eps': 1e-5}.
    mu[n,c] = mean_hw x,  var[n,c] = mean_hw (x - mu)^2,
    out = gamma[c] * (x - mu) / sqrt(var + eps) + beta[c].
    The statistics are those of the instance, at train and test time alike.
    """
    _check4(x)
    C = x.shape[1]
    if np.shape(gamma) != (C,) or np.shape(beta) != (C,):
        raise ValueError(f"gamma and beta must have shape ({C},), got {np.shape(gamma)} "
                         f"and {np.shape(beta)}")
    eps = float((in_param or {}).get("eps", 1e-5))
    xhat, inv_std = _normalize(x, eps)
    out = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    return out, (xhat, inv_std, gamma)


def instance_norm_backward(dout, cache):
    """-> (dx, dgamma, dbeta).  out = gamma xhat + beta: dgamma = sum dout xhat,
    dbeta = sum dout, dxhat = gamma dout; then the standardization backward."""
    xhat, inv_std, gamma = cache
    dgamma = np.sum(dout * xhat, axis=(0, 2, 3))
    dbeta = dout.sum(axis=(0, 2, 3))
    dxhat = dout * gamma[None, :, None, None]
    dx = _normalize_backward(dxhat, xhat, inv_std)
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------- conditional IN
def style_weight_matrix(style_weights, num_styles, n):
    """Normalize ``style_weights`` to an (N, S) array.

    Accepts an int (a style index: one-hot), an (S,) vector (same weights for
    every image) or an (N, S) matrix (one row per image).  Weights are used
    as given (a blend normally sums to 1; they are not renormalized here).
    """
    if isinstance(style_weights, (int, np.integer)) and not isinstance(style_weights, bool):
        if not 0 <= style_weights < num_styles:
            raise ValueError(f"style index {style_weights} out of range for {num_styles} "
                             f"styles")
        w = np.zeros(num_styles)
        w[int(style_weights)] = 1.0
        style_weights = w
    w = np.asarray(style_weights, dtype=np.float64)
    if w.ndim == 1:
        w = np.broadcast_to(w, (n, w.shape[0]))
    if w.shape != (n, num_styles):
        raise ValueError(f"style_weights must be a style index, a ({num_styles},) vector or an "
                         f"({n}, {num_styles}) matrix, got shape {np.shape(style_weights)}")
    if not np.isfinite(w).all():
        raise ValueError("style_weights contains NaN or infinite values")
    return w


def conditional_instance_norm_forward(x, gamma, beta, style_weights, in_param=None):
    """Conditional instance normalization (Dumoulin et al. 2017).

    x: (N, C, H, W); gamma, beta: (S, C) tables, one row per style;
    style_weights: style index, (S,) or (N, S) weights w.
    g[n] = w[n] @ gamma,  b[n] = w[n] @ beta        (N, C)
    out[n, c] = g[n, c] * xhat[n, c] + b[n, c]      (xhat as instance_norm)
    A one-hot w equals instance_norm with that style's row, and out is linear
    in w: out(w) = sum_s w[s] (gamma[s] xhat + beta[s]), so a convex blend of
    styles is the same blend of the styles' outputs at this layer.
    """
    _check4(x)
    N, C = x.shape[:2]
    if np.ndim(gamma) != 2 or np.shape(gamma)[1] != C or np.shape(beta) != np.shape(gamma):
        raise ValueError(f"gamma and beta must be (S, {C}) tables, got {np.shape(gamma)} and "
                         f"{np.shape(beta)}")
    S = gamma.shape[0]
    w = style_weight_matrix(style_weights, S, N).astype(x.dtype, copy=False)
    eps = float((in_param or {}).get("eps", 1e-5))
    xhat, inv_std = _normalize(x, eps)
    g, b = w @ gamma, w @ beta                                     # (N, C)
    out = g[:, :, None, None] * xhat + b[:, :, None, None]
    return out, (xhat, inv_std, w, gamma, beta)


def conditional_instance_norm_backward(dout, cache):
    """-> (dx, dgamma, dbeta, dstyle_weights) in argument order.

    dg[n, c] = sum_hw dout xhat,  db[n, c] = sum_hw dout;
    g = w @ gamma  =>  dgamma = w^T dg,  dw = dg gamma^T   (matmul adjoint pair),
    likewise for beta; dxhat = g dout, then the standardization backward.
    dstyle_weights has shape (N, S).
    """
    xhat, inv_std, w, gamma, beta = cache
    dg = np.sum(dout * xhat, axis=(2, 3))                          # (N, C)
    db = dout.sum(axis=(2, 3))
    dgamma = w.T @ dg                                              # (S, C)
    dbeta = w.T @ db
    dw = dg @ gamma.T + db @ beta.T                                # (N, S)
    g = w @ gamma
    dxhat = dout * g[:, :, None, None]
    dx = _normalize_backward(dxhat, xhat, inv_std)
    return dx, dgamma, dbeta, dw


# --------------------------------------------------------------------------- upsampling
def upsample_nearest_forward(x, scale=2):
    """Nearest-neighbour upsampling: out[..., i, j] = x[..., i // s, j // s].

    x: (N, C, H, W) -> (N, C, s H, s W).
    """
    _check4(x)
    s = int(scale)
    if s < 1:
        raise ValueError(f"scale must be a positive integer, got {scale}")
    N, C, H, W = x.shape
    out = np.broadcast_to(x[:, :, :, None, :, None], (N, C, H, s, W, s))
    return out.reshape(N, C, H * s, W * s), s


def upsample_nearest_backward(dout, cache):
    """Adjoint of the copy: each input pixel sums the s x s block it was copied to."""
    s = cache
    N, C, Hs, Ws = dout.shape
    return dout.reshape(N, C, Hs // s, s, Ws // s, s).sum(axis=(3, 5))


def upsample_conv_forward(x, w):
    """The transformer's up-sampling convolution: nearest x2 upsampling, reflect-pad 1,
    3x3 convolution (stride 1, no bias; the instance norm after it removes any bias).

    x: (N, C, H, W); w: (F, C, 3, 3) -> out: (N, F, 2H, 2W).  The readable
    composition of the three layers; :func:`minicnn.fast_layers.upsample_conv_forward`
    computes the same as four 2x2 convolutions of the small image.
    """
    from .layers import conv_forward
    _check4(x)
    if np.ndim(w) != 4 or np.shape(w)[1:] != (x.shape[1], 3, 3):
        raise ValueError(f"w must be (F, {x.shape[1]}, 3, 3), got shape {np.shape(w)}")
    u, c_up = upsample_nearest_forward(x, 2)
    p, c_pad = reflection_pad_forward(u, 1)
    out, c_conv = conv_forward(p, w, np.zeros(len(w), dtype=x.dtype), {"stride": 1, "pad": 0})
    return out, (c_up, c_pad, c_conv)


def upsample_conv_backward(dout, cache):
    """The three adjoints in reverse: conv, crop (pad^T), block-sum (upsample^T)
    -> (dx, dw)."""
    from .layers import conv_backward
    c_up, c_pad, c_conv = cache
    dp, dw, _ = conv_backward(dout, c_conv)
    return upsample_nearest_backward(reflection_pad_backward(dp, c_pad), c_up), dw


# --------------------------------------------------------------------------- residual
def residual_add_forward(x, fx):
    """out = x + f(x): the skip connection of a residual block (same shapes)."""
    if np.shape(x) != np.shape(fx):
        raise ValueError(f"residual branch shape {np.shape(fx)} differs from the input "
                         f"shape {np.shape(x)}")
    return x + fx, None


def residual_add_backward(dout, cache):
    """Addition copies its gradient to both summands -> (dx, dfx)."""
    return dout, dout


# --------------------------------------------------------------------------- tanh output
def tanh_scale_forward(x, scale, shift):
    """out[:, c] = scale[c] * tanh(x[:, c]) + shift[c]   (constants, not learned).

    With scale = 0.5 / std and shift = (0.5 - mean) / std the output covers
    exactly the normalized image of pixels in [0, 1].
    """
    _check4(x)
    scale = np.asarray(scale, dtype=x.dtype).reshape(1, -1, 1, 1)
    shift = np.asarray(shift, dtype=x.dtype).reshape(1, -1, 1, 1)
    if scale.shape[1] not in (1, x.shape[1]) or shift.shape[1] not in (1, x.shape[1]):
        raise ValueError(f"scale and shift need 1 or {x.shape[1]} values")
    t = np.tanh(x)
    return scale * t + shift, (t, scale)


def tanh_scale_backward(dout, cache):
    """dx = dout * scale * (1 - tanh(x)^2)."""
    t, scale = cache
    return dout * scale * (1.0 - t * t)


# --------------------------------------------------------------------------- few-output conv
def conv_few_outputs_forward(x, w, b):
    """Stride-1, unpadded convolution (cross-correlation) computed tap by tap.

    x: (N, C, Hp, Wp) (already padded); w: (F, C, KH, KW); b: (F,)
    -> out (N, F, Hp - KH + 1, Wp - KW + 1), equal to ``conv_forward`` with pad 0.

    With Wt the (KH*KW*F, C) matrix of taps, one GEMM gives every tap's
    response at every input position, Z = Wt @ x[n] (KH*KW*F, Hp*Wp), and

        out[n, f, i, j] = b[f] + sum_{u,v} Z[(u, v, f), i + u, j + v].

    For F = 3 and a 9x9 kernel Z has 243 rows where im2col would need
    81*C rows (2592 for C = 32): far less memory traffic.
    """
    _check4(x)
    if w.ndim != 4 or w.shape[1] != x.shape[1]:
        raise ValueError(f"w must have shape (F, {x.shape[1]}, KH, KW), got {w.shape}")
    N, C, Hp, Wp = x.shape
    F, _, KH, KW = w.shape
    Ho, Wo = Hp - KH + 1, Wp - KW + 1
    if Ho < 1 or Wo < 1:
        raise ValueError(f"x of spatial size {(Hp, Wp)} is smaller than the kernel {(KH, KW)}")
    dt = x.dtype
    wt = np.ascontiguousarray(w.transpose(2, 3, 0, 1).reshape(KH * KW * F, C), dtype=dt)
    out = np.empty((N, F, Ho, Wo), dtype=dt)
    for n in range(N):
        z = (wt @ x[n].reshape(C, Hp * Wp)).reshape(KH, KW, F, Hp, Wp)
        acc = z[0, 0, :, :Ho, :Wo].copy()
        for u in range(KH):
            for v in range(KW):
                if u or v:
                    acc += z[u, v, :, u:u + Ho, v:v + Wo]
        out[n] = acc + np.asarray(b, dtype=dt)[:, None, None]
    return out, (x, wt, w.shape, np.asarray(b).dtype)


def conv_few_outputs_backward(dout, cache):
    """-> (dx, dw, db).  The shifted sum's adjoint places dout at each tap's
    offset: dZ[(u, v, f), i + u, j + v] = dout[n, f, i, j]; then the GEMM's
    adjoint pair: dx[n] = Wt^T dZ, dWt = sum_n dZ x[n]^T; db = sum dout."""
    x, wt, w_shape, b_dtype = cache
    N, C, Hp, Wp = x.shape
    F, _, KH, KW = w_shape
    Ho, Wo = dout.shape[2:]
    dt = x.dtype
    dout = np.asarray(dout, dtype=dt)
    dx = np.empty_like(x)
    dwt = np.zeros_like(wt)
    dz = np.zeros((KH, KW, F, Hp, Wp), dtype=dt)
    for n in range(N):
        for u in range(KH):
            for v in range(KW):
                dz[u, v, :, u:u + Ho, v:v + Wo] = dout[n]   # other positions stay 0
        dz2 = dz.reshape(KH * KW * F, Hp * Wp)
        xn = x[n].reshape(C, Hp * Wp)
        dx[n] = (wt.T @ dz2).reshape(C, Hp, Wp)
        dwt += dz2 @ xn.T
    dw = dwt.reshape(KH, KW, F, C).transpose(2, 3, 0, 1)
    db = dout.sum(axis=(0, 2, 3)).astype(b_dtype, copy=False)
    return dx, np.ascontiguousarray(dw), db
