"""Builds 04_saliency_and_guided_backprop.ipynb (outputs cleared): `python build_04.py`."""
from pathlib import Path

from nb import write

HERE = Path(__file__).resolve().parents[1]

write(HERE / "04_saliency_and_guided_backprop.ipynb", [
    ("md", """
# 04 · Saliency maps, deconvnet and guided backprop, Grad-CAM, occlusion

Lecture: *Visualizing and Understanding*, "Which pixels matter?". Every technique here is
**one backward pass** (or a handful) through the pretrained SqueezeNet 1.1:

```python
scores, cache = cnn.forward(x)                     # (N, 1000) raw scores
dscores = one_hot(y)                               # d(score of class y) / d(scores)
dx, _ = cnn.backward(dscores, cache, relu_mode="standard", param_grads=False)
```

Because the images of a batch never interact, one backward pass with one one-hot row per image
gives every image its own gradient. `param_grads=False` skips the weight gradients: we only
want the gradient with respect to the pixels.

`QUICK` (set by the test-suite) cuts the number of photos, noise samples and integration
steps so that the notebook runs in well under a minute."""),
    ("code", """
import os
import numpy as np
import matplotlib.pyplot as plt
import minicnn
from minicnn.data import available_images, load_image
from minicnn.plotting import colorize, overlay_heatmap, show_attributions
from minicnn.techniques import (saliency_map, neuron_gradients, receptive_field, gradcam,
                                guided_gradcam, smoothgrad, integrated_gradients,
                                occlusion_map, segment_from_saliency)
from minicnn.techniques.attribution import gradient_to_image, class_score_gradient

QUICK = os.environ.get("MINICNN_QUICK") == "1"
cnn = minicnn.load_squeezenet()
dataset = available_images("dataset", limit=2 if QUICK else 5)   # ImageNet sample or embedded
paths = list(dataset)
x = cnn.preprocess([load_image(p) for p in paths])        # (N, 3, S, S) float32, S the crop
# the label where known, else the model's top class
labels = np.where(dataset.labels >= 0, dataset.labels, cnn.predict(x, top=1).indices[:, 0])
images = list(cnn.deprocess(x)) if len(x) > 1 else [cnn.deprocess(x)]
pred = cnn.predict(x, top=1)
for p, y, name, prob in zip(paths, labels, pred.names, pred.probabilities):
    print(f"{p.name:32s} label {cnn.class_name(y):20s} predicted {name[0]} ({prob[0]:.1%})")
"""),
    ("md", """
## 1. Saliency maps (Simonyan, Vedaldi & Zisserman 2014)

The class score $s_y(x)$ is a highly non-linear function of the image, but around a given image
it is approximately linear: $s_y(x) \\approx w^\\top x + b$ with $w = \\partial s_y / \\partial x$.
The magnitude of $w$ says which pixels need to change least to change the score most. The saliency
map takes the **unnormalized** score (not the softmax probability: the probability can also rise
by lowering the *other* classes) and, for an RGB image, the maximum over the channels:

$$M_{ij} = \\max_c \\left| \\frac{\\partial s_y}{\\partial x_{c,i,j}} \\right|$$

The gradient mechanics: the objective is $J = \\sum_n s_{n, y_n}$, so
$\\partial J / \\partial \\text{scores}$ is a one-hot row per image; the global average pool
spreads it evenly over the 13x13 conv10 map, each ReLU lets it through where its input was
positive, each convolution correlates it with the flipped kernel, each max-pool routes it to the
argmax of its window -- down to the pixels."""),
    ("code", """
sal = saliency_map(cnn, x, labels)                       # (N, 224, 224)
show_attributions(images, [[s] for s in sal], titles=["saliency"],
                  row_titles=[cnn.class_name(y) for y in labels]);
"""),
    ("md", """
A check that can fail: on a float64 copy of the model (and a 112-pixel crop, which the fully
convolutional network accepts), the saliency value at a pixel equals the largest of the three
centred finite differences of the score at that pixel."""),
    ("code", """
cnn64 = minicnn.load_squeezenet(dtype="float64")
x64 = x[:1, :, 56:168, 56:168].astype(np.float64)     # a 112 px crop keeps it quick
_, g = class_score_gradient(cnn64, x64, labels[0])
i, j = np.unravel_index(np.argmax(np.abs(g[0]).max(axis=0)), g.shape[2:])
h = 1e-5
fd = []
for c in range(3):
    xp, xm = x64.copy(), x64.copy()
    xp[0, c, i, j] += h; xm[0, c, i, j] -= h
    fd.append((cnn64.scores(xp)[0, labels[0]] - cnn64.scores(xm)[0, labels[0]]) / (2 * h))
print("saliency", np.abs(g[0, :, i, j]).max(), " finite differences", np.abs(fd).max())
"""),
    ("md", """
## 2. One neuron, three backward rules: backprop, deconvnet, guided backprop

Pick an intermediate neuron -- a channel of `fire7` at the position where it fires most -- and
send a gradient of 1 down from it. The three rules differ **only at the ReLUs**
(`minicnn.layers.relu_backward`); with the forward input $a$ and the upstream gradient $g$:

| rule | gradient through a ReLU | paper |
|---|---|---|
| `standard` | $g \\cdot [a > 0]$ (the true gradient) | |
| `deconvnet` | $\\max(g, 0)$ -- ignores the forward mask | Zeiler & Fergus 2014 |
| `guided` | $\\max(g, 0) \\cdot [a > 0]$ -- both masks | Springenberg et al. 2015 |

Guided backprop keeps only the paths along which the neuron's input *increases* the activation
and which were active for this image: the result is a much cleaner picture of what the neuron
responds to. Everything outside the neuron's receptive field is exactly zero."""),
    ("code", """
layer = "fire7"
a = cnn.forward(x, end=layer)[0]
channel = int(a[0].reshape(a.shape[1], -1).max(axis=1).argmax())   # most active channel of image 0
g = neuron_gradients(cnn, x, layer, channel)          # {rule: (N, 3, 224, 224)}, one forward pass
rows = [[gradient_to_image(g[m][n]) for m in g] for n in range(len(x))]
show_attributions(images, rows, titles=list(g), row_titles=[f"{layer} channel {channel}"] * len(x));
for m in g:
    print(f"{m:10s} nonzero pixels: {np.mean(np.abs(g[m]).max(axis=1) > 0):.1%}")
"""),
    ("code", """
# the gradient lives inside the receptive field of the neuron
pos = tuple(int(v) for v in np.unravel_index(a[0, channel].argmax(), a.shape[2:]))
(r0, r1), (c0, c1) = receptive_field(cnn, layer, pos, 224)
support = np.abs(g["standard"][0]).max(axis=0) > 0
outside = support.copy(); outside[r0:r1 + 1, c0:c1 + 1] = False
print(f"{layer} at {pos}: receptive field rows {r0}..{r1}, cols {c0}..{c1}; "
      f"nonzero gradient outside it: {outside.sum()} pixels")
"""),
    ("md", """
## 3. Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017)

Grad-CAM asks the last spatial layer (`fire9`, 13x13x512) instead of the pixels. With $A$ the
activations and $s_y$ the class score, the importance of channel $k$ is its global-average
gradient $\\alpha_k = \\frac{1}{hw}\\sum_{ij} \\partial s_y / \\partial A_{kij}$, and the map is
$\\mathrm{ReLU}(\\sum_k \\alpha_k A_k)$, upsampled to the image. To get $\\partial s_y/\\partial A$
the forward pass is split at the layer: `forward(x, end="fire9")`, then
`forward(A, start="conv10")`, and backward runs through the second half only.
Guided Grad-CAM multiplies the guided-backprop image by this map: fine detail, but only where the
class is."""),
    ("code", """
cams = gradcam(cnn, x, labels)                               # (N, 224, 224) in [0, 1]
ggc = guided_gradcam(cnn, x, labels)                        # (N, 3, 224, 224)
show_attributions(images, [[overlay_heatmap(im, c), gradient_to_image(gg)]
                           for im, c, gg in zip(images, cams, ggc)],
                  titles=["Grad-CAM (fire9)", "guided Grad-CAM"]);
"""),
    ("md", """
## 4. SmoothGrad and Integrated Gradients

**SmoothGrad** (Smilkov et al. 2017) averages the gradient over noisy copies
$x + \\mathcal{N}(0, \\sigma^2)$ with $\\sigma = 0.15\\,(\\max x - \\min x)$: the sharp local
fluctuations of the gradient average out.

**Integrated Gradients** (Sundararajan et al. 2017) integrate the gradient along the straight path
from a baseline $x'$ (here zeros, i.e. the dataset's mean colour) to $x$:
$\\mathrm{IG}_i = (x_i - x'_i)\\int_0^1 \\partial s_y(x' + \\alpha(x - x'))/\\partial x_i\\,d\\alpha$.
Its *completeness* axiom says the attributions add up to $s_y(x) - s_y(x')$; with a quadrature
rule (the trapezoid rule here) the gap shrinks as the number of steps grows -- but slowly: a ReLU
network is piecewise linear, so the integrand jumps at every kink the path crosses and the error
falls only like 1/steps. `rtol=0.01` keeps halving the intervals (each halving reuses all the
gradients computed so far) until the attributions add up to within 1%."""),
    ("code", """
n_samples = 4 if QUICK else 30
steps = 8 if QUICK else 50
sg = smoothgrad(cnn, x[:1], labels[0], num_samples=n_samples, rng=0)[0]
# rtol: halve the trapezoid intervals (reusing every gradient) until the gap is within 1%
ig, delta = integrated_gradients(cnn, x[:1], labels[0], steps=steps, return_delta=True,
                                 rtol=None if QUICK else 0.01, max_steps=401)
s_x, s_0 = cnn.scores(x[:1])[0, labels[0]], cnn.scores(np.zeros_like(x[:1]))[0, labels[0]]
print(f"IG: sum of attributions {ig.sum():.3f}, s(x) - s(baseline) = "
      f"{s_x - s_0:.3f}, gap {abs(delta[0]) / abs(s_x - s_0):.2%}")
show_attributions([images[0]], [[sal[0], sg, np.abs(ig[0]).max(axis=0)]],
                  titles=["saliency", f"SmoothGrad ({n_samples})", f"|IG| ({steps} steps)"]);
"""),
    ("md", """
## 5. Occlusion (Zeiler & Fergus 2014)

No gradients at all: slide a grey square over the image (grey = the mean colour = zeros in the
normalized input) and record the probability of the true class at every position. Many occluded
copies go through one forward pass. Where the probability collapses, the network was looking."""),
    ("code", """
size, stride = (64, 40) if QUICK else (48, 16)
heat = occlusion_map(cnn, x[:1], labels[0], size=size, stride=stride)[0]
print(f"occlusion map {heat.shape}, probability from {heat.min():.3f} to {heat.max():.3f}")
show_attributions([images[0]], [[overlay_heatmap(images[0], heat)]],
                  titles=[f"P({cnn.class_name(labels[0])}) under a {size}px square"]);
"""),
    ("md", """
## 6. From saliency to segmentation (Simonyan et al. 2014, §3.2)

No segmentation labels are used: the top 5% most salient pixels seed a colour model of the object
and the bottom 30% one of the background (Gaussian mixtures, scikit-learn); a graph cut with a
contrast-sensitive smoothness term (GrabCut's, solved exactly as a max-flow with
`scipy.sparse.csgraph.maximum_flow`) gives a binary mask; the colour models are refitted to the
mask and the cut repeated for a few rounds."""),
    ("code", """
rows = []
for im, s in zip(images, sal):
    mask = segment_from_saliency(im, s, rounds=2 if QUICK else 3)
    rows.append([s, np.where(mask[..., None], im, (0.25 * im + 190).astype(np.uint8))])
show_attributions(images, rows, titles=["saliency", "segmentation"]);
"""),
])
