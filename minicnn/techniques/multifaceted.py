"""Multifaceted feature visualization (Nguyen, Yosinski & Clune 2016, "Multifaceted
Feature Visualization: Uncovering the Different Types of Features Learned by Each
Neuron in Deep Neural Networks").

A class (or a channel) responds to several kinds of images -- a bell pepper whole,
cut, in a heap at the market -- and one visualization from noise shows a blend of
them.  The paper's recipe, as done here:

1. collect the images of the target: the images labelled with the class when there
   are enough (at least 2 per facet), else the ``n_images`` images where the
   target's score (a class) or mean activation (a ``(layer, channel)``) is highest;
2. describe each by a layer's features (``layer``, global-average pooled, e.g.
   fire9 -> 512-d), reduce them with PCA (``pca_dims``) and cluster them with
   k-means into ``n_facets`` clusters (scikit-learn);
3. start one class visualization from the mean image of each cluster (blurred,
   contrast reduced by ``start_contrast``, plus 10 pixel levels of noise) and run regularized gradient ascent with a
   **centre bias**: the iterations are split into phases, the first optimizes a
   centre region of half the side most strongly, each later one a larger region, the
   last the whole image -- the step
   is multiplied by a weight map ``w(i, j)`` equal to 1 in a centred box of side
   ``f_k`` (0.5, 0.75, 1 of the image) and ``edge_weight`` outside (edges
   smoothed by a Gaussian), and outside the box the image is pulled towards its
   blurred self, ``x <- w x + (1 - w) blur(x)`` -- plus total variation, the L2
   penalty, jitter, blur and clamping of :func:`.synthesis.class_visualization`.
   Our choice of order: the paper's center-biased regularization concentrates the
   optimization on the centre to keep one object in the middle instead of many
   fragments.  Shrinking boxes (whole image first, 0.5 of the side last) left the
   Caffe weights' facets at p = 0.00-0.02 for the tarantula on the embedded images
   (the last, narrowest phase cannot hold the class); growing boxes (centre first,
   whole image last) give p = 1.00 for every facet with both weights sets and still
   one centred object.

The facets must differ: :class:`MultifacetedResult` holds the pairwise cosine
distances of the facets' features next to the distance between two runs of the
same facet (facet 0) started with different seeds (noise and jitter): a facet is
a different solution only when it is farther from the others than a re-run is
from itself.
"""
from dataclasses import dataclass, field

import numpy as np

from .. import checks
from .regularizers import (gaussian_blur, l2_backward, l2_forward, make_regularizer,
                           pixel_range, pixel_scale, tv_backward, tv_forward)
from .synthesis import (CLASS_VISUALIZATION_DEFAULTS, _parse_target, _resize, _check_size,
                        gradient_ascent)

__all__ = ["multifaceted_visualization", "MultifacetedResult", "Facet", "centre_weights",
           "MULTIFACETED_DEFAULTS"]

#: Defaults (pixel units, as :func:`.synthesis.class_visualization`): the class
#: visualization step and L2 weight, a TV weight per squared pixel level, the
#: centre-bias phases (box side as a fraction of the image) and the weight of the
#: step outside the box.
MULTIFACETED_DEFAULTS = {"num_iterations": 150, "learning_rate": 1440.0, "l2_reg": 3e-7,
                         "tv_weight": 5e-7, "phases": (0.5, 0.75, 1.0), "edge_weight": 0.3}


@dataclass
class Facet:
    """One facet: ``image`` (1, 3, H, W) the visualization, ``start`` (1, 3, H, W) the
    cluster's mean image it started from, ``members`` the indices (into the source
    images) of the cluster, ``probability`` the softmax probability of the target
    class (NaN for a channel target), ``value`` the objective (class score or mean
    activation) of the final image."""
    image: np.ndarray
    start: np.ndarray
    members: np.ndarray
    probability: float
    value: float

    @property
    def size(self):
        """Number of images in the cluster."""
        return len(self.members)


@dataclass
class MultifacetedResult:
    """What :func:`multifaceted_visualization` returns.

    facets: list of :class:`Facet`; candidates: (M,) indices of the source images
    that were clustered; selection: ``"label"`` or ``"top"`` (highest
    score/activation); cluster: (M,) cluster of each candidate; distances: (F, F)
    cosine distances ``1 - <f_a, f_b> / (|f_a| |f_b|)`` between the facets'
    ``layer`` features (global-average pooled); seed_image: facet 0 run again
    with another seed; seed_distance: its distance to facet 0.
    """
    target: object
    layer: str
    facets: list
    candidates: np.ndarray
    selection: str
    cluster: np.ndarray
    distances: np.ndarray
    seed_image: np.ndarray = None
    seed_distance: float = float("nan")
    notes: dict = field(default_factory=dict)

    @property
    def images(self):
        """(F, 3, H, W) the facets' images."""
        return np.concatenate([f.image for f in self.facets])

    @property
    def mean_between(self):
        """Mean pairwise distance between different facets."""
        f = len(self.facets)
        iu = np.triu_indices(f, 1)
        return float(self.distances[iu].mean()) if f > 1 else float("nan")


def centre_weights(shape, box, edge_weight, sigma=None):
    """(H, W) float64 step weights: 1 in the centred box whose sides are the fraction
    ``box`` of the image's, ``edge_weight`` outside, the border smoothed by a
    Gaussian of ``sigma`` px (default 1/16 of the short side).  box = 1 gives ones."""
    h, w = shape
    if box >= 1:
        return np.ones((h, w))
    m = np.full((1, 1, h, w), float(edge_weight))
    bh, bw = max(1, int(round(h * box))), max(1, int(round(w * box)))
    top, left = (h - bh) // 2, (w - bw) // 2
    m[..., top:top + bh, left:left + bw] = 1.0
    sigma = min(h, w) / 16 if sigma is None else sigma
    return np.clip(gaussian_blur(m, sigma)[0, 0], edge_weight, 1.0)


def _target_values(cnn, images, target, end, batch_size, progress):
    """(N,) the target's raw class score or channel mean activation per image."""
    from .features import extract_features
    if isinstance(target, tuple):
        a = extract_features(cnn, images, layer=end, pool="avg", batch_size=batch_size,
                             progress=progress)
        return a[:, target[1]].astype(np.float64)
    s = extract_features(cnn, images, layer=cnn.layer_names[-1], batch_size=batch_size,
                         progress=progress)
    return s[:, target].astype(np.float64)


def _cosine_distances(f):
    f = f.astype(np.float64)
    f = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return np.clip(1.0 - f @ f.T, 0.0, 2.0)


def _facet_features(cnn, x, layer):
    out, _ = cnn.forward(x, end=layer)
    return out.mean(axis=(2, 3)) if out.ndim == 4 else out


def multifaceted_visualization(cnn, target, images=None, n_facets=4, *, layer="fire9",
                               n_images=None, pca_dims=16, size=None,
                               num_iterations=MULTIFACETED_DEFAULTS["num_iterations"],
                               learning_rate=MULTIFACETED_DEFAULTS["learning_rate"],
                               l2_reg=MULTIFACETED_DEFAULTS["l2_reg"],
                               tv_weight=MULTIFACETED_DEFAULTS["tv_weight"],
                               phases=MULTIFACETED_DEFAULTS["phases"],
                               edge_weight=MULTIFACETED_DEFAULTS["edge_weight"],
                               blur_every=10, blur_sigma=0.5, max_jitter=16,
                               start_contrast=1.0, seed_check=True,
                               batch_size=16, rng=None, progress=False):
    """Multifaceted feature visualization (Nguyen, Yosinski & Clune 2016) with a
    centre bias; see the module docstring for the procedure.

    target: a class index or ``(layer, channel)``.  images: a folder, a list of
    image paths, an :class:`~minicnn.data.ImageSet` (its labels are used for a
    class target) or a preprocessed (N, 3, H, W) array; default
    ``available_images("dataset")``.  n_facets: clusters / facets F.
    layer: the features that are clustered (global-average pooled) and compared.
    n_images: how many top-scoring images are clustered when the labels do not
    give at least 2 F images of the class (default 5 F).  pca_dims: PCA
    dimensions before k-means (capped by the number of images - 1).
    size: facet side or (H, W) (default the model's input size).
    num_iterations: steps per facet, split evenly over ``phases`` (the centre box
    side per phase, 1 = whole image); a class facet still below p = 0.9 after them
    gets up to two more whole-image phases of the last phase's length.
    edge_weight: step weight outside the box.
    learning_rate (L2 norm of a step, pixel levels), l2_reg (per squared level),
    tv_weight (TV^2 weight per squared level), blur_every, blur_sigma (px),
    max_jitter (px): as :func:`.synthesis.class_visualization`.
    start_contrast: the cluster's mean image is blurred (sigma 1/32 of the side)
    and its deviation from the mean colour multiplied by this before the run
    (default 1: with the growing centre boxes the blurred mean is soft enough, and
    full contrast keeps the facets apart: mean facet distance 0.121 / 0.083 against
    0.040 / 0.062 for a re-run, Caffe on the embedded images / torchvision on the
    ImageNet sample).
    seed_check: also run facet 0 again with a different seed and measure the
    distance (``result.seed_distance``).  rng: Generator / seed / None (seed 0);
    k-means, the start noise and the jitter all draw from it, so a seeded run
    is reproducible.  Returns a :class:`MultifacetedResult`.
    """
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA

    from ..data import ImageSet, available_images
    from .features import _source, extract_features, load_batch

    end, objective, _ = _parse_target(cnn, target)
    n_facets = checks.positive_int(n_facets, "n_facets")
    layer = cnn.layer_names[cnn.layer_index(layer, "layer")]
    pca_dims = checks.positive_int(pca_dims, "pca_dims")
    num_iterations = checks.positive_int(num_iterations, "num_iterations")
    learning_rate = checks.positive(learning_rate, "learning_rate")
    l2_reg = checks.non_negative(l2_reg, "l2_reg")
    tv_weight = checks.non_negative(tv_weight, "tv_weight")
    edge_weight = checks.in_range(edge_weight, "edge_weight", 0, 1)
    start_contrast = checks.in_range(start_contrast, "start_contrast", 0, 1)
    phases = tuple(float(checks.in_range(p, "phases", 0, 1)) for p in phases)
    if not phases or min(phases) <= 0:
        raise ValueError(f"phases must be box sides in (0, 1], got {phases!r}")
    blur_every = checks.non_negative(blur_every, "blur_every", integer=True)
    max_jitter = checks.non_negative(max_jitter, "max_jitter", integer=True)
    rng = checks.rng(rng)
    size = checks.image_size(cnn.meta["input_size"] if size is None else size, "size")
    _check_size(cnn, size, end)
    if images is None:
        images = available_images("dataset")
    kind, src = _source(images)
    n = len(src)
    if n < n_facets:
        raise ValueError(f"images has {n} image(s), fewer than n_facets={n_facets}")
    n_images = 5 * n_facets if n_images is None else checks.positive_int(n_images, "n_images")

    # 1. the target's images: by label when there are enough, else the top scores
    labels = np.asarray(images.labels) if isinstance(images, ImageSet) else None
    selection = "top"
    if labels is not None and not isinstance(target, tuple) and \
            np.sum(labels == target) >= 2 * n_facets:
        candidates = np.flatnonzero(labels == target)
        selection = "label"
    else:
        values = _target_values(cnn, images if kind == "array" else list(src), target, end,
                                batch_size, progress)
        candidates = np.sort(np.argsort(-values, kind="stable")[:max(n_images, n_facets)])
    chosen = src[candidates] if kind == "array" else [src[i] for i in candidates]

    # 2. features -> PCA -> k-means
    feats = extract_features(cnn, chosen, layer=layer, pool="avg", batch_size=batch_size)
    m = len(candidates)
    dims = max(1, min(pca_dims, m - 1, feats.shape[1]))
    seed = int(rng.integers(2 ** 31))
    z = PCA(n_components=dims, random_state=seed).fit_transform(feats.astype(np.float64))
    cluster = KMeans(n_clusters=n_facets, n_init=10, random_state=seed).fit_predict(z)

    # 3. one centre-biased visualization from each cluster's mean image
    if kind == "array":
        x_all = np.asarray(chosen, dtype=cnn.dtype)
    else:
        x_all, ok = load_batch(cnn, chosen, size=max(size), crop=size)
        if not ok.all():
            raise ValueError("an image of the target's cluster could not be read: "
                             f"{[str(p) for p, k in zip(chosen, ok) if not k]}")
    x_all = _resize(x_all, size)
    lo, hi = pixel_range(cnn)
    scale = pixel_scale(cnn)

    def run(start, run_rng):
        x = start + (10.0 * run_rng.standard_normal(start.shape) / scale).astype(cnn.dtype)
        x = np.clip(x, lo, hi).astype(cnn.dtype)
        per = [num_iterations // len(phases) + (k < num_iterations % len(phases))
               for k in range(len(phases))]
        penalties = []
        if l2_reg:
            penalties.append((l2_reg, l2_forward, l2_backward))
        if tv_weight:
            penalties.append((tv_weight, lambda u: tv_forward(u, 2.0), tv_backward))

        def probability(z):
            sc = cnn.scores(z).astype(np.float64)[0]
            return float(np.exp(sc[target] - sc.max()) / np.exp(sc - sc.max()).sum())

        # a class facet must reach its class: up to two more whole-image phases
        # when the last one ends below p = 0.9
        extra = [] if isinstance(target, tuple) else [1.0, 1.0]
        schedule = list(zip(phases, per)) + [(b, per[-1]) for b in extra]
        for k, (box, iters) in enumerate(schedule):
            if k >= len(phases) and probability(x) >= 0.9:
                break
            if iters == 0:
                continue
            w = centre_weights(size, box, edge_weight)[None, None]
            regs = [make_regularizer("clamp", lo=lo, hi=hi)]
            if blur_every and blur_sigma > 0:
                regs.append(make_regularizer("blur", sigma=blur_sigma, every=blur_every))
            if box < 1:
                wx = w.astype(cnn.dtype)
                regs.append(lambda z, t, g: (wx * z + (1 - wx) *
                                             gaussian_blur(z, 2.0 * blur_sigma + 0.5))
                            .astype(cnn.dtype))
            res = gradient_ascent(cnn, x, objective, end=end, num_iterations=iters,
                                  learning_rate=learning_rate * w, step="normalized",
                                  penalties=penalties, regularizers=regs,
                                  max_jitter=max_jitter, rng=run_rng, progress=progress,
                                  desc=f"facet box {box:g}", pixel_scale=scale)
            x = res.image
        return x

    facets = []
    for k in range(n_facets):
        members = np.flatnonzero(cluster == k)
        start = x_all[members].mean(axis=0, keepdims=True)
        # a small cluster's mean is a sharp photo that holds its own class: soften it
        # (blur of 1/32 of the side, contrast x start_contrast) so the ascent can move
        start = (start_contrast * gaussian_blur(start, min(size) / 32)).astype(cnn.dtype)
        img = run(start, rng)
        facets.append(Facet(image=img, start=start, members=candidates[members],
                             probability=float("nan"), value=float("nan")))
    xs = np.concatenate([f.image for f in facets])
    out, cache = cnn.forward(xs, end=end)
    vals = objective(out, cache, np.arange(len(xs)))[0]
    scores = cnn.scores(xs).astype(np.float64)
    scores -= scores.max(axis=1, keepdims=True)
    p = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    for k, f in enumerate(facets):
        f.value = float(vals[k])
        if not isinstance(target, tuple):
            f.probability = float(p[k, target])
    fx = _facet_features(cnn, xs, layer)
    result = MultifacetedResult(target=target, layer=layer, facets=facets,
                                candidates=candidates, selection=selection, cluster=cluster,
                                distances=_cosine_distances(fx))
    if seed_check:
        other = np.random.default_rng(int(rng.integers(2 ** 31)))
        again = run(facets[0].start, other)
        result.seed_image = again
        result.seed_distance = float(_cosine_distances(
            np.concatenate([fx[:1], _facet_features(cnn, again, layer)]))[0, 1])
    return result
