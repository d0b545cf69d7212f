"""Builds 01_layers_and_gradient_checks.ipynb and 02_squeezenet.ipynb (outputs cleared)."""
from pathlib import Path

from nb import write

HERE = Path(__file__).resolve().parents[1]

SETUP = """
import os, time
import numpy as np
import matplotlib.pyplot as plt
QUICK = os.environ.get("MINICNN_QUICK") == "1"
np.set_printoptions(precision=4, suppress=True)
"""

write(HERE / "01_layers_and_gradient_checks.ipynb", [
    ("md", """
# 01 · Layers and gradient checks

Every layer in minicnn is a pair of functions with no hidden state:

```python
out, cache = x_forward(x, *params, x_param)
dx, dw, db = x_backward(dout, cache)     # gradients in argument order
```

`minicnn/layers.py` holds the readable reference versions (loops over output positions);
`minicnn/fast_layers.py` has the same signatures built on im2col + one GEMM and Cython pooling
kernels. In this notebook we check every backward pass against centred finite differences and
then check that fast equals naive."""),
    ("code", SETUP + """
from minicnn import layers, fast_layers
from minicnn.gradient_check import eval_numerical_gradient_array, rel_error
rng = np.random.default_rng(0)
"""),
    ("md", """
## Convolution

`conv_forward` is a cross-correlation, as `F.conv2d`:
`out[n, f, i, j] = b[f] + sum_{c,u,v} w[f, c, u, v] * xpad[n, c, i*s + u, j*s + v]`.
Its backward scatters each output gradient back onto the window it read (and crops the padding:
crop is the adjoint of pad). SqueezeNet's conv1 is 3x3 with stride 2 on a 224-pixel input,
which leaves a remainder: the output size is `floor((224 - 3) / 2) + 1 = 111`."""),
    ("code", """
x = rng.standard_normal((2, 3, 7, 7))
w = rng.standard_normal((4, 3, 3, 3))
b = rng.standard_normal(4)
conv_param = {"stride": 2, "pad": 0}
out, cache = layers.conv_forward(x, w, b, conv_param)
dout = rng.standard_normal(out.shape)
dx, dw, db = layers.conv_backward(dout, cache)
f = lambda **kw: layers.conv_forward(kw.get("x", x), kw.get("w", w), kw.get("b", b), conv_param)[0]
for name, value, grad in [("x", x, dx), ("w", w, dw), ("b", b, db)]:
    num = eval_numerical_gradient_array(lambda v: f(**{name: v}), value.copy(), dout)
    print(f"d{name}: relative error {rel_error(grad, num):.2e}")
print("output shape", out.shape)
"""),
    ("md", """
## Max pooling with overlapping windows and ceil mode

SqueezeNet pools with 3x3 windows and stride 2, so windows overlap, and it rounds the output
size up (`ceil_mode`, as Caffe and torchvision): on a 113-pixel map that gives 56 outputs, the
last window hanging over the edge. The backward pass routes each gradient to the input that won
its window; where windows overlap an input can receive several gradients, which add up."""),
    ("code", """
x = rng.permutation(2 * 2 * 7 * 7).reshape(2, 2, 7, 7) * 0.1   # no ties
pool = {"pool_height": 3, "pool_width": 3, "stride": 2, "ceil_mode": True}
out, cache = layers.max_pool_forward(x, pool)
dout = rng.standard_normal(out.shape)
dx = layers.max_pool_backward(dout, cache)
num = eval_numerical_gradient_array(lambda v: layers.max_pool_forward(v, pool)[0], x.copy(), dout)
print("out shape", out.shape, " floor mode would give",
      layers.max_pool_forward(x, dict(pool, ceil_mode=False))[0].shape)
print(f"dx relative error {rel_error(dx, num):.2e}")
"""),
    ("md", """
## Three backward rules for ReLU

The same forward mask `x > 0` serves three backward rules (`relu_mode`):

| rule | dx | paper |
|---|---|---|
| `standard` | `dout * (x > 0)` | the true gradient |
| `deconvnet` | `max(dout, 0)` | Zeiler & Fergus 2014 |
| `guided` | `max(dout, 0) * (x > 0)` | Springenberg et al. 2015 |"""),
    ("code", """
x = np.array([[-2.0, -1.0, 1.0, 2.0]])
dout = np.array([[3.0, -3.0, 4.0, -4.0]])
_, cache = layers.relu_forward(x)
for mode in layers.RELU_MODES:
    print(f"{mode:10s}", layers.relu_backward(dout, cache, mode))
"""),
    ("md", """
## Naive versus fast

The fast convolution builds columns (im2col) and does one matrix product per image; a 1x1
convolution needs no columns at all. Both must agree to 1e-9 in float64."""),
    ("code", """
x = rng.standard_normal((2, 16, 27, 27))
w = rng.standard_normal((32, 16, 3, 3))
b = rng.standard_normal(32)
p = {"stride": 1, "pad": 1}
t = time.perf_counter(); out_naive, cache_naive = layers.conv_forward(x, w, b, p); t_naive = time.perf_counter() - t
t = time.perf_counter(); out_fast, cache_fast = fast_layers.conv_forward(x, w, b, p); t_fast = time.perf_counter() - t
dout = rng.standard_normal(out_fast.shape)
print(f"forward: naive {t_naive*1e3:.1f} ms, fast {t_fast*1e3:.2f} ms, rel error {rel_error(out_naive, out_fast):.1e}")
for name, a, c in zip("x w b".split(), layers.conv_backward(dout, cache_naive),
                      fast_layers.conv_backward(dout, cache_fast)):
    print(f"d{name} rel error {rel_error(a, c):.1e}")
import minicnn
minicnn.show_config();
"""),
])

write(HERE / "02_squeezenet.ipynb", [
    ("md", """
# 02 · SqueezeNet 1.1, layer by layer

The pretrained SqueezeNet 1.1 is a list of 14 named blocks. We follow an image from pixels to
scores and back: `preprocess -> forward -> backward`."""),
    ("code", SETUP + """
import minicnn
from minicnn.data import available_images, load_image, pick_image
cnn = minicnn.load_squeezenet()
print(cnn)
print(cnn.layer_names)
"""),
    ("md", """
## Classify real photos
`cnn.preprocess` resizes the short side to 256 (bilinear), crops the centre 224 and normalizes
with the mean and std stored with the weights."""),
    ("code", """
# the labelled ImageNet sample when this machine has it, else the embedded photos
dataset = available_images("dataset", limit=8 if QUICK else 32)
paths, labels = list(dataset), dataset.labels
images = [load_image(p) for p in paths]
x = cnn.preprocess(images)
pred = cnn.predict(x, top=5)
known = labels >= 0                           # embedded photos: only some have a class
top1 = (pred.indices[known, 0] == labels[known]).mean()
top5 = (pred.indices[known] == labels[known, None]).any(axis=1).mean()
print(f"{len(paths)} photos from {dataset.source}, {known.sum()} labelled: "
      f"top-1 {top1:.2f}, top-5 {top5:.2f}")
fig, axes = plt.subplots(1, 4, figsize=(12, 3.5))
for ax, img, names, probs in zip(axes, cnn.deprocess(x[:4]), pred.names, pred.probabilities):
    ax.imshow(img); ax.axis("off"); ax.set_title(f"{names[0]} {probs[0]:.0%}", fontsize=9)
"""),
    ("md", "## Take the network apart\nEvery block's output is in `cache.activations`, and `forward(x, start, end)` runs any contiguous range."),
    ("code", """
scores, cache = cnn.forward(x[:1])
for name, a in cache.activations.items():
    if "/" not in name:
        print(f"{name:7s} {str(a.shape):22s} zeros {np.mean(a == 0):.0%}")
h, _ = cnn.forward(x[:1], end="fire5")
rest, _ = cnn.forward(h, start="pool5")
print("forward(0..fire5) then forward(pool5..end) equals forward(all):", np.allclose(rest, scores))
"""),
    ("md", """
## Back to the pixels
`cnn.backward(dout, cache)` takes the gradient at the end layer and returns the gradient at the
input and (unless `param_grads=False`) the weight gradients. Here: the gradient of the top class
score, then the same with guided backprop."""),
    ("code", """
c = int(np.argmax(scores[0]))
dscores = np.zeros_like(scores); dscores[0, c] = 1
dx, grads = cnn.backward(dscores, cache)
dx_guided, _ = cnn.backward(dscores, cache, relu_mode="guided", param_grads=False)
print("dx", dx.shape, " weight gradients:", len(grads))
sal = np.abs(dx[0]).max(axis=0)
g = dx_guided[0].transpose(1, 2, 0); g = (g - g.min()) / (g.max() - g.min())
fig, axes = plt.subplots(1, 3, figsize=(10, 3.5))
for ax, im, t in zip(axes, [cnn.deprocess(x[0]), sal, g], ["image", "|dscore/dx|", "guided backprop"]):
    ax.imshow(im, cmap="hot" if im.ndim == 2 else None); ax.axis("off"); ax.set_title(t)
"""),
    ("md", """
## The DeepDream loop from the lecture notes
The objective `0.5 * ||a||^2` has the activation itself as its gradient, so the loop is just:"""),
    ("code", """
image = cnn.preprocess(load_image(pick_image("sky", "coffee")), size=160 if QUICK else 224, crop=None)
layer_num, learning_rate, iterations = 6, 0.02, 5 if QUICK else 20
for i in range(iterations):
    feature_map, cache = cnn.forward(image, end=layer_num)
    dimage, _ = cnn.backward(feature_map, cache)
    image += learning_rate * dimage / np.abs(dimage).mean() * 0.05
plt.imshow(cnn.deprocess(image)); plt.axis("off");
"""),
])
