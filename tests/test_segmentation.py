"""Saliency -> segmentation: the min-cut solver is exact, and a salient blob on a
two-colour image is segmented."""
import itertools

import numpy as np
import pytest

from minicnn.techniques.segmentation import (grid_edges, min_cut_labels, saliency_seeds,
                                             segment_from_saliency)


def energy(labels, cost_fg, cost_bg, p, q, w):
    return (np.where(labels, cost_fg, cost_bg).sum() + (w * (labels[p] != labels[q])).sum())


@pytest.mark.parametrize("seed", range(4))
def test_min_cut_is_the_brute_force_minimum(seed):
    rng = np.random.default_rng(seed)
    h, w = 3, 4
    p, q = grid_edges(h, w)
    assert len(p) == h * (w - 1) + (h - 1) * w
    cost_fg, cost_bg = rng.random(h * w) * 3, rng.random(h * w) * 3
    weights = rng.random(len(p)) * 1.5
    fg_seed = np.zeros(h * w, bool)
    bg_seed = np.zeros(h * w, bool)
    if seed % 2:
        fg_seed[0], bg_seed[-1] = True, True
    labels = min_cut_labels(cost_fg, cost_bg, (p, q), weights, fg_seed, bg_seed)
    best = min(energy(np.array(bits, bool), cost_fg, cost_bg, p, q, weights)
               for bits in itertools.product([0, 1], repeat=h * w)
               if not (np.array(bits, bool) & bg_seed).any()
               and (np.array(bits, bool) | ~fg_seed).all())
    assert labels[fg_seed].all() and not labels[bg_seed].any()
    assert energy(labels, cost_fg, cost_bg, p, q, weights) == pytest.approx(best, abs=1e-6)


def test_seeds_are_the_saliency_quantiles():
    s = np.arange(100.0).reshape(10, 10)
    fg, bg = saliency_seeds(s)
    assert fg.sum() == 5 and bg.sum() == 30
    assert s[fg].min() > s[~fg].max() and s[bg].max() < s[~bg].min()


def blob_scene(rng, size=96, noise=25):
    yy, xx = np.mgrid[:size, :size]
    disk = (yy - 40) ** 2 + (xx - 52) ** 2 < 25 ** 2
    img = np.where(disk[..., None], [200, 60, 50], [60, 90, 200]) \
        + rng.normal(0, noise, (size, size, 3))
    # saliency: sparse and noisy, peaked inside the object (like a real saliency map)
    sal = np.exp(-((yy - 40) ** 2 + (xx - 52) ** 2) / (2 * 12 ** 2)) * rng.random((size, size))
    return np.clip(img, 0, 255).astype(np.uint8), sal + 0.05 * rng.random((size, size)), disk


def test_segmentation_recovers_a_salient_object():
    rng = np.random.default_rng(0)
    img, sal, disk = blob_scene(rng)
    mask, info = segment_from_saliency(img, sal, return_info=True)
    pinned = segment_from_saliency(img, sal, hard_seeds=True)
    assert mask.dtype == bool and mask.shape == disk.shape
    iou = (mask & disk).sum() / (mask | disk).sum()
    assert iou > 0.9
    # the seeds alone are far from a mask: the graph cut does the work
    seeds_iou = (info["fg_seeds"] & disk).sum() / (info["fg_seeds"] | disk).sum()
    assert seeds_iou < 0.5
    assert pinned[info["fg_seeds"]].all() and not pinned[info["bg_seeds"]].any()
    assert (pinned & disk).sum() / (pinned | disk).sum() > 0.9
    # reproducible
    np.testing.assert_array_equal(segment_from_saliency(img, sal), mask)


def test_smoothness_removes_speckle():
    rng = np.random.default_rng(1)
    img, sal, disk = blob_scene(rng, noise=70)       # overlapping colour models
    rough = segment_from_saliency(img, sal, gamma=0.0, hard_seeds=False, rounds=1)
    smooth = segment_from_saliency(img, sal, gamma=50.0, hard_seeds=False, rounds=1)

    def boundary(m):
        return (m[:, 1:] != m[:, :-1]).sum() + (m[1:] != m[:-1]).sum()

    assert boundary(smooth) < 0.5 * boundary(rough)
    iou = [(m & disk).sum() / (m | disk).sum() for m in (rough, smooth)]
    assert iou[1] > iou[0]


@pytest.mark.parametrize("kwargs,match", [
    (dict(saliency=np.zeros((5, 5))), "saliency must have the image's shape"),
    (dict(image=np.zeros((8, 8))), "image must have shape"),
    (dict(fg_quantile=0.2), "bg_quantile < fg_quantile"),
    (dict(rounds=0), "rounds must be a positive integer"),
    (dict(gamma=-1.0), "gamma must be non-negative"),
])
def test_bad_input(kwargs, match):
    args = dict(image=np.zeros((8, 8, 3), np.uint8), saliency=np.random.rand(8, 8))
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        segment_from_saliency(**args)


def test_min_cut_rejects_negative_weights():
    p, q = grid_edges(2, 2)
    with pytest.raises(ValueError, match="non-negative"):
        min_cut_labels(np.zeros(4), np.zeros(4), (p, q), -np.ones(len(p)))
