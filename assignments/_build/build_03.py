"""Builds 03_inside_the_network.ipynb (outputs cleared): `python build_03.py`."""
from pathlib import Path

from nb import write

HERE = Path(__file__).resolve().parents[1]

write(HERE / "03_inside_the_network.ipynb", [
    ("md", """
# 03 · Inside the network: filters, activations, top patches, neighbours, t-SNE

The first half of the lecture *reads* what a trained CNN computes, without any gradient:

1. **Filters** of the first layer look like oriented edges and colour blobs (Krizhevsky et al. 2012).
2. **Activation maps**: each channel of a layer is a feature map; after a ReLU most of it is zero
   (Yosinski et al. 2015).
3. **Maximally activating patches**: run many images, keep the strongest values of one channel and
   crop the part of the input each value *sees*, its receptive field (Springenberg et al. 2015).
4. **Nearest neighbours** in feature space find images of the same kind even when their pixels differ
   (the lecture's elephant example), while neighbours in pixel space match colours and layout.
5. **PCA / t-SNE** of the features lay the images out so that similar ones are close
   (van der Maaten & Hinton 2008).

Everything below runs SqueezeNet 1.1 (pretrained) with `minicnn`; with `MINICNN_QUICK=1` the image
counts are cut so the notebook runs in well under a minute."""),
    ("code", """
import os, sys, tempfile, warnings
try:
    import minicnn
except ImportError:                      # running from a source checkout
    sys.path.insert(0, os.path.abspath(".."))
    import minicnn
import numpy as np
from minicnn.data import available_images, load_image, pick_image
from minicnn.plotting import pyplot, show_images, show_embedding, show_neighbor_rows
from minicnn.techniques import (filter_grid, activation_grid, receptive_fields, activation_maps,
                                activation_stats, zero_fraction, top_patches, patch_images,
                                patch_grid, recompute_activation, extract_features,
                                nearest_neighbors, neighbor_agreement, embed, pixel_features,
                                thumbnails, tsne_grid)
from minicnn.techniques.features import restricted_imagenet_group, RESTRICTED_IMAGENET
plt = pyplot()
QUICK = os.environ.get("MINICNN_QUICK") == "1"
CACHE = tempfile.mkdtemp(prefix="nb03-features-")   # keep the feature cache out of the repo
warnings.simplefilter("ignore", UserWarning)
cnn = minicnn.load_squeezenet()
dataset = available_images("dataset")       # the ImageNet sample, else the embedded photos
paths, labels = list(dataset), dataset.labels
groups = restricted_imagenet_group(labels)
print("QUICK" if QUICK else "full run", "-", len(paths), "photos from", dataset.source + ",",
      int((groups >= 0).sum()), "in the nine superclasses")
"""),
    ("md", """
## 1 · Filters

`conv1` has 64 filters of shape 3x3x3: each is shown as a tiny RGB image, min-max scaled to 0..255
on its own (only its pattern matters, not its scale). Higher layers have many input channels, so each
filter becomes a row of grey tiles, one per input channel (the lecture's 16 x 7 x 7 example).
SqueezeNet's first filters are only 3x3, so the edges and colour-opponent blobs are coarse."""),
    ("code", """
show_images([filter_grid(cnn.params["conv1/W"], upscale=8),
             filter_grid(cnn.params["fire2/expand3x3/W"], upscale=6, max_filters=12, max_channels=16)],
            titles=["conv1: 64 RGB 3x3 filters", "fire2/expand3x3: 12 filters x 16 input channels"],
            size=5);
"""),
    ("md", """
## 2 · Receptive fields

A unit of layer L sees a square of the input. With kernel $k_l$, stride $s_l$ and padding $p_l$:

$$r_L = r_{L-1} + (k_L - 1)\\,j_{L-1},\\qquad j_L = j_{L-1} s_L,\\qquad o_L = o_{L-1} - p_L\\,j_{L-1}$$

(size, jump between neighbouring units, and the input coordinate where unit 0's field starts;
negative when padding lets it hang over the border). `receptive_fields` computes this from the
layer table; the tests check it against a brute-force probe (raise one input line, see which
outputs change)."""),
    ("code", """
for name, (size, stride, offset) in receptive_fields(cnn).items():
    print(f"{name:7s} size {size:4d}  stride {stride:3d}  offset {offset:4d}")
"""),
    ("md", """
## 3 · Activation maps

Every channel of `fire2` for the kitten, each min-max scaled (black = zero). Below: the fraction of
zeros per channel, and the channels that stay zero on every one of a few photos ("dead" for
these images)."""),
    ("code", """
kitten = load_image(pick_image("kitten", "chelsea"))
a = activation_maps(cnn, kitten, "fire2")
zf = zero_fraction(a)
print(a.shape, f"min {a.min():.1f} (post-ReLU)", f"- {zf.mean():.0%} zeros on average")
show_images([activation_grid(a, upscale=2)], titles=["fire2 (128 channels) on the kitten"], size=7)
stats = activation_stats(cnn, paths[:3 if QUICK else 32], "fire2")
print(f"over {stats.n_images} photos: {len(stats.dead)} channels never fire: {stats.dead.tolist()}")
"""),
    ("md", """
## 4 · Maximally activating patches

For a layer and channel, `top_patches` runs the photos up to that layer, keeps the k largest values
over all images *and* positions, and returns `(score, image_index, (y0, x0, y1, x1))`: the
receptive field of the unit, clipped to the image. Re-running just that crop through the network
gives back the same activation (when the field lies inside the image): the field really is all the
unit sees. Patches are grey where the field hangs over the border.

`patch_grid` does many channels in one pass, one row per channel (one patch per photo, so a row is
not filled by neighbouring positions of one photo). fire5 units see 63x63 pixels, fire9 units 207x207."""),
    ("code", """
sample = paths[:6 if QUICK else 120]
x = cnn.preprocess([load_image(p) for p in sample[:3]])
best = top_patches(cnn, x, "fire5", 37, k=20)
inside = next(p for p in best if not p.clipped)
print("top:", best[0][:3], "| re-run of an interior crop:", round(inside.score, 4), "->",
      round(recompute_activation(cnn, x[inside.image_index], "fire5", 37, inside.position), 4))
for layer, channels in [("fire5", [5, 20, 37, 140, 200]), ("fire9", [3, 10, 50, 100, 300])]:
    grid, found = patch_grid(cnn, sample, layer, channels, k=4 if QUICK else 8, tile=56)
    show_images([grid], titles=[f"{layer}: channels {channels}, one per row"], size=6)
"""),
    ("md", """
## 5 · Nearest neighbours: feature space vs pixel space

`extract_features` gives one vector per photo: here fire9's 512 x 13 x 13 map, globally average
pooled to 512 numbers (cached as `.npy`, keyed by the files, the layer and the weights, so a second
run is instant; `n_jobs=2` splits the work over two processes). The pixel-space baseline is a
32 x 32 thumbnail. The shared photos hold one image per class, so we score neighbours by the nine
"restricted ImageNet" superclasses (dog, cat, frog, turtle, bird, primate, fish, crab, insect).
Pooling matters: the flattened 86528-d map weighs *where* things are, not *what* they are."""),
    ("code", """
sel = np.flatnonzero(groups >= 0) if dataset.has_labels else np.arange(len(paths))
if QUICK:
    sel = sel[::12][:16] if len(sel) > 32 else sel
sel_paths = [paths[i] for i in sel]
g = groups[sel]
feats = extract_features(cnn, sel_paths, "fire9", cache_dir=CACHE)
pix = pixel_features(sel_paths, size=32)
rows = np.arange(len(sel))
_, fi = nearest_neighbors(feats, rows, k=5, exclude_self=True)
_, pi = nearest_neighbors(pix, rows, k=5, exclude_self=True)
if dataset.has_labels:
    print(f"{len(sel)} photos; neighbours in the same superclass: "
          f"features {neighbor_agreement(g, fi):.2f}, pixels {neighbor_agreement(g, pi):.2f}")
else:
    print(f"{len(sel)} unlabelled photos ({dataset.hint})")
th = thumbnails(sel_paths, size=64)
q = rows[:: max(1, len(rows) // 4)][:4]
show_neighbor_rows(th[q], th[fi[q]], th[pi[q]]);
"""),
    ("md", """
## 6 · PCA and t-SNE

PCA projects the features on their two main directions (orthonormal components). t-SNE (after a PCA
to 50 dimensions) keeps *neighbourhoods*: images close in feature space end up close on the plane.
The t-SNE grid snaps each image to a cell of a regular grid, minimising the total squared
displacement (an assignment problem, solved exactly by `scipy.optimize.linear_sum_assignment`).
A fixed `seed` gives identical layouts."""),
    ("code", """
y_pca, pca = embed(feats, "pca", return_model=True)
print("PCA components orthonormal:", np.allclose(pca.components_ @ pca.components_.T, np.eye(2)))
y = embed(feats, "tsne", seed=0)
print("t-SNE reproducible:", np.array_equal(y, embed(feats, "tsne", seed=0)))
small = thumbnails(sel_paths, size=32)
show_embedding(y, small, zoom=0.8, size=6, title="t-SNE of pooled fire9 features")
grid, cells = tsne_grid(y, small)
show_images([grid], titles=["t-SNE grid"], size=6);
"""),
])
