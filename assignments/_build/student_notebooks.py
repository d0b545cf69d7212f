"""The student notebooks, one function per assignment returning (kind, source) cells.

Every notebook: an introduction, a setup cell, then per function its teaching
text and a check cell (``check(FILE, "name")``: prints PASS / FAIL with a hint /
NOT IMPLEMENTED, never raises), then a demo that runs the student's functions
on the real network, and a final cell grading the whole file.  The teaching
text is condensed from the solution walk-throughs in assignments/*.ipynb.
"""


def setup(module):
    return ("code", f"""
import os
import numpy as np
import matplotlib.pyplot as plt
from minicnn.grading import check, grade, load_student_module
QUICK = os.environ.get("MINICNN_QUICK") == "1"
FILE = "{module}.py"                 # your file, next to this notebook
np.set_printoptions(precision=4, suppress=True)
""")


def final(module):
    return [("md", "## Grade everything\nThe same report as `python -m minicnn grade .` in a "
                   "terminal."),
            ("code", "print(grade(FILE))")]


def check_cell(*names):
    return ("code", "\n".join(f'check(FILE, "{n}");' for n in names))


# =========================================================================== 1
def assignment1():
    return [
        ("md", """
# Assignment 1 · Layers and gradient checks

Every layer of minicnn is a pair of functions with no hidden state:

```python
out, cache = x_forward(x, *params, x_param)
dx, dw, db = x_backward(dout, cache)     # gradients in argument order
```

You write them in `layers.py`: affine, ReLU with its three backward rules, convolution (naive,
with stride, padding and non-square kernels), max pooling (overlapping windows, ceil mode), and
SqueezeNet's fire module from those pieces. After each function run its check cell: the grader
compares your forward with the library in float64, your backward with the library **and** with
a numeric gradient, on cases chosen to expose the classic mistakes, and names the likely one."""),
        setup("layers"),
        ("md", """
## 1 · Affine

`out = x.reshape(N, D) @ w + b`: the N inputs may have any shape `(d1, ..., dk)`; flatten each.
Backward: `dx = dout @ w.T` (reshaped like x), `dw = x_flat.T @ dout`, `db = sum_n dout`."""),
        check_cell("affine_forward", "affine_backward"),
        ("md", """
## 2 · Three backward rules for ReLU

The same forward mask `x > 0` serves three backward rules (`mode`):

| rule | dx | paper |
|---|---|---|
| `standard` | `dout * (x > 0)` | the true gradient (0 at x == 0) |
| `deconvnet` | `max(dout, 0)` | Zeiler & Fergus 2014 |
| `guided` | `max(dout, 0) * (x > 0)` | Springenberg et al. 2015 |"""),
        check_cell("relu_forward", "relu_backward"),
        ("code", """
layers = load_student_module(FILE)
x = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]])
dout = np.array([[3.0, -3.0, 5.0, 4.0, -4.0]])
try:
    _, cache = layers.relu_forward(x)
    for mode in ("standard", "deconvnet", "guided"):
        print(f"{mode:10s}", layers.relu_backward(dout, cache, mode))
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
        ("md", """
## 3 · Convolution

`conv_forward` is a cross-correlation, as `F.conv2d` (the kernel is not flipped):
`out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*sh + u, j*sw + v]`,
with output size `(H + 2 ph - KH) // sh + 1`. SqueezeNet's conv1 is 3x3 with stride 2 on a
224-pixel input, which leaves a remainder: `floor((224 - 3) / 2) + 1 = 111`.

Its backward scatters each output gradient back onto the window it read, correlates the window
with `dout` for `dw` (summed over the batch), sums `dout` for `db`, and finally crops the
padding: crop is the adjoint of pad. Check your gradient yourself with centred differences:"""),
        check_cell("conv_forward"),
        ("code", """
from minicnn.gradient_check import eval_numerical_gradient_array, rel_error
rng = np.random.default_rng(0)
x, w, b = rng.standard_normal((2, 3, 7, 7)), rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
param = {"stride": 2, "pad": 1}
try:
    layers = load_student_module(FILE)
    out, cache = layers.conv_forward(x, w, b, param)
    dout = rng.standard_normal(out.shape)
    dx, dw, db = layers.conv_backward(dout, cache)
    num = eval_numerical_gradient_array(lambda v: layers.conv_forward(v, w, b, param)[0], x.copy(), dout)
    print(f"dx: relative error {rel_error(dx, num):.2e} (below 1e-7 when right)")
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
        check_cell("conv_backward"),
        ("md", """
## 4 · Max pooling with overlapping windows and ceil mode

SqueezeNet pools with 3x3 windows and stride 2, so windows overlap, and it rounds the output
size up (`ceil_mode`, as Caffe and torchvision): on a 113-pixel map that gives 56 outputs, the
last window hanging over the edge. The backward routes each gradient to the input that won its
window; where windows overlap an input can receive several gradients, which add up. On ties,
the first maximum (row-major) takes it all."""),
        check_cell("max_pool_forward", "max_pool_backward"),
        ("md", """
## 5 · The fire module

SqueezeNet's building block (Iandola et al. 2016): a 1x1 *squeeze* convolution + ReLU, then two
parallel *expand* convolutions (1x1, and 3x3 with padding 1) + ReLU, concatenated along the
channels, expand1x1 first. Its backward mirrors the forward: concat becomes split, and the
squeeze output, which fed both branches, receives the sum of their gradients (fan-out -> add)."""),
        check_cell("fire_forward", "fire_backward"),
        ("md", """
## 6 · Your layers inside SqueezeNet

A tiny SqueezeNet with random weights (`minicnn.SqueezeNet.tiny`) has the same blocks as the
real one. Run conv1, pool1 and fire2 with *your* functions and compare with the model's own
forward pass."""),
        ("code", """
import minicnn
cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
x = np.random.default_rng(2).standard_normal((2, 3, 36, 36))
P = cnn.params
try:
    layers = load_student_module(FILE)
    h, _ = layers.conv_forward(x, P["conv1/W"], P["conv1/b"], {"stride": 2, "pad": 0})
    h, _ = layers.relu_forward(h)
    h, _ = layers.max_pool_forward(h, {"pool_height": 3, "pool_width": 3, "stride": 2, "ceil_mode": True})
    h, _ = layers.fire_forward(h, *[P[f"fire2/{part}/{k}"] for part in ("squeeze1x1", "expand1x1", "expand3x3") for k in "Wb"])
    ref, _ = cnn.forward(x, end="fire2")
    print("fire2 from your layers equals the model's:", np.allclose(h, ref), h.shape)
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("layers")


# =========================================================================== 4
def assignment4():
    return [
        ("md", """
# Assignment 4 · Style: the losses and their gradients, then style transfer

Gatys et al. (2016) optimize the pixels of an image to minimize
$L = w_c \\sum (F - P)^2 + \\sum_\\ell w_\\ell \\sum (G_\\ell - A_\\ell)^2 + w_{tv} TV(x)$.
There is no autograd in minicnn: each loss in `style.py` returns its value **and** its gradient
with respect to the features, and one `cnn.backward` call takes the gradients injected at all
loss layers. You derive them by hand; the grader checks them against the library and a numeric
gradient."""),
        setup("style"),
        ("md", """
## 1 · Content loss
At one layer with features $F$ (current image) and $P$ (content image):
$L_c = w_c \\sum (F - P)^2$, so $\\partial L_c / \\partial F = 2 w_c (F - P)$."""),
        check_cell("content_loss"),
        ("md", """
## 2 · The Gram matrix and its backward
Reshape the features of one image to $F \\in \\mathbb{R}^{C \\times M}$, $M = HW$. Then
$G = F F^\\top / (C H W)$: entry $G_{ij}$ is the (scaled) correlation of channels $i$ and $j$ over
all positions -- the spatial layout is summed away, which is why it describes *texture*, not
*objects*. $G$ is bilinear in $F$: derive its backward. (Hint: the upstream $dG$ is not
symmetric in general.)"""),
        check_cell("gram_forward", "gram_backward"),
        ("md", """
## 3 · Style loss
$L_s = \\sum_\\ell w_\\ell \\sum (G_\\ell - A_\\ell)^2$ over the style layers, with
$dG_\\ell = 2 w_\\ell (G_\\ell - A_\\ell)$ fed to your Gram backward."""),
        check_cell("style_loss"),
        ("md", """
## 4 · Total variation
$TV(x) = \\sum (x_{i+1,j} - x_{i,j})^2 + (x_{i,j+1} - x_{i,j})^2$ over all channels penalizes
high-frequency noise; each difference $d = a - b$ sends $+2d$ to $a$ and $-2d$ to $b$."""),
        check_cell("tv_loss"),
        ("md", """
## 5 · Style transfer with your losses
One forward pass to the deepest loss layer, your losses read from `cache.activations`, one
backward pass with their gradients injected, and an Adam step on the pixels. (The library's
`minicnn.techniques.style_transfer` is the same loop with more options.)

Units, so that the same numbers work with either weights set: the image is optimized in pixel
levels `u = x * s` (`s = pixel_scale(cnn)`, levels per normalized unit; the gradient is
`du = dx / s`), so Adam's step (2.9 levels) and the TV weight (per squared level) mean the
same for the torchvision and the Caffe weights. cs231n's content and style weights were tuned
on the torchvision features; another set's features are `feature_scale` times as large, so the
content weight is divided by its square and each style weight by its fourth power."""),
        ("code", """
import minicnn
from minicnn.data import load_image, pick_image
from minicnn.optim import adam
from minicnn.techniques.regularizers import pixel_scale
from minicnn.techniques.style import load_style_image
from minicnn.weights import feature_scale
try:
    S = load_student_module(FILE)
    cnn = minicnn.load_squeezenet()
    size = 96 if QUICK else 192
    content = cnn.preprocess(load_image(pick_image("tubingen", "chelsea")), size=size, crop=None)
    style = cnn.preprocess(load_style_image("starry_night"), size=size, crop=None)
    style_layers, style_weights = ["conv1", "fire3", "fire4", "fire5"], [300000, 1000, 15, 3]
    content_weight = 6e-2 / feature_scale(cnn.meta, "fire2") ** 2
    style_weights = [w / feature_scale(cnn.meta, l) ** 4 for w, l in zip(style_weights, style_layers)]
    _, cache = cnn.forward(style, end="fire5")
    targets = [S.gram_matrix(cache.activations[l]) for l in style_layers]
    _, cache = cnn.forward(content, end="fire2")
    content_target = cache.activations["fire2"].copy()
    s = pixel_scale(cnn).astype(content.dtype)          # pixel levels per normalized unit
    u, config = content * s, {"learning_rate": 2.88}    # the image in pixel levels
    for t in range(10 if QUICK else 150):
        _, cache = cnn.forward(u / s, end="fire5")
        lc, dc = S.content_loss(content_weight, cache.activations["fire2"], content_target)
        ls, dfeats = S.style_loss(cache.activations, style_layers, targets, style_weights)
        ltv, dtv = S.tv_loss(u, 6e-6)                     # per squared pixel level
        dfeats["fire2"] = dfeats.get("fire2", 0) + dc
        dx, _ = cnn.backward(dfeats, cache, param_grads=False)
        u, config = adam(u, dx / s + dtv, config)
    x = u / s
    print(f"losses: content {lc:.3g}, style {ls:.3g}, tv {ltv:.3g}")
    plt.imshow(cnn.deprocess(x[0])); plt.axis("off");
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("style")



# =========================================================================== 2
def assignment2():
    return [
        ("md", """
# Assignment 2 · Saliency, guided backprop, occlusion, Grad-CAM

Which pixels matter for a class score? Each method here is one or a few passes of the network:
a backward pass from a one-hot gradient at the scores (saliency, Simonyan et al. 2014), from one
neuron under three ReLU rules (deconvnet, Zeiler & Fergus 2014; guided backprop, Springenberg et
al. 2015), forward passes of occluded copies (Zeiler & Fergus 2014), or a gradient-weighted sum
of a layer's maps (Grad-CAM, Selvaraju et al. 2017). The grader runs your functions on a tiny
random SqueezeNet (offline); the demo runs them on the pretrained one."""),
        setup("attribution"),
        ("md", """
## 1 · Saliency
`M[n, i, j] = max_c |d s_y / d x[n, c, i, j]|`, with `s_y` the raw class score (not the softmax
probability: its gradient also depends on the other classes)."""),
        check_cell("saliency_map"),
        ("md", """
## 2 · One neuron, three backward rules
Inject a 1 at one neuron `a[n, channel, i, j]` of a layer (its strongest position when none is
given) and go back with `relu_mode` = `standard`, `deconvnet` or `guided`."""),
        check_cell("neuron_gradient"),
        ("md", """
## 3 · Occlusion
Slide a grey square over the image and record how the class probability drops."""),
        check_cell("occlusion_map"),
        ("md", """
## 4 · Grad-CAM
`alpha_k = mean_ij d s_y / d A_k`, `cam = relu(sum_k alpha_k A_k)`, upsampled to the image."""),
        check_cell("gradcam"),
        ("md", "## 5 · On a real photo"),
        ("code", """
import minicnn
from minicnn.data import load_image, pick_image
try:
    A = load_student_module(FILE)
    cnn = minicnn.load_squeezenet()
    x = cnn.preprocess(load_image(pick_image("kitten", "chelsea")))
    y = int(cnn.predict(x, top=1).indices[0, 0])
    sal = A.saliency_map(cnn, x, y)
    guided = A.neuron_gradient(cnn, x, "fire9", 10, relu_mode="guided")
    cam = A.gradcam(cnn, x, y, "fire9")
    occ = A.occlusion_map(cnn, x, y, size=64, stride=32 if QUICK else 16)
    fig, axes = plt.subplots(1, 5, figsize=(15, 3))
    g = guided[0].transpose(1, 2, 0); g = (g - g.min()) / (g.max() - g.min() + 1e-12)
    for ax, im, t in zip(axes, [cnn.deprocess(x[0]), sal[0], g, cam[0], occ[0]],
                         ["image", "saliency", "guided fire9/10", "Grad-CAM", "occlusion"]):
        ax.imshow(im, cmap="hot" if im.ndim == 2 else None); ax.set_title(t); ax.axis("off")
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("attribution")


# =========================================================================== 3
def assignment3():
    return [
        ("md", """
# Assignment 3 · Image synthesis

Gradient *ascent* on the pixels: you write one step of each technique (in the model's
normalized units, as cs231n), and the notebook runs the loops: class visualization with L2,
jitter, blur and clamping (Simonyan et al. 2014; Yosinski et al. 2015), fooling images (Szegedy
et al. 2014), DeepDream (`0.5 ||a||^2`, whose gradient is the activation itself; Mordvintsev et
al. 2015) and the feature inversion objective with total variation (Mahendran & Vedaldi 2015)."""),
        setup("synthesis"),
        ("md", "## 1 · Class visualization step\n`g = ds/dx - 2 l2_reg x` on the jittered "
               "image (rolled back), then `x += lr * g / ||g||`."),
        check_cell("class_visualization_step"),
        ("md", "## 2 · Fooling step"),
        check_cell("fooling_step"),
        ("md", "## 3 · DeepDream step"),
        check_cell("deepdream_step"),
        ("md", "## 4 · Feature inversion objective (value and gradient)"),
        check_cell("feature_inversion_loss"),
        ("md", "## 5 · The loops, on the pretrained network"),
        ("code", """
import minicnn
from minicnn.data import load_image, pick_image
from minicnn.techniques.regularizers import gaussian_blur, pixel_range
try:
    Y = load_student_module(FILE)
    cnn = minicnn.load_squeezenet()
    rng = np.random.default_rng(0)
    lo, hi = pixel_range(cnn)
    size = 96 if QUICK else 224
    x = rng.standard_normal((1, 3, size, size)).astype(cnn.dtype)
    for t in range(10 if QUICK else 100):                # class 76: tarantula
        shift = tuple(int(v) for v in rng.integers(0, 17, 2))
        x = np.clip(Y.class_visualization_step(cnn, x, 76, 1e-3, 25.0, shift), lo, hi)
        if t % 10 == 0:
            x = gaussian_blur(x, 0.5)
    img = cnn.preprocess(load_image(pick_image("sky", "coffee")), size=size, crop=None)
    dream = img.copy()
    for t in range(5 if QUICK else 20):
        dream = np.clip(Y.deepdream_step(cnn, dream, "fire5", 0.02), lo, hi)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, im, title in zip(axes, [x[0], dream[0]], ["class 76", "DeepDream fire5"]):
        ax.imshow(cnn.deprocess(im)); ax.set_title(title); ax.axis("off")
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("synthesis")


# =========================================================================== 5
def assignment5():
    return [
        ("md", """
# Assignment 5 · Fast style transfer: the layers

Johnson et al. (2016) train a feed-forward network to stylize in one pass. Its layers, which you
write with their backward passes: instance normalization (statistics per image and channel,
Ulyanov et al. 2016) and its conditional form (a (gamma, beta) row per style, Dumoulin et al.
2017), nearest-neighbour upsampling (then a convolution, instead of a transposed convolution:
no checkerboard, Odena et al. 2016) and reflection padding (no dark border). Every adjoint is
checked against the library and a numeric gradient."""),
        setup("transformer_layers"),
        ("md", "## 1 · Instance normalization"),
        check_cell("instance_norm_forward", "instance_norm_backward"),
        ("md", "## 2 · Conditional instance normalization"),
        check_cell("conditional_instance_norm_forward", "conditional_instance_norm_backward"),
        ("md", "## 3 · Nearest-neighbour upsampling\nThe adjoint of a copy is a sum."),
        check_cell("upsample_nearest_forward", "upsample_nearest_backward"),
        ("md", "## 4 · Reflection padding\nThe adjoint folds the border back onto the rows it "
               "copied."),
        check_cell("reflection_pad_forward", "reflection_pad_backward"),
        ("md", "## 5 · Your layers next to the library\nYour instance norm on random features, "
               "compared with the library's."),
        ("code", """
from minicnn import transformer_layers as T
try:
    L5 = load_student_module(FILE)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 4, 8, 8))
    g, b = rng.standard_normal(4), rng.standard_normal(4)
    mine = L5.instance_norm_forward(x, g, b)[0]
    print("instance norm equals the library's:", np.allclose(mine, T.instance_norm_forward(x, g, b)[0]))
    print("mean per (image, channel) after normalization (gamma=1, beta=0):",
          L5.instance_norm_forward(x, np.ones(4), np.zeros(4))[0].mean(axis=(2, 3)).round(6).max())
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("transformer_layers")


# =========================================================================== 6
def assignment6():
    return [
        ("md", """
# Assignment 6 · Inside the network

What does a unit see? Its receptive field follows from the layer table alone; the patches that
excite a channel most show what it detects; and nearest neighbours in feature space (not in
pixel space) find images of the same kind (Krizhevsky et al. 2012). scikit-learn is allowed for
the neighbours."""),
        setup("activations"),
        ("md", "## 1 · Receptive fields\n`r += (k - 1) * jump`, `offset -= pad * jump`, "
               "`jump *= stride`, layer after layer."),
        check_cell("receptive_fields"),
        ("md", "## 2 · Top patches"),
        check_cell("top_patches"),
        ("md", "## 3 · Nearest neighbours"),
        check_cell("nearest_neighbors"),
        ("md", "## 4 · On the pretrained network"),
        ("code", """
import minicnn
from minicnn.data import available_images, load_image
try:
    N6 = load_student_module(FILE)
    cnn = minicnn.load_squeezenet()
    for name, field in N6.receptive_fields(cnn).items():
        print(f"{name:7s} size {field[0]:4d}  stride {field[1]:3d}  offset {field[2]:4d}")
    photos = available_images("photos", limit=4 if QUICK else 8)
    x = cnn.preprocess([load_image(p) for p in photos])
    feats = cnn.forward(x, end="fire9")[0].mean(axis=(2, 3))
    dist, idx = N6.nearest_neighbors(feats, np.arange(len(x)), k=2, exclude_self=True)
    print("nearest neighbour of each photo in fire9 space:", idx[:, 0])
    for score, image, box in N6.top_patches(cnn, x, "fire5", 10, k=3):
        print(f"fire5/10: {score:.2f} in photo {image} at {box}")
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("activations")


NOTEBOOKS = {1: assignment1, 2: assignment2, 3: assignment3, 4: assignment4, 5: assignment5,
             6: assignment6}
