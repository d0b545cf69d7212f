"""Builds 06_texture_and_style_transfer.ipynb (outputs cleared): `python build_06.py`."""
from pathlib import Path

from nb import write

HERE = Path(__file__).resolve().parents[1]

write(HERE / "06_texture_and_style_transfer.ipynb", [
    ("md", """
# 06 · Texture synthesis and neural style transfer

The lecture ends with techniques that *generate* images:

1. **Efros & Leung (1999)**: non-parametric texture synthesis, pixel by pixel, no network.
2. **Gatys et al. (2015)**: neural texture synthesis by matching Gram matrices of CNN features.
3. **Gatys et al. (2016)**: neural style transfer = content loss + style (Gram) loss + total
   variation, optimized on the pixels.

Everything runs on SqueezeNet 1.1 with explicit backward passes: the losses of
`minicnn/losses.py` return their gradients, and one `cnn.backward` call takes the gradients
injected at all loss layers. With `MINICNN_QUICK=1` the iteration counts and image sizes are
cut so that the notebook runs in well under a minute."""),
    ("code", """
import os, time
import numpy as np
import matplotlib.pyplot as plt
import minicnn
from minicnn.data import find_image, load_image, pick_image, resize_short_side, center_crop
from minicnn.losses import gram_forward, gram_backward, gram_matrix, tv_loss, content_loss
from minicnn.gradient_check import eval_numerical_gradient_array, eval_numerical_gradient, rel_error
from minicnn.plotting import show_images, show_loss_curves
QUICK = os.environ.get("MINICNN_QUICK") == "1"
rng = np.random.default_rng(0)
cnn = minicnn.load_squeezenet()
print("QUICK" if QUICK else "full run")
"""),
    ("md", """
## 1 · The losses and their gradients

**Content loss** at one layer with features $F$ (current image) and $P$ (content image):
$L_c = w_c \\sum (F - P)^2$, so $\\partial L_c / \\partial F = 2 w_c (F - P)$.

**Gram matrix.** Reshape the features of one image to $F \\in \\mathbb{R}^{C \\times M}$,
$M = HW$. Then $G = F F^\\top / (C H W)$: entry $G_{ij}$ is the (scaled) correlation of channels
$i$ and $j$ over all positions -- the spatial layout is summed away, which is why it describes
*texture*, not *objects*. $G$ is bilinear in $F$, so its backward is
$dF = (dG + dG^\\top) F / (CHW)$. **Style loss** sums $w_\\ell \\sum (G_\\ell - A_\\ell)^2$ over
layers, with gradient $dG_\\ell = 2 w_\\ell (G_\\ell - A_\\ell)$ fed to the Gram backward.

**Total variation** $\\sum (x_{i+1,j} - x_{i,j})^2 + (x_{i,j+1} - x_{i,j})^2$ penalizes
high-frequency noise; each difference $d = a - b$ sends $+2d$ to $a$ and $-2d$ to $b$.

We check each backward against centred differences in float64."""),
    ("code", """
x = rng.standard_normal((2, 3, 4, 5))
dgram = rng.standard_normal((2, 3, 3))
g, cache = gram_forward(x)
num = eval_numerical_gradient_array(lambda v: gram_forward(v)[0], x, dgram)
print("gram backward rel error:", rel_error(gram_backward(dgram, cache), num))
print("symmetric:", np.allclose(g, g.transpose(0, 2, 1)),
      " min eigenvalue:", np.linalg.eigvalsh(g).min().round(6),
      " trace == mean(F^2):", np.allclose(np.trace(g, axis1=1, axis2=2), (x ** 2).mean((1, 2, 3))))
img = rng.standard_normal((1, 3, 5, 6))
loss, dimg = tv_loss(img, 0.5)
print("tv backward rel error:", rel_error(dimg, eval_numerical_gradient(lambda v: tv_loss(v, 0.5)[0], img)))
board = np.where((np.arange(6)[:, None] + np.arange(6)) % 2, 1.0, -1.0)[None, None]
print("TV of a +-1 checkerboard:", tv_loss(board, 1.0)[0], "= 4 * 2 * 5 * 6 =", 4 * 2 * 5 * 6)
"""),
    ("md", """
## 2 · Efros & Leung: non-parametric sampling

Start from a 3x3 seed copied from the source. Repeatedly take the unfilled pixels that touch
filled ones (most filled neighbours first). For each, compare its *known* neighbourhood with
every window of the source using a Gaussian-weighted SSD (sigma = window / 6.4), take all
windows within 10% of the best match, pick one at random and copy its centre pixel (if its
error is below 0.3; a pass that fills nothing relaxes that threshold by 10%).

The search over all source windows is the hot loop: `kernels/texture.pyx` does it in Cython
(`minicnn._texture.window_ssd`), and `window_ssd_numpy` is its bit-identical NumPy twin."""),
    ("code", """
from minicnn.techniques import efros_leung
from minicnn.techniques.texture import TEXTURE_BACKEND
src_size, out_size = (24, 24) if QUICK else (64, 64)
sources, results, titles = [], [], []
for name in ["brick", "gravel"] if QUICK else ["brick", "grass", "gravel"]:
    src = center_crop(resize_short_side(load_image(find_image(name)), src_size), src_size)
    t = time.perf_counter()
    out = efros_leung(src, out_size, window=7 if QUICK else 11, rng=0)
    sources.append(src); results.append(out)
    titles += [f"{name} source", f"Efros-Leung {time.perf_counter() - t:.1f}s"]
grey = efros_leung(sources[0].mean(-1).astype(np.uint8), out_size, window=7 if QUICK else 11, rng=1)
show_images([im for pair in zip(sources, results) for im in pair] + [grey],
            titles + ["grey"], size=2.2)
print("kernel backend:", TEXTURE_BACKEND)
"""),
    ("md", """
## 3 · Gram-matrix texture synthesis (Gatys et al. 2015)

Start from noise and minimize $\\sum_\\ell w_\\ell \\|G_\\ell(x) - G_\\ell(\\text{texture})\\|^2$.
One forward pass to the deepest style layer gives all features through
`cache.activations`; the style-loss gradients are injected at their layers in a single
backward pass. Matching only `conv1` reproduces colours and tiny edges; adding `fire3`,
`fire4`, `fire5` brings larger structures (swirls, strokes)."""),
    ("code", """
from minicnn.techniques import texture_synthesis
iters = 10 if QUICK else 200
size = (48, 48) if QUICK else (192, 192)
# QUICK compresses cs231n's schedule (lr 3.0 -> 0.1 at 90%, clamp until 95%) to the short run
sched = {"decay_lr_at": iters * 9 // 10, "clamp_until": iters * 19 // 20} if QUICK else {}
layer_sets = [("conv1",), ("conv1", "fire3", "fire4", "fire5")] if QUICK else \\
             [("conv1",), ("conv1", "fire3"), ("conv1", "fire3", "fire4"), ("conv1", "fire3", "fire4", "fire5")]
images, titles = [], []
for layers in layer_sets:
    history = []
    x = texture_synthesis(cnn, "starry_night", style_layers=layers,
                          style_weights=(300000, 1000, 15, 3)[:len(layers)],
                          out_size=size, iterations=iters, rng=0, history=history, **sched)
    images.append(cnn.deprocess(x))
    titles.append(f"{'+'.join(layers)}: -{1 - history[-1]['style'] / history[0]['style']:.0%}")
show_images(images, titles, size=3)
"""),
    ("md", """
## 4 · Neural style transfer (Gatys et al. 2016)

$L = w_c L_{content}(\\text{fire2}) + \\sum_\\ell w_\\ell L_{style}(\\ell) + w_{tv} TV(x)$,
with cs231n's schedule: Adam at learning rate 3.0, switching to 0.1 at iteration 180,
200 iterations, pixels clamped to +-1.5 in the normalized space. The three cs231n parameter
sets are presets (`composition_vii`, `the_scream`, `starry_night`)."""),
    ("code", """
from minicnn.techniques.style import style_transfer_preset, PRESETS
iters = 8 if QUICK else 200
small = {"image_size": 48, "style_size": 64, "decay_lr_at": 7, "clamp_until": 7} if QUICK else {}
CONTENT = str(pick_image("tubingen", "chelsea"))      # cs231n's photo, else the embedded cat
images, titles, histories = [load_image(CONTENT)], ["content"], {}
for preset in ["starry_night"] if QUICK else ["composition_vii", "the_scream", "starry_night"]:
    history = []
    t = time.perf_counter()
    x = style_transfer_preset(cnn, preset, content=CONTENT, iterations=iters, history=history, **small)
    images.append(cnn.deprocess(x)); histories[preset] = history
    titles.append(f"{preset} ({time.perf_counter() - t:.0f}s, style -{1 - history[-1]['style'] / history[0]['style']:.0%})")
show_images(images, titles, size=3.2)
show_loss_curves(histories[preset], title=preset);
"""),
    ("md", """
## 5 · Feature inversion, blends, style size and colours

* **Feature inversion** (Mahendran & Vedaldi 2015) is the special case with zero style weights
  from random noise: what does `fire2` remember of the photo?
* **Blending**: the target Gram is the weighted average of the styles' Grams (weights
  normalized to sum 1), so one image can mix two paintings.
* **Style size**: a larger style image gives larger strokes, because the receptive fields
  cover a smaller part of the painting.
* **Keeping colours**: take the luminance of the result and the chrominance of the photo."""),
    ("code", """
images, titles = [], []
iters = 4 if QUICK else 200
x = style_transfer_preset(cnn, "feature_inversion", content=CONTENT, iterations=iters, rng=0, **small)
images.append(cnn.deprocess(x)); titles.append("feature inversion (fire2)")
x = style_transfer_preset(cnn, "starry_night", content=CONTENT, styles=["starry_night", "the_scream"],
                          blend=[0.5, 0.5], iterations=iters, **small)
images.append(cnn.deprocess(x)); titles.append("blend starry night + scream")
for style_size in ([] if QUICK else [192, 512]):
    x = style_transfer_preset(cnn, "starry_night", content=CONTENT, iterations=iters,
                              **dict(small, style_size=style_size))
    images.append(cnn.deprocess(x)); titles.append(f"style size {style_size}")
x = style_transfer_preset(cnn, "starry_night", content=CONTENT, keep_colors=True, iterations=iters, **small)
images.append(cnn.deprocess(x)); titles.append("content colours kept")
show_images(images, titles, size=3.2)
"""),
])
