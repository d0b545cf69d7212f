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
`minicnn.techniques.style_transfer` is the same loop with more options.)"""),
        ("code", """
import minicnn
from minicnn.data import load_image, pick_image
from minicnn.optim import adam
from minicnn.techniques.style import load_style_image
try:
    S = load_student_module(FILE)
    cnn = minicnn.load_squeezenet()
    size = 96 if QUICK else 192
    content = cnn.preprocess(load_image(pick_image("tubingen", "chelsea")), size=size, crop=None)
    style = cnn.preprocess(load_style_image("starry_night"), size=size, crop=None)
    style_layers, style_weights = ["conv1", "fire3", "fire4", "fire5"], [300000, 1000, 15, 3]
    _, cache = cnn.forward(style, end="fire5")
    targets = [S.gram_matrix(cache.activations[l]) for l in style_layers]
    _, cache = cnn.forward(content, end="fire2")
    content_target = cache.activations["fire2"].copy()
    x, config = content.copy(), {"learning_rate": 0.05}
    for t in range(10 if QUICK else 150):
        _, cache = cnn.forward(x, end="fire5")
        lc, dc = S.content_loss(6e-2, cache.activations["fire2"], content_target)
        ls, dfeats = S.style_loss(cache.activations, style_layers, targets, style_weights)
        ltv, dtv = S.tv_loss(x, 2e-2)
        dfeats["fire2"] = dfeats.get("fire2", 0) + dc
        dx, _ = cnn.backward(dfeats, cache, param_grads=False)
        x, config = adam(x, dx + dtv, config)
    print(f"losses: content {lc:.3g}, style {ls:.3g}, tv {ltv:.3g}")
    plt.imshow(cnn.deprocess(x[0])); plt.axis("off");
except NotImplementedError as exc:
    print("not yet:", exc)
"""),
    ] + final("style")


NOTEBOOKS = {1: assignment1, 4: assignment4}
