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
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("saliency_map: not implemented yet (the TODO block in attribution.py)")
    # ---------------------- end of your code ----------------
    return saliency


def neuron_gradient(cnn, x, layer, channel, position=None, relu_mode="standard"):
    """Input gradient (N, C, H, W) of ONE neuron a[n, channel, i, j] of ``layer``.

    position: (i, j) for every image, or None for each image's strongest
    activation of that channel (argmax over its map).  relu_mode: the rule
    every ReLU uses on the way back -- "standard" (the gradient), "deconvnet"
    (Zeiler & Fergus 2014) or "guided" (Springenberg et al. 2015).
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("neuron_gradient: not implemented yet (the TODO block in attribution.py)")
    # ---------------------- end of your code ----------------
    return dx


def occlusion_map(cnn, x, y, size=32, stride=8, fill=0.0, output="probability", batch_size=16):
    """Occlusion sensitivity (Zeiler & Fergus 2014, Fig. 7).

    Slide a size x size square of value ``fill`` with step ``stride`` over each
    image; at position (p, q) it covers rows p*stride .. p*stride + size - 1 and
    columns q*stride .. q*stride + size - 1.  Record the class y's softmax
    probability (output="probability") or raw score (output="score") of the
    occluded image.  Returns (N, H', W'), H' = (H - size) // stride + 1, W' likewise.
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("occlusion_map: not implemented yet (the TODO block in attribution.py)")
    # ---------------------- end of your code ----------------
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
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("gradcam: not implemented yet (the TODO block in attribution.py)")
    # ---------------------- end of your code ----------------
    return cam
