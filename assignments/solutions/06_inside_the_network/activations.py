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
    # BEGIN SOLUTION
    h = int(input_size or cnn.meta["input_size"])
    size, jump, offset = 1, 1, 0
    fields = {}
    for layer in cnn.layers:
        if layer["type"] == "gap":
            k, s, p = h, 1, 0
        else:
            k, s, p = layer["kernel"], layer["stride"], layer["pad"]
        size = size + (k - 1) * jump
        offset = offset - p * jump
        jump = jump * s
        fields[layer["name"]] = (size, jump, offset)
        if layer["type"] == "maxpool":
            h = -(-(h + 2 * p - k) // s) + 1
        elif layer["type"] in ("conv", "fire"):
            h = (h + 2 * p - k) // s + 1
        else:
            h = 1
    # END SOLUTION
    return fields


def top_patches(cnn, images, layer, channel, k=9, batch_size=16, max_per_image=None):
    """The k strongest activations of ``channel`` of ``layer`` over all images and
    positions, strongest first (ties: lower image index, then row-major position).

    images: preprocessed (N, 3, H, W).  Each result is a tuple
    (score, image_index, (y0, x0, y1, x1)): the receptive field of that unit
    (your receptive_fields with input_size H) clipped to the image,
    y1 and x1 exclusive.  (max_per_image may be ignored: None.)
    """
    # BEGIN SOLUTION
    out, _ = cnn.forward(images, end=layer)
    a = out[:, channel]                                          # (N, h, w)
    n, h, w = a.shape
    flat = a.reshape(-1)
    order = np.lexsort((np.arange(flat.size), -flat))[:k]        # score desc, then index
    size, stride, offset = receptive_fields(cnn, images.shape[2])[layer]
    H, W = images.shape[2:]
    patches = []
    for idx in order:
        img, pos = divmod(int(idx), h * w)
        i, j = divmod(pos, w)
        y0, x0 = offset + i * stride, offset + j * stride
        box = (max(y0, 0), max(x0, 0), min(y0 + size, H), min(x0 + size, W))
        patches.append((float(flat[idx]), img, box))
    # END SOLUTION
    return patches


def nearest_neighbors(features, queries, k=5, metric="euclidean", exclude_self=False):
    """k nearest rows of ``features`` (N, D) for each query, nearest first (ties:
    the lower index first).

    queries: (Q, D) vectors, or integer row indices into features (then
    exclude_self drops each query's own row from its neighbours).
    metric: "euclidean" (the distance, not its square) or "cosine" (1 - cosine
    similarity).  Returns (distances (Q, k), indices (Q, k)).
    """
    # BEGIN SOLUTION
    feats = np.asarray(features, dtype=np.float64)
    q = np.asarray(queries)
    rows = None
    if np.issubdtype(q.dtype, np.integer):
        rows = np.atleast_1d(q)
        q = feats[rows]
    q = np.atleast_2d(q).astype(np.float64)
    if metric == "euclidean":
        d = np.sqrt(np.maximum(((q[:, None, :] - feats[None]) ** 2).sum(-1), 0))
    else:
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        fn = feats / np.linalg.norm(feats, axis=1, keepdims=True)
        d = 1.0 - qn @ fn.T
    if exclude_self and rows is not None:
        d[np.arange(len(rows)), rows] = np.inf
    idx = np.stack([np.lexsort((np.arange(d.shape[1]), r))[:k] for r in d])
    dist = np.take_along_axis(d, idx, axis=1)
    # END SOLUTION
    return dist, idx
