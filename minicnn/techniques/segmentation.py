"""Saliency to segmentation, unsupervised (Simonyan, Vedaldi & Zisserman 2014, section 3.2).

A class saliency map says *where* the object is but is too sparse and noisy to be
a mask.  Following the paper: take the most salient pixels (top 5%) as foreground
seeds and the least salient (bottom 30%) as background seeds, fit a colour model
(a Gaussian mixture) to each, and solve a binary graph cut whose smoothness term
prefers boundaries at colour edges.  As in GrabCut (Rother, Kolmogorov & Blake
2004) the colour models are then refitted to the new labels and the cut repeated
for a few rounds.  The energy of a labelling L (1 = foreground) is

    E(L) = sum_p D_{L_p}(z_p) + sum_{p~q} V_pq [L_p != L_q]
    D_fg(z) = -log p(z | GMM_fg),  D_bg(z) = -log p(z | GMM_bg)
    V_pq = gamma * exp(-beta ||z_p - z_q||^2),  beta = 1 / (2 mean ||z_p - z_q||^2)

over 4-connected neighbours p~q (colours z in 0..255).  By default the seeds
only fit the colour models, as in the paper; ``hard_seeds=True`` also pins their
labels (on real saliency maps, whose top 5% is scattered, that leaves speckle).
The minimum of E is an s-t minimum cut (Boykov & Jolly 2001),
found with :func:`scipy.sparse.csgraph.maximum_flow`; the colour models are
:class:`sklearn.mixture.GaussianMixture`.
"""
import numpy as np

from .. import checks

__all__ = ["segment_from_saliency", "saliency_seeds", "min_cut_labels", "grid_edges"]

_INF = 2 ** 30          # capacity of a hard constraint (int32 max flow)
_BUDGET = 2 ** 29       # all finite capacities are scaled to sum to at most this


def grid_edges(h, w):
    """4-neighbour pairs of an h x w grid, as two index arrays (p, q) into the
    row-major flattened pixels (right neighbours first, then down neighbours)."""
    idx = np.arange(h * w).reshape(h, w)
    p = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    q = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    return p, q


def min_cut_labels(cost_fg, cost_bg, pairs, weights, fg_seeds=None, bg_seeds=None):
    """Exact minimizer of a binary pairwise energy with non-negative weights by max-flow.

    cost_fg, cost_bg: (P,) costs of labelling each node foreground / background;
    pairs: (p, q) index arrays of the edges; weights: (E,) >= 0, the cost when the
    two ends get different labels; fg_seeds / bg_seeds: (P,) bool hard constraints.
    Returns (P,) bool, True = foreground (the source side of the minimum cut).

    Graph (Boykov & Jolly 2001): source s = foreground, sink t = background;
    edge s->p with capacity cost_bg[p] (cut when p ends up background), p->t with
    cost_fg[p], and p<->q with the pair weight.  Costs are shifted per node so
    that the smaller is 0 and scaled to integers (maximum_flow needs int32).
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow
    cost_fg = np.asarray(cost_fg, dtype=np.float64).ravel()
    cost_bg = np.asarray(cost_bg, dtype=np.float64).ravel()
    n = cost_fg.size
    p, q = (np.asarray(a, dtype=np.int64).ravel() for a in pairs)
    weights = np.asarray(weights, dtype=np.float64).ravel()
    if cost_bg.size != n or p.size != q.size or weights.size != p.size:
        raise ValueError("cost_fg, cost_bg must have one entry per node and weights one per "
                         "pair")
    if (weights < 0).any() or not np.isfinite(weights).all():
        raise ValueError("weights must be finite and non-negative (a graph cut needs "
                         "submodular pairwise terms)")
    if not (np.isfinite(cost_fg).all() and np.isfinite(cost_bg).all()):
        raise ValueError("cost_fg and cost_bg must be finite")
    low = np.minimum(cost_fg, cost_bg)
    cap_s, cap_t = cost_bg - low, cost_fg - low
    total = cap_s.sum() + cap_t.sum() + 2 * weights.sum()
    scale = _BUDGET / max(total, 1e-300)
    cap_s = np.round(cap_s * scale).astype(np.int64)
    cap_t = np.round(cap_t * scale).astype(np.int64)
    w = np.round(weights * scale).astype(np.int64)
    if fg_seeds is not None:
        fg = np.asarray(fg_seeds, bool).ravel()
        cap_s[fg], cap_t[fg] = _INF, 0
    if bg_seeds is not None:
        bg = np.asarray(bg_seeds, bool).ravel()
        cap_s[bg], cap_t[bg] = 0, _INF
    s, t = n, n + 1
    nodes = np.arange(n)
    rows = np.concatenate([np.full(n, s), nodes, p, q])
    cols = np.concatenate([nodes, np.full(n, t), q, p])
    caps = np.concatenate([cap_s, cap_t, w, w])
    keep = caps > 0
    graph = coo_matrix((caps[keep].astype(np.int32), (rows[keep], cols[keep])),
                       shape=(n + 2, n + 2)).tocsr()
    graph.sum_duplicates()
    flow = maximum_flow(graph, s, t).flow
    residual = (graph - flow).tocsr()
    residual.data[residual.data < 0] = 0        # (never: flow <= capacity) keep it clean
    residual.eliminate_zeros()
    reach = breadth_first_order(residual, s, directed=True, return_predecessors=False)
    labels = np.zeros(n + 2, bool)
    labels[reach] = True
    return labels[:n]


def saliency_seeds(saliency, fg_quantile=0.95, bg_quantile=0.30):
    """Foreground seeds (saliency >= its ``fg_quantile`` quantile) and background
    seeds (<= its ``bg_quantile`` quantile) as two (H, W) bool masks."""
    saliency = np.asarray(saliency, dtype=np.float64)
    if not 0 < bg_quantile < fg_quantile < 1:
        raise ValueError(f"need 0 < bg_quantile < fg_quantile < 1, got bg_quantile="
                         f"{bg_quantile!r}, fg_quantile={fg_quantile!r}")
    hi, lo = np.quantile(saliency, [fg_quantile, bg_quantile])
    fg = saliency >= hi
    bg = (saliency <= lo) & ~fg
    return fg, bg


def _fit_gmm(colours, n_components, rng, max_samples):
    from sklearn.mixture import GaussianMixture
    if len(colours) > max_samples:
        colours = colours[rng.choice(len(colours), max_samples, replace=False)]
    k = max(1, min(n_components, len(colours) // 10))
    gmm = GaussianMixture(n_components=k, covariance_type="full", reg_covar=1.0,
                          random_state=int(rng.integers(2 ** 31 - 1)), max_iter=50)
    try:        # k-means/EM on a few thousand 3-vectors: threads only add overhead
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        return gmm.fit(colours)
    with threadpool_limits(limits=1):
        return gmm.fit(colours)


def segment_from_saliency(image, saliency, fg_quantile=0.95, bg_quantile=0.30, n_components=5,
                          gamma=50.0, rounds=3, hard_seeds=False, max_samples=5000, rng=None,
                          return_info=False):
    """Binary object mask (H, W) from an image and its class saliency map.

    image: (H, W, 3) uint8 RGB (the image the saliency was computed on, e.g.
    ``cnn.deprocess(x)``); saliency: (H, W) map (e.g. ``saliency_map(...)[0]``).
    fg_quantile / bg_quantile: seed thresholds (paper: 95% and 30%);
    n_components: Gaussians per colour model; gamma: smoothness weight (GrabCut's
    50 for 0..255 colours); rounds: refit-and-cut iterations (stops early when the
    mask no longer changes); hard_seeds: pin the seeds' labels (default False:
    they only fit the first colour models);
    max_samples: pixels drawn to fit each mixture; rng: Generator or seed (None:
    seed 0).  With ``return_info`` also returns a dict with the seeds and the
    mask of every round.  See the module docstring for the energy.
    """
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    saliency = np.asarray(saliency, dtype=np.float64)
    if saliency.shape != image.shape[:2]:
        raise ValueError(f"saliency must have the image's shape {image.shape[:2]}, got "
                         f"{saliency.shape}")
    if not np.isfinite(saliency).all():
        raise ValueError("saliency contains NaN or infinite values")
    for name, value in (("n_components", n_components), ("rounds", rounds),
                        ("max_samples", max_samples)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if not np.isfinite(gamma) or gamma < 0:
        raise ValueError(f"gamma must be non-negative, got {gamma!r}")
    rng = checks.rng(rng)
    h, w = saliency.shape
    fg_seed, bg_seed = saliency_seeds(saliency, fg_quantile, bg_quantile)
    z = image.reshape(-1, 3).astype(np.float64)
    p, q = grid_edges(h, w)
    d2 = ((z[p] - z[q]) ** 2).sum(axis=1)
    beta = 1.0 / (2.0 * max(d2.mean(), 1e-12))
    pair_w = gamma * np.exp(-beta * d2)
    fg_fit, bg_fit = fg_seed.ravel(), bg_seed.ravel()
    masks = []
    mask = None
    for _ in range(rounds):
        gmm_fg = _fit_gmm(z[fg_fit], n_components, rng, max_samples)
        gmm_bg = _fit_gmm(z[bg_fit], n_components, rng, max_samples)
        cost_fg = -gmm_fg.score_samples(z)
        cost_bg = -gmm_bg.score_samples(z)
        labels = min_cut_labels(cost_fg, cost_bg, (p, q), pair_w,
                                fg_seed.ravel() if hard_seeds else None,
                                bg_seed.ravel() if hard_seeds else None)
        new = labels.reshape(h, w)
        masks.append(new)
        if mask is not None and np.array_equal(new, mask):
            break
        mask = new
        if mask.sum() < 2 or (~mask).sum() < 2:      # degenerate: keep the seeds' models
            break
        fg_fit, bg_fit = mask.ravel(), ~mask.ravel()
    mask = masks[-1]
    if return_info:
        return mask, {"fg_seeds": fg_seed, "bg_seeds": bg_seed, "masks": masks, "beta": beta}
    return mask
