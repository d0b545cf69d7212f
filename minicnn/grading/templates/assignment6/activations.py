"""Assignment 6 -- inside the network: receptive fields, top patches, nearest neighbours.

The lecture's "what do the units see" tools: the receptive field of every
layer from the layer table (Araujo et al. 2019, "Computing receptive fields of
convolutional neural networks", Distill), the maximally activating patches of
a channel (Springenberg et al. 2015; Girshick et al. 2014) and nearest
neighbours in feature space (Krizhevsky et al. 2012).  Using scikit-learn
(sklearn.neighbors.NearestNeighbors) is allowed.

cnn.layers is the layer table: one dict per named block with "name", "type"
("conv", "maxpool", "fire", "gap"), "kernel", "stride", "pad" (a fire module:
those of its widest path, the 3x3 expand).  Grade with ``python -m minicnn grade .``.
"""
import numpy as np

ASSIGNMENT = 6


def receptive_fields(cnn, input_size=None, parts=False):
    """{layer name: (size, stride, offset)} for every named block of cnn.layers.

    Starting from size r = 1, jump j = 1, offset o = 0 at the input, each layer
    with kernel k, stride s and padding p gives
        r <- r + (k - 1) * j,     o <- o - p * j,     j <- j * s
    so unit (i, j) of the layer sees input rows o + i * jump ... o + i * jump + r - 1.
    A "gap" layer (global average pool) has a kernel as large as its input map:
    the map size h before it follows from input_size (default
    cnn.meta["input_size"]) through conv/fire ((h + 2p - k) // s + 1) and the
    ceil-mode pools (ceil((h + 2p - k) / s) + 1).  ``parts`` may be ignored.
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("receptive_fields: not implemented yet (the TODO block in activations.py)")
    # ---------------------- end of your code ----------------
    return fields


def top_patches(cnn, images, layer, channel, k=9, batch_size=16, max_per_image=None):
    """The k strongest activations of ``channel`` of ``layer`` over all images and
    positions, strongest first (ties: lower image index, then row-major position).

    images: preprocessed (N, 3, H, W).  Each result is a tuple
    (score, image_index, (y0, x0, y1, x1)): the receptive field of that unit
    (your receptive_fields with input_size H) clipped to the image,
    y1 and x1 exclusive.  (max_per_image may be ignored: None.)
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("top_patches: not implemented yet (the TODO block in activations.py)")
    # ---------------------- end of your code ----------------
    return patches


def nearest_neighbors(features, queries, k=5, metric="euclidean", exclude_self=False):
    """k nearest rows of ``features`` (N, D) for each query, nearest first (ties:
    the lower index first).

    queries: (Q, D) vectors, or integer row indices into features (then
    exclude_self drops each query's own row from its neighbours).
    metric: "euclidean" (the distance, not its square) or "cosine" (1 - cosine
    similarity).  Returns (distances (Q, k), indices (Q, k)).
    """
    # TODO: ---------------- your code here ----------------
    raise NotImplementedError("nearest_neighbors: not implemented yet (the TODO block in activations.py)")
    # ---------------------- end of your code ----------------
    return dist, idx
