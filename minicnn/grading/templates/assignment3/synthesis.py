"""Assignment 3 -- image synthesis by gradient ascent on the pixels.

One step of each technique of the lecture, in the model's normalized units
(cs231n's): class visualization (Simonyan et al. 2014, Yosinski et al. 2015),
fooling images (Szegedy et al. 2014), DeepDream (Mordvintsev et al. 2015) and
the feature inversion objective (Mahendran & Vedaldi 2015).  The notebook runs
the loops around your steps.  Use only the model protocol:

    out, cache = cnn.forward(x, end=layer)          # end=None: the scores (N, K)
    dx, _      = cnn.backward(dout, cache, param_grads=False)

Images x are (N, 3, H, W).  Grade with ``python -m minicnn grade .`` (tiny random
SqueezeNet, offline).  The library's versions (minicnn.techniques.synthesis) are
the answer key.
"""
import numpy as np

ASSIGNMENT = 3


def class_visualization_step(cnn, x, target, l2_reg, learning_rate, shift=(0, 0)):
    """One class-visualization update.

    1. jitter: roll x by shift = (oy, ox) pixels, np.roll(x, (oy, ox), axis=(2, 3));
    2. g = d s_target / dx of the rolled image (s: raw class score, before softmax),
       rolled back by (-oy, -ox);
    3. subtract the gradient of the L2 penalty l2_reg * ||x||^2:  g = g - 2 l2_reg x;
    4. x' = x + learning_rate * g / ||g||_2   (the norm of each image's g).
    Returns x' (N, 3, H, W).
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("class_visualization_step: not implemented yet (the TODO block in synthesis.py)")
    # ---------------------- end of your code ----------------
    return x_new


def fooling_step(cnn, x, target, learning_rate):
    """One fooling-image update: g = d s_target / dx (raw score of the target
    class), x' = x + learning_rate * g / ||g||_2 per image.  Returns x'."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("fooling_step: not implemented yet (the TODO block in synthesis.py)")
    # ---------------------- end of your code ----------------
    return x_new


def deepdream_step(cnn, x, layer, learning_rate):
    """One DeepDream update: maximize 0.5 * ||a||^2 of the activations a of
    ``layer``.  Its gradient with respect to a is a itself, so
        g  = cnn.backward(a, cache)            (the gradient at the pixels)
        x' = x + learning_rate * g / mean(|g|)  (per image)
    Returns x'."""
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("deepdream_step: not implemented yet (the TODO block in synthesis.py)")
    # ---------------------- end of your code ----------------
    return x_new


def feature_inversion_loss(cnn, x, layer, target_features, tv_weight, tv_beta=2.0):
    """Feature inversion objective and its gradient, for one image x (1, 3, H, W):

        L(x) = ||phi(x) - phi0||^2 / ||phi0||^2 + tv_weight * TV(x)

    phi: the activations of ``layer``; phi0 = target_features.  With forward
    differences dv[i, j] = x[i+1, j] - x[i, j] and dh[i, j] = x[i, j+1] - x[i, j]
    (both 0 past the last row / column),
        TV(x) = sum_{c,i,j} (dv^2 + dh^2 + eps)^(tv_beta / 2),
    eps = 1e-8 when tv_beta < 2, else 0.  Returns (loss as a float, dx like x).
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("feature_inversion_loss: not implemented yet (the TODO block in synthesis.py)")
    # ---------------------- end of your code ----------------
    return loss, dx
