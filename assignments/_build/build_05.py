"""Builds 05_image_synthesis.ipynb (outputs cleared): `python build_05.py`."""
from pathlib import Path

from nb import write

HERE = Path(__file__).resolve().parents[1]

write(HERE / "05_image_synthesis.ipynb", [
    ("md", """
# 05 · Image synthesis: gradient ascent on the image

Lecture: *Visualizing and Understanding*, second half. Instead of asking which pixels of a
photo matter (notebook 04), we **change the pixels** to make the network respond: class
visualization, fooling images, DeepDream and feature inversion. All four are the same small
loop in `minicnn.techniques.synthesis.gradient_ascent`:

```python
for t in range(num_iterations):
    oy, ox = random_shift(rng, max_jitter)           # jitter: roll the image
    out, cache = cnn.forward(roll(x, oy, ox), end=layer)
    value, dout = objective(out, cache, idx)          # d objective / d (layer output)
    dx, _ = cnn.backward(dout, cache, param_grads=False)
    g = unroll(dx, oy, ox) - weight * d penalty / dx  # roll is a permutation: its adjoint
    x += step_rule(g, learning_rate)                  #   is the inverse roll
    x = projections(x)                                # clamp, blur, decay, clipping
```

so each technique is just an **objective** (what gradient to inject at which layer) plus its
defaults. The weights are frozen (`param_grads=False`): the image is the only variable.

`QUICK` (set by the test-suite) cuts iteration counts and image sizes so that the notebook
runs in well under a minute; the full settings are the lecture's."""),
    ("code", """
import os
import numpy as np
import matplotlib.pyplot as plt
import minicnn
from minicnn.data import available_images, load_image, pick_image
from minicnn.plotting import show_images
from minicnn.techniques import (class_visualization, make_fooling_image, fgsm, deepdream,
                                invert_features)
from minicnn.techniques.synthesis import INVERSION_DEFAULTS
from minicnn.techniques.regularizers import pixel_scale, tv_norm

QUICK = os.environ.get("MINICNN_QUICK") == "1"
cnn = minicnn.load_squeezenet()
print(cnn)
"""),
    ("md", """
## 1. Class visualization (Simonyan et al. 2014; Yosinski et al. 2015)

Find an image that maximizes the **raw** score $s_y$ of a class (not the softmax, which can
also grow by lowering the other classes), with an L2 penalty that keeps the image small:

$$x^* = \\arg\\max_x \\; s_y(x) - \\lambda \\|x\\|_2^2$$

*Gradient mechanics.* The objective reads the (N, 1000) scores, so the gradient injected into
`cnn.backward` is a one-hot row $e_y$; the penalty contributes $-2\\lambda x$ directly in image
space. cs231n's step is **normalized**, $x \\leftarrow x + \\eta\\, g / \\|g\\|_2$ with $\\eta = 25$:
the raw gradient's size changes by orders of magnitude during the run, and without the
normalization some seeds stall. Yosinski's image priors keep the result natural-looking: random
jitter (up to 16 px, rolled and unrolled), a Gaussian blur ($\\sigma = 0.5$) every 10 steps,
and clamping to the valid pixel range. Defaults: 100 iterations, $\\lambda = 10^{-3}$."""),
    ("code", """
classes = [76, 366] if QUICK else [76, 366, 683]      # tarantula, gorilla, oboe
iters, size = (15, 128) if QUICK else (100, 224)
results = {}
for c in classes:
    snapshots = []
    def keep(t, x, value, snapshots=snapshots):
        if t % max(1, iters // 4) == 0:
            snapshots.append((t, cnn.deprocess(x)))
    x = class_visualization(cnn, c, num_iterations=iters, size=size, rng=0, callback=keep)
    pred = cnn.predict(x, top=1)
    results[c] = x
    print(f"{cnn.class_name(c):12s} -> top class {pred.names[0][0]} "
          f"(p = {pred.probabilities[0][0]:.3f})")
    show_images([s[1] for s in snapshots] + [cnn.deprocess(x)],
                [f"step {s[0]}" for s in snapshots] + [f"{cnn.class_name(c)}: final"], size=2.4)
"""),
    ("md", """
### Regularizers side by side

The same class without the priors (no jitter, no blur) and with Yosinski's extra options:
L2 **decay** of the pixels every step, **clipping pixels of small norm** and of **small
contribution** ($|\\sum_c x_c\\, g_c|$, a first-order estimate of how much the objective
would drop if the pixel were set to the mean colour) at a percentile."""),
    ("code", """
target = 76
variants = {
    "no jitter, no blur": dict(max_jitter=0, blur_every=0),
    "cs231n defaults": dict(),
    "+ decay 0.01": dict(decay=0.01),
    "+ clip norm 20%": dict(clip_norm=20),
    "+ clip contribution 20%": dict(clip_contribution=20),
}
if QUICK:
    variants = dict(list(variants.items())[:2])
imgs = [cnn.deprocess(class_visualization(cnn, target, num_iterations=iters, size=size, rng=1,
                                          **kw)) for kw in variants.values()]
show_images(imgs, list(variants), size=2.6);
"""),
    ("md", """
### Intermediate neurons and channels

The objective can read any layer: `target=("fire7", channel)` maximizes the channel's mean
activation (the injected gradient is $1/(HW)$ on that channel's map and zero elsewhere), and
`("fire7", channel, (i, j))` a single neuron, whose image only changes inside its receptive
field."""),
    ("code", """
layer = "fire7"
channels = [3, 40] if QUICK else [3, 40, 100, 250]
imgs = [cnn.deprocess(class_visualization(cnn, (layer, ch), num_iterations=iters, size=size,
                                          rng=0)) for ch in channels]
show_images(imgs, [f"{layer} channel {ch}" for ch in channels], size=2.6);
"""),
    ("md", """
## 2. Fooling images (Szegedy et al. 2014)

Take a correctly classified photo and ascend the score of another class (cs231n: 6,
stingray) with normalized steps of size 1, $x \\leftarrow x + g/\\|g\\|_2$, until the
prediction flips, at most 100 steps. The network changes its mind after a few steps
while the image looks unchanged: the L2-normalized step concentrates on the few pixels
with the largest gradient, so the mean change is a fraction of one pixel level while the
largest changes are a few tens. `objective="margin"` ascends $s_t - s_y$ instead (lecture
notes), pushing the true class down at the same time: the injected gradient is $+1$ at the
target and $-1$ at the true class. On the tench (the first photo) the target-only objective
fails: the scores of neighbouring fish classes (puffer) rise along with the stingray's and stay
ahead for 100 steps (PyTorch with the same procedure ends the same way); the margin objective
flips it in 4 steps."""),
    ("code", """
dataset = available_images("dataset")      # the ImageNet sample, else the embedded photos
paths = list(dataset)
step = max(1, len(paths) // 10)
keep = list(range(0, len(paths), step))[:2 if QUICK else 10]   # photos across the classes
x = cnn.preprocess([load_image(paths[i]) for i in keep])
# true class: the label where known, else the model's top prediction
y = np.where(dataset.labels[keep] >= 0, dataset.labels[keep], cnn.predict(x, top=1).indices[:, 0])
for objective in ["target", "margin"]:
    x_fool, info = make_fooling_image(cnn, x, 6, y=y, objective=objective, return_info=True)
    print(f"objective {objective!r}\\n{'photo':36s} steps  fooled  mean |dx|  max |dx|  "
          "(pixel levels, /255)")
    for i, k in enumerate(keep):
        print(f"{paths[k].name:36s} {info['steps'][i]:5d}  {str(info['fooled'][i]):6s}  "
              f"{info['mean_change'][i]:8.2f}  {info['max_change'][i]:8.1f}")
# rounding the fooling image to 8-bit pixels undoes most of these tiny perturbations:
saved = cnn.preprocess(cnn.deprocess(x_fool), size=None, crop=None)
print("still stingray after saving as 8-bit PNG:", np.mean(cnn.scores(saved).argmax(1) == 6))
"""),
    ("code", """
def magnified(x0, x1):
    d = (x1 - x0).transpose(1, 2, 0) * pixel_scale(cnn)[0].transpose(1, 2, 0)
    return np.clip(127.5 + 127.5 * d / np.abs(d).max(), 0, 255).astype(np.uint8)

rows = []
titles = []
for i in range(min(2, len(x))):
    pred = cnn.predict(x_fool[i:i + 1], top=1)
    rows += [cnn.deprocess(x[i]), cnn.deprocess(x_fool[i]), magnified(x[i], x_fool[i])]
    titles += [cnn.class_name(y[i]), f"-> {pred.names[0][0]}", "difference (magnified)"]
show_images(rows, titles, ncols=3, size=2.8);
"""),
    ("md", """
### FGSM and iterative FGSM (Goodfellow et al. 2015; Kurakin et al. 2017)

FGSM takes one step of the **sign** of the loss gradient,
$x' = x + \\epsilon\\, \\mathrm{sign}(\\nabla_x L(x, y))$, the worst case of a linear model
under an $L_\\infty$ budget $\\epsilon$ (here in pixel levels: $\\epsilon = 2/255$ is two levels,
converted per channel to the normalized units $\\epsilon/\\sigma_c$). The iterative version
takes smaller sign steps and projects back onto the $\\epsilon$-ball and the valid range
after each."""),
    ("code", """
eps = 2 / 255
for steps in [1, 5]:
    x_adv = fgsm(cnn, x, y, eps, steps=steps)
    pred = cnn.predict(x_adv, top=1)
    change = np.abs(x_adv - x) * pixel_scale(cnn)
    print(f"steps={steps}: max change {change.max():.2f}/255, still correct: "
          f"{np.mean(pred.indices[:, 0] == y):.0%}")
"""),
    ("md", """
## 3. DeepDream (Mordvintsev, Olah & Tyka 2015)

Amplify whatever a layer already sees: maximize $\\tfrac12 \\|a\\|^2$ of the layer's
activation $a$. Its gradient with respect to $a$ is **$a$ itself**, so the injection is
simply `cnn.backward(a, cache)`. The step is normalized by the mean absolute gradient,
$x \\leftarrow x + \\eta\\, g / \\mathrm{mean}|g|$, with random jitter, and the image is
processed over octaves (each 1.4x smaller) from coarse to fine, carrying the dreamt
*detail* up to the next scale. Shallow layers add strokes and textures; deeper ones add
eyes, fur and animal parts."""),
    ("code", """
size = 160 if QUICK else 384
sky = cnn.preprocess(load_image(pick_image("sky", "coffee")), size=size, crop=None)
layers = ["fire5"] if QUICK else ["fire3", "fire5", "fire7"]
dreams = [deepdream(cnn, sky, layer, iterations=3 if QUICK else 10, octaves=2 if QUICK else 3,
                    rng=0) for layer in layers]
show_images([cnn.deprocess(sky)] + [cnn.deprocess(d) for d in dreams],
            ["sky"] + [f"dream at {l}" for l in layers], size=3.2);
"""),
    ("md", """
**Guided dreaming**: instead of $\\|a\\|^2$, maximize at every position the best dot
product with the features of a guide image, $\\sum_i \\max_j \\langle a_i, g_j \\rangle$;
the injected gradient at position $i$ is the guide feature vector $g_j$ it matches best."""),
    ("code", """
gsize = 128 if QUICK else 224
guide = cnn.preprocess(load_image(pick_image("kitten", "chelsea")), size=gsize, crop=gsize)
d = deepdream(cnn, sky, "fire5", iterations=3 if QUICK else 10, octaves=2 if QUICK else 3,
              guide=guide, rng=0)
show_images([cnn.deprocess(guide), cnn.deprocess(d)], ["guide", "guided dream at fire5"],
            size=3.2);
"""),
    ("md", """
## 4. Feature inversion (Mahendran & Vedaldi 2015)

Given the features $\\phi_0 = \\phi(x_0)$ of a photo at some layer, find an image with the same
features, starting from noise:

$$x^* = \\arg\\min_x \\frac{\\|\\phi(x) - \\phi_0\\|^2}{\\|\\phi_0\\|^2}
       + \\lambda_{TV}\\, TV^\\beta(x) + \\lambda_\\alpha \\|x\\|_\\alpha^\\alpha$$

*Gradient mechanics*: the injected gradient is $2(\\phi(x) - \\phi_0)/\\|\\phi_0\\|^2$ at the layer
(descended, so the loop ascends its negative); the total-variation prior
$TV^\\beta = \\sum_{ij} (d_v^2 + d_h^2)^{\\beta/2}$ and the $\\alpha$-norm add their own image-space
gradients (`tv_forward`/`tv_backward` in `minicnn.techniques.regularizers`). Adam does the
steps. Shallow layers keep almost everything; deeper ones keep the layout and parts while
colour and fine detail are lost: what the network considers irrelevant to its task."""),
    ("code", """
size = 96 if QUICK else 160
x0 = cnn.preprocess(load_image(pick_image("kitten", "chelsea")), size=size, crop=size)
layers = ["conv1", "fire5"] if QUICK else ["conv1", "fire3", "fire5", "fire7", "fire9"]
kw = dict(INVERSION_DEFAULTS, iterations=25 if QUICK else 200)
recs = []
for layer in layers:
    phi0, _ = cnn.forward(x0, end=layer)
    recs.append(invert_features(cnn, phi0, layer, image_size=size, rng=0, **kw))
show_images([cnn.deprocess(x0)] + [cnn.deprocess(r) for r in recs],
            ["original"] + [f"from {l}" for l in layers], size=2.4);
"""),
    ("md", """
The TV prior in closed form: on a $\\pm 1$ checkerboard every vertical and horizontal
difference is $\\pm 2$, so for $\\beta = 2$, $TV = 4C((H-1)W + H(W-1))$."""),
    ("code", """
C, H, W = 3, 8, 10
board = np.where((np.arange(H)[:, None] + np.arange(W)) % 2 == 0, 1.0, -1.0)
print(tv_norm(np.broadcast_to(board, (C, H, W)), beta=2), 4 * C * ((H - 1) * W + H * (W - 1)))
"""),
    ("md", """
## 5. Interrupting a run

Every technique runs `gradient_ascent`, which catches Ctrl-C (`KeyboardInterrupt`) inside its
loop and returns the best image found so far (with a `RuntimeWarning`), so a long run is never
lost; the command-line tools then write that image. The same happens here when a callback
raises it:"""),
    ("code", """
import warnings
def stop_at_5(t, x, value):
    if t == 5:
        raise KeyboardInterrupt
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    res = class_visualization(cnn, 683, num_iterations=100, size=96, rng=0, callback=stop_at_5,
                              return_result=True)
print(res.interrupted, len(res.values), "iterations;", caught[0].message)
"""),
    ("md", """
## 6. Multifaceted feature visualization (the lecture's missing piece)

One class visualization from noise blends every kind of image the class responds to.
Nguyen, Yosinski & Clune (2016) separate them: take the images where the class scores highest
(or its labelled images), cluster their fire9 features (PCA, then k-means), and start one
visualization from each cluster's **mean image**. A **centre bias** keeps one object in the
middle: the first phase optimizes the whole image, later phases multiply the step outside a
shrinking centre box by 0.3 and pull that border towards its blurred self.

Are the facets really different? `result.distances` holds the cosine distances of the facets'
fire9 features; `result.seed_distance` is the distance between facet 0 and the same facet run
again with another seed. Facets count as different solutions when they are farther apart than
a re-run is from itself."""),
    ("code", """
from minicnn.techniques import multifaceted_visualization
images = available_images("dataset", limit=24 if QUICK else 200)
res = multifaceted_visualization(cnn, 76, images, n_facets=2 if QUICK else 4,
                                 size=96 if QUICK else 224,
                                 num_iterations=100 if QUICK else 200, rng=0)
show_images([cnn.deprocess(f.start) for f in res.facets]
            + [cnn.deprocess(f.image) for f in res.facets],
            [f"start: mean of {f.size}" for f in res.facets]
            + [f"facet {k}: p={f.probability:.2f}" for k, f in enumerate(res.facets)], size=2.4);
print(np.round(res.distances, 3))
print(f"mean between facets {res.mean_between:.3f}; facet 0 vs another seed "
      f"{res.seed_distance:.3f}")
"""),
])
