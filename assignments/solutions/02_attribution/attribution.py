"""Assignment 2 -- which pixels matter: saliency, guided backprop, occlusion, Grad-CAM.

Every function takes the model first and images x (N, C, H, W) in the model's
preprocessing (cnn.preprocess).  Use only the model protocol:

    out, cache = cnn.forward(x, start=None, end=None)   # scores (N, K) or a layer's map
    dx, grads  = cnn.backward(dout, cache, relu_mode="standard", param_grads=False)

A scalar objective J of the output has the gradient dJ/dout (e.g. a one-hot row
per image for J = the class score) and cnn.backward carries it to the pixels.
Grade with ``python -m minicnn grade .`` (it uses a tiny random SqueezeNet, offline).
"""
import numpy as np

ASSIGNMENT = 2


def resize_maps(maps, size):
    """Bilinear resize of (N, h, w) maps to size (H, W) -- given, not graded
    (Pillow's resize, as the library, so that your Grad-CAM matches it)."""
    from PIL import Image
    H, W = size
    return np.stack([np.asarray(Image.fromarray(np.asarray(m, np.float32), mode="F")
                                .resize((W, H), Image.BILINEAR)) for m in maps]).astype(np.float64)


def saliency_map(cnn, x, y, batch_size=None):
    """Saliency maps (Simonyan, Vedaldi & Zisserman 2014, section 3.1).

    y: the class of each image (int or (N,)).  Returns (N, H, W):
        M[n, i, j] = max_c | d s_y(x) / d x[n, c, i, j] |
    with s_y the raw (unnormalized) class score, not the softmax probability.
    ``batch_size`` may be ignored (one forward and one backward for all N).
    """
    # BEGIN SOLUTION
    y = np.broadcast_to(np.asarray(y), (len(x),))
    scores, cache = cnn.forward(x)
    dscores = np.zeros_like(scores)
    dscores[np.arange(len(x)), y] = 1.0
    dx, _ = cnn.backward(dscores, cache, param_grads=False)
    saliency = np.abs(dx).max(axis=1)
    # END SOLUTION
    return saliency


def neuron_gradient(cnn, x, layer, channel, position=None, relu_mode="standard"):
    """Input gradient (N, C, H, W) of ONE neuron a[n, channel, i, j] of ``layer``.

    position: (i, j) for every image, or None for each image's strongest
    activation of that channel (argmax over its map).  relu_mode: the rule
    every ReLU uses on the way back -- "standard" (the gradient), "deconvnet"
    (Zeiler & Fergus 2014) or "guided" (Springenberg et al. 2015).
    """
    # BEGIN SOLUTION
    out, cache = cnn.forward(x, end=layer)
    n, _, h, w = out.shape
    if position is None:
        flat = out[:, channel].reshape(n, -1).argmax(axis=1)
        rows, cols = np.unravel_index(flat, (h, w))
    else:
        rows, cols = np.full(n, position[0]), np.full(n, position[1])
    dout = np.zeros_like(out)
    dout[np.arange(n), channel, rows, cols] = 1.0
    dx, _ = cnn.backward(dout, cache, relu_mode=relu_mode, param_grads=False)
    # END SOLUTION
    return dx


def occlusion_map(cnn, x, y, size=32, stride=8, fill=0.0, output="probability", batch_size=16):
    """Occlusion sensitivity (Zeiler & Fergus 2014, Fig. 7).

    Slide a size x size square of value ``fill`` with step ``stride`` over each
    image; at position (p, q) it covers rows p*stride .. p*stride + size - 1 and
    columns q*stride .. q*stride + size - 1.  Record the class y's softmax
    probability (output="probability") or raw score (output="score") of the
    occluded image.  Returns (N, H', W'), H' = (H - size) // stride + 1, W' likewise.
    """
    # BEGIN SOLUTION
    y = np.broadcast_to(np.asarray(y), (len(x),))
    n, c, h, w = x.shape
    hp, wp = (h - size) // stride + 1, (w - size) // stride + 1
    heat = np.zeros((n, hp, wp))
    for i in range(n):
        batch = np.repeat(x[i:i + 1], hp * wp, axis=0)
        for k in range(hp * wp):
            p, q = divmod(k, wp)
            batch[k, :, p * stride:p * stride + size, q * stride:q * stride + size] = fill
        scores, _ = cnn.forward(batch)
        if output == "probability":
            e = np.exp(scores - scores.max(axis=1, keepdims=True))
            scores = e / e.sum(axis=1, keepdims=True)
        heat[i] = scores[:, y[i]].reshape(hp, wp)
    # END SOLUTION
    return heat


def gradcam(cnn, x, y, layer="fire9", normalize=True):
    """Grad-CAM (Selvaraju et al. 2017).  With A = the activations of ``layer``
    (N, K, h, w) and s_y the raw class score:

        alpha[n, k] = mean_{i,j} d s_y / d A[n, k, i, j]
        cam[n]      = relu(sum_k alpha[n, k] A[n, k])               (N, h, w)

    upsampled with resize_maps to the input size (N, H, W); with ``normalize``
    each map is divided by its maximum (by 1e-12 if the map is all zero).
    Hint: cnn.forward(x, end=layer), then cnn.forward(A, start=<the next layer>).
    """
    # BEGIN SOLUTION
    y = np.broadcast_to(np.asarray(y), (len(x),))
    k = cnn.layer_names.index(layer)
    a, _ = cnn.forward(x, end=layer)
    scores, cache = cnn.forward(a, start=cnn.layer_names[k + 1])
    dscores = np.zeros_like(scores)
    dscores[np.arange(len(x)), y] = 1.0
    da, _ = cnn.backward(dscores, cache, param_grads=False)
    alpha = da.mean(axis=(2, 3))
    cam = np.maximum(np.einsum("nk,nkij->nij", alpha, a), 0)
    cam = resize_maps(cam, x.shape[2:])
    if normalize:
        cam = cam / np.maximum(cam.max(axis=(1, 2), keepdims=True), 1e-12)
    # END SOLUTION
    return cam
