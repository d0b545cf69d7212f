"""Assignment 6 -- inside the network (student file ``activations.py``):
receptive_fields, top_patches, nearest_neighbors.  Graded on the tiny random
SqueezeNet; the references are :mod:`minicnn.techniques.receptive`,
:mod:`~minicnn.techniques.patches` and :mod:`~minicnn.techniques.features`.
"""
from types import SimpleNamespace

import numpy as np

from ..techniques import features as F, patches as P, receptive as R
from .a2_attribution import model
from .core import Check, Hint

RF_JUMP = Hint("rf_jump", "each kernel widens the field by (k - 1) * jump, the product of the "
               "strides below it, not by (k - 1)")
RF_PAD = Hint("rf_pad", "padding moves the field's start: offset <- offset - pad * jump")
RF_ORDER = Hint("rf_order", "update size and offset with the jump of the layer's INPUT, then "
                "multiply the jump by the stride")
PATCH_CLIP = Hint("patch_clip", "clip each box to the image: (max(y0, 0), max(x0, 0), "
                  "min(y1, H), min(x1, W))")
PATCH_ORDER = Hint("patch_order", "return the k strongest activations, strongest first, over "
                   "ALL images and positions")
NN_SQUARED = Hint("nn_squared", "return the Euclidean distance, not its square")
NN_SELF = Hint("nn_self", "with integer queries and exclude_self, a row is never its own "
               "neighbour")
NN_SIMILARITY = Hint("nn_similarity", "the cosine metric is a distance: 1 - cosine similarity, "
                     "nearest (smallest) first")


def _fields_array(fields, names):
    return np.array([fields[n] for n in names], dtype=np.float64)


def check_receptive_fields(S, ctx):
    cnn = model()
    for name, size in [("tiny SqueezeNet, input 36", 36), ("tiny SqueezeNet, input 64", 64)]:
        with ctx.case(name):
            got = S.receptive_fields(cnn, size)
            ref = R.receptive_fields(cnn, size)
            if not isinstance(got, dict):
                ctx.fail(f"receptive_fields must return a dict, got {type(got).__name__}")
            missing = [n for n in ref if n not in got]
            if missing:
                ctx.fail(f"no entry for the layers {missing}")
            # the classic mistakes, recomputed on the same layer table
            wrong = {"jump": {}, "pad": {}, "order": {}}
            for kind in wrong:
                r, j, o = 1, 1, 0
                for lay in cnn.layers:
                    k, s, p = (ref[lay["name"]][0] - r + 1, 1, 0) if lay["type"] == "gap" \
                        else (lay["kernel"], lay["stride"], lay["pad"])
                    if kind == "order":
                        j *= s
                    r = r + (k - 1) * (1 if kind == "jump" else j)
                    o = o - (0 if kind == "pad" else p * j)
                    if kind != "order":
                        j *= s
                    wrong[kind][lay["name"]] = (r, j, o)
            names = list(ref)
            g = _fields_array(got, names) if not missing else None
            ctx.expect(g, _fields_array(ref, names), "fields (size, stride, offset)",
                       mistakes=[(RF_JUMP, _fields_array(wrong["jump"], names)),
                                 (RF_PAD, _fields_array(wrong["pad"], names)),
                                 (RF_ORDER, _fields_array(wrong["order"], names))])


def _patch_array(patches):
    return np.array([[float(p[0]), int(p[1])] + [int(v) for v in p[2]] for p in patches],
                    dtype=np.float64)


def check_top_patches(S, ctx):
    cnn = model()
    x = ctx.rng.standard_normal((5, 3, 36, 36))
    for name, layer, ch, k in [("5 images (3, 36, 36), conv1 channel 2, k 6", "conv1", 2, 6),
                               ("fire5 channel 4 (an expand3x3 channel), k 4", "fire5", 4, 4),
                               ("fire3 channel 5, k 10 (fields hang over the border)",
                                "fire3", 5, 10)]:
        with ctx.case(name):
            got = S.top_patches(cnn, x, layer, ch, k)
            ref = P.top_patches(cnn, x, layer, ch, k)
            try:
                g = _patch_array(got)
            except (TypeError, ValueError, IndexError):
                ctx.fail("each patch must be (score, image_index, (y0, x0, y1, x1))")
            unclipped = np.array([[p.score, p.image_index] + list(p.field) for p in ref])
            by_image = sorted(ref, key=lambda p: (p.image_index, -p.score))
            ctx.expect(g, _patch_array(ref), "patches (score, image, y0, x0, y1, x1)",
                       mistakes=[(PATCH_CLIP, unclipped), (PATCH_ORDER, _patch_array(by_image)),
                                 (PATCH_ORDER, _patch_array(ref[::-1]))])


def check_nearest_neighbors(S, ctx):
    rng = ctx.rng
    feats = rng.standard_normal((20, 6))
    cases = [("20 features (6-d), 3 query vectors, k 4, euclidean",
              (feats, rng.standard_normal((3, 6))), dict(k=4)),
             ("query rows [0, 5, 7], k 3, exclude_self", (feats, np.array([0, 5, 7])),
              dict(k=3, exclude_self=True)),
             ("3 query vectors, k 5, cosine", (feats, rng.standard_normal((3, 6))),
              dict(k=5, metric="cosine"))]
    for name, (f, q), kw in cases:
        with ctx.case(name):
            dist, idx = ctx.unpack(S.nearest_neighbors(f, q, **kw), 2, "nearest_neighbors")
            rd, ri = F.nearest_neighbors(f, q, **kw)
            mistakes = [(NN_SQUARED, rd ** 2)]
            if kw.get("exclude_self"):
                sd, si = F.nearest_neighbors(f, q, k=kw["k"])
                mistakes += [(NN_SELF, si)]
            if kw.get("metric") == "cosine":
                mistakes += [(NN_SIMILARITY, 1 - rd)]
            ctx.expect(idx, ri, "indices", mistakes=mistakes)
            ctx.expect(dist, rd, "distances", mistakes=mistakes)


def reference():
    ns = SimpleNamespace(ASSIGNMENT=6, __name__="minicnn.techniques (reference)")
    ns.receptive_fields = R.receptive_fields
    ns.top_patches = P.top_patches
    ns.nearest_neighbors = F.nearest_neighbors
    return ns


CHECKS = [
    Check("receptive_fields", 2, check_receptive_fields),
    Check("top_patches", 2, check_top_patches, ("receptive_fields",)),
    Check("nearest_neighbors", 2, check_nearest_neighbors),
]
