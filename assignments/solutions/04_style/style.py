"""Assignment 4 -- the losses of neural style transfer, each with its gradient by hand.

Gatys, Ecker & Bethge, "Image Style Transfer Using Convolutional Neural
Networks" (CVPR 2016); total variation: Mahendran & Vedaldi 2015, Johnson et
al. 2016.  No autograd here: every function returns its value AND its
gradient, which the notebook injects into ``cnn.backward`` at the loss layers.

Shapes: features (N, C, H, W); Gram matrices (N, C, C).  Grade with
``python -m minicnn grade .``.  Only NumPy here (minicnn.losses is the answer key).
"""
import numpy as np

ASSIGNMENT = 4


def content_loss(content_weight, content_current, content_original):
    """Content loss (Gatys et al. 2016, eq. 1) and its gradient.

    content_weight: scalar w; content_current F, content_original P: features of
    the same shape (N, C, H, W).
        loss = w * sum((F - P)^2)            dF = 2 w (F - P)
    Returns (loss as a float, dcurrent like F).
    """
    # BEGIN SOLUTION
    diff = content_current - content_original
    loss = content_weight * float(np.sum(diff * diff))
    dcurrent = 2.0 * content_weight * diff
    # END SOLUTION
    return loss, dcurrent


def gram_forward(features, normalize=True):
    """Gram matrices of a batch of feature maps (Gatys et al. 2015).

    features: (N, C, H, W).  With F[n] the (C, M = H*W) reshape of image n,
        G[n] = F[n] F[n]^T / (C * H * W)     (without the division when normalize=False)
    Returns (gram (N, C, C), cache).
    """
    # BEGIN SOLUTION
    n, c, h, w = features.shape
    f = features.reshape(n, c, h * w)
    scale = 1.0 / (c * h * w) if normalize else 1.0
    gram = scale * (f @ f.transpose(0, 2, 1))
    cache = (f, scale, features.shape)
    # END SOLUTION
    return gram, cache


def gram_backward(dgram, cache):
    """Backward of gram_forward: dgram (N, C, C) -> dfeatures (N, C, H, W).

    G = s F F^T is bilinear in F.  Derive it: dG is NOT symmetric in general,
        dF = s (dG + dG^T) F          (then reshape to (N, C, H, W)).
    """
    # BEGIN SOLUTION
    f, scale, shape = cache
    df = scale * ((dgram + dgram.transpose(0, 2, 1)) @ f)
    dfeatures = df.reshape(shape)
    # END SOLUTION
    return dfeatures


def gram_matrix(features, normalize=True):
    """Gram matrices (N, C, C) of features (N, C, H, W): gram_forward without the cache."""
    return gram_forward(features, normalize)[0]


def style_loss(feats, style_layers, style_targets, style_weights, normalize=True):
    """Style loss (Gatys et al. 2016, eq. 5) and its gradients.

    feats: features of the current image by layer: a dict {name: (N, C, H, W)}
    (e.g. cache.activations) or a list indexed by the entries of style_layers.
    style_layers: the layers used; style_targets[i]: target Gram A_l (1, C, C)
    of style_layers[i]; style_weights[i]: scalar w_l.
        loss = sum_l w_l * sum((G_l - A_l)^2),      G_l = gram of feats[l]
        dG_l = 2 w_l (G_l - A_l),  dF_l = gram_backward(dG_l)
    Returns (loss as a float, {layer: dF_l} for every style layer).
    """
    # BEGIN SOLUTION
    loss, dfeats = 0.0, {}
    for layer, target, weight in zip(style_layers, style_targets, style_weights):
        gram, cache = gram_forward(feats[layer], normalize)
        diff = gram - target
        loss += weight * float(np.sum(diff * diff))
        dfeats[layer] = gram_backward(2.0 * weight * diff, cache)
    # END SOLUTION
    return loss, dfeats


def tv_loss(img, tv_weight):
    """Total-variation loss and its gradient.

    img: (N, C, H, W).  With dv = img[:, :, 1:, :] - img[:, :, :-1, :] (vertical)
    and dh = img[:, :, :, 1:] - img[:, :, :, :-1] (horizontal):
        loss = w * (sum dv^2 + sum dh^2)
    Each difference d = a - b sends +2 w d to a and -2 w d to b.
    Returns (loss as a float, dimg like img).
    """
    # BEGIN SOLUTION
    dv = img[:, :, 1:, :] - img[:, :, :-1, :]
    dh = img[:, :, :, 1:] - img[:, :, :, :-1]
    loss = tv_weight * float(np.sum(dv * dv) + np.sum(dh * dh))
    dimg = np.zeros_like(img)
    dimg[:, :, 1:, :] += 2 * tv_weight * dv
    dimg[:, :, :-1, :] -= 2 * tv_weight * dv
    dimg[:, :, :, 1:] += 2 * tv_weight * dh
    dimg[:, :, :, :-1] -= 2 * tv_weight * dh
    # END SOLUTION
    return loss, dimg
