"""Builds 07_fast_style_transfer.ipynb (outputs cleared): `python build_07.py`."""
from pathlib import Path

from nb import write

HERE = Path(__file__).resolve().parents[1]

write(HERE / "07_fast_style_transfer.ipynb", [
    ("md", """
# 07 · Fast style transfer

Gatys' style transfer (notebook 06) optimizes the *pixels* of every new image: hundreds of
forward and backward passes per picture. **Johnson, Alahi & Fei-Fei (2016)** instead train a
feed-forward *transformer network* `T` once per style, so that `y = T(x)` minimizes the same
perceptual loss, measured by a frozen loss network (here SqueezeNet 1.1):

$$L(x) = w_c \\lVert \\phi_{c}(y) - \\phi_{c}(x) \\rVert^2
       + \\sum_\\ell w_\\ell \\lVert G(\\phi_\\ell(y)) - G(\\phi_\\ell(s)) \\rVert^2
       + w_{tv}\\,\\mathrm{TV}(y)$$

Stylizing a photo is then one forward pass. Three later ideas are built in:

* **instance normalization** (Ulyanov et al. 2016): normalize each image's channels with
  their *own* statistics, at training and at test time;
* **upsampling + convolution** instead of transposed convolutions (no checkerboard artifacts);
* **conditional instance normalization** (Dumoulin et al. 2017): one network, a table of
  `(gamma, beta)` per style; a weight vector over styles selects or *blends* them.

Every layer is a forward/backward pair in `minicnn/transformer_layers.py`; the network is
`minicnn/models/transformer.py`, training and stylization `minicnn/techniques/fast_style.py`.
With `MINICNN_QUICK=1` the notebook trains for only a couple of steps."""),
    ("code", """
import os, sys, time, tempfile
from pathlib import Path
import numpy as np
try:
    import minicnn
except ImportError:                       # running from a source checkout
    sys.path.insert(0, os.path.abspath(".."))
    import minicnn
from minicnn import transformer_layers as tl
from minicnn.data import available_images, load_image, pick_image
from minicnn.gradient_check import eval_numerical_gradient_array, rel_error
from minicnn.models.transformer import TransformerNet
from minicnn.techniques import fast_style as fs
from minicnn.plotting import show_images, show_training_history
QUICK = os.environ.get("MINICNN_QUICK") == "1"
TMP = Path(tempfile.mkdtemp(prefix="fast_style_"))   # every file this notebook writes
rng = np.random.default_rng(0)
cnn = minicnn.load_squeezenet()
print("QUICK" if QUICK else "full run", "- scratch folder", TMP)
"""),
    ("md", """
## 1 · The new layers and their gradients

**Reflection padding** mirrors the image without repeating the edge pixel
(`np.pad(mode="reflect")`). Its backward is the adjoint of a copy: each padded pixel's
gradient is *added* back onto the pixel it copied.

**Instance norm** standardizes every `(n, c)` plane over its `H x W` positions:
`xhat = (x - mu) / sqrt(var + eps)`, `out = gamma * xhat + beta`. Because `mu` and `var` depend
on every position, the backward has two correction terms:

`dx = (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)) / sqrt(var + eps)`

(the first mean is the adjoint of subtracting the mean, the second that of dividing by the
standard deviation). We check every pair against centred differences in float64."""),
    ("code", """
def check(forward, backward, inputs):
    out, cache = forward(*inputs)
    dout = rng.standard_normal(out.shape)
    grads = backward(dout, cache)
    grads = grads if isinstance(grads, tuple) else (grads,)
    errs = []
    for value, g in zip(inputs, grads):
        num = eval_numerical_gradient_array(lambda _: forward(*inputs)[0], value, dout)
        errs.append(rel_error(g, num))
    return ", ".join(f"{e:.1e}" for e in errs)

x = rng.standard_normal((2, 3, 5, 6))
S = 3
print("reflection pad   ", check(lambda x: tl.reflection_pad_forward(x, 2), tl.reflection_pad_backward, [x]))
print("instance norm    ", check(tl.instance_norm_forward, tl.instance_norm_backward,
                                 [x, rng.random(3) + 0.5, rng.standard_normal(3)]))
print("conditional IN   ", check(tl.conditional_instance_norm_forward, tl.conditional_instance_norm_backward,
                                 [x, rng.random((S, 3)) + 0.5, rng.standard_normal((S, 3)), rng.random((2, S))]))
print("upsample x2      ", check(lambda x: tl.upsample_nearest_forward(x, 2), tl.upsample_nearest_backward, [x]))
print("residual add     ", check(tl.residual_add_forward, tl.residual_add_backward, [x, rng.standard_normal(x.shape)]))
print("tanh scaling     ", check(lambda x: tl.tanh_scale_forward(x, [1.0, 2.0, 0.5], [0.0, 0.1, -0.1]),
                                 tl.tanh_scale_backward, [x]))
"""),
    ("md", """
Two properties explain why instance norm suits style transfer. Its output does not change
when a channel is multiplied by a positive number and shifted: the **contrast of the content
image is normalized away**, so the network cannot depend on it. And with conditional instance
norm, `out(w) = sum_s w_s (gamma_s xhat + beta_s)` is **linear in the style weights**: a
one-hot `w` is plain instance norm with that style's row, and a blend of styles is the same
blend of what each style would produce at that layer."""),
    ("code", """
gamma, beta = rng.random(3) + 0.5, rng.standard_normal(3)
a = rng.uniform(0.2, 5, (1, 3, 1, 1)); b = rng.standard_normal((1, 3, 1, 1))
o1, _ = tl.instance_norm_forward(x, gamma, beta, {"eps": 1e-12})
o2, _ = tl.instance_norm_forward(a * x + b, gamma, beta, {"eps": 1e-12})
print("IN(a x + b) == IN(x):", np.allclose(o1, o2))

G, B = rng.random((S, 3)) + 0.5, rng.standard_normal((S, 3))
one_hot, _ = tl.conditional_instance_norm_forward(x, G, B, np.eye(S)[1])
plain, _ = tl.instance_norm_forward(x, G[1], B[1])
w1, w2 = rng.random(S), rng.random(S)
mix, _ = tl.conditional_instance_norm_forward(x, G, B, 0.3 * w1 + 0.7 * w2)
parts = [tl.conditional_instance_norm_forward(x, G, B, w)[0] for w in (w1, w2)]
print("one-hot CIN == IN with that row:", np.allclose(one_hot, plain))
print("CIN linear in the weights:     ", np.allclose(mix, 0.3 * parts[0] + 0.7 * parts[1]))
"""),
    ("md", """
## 2 · The transformer network

Three convolutions go down to a quarter of the resolution (9x9, then two stride-2 3x3), a
stack of residual blocks works there, and two *upsample + conv* blocks come back up; a final
9x9 convolution and a **tanh scaled per channel** produce an image already normalized like
SqueezeNet's input, covering exactly the pixels in `[0, 1]`. Convolutions that feed an
instance norm have no bias (the norm removes any constant). The paper's full width is
32/64/128 with 5 residual blocks; the networks shipped with the project use 16/32/64 and 3."""),
    ("code", """
full = TransformerNet((32, 64, 128), 5)
small = TransformerNet((16, 32, 64), 3)
print(full); print(small)
xs = cnn.preprocess(load_image(pick_image("kitten", "chelsea")), size=128, crop=128)
y, cache = small.forward(xs)
for name in small.block_names:
    print(f"{name:6s} {cache.activations[name].shape}")
"""),
    ("md", """
## 3 · Training

Each step takes a batch of random crops from the ImageNet sample (which images, the scale,
the crop position and a flip are drawn from `np.random.default_rng([seed, step])`), runs
`T` forward, then **one SqueezeNet forward** to the deepest loss layer (`fire5`): the content
loss at `fire2` and the Gram losses at `conv1, fire3, fire4, fire5` all read
`cache.activations`. **One SqueezeNet backward** takes all the injected gradients at once
(`param_grads=False`: SqueezeNet is frozen) and returns `dL/dy`; the TV gradient is added, and
`T`'s backward turns `dL/dy` into gradients for Adam.

Training writes a checkpoint every `checkpoint_every` steps (atomically, with a SHA-256 of its
contents) and on Ctrl-C. Because a step's batch depends only on `(seed, step)`, a resumed run
ends with exactly the weights of an uninterrupted one; we check that below by interrupting a
run (a callback raising `KeyboardInterrupt`, as Ctrl-C would) and resuming it."""),
    ("code", """
steps = 2 if QUICK else 40
photos = list(available_images("photos"))    # a dozen photos: enough for a demonstration
kw = dict(steps=steps, batch_size=1 if QUICK else 2, crop=64 if QUICK else 128,
          widths=(8, 16, 16) if QUICK else (16, 32, 64), res_blocks=1 if QUICK else 3,
          learning_rate=2e-3, checkpoint_every=1 if QUICK else 10, seed=0)
t = time.perf_counter()
net, history = fs.train_transformer(cnn, "starry_night", photos, **kw)
print(f"{steps} steps in {time.perf_counter() - t:.1f} s; last loss {history['loss'][-1]:.3g}")

def stop_at(k):
    def callback(step, net, losses):
        if step == k:
            raise KeyboardInterrupt
    return callback

ckpt = TMP / "ckpt.npz"
_, h1 = fs.train_transformer(cnn, "starry_night", photos, checkpoint=ckpt,
                             callback=stop_at(1), **kw)
print("interrupted:", h1["interrupted"], "- checkpoint at step", fs.load_checkpoint(ckpt)["step"])
resumed, h2 = fs.train_transformer(cnn, "starry_night", photos, checkpoint=ckpt, resume=True, **kw)
print("resumed == uninterrupted:", all(np.array_equal(resumed.params[k], net.params[k]) for k in net.params))
if not QUICK:
    show_training_history(history, smooth=5, title="training on 7 photos (demonstration)");
"""),
    ("md", """
A corrupted checkpoint is refused with a clear message, and the previous checkpoint
(`<name>.prev.npz`) is kept so that training can go on from there."""),
    ("code", """
raw = bytearray(ckpt.read_bytes()); raw[len(raw) // 2] ^= 0xFF
ckpt.write_bytes(bytes(raw))
try:
    fs.train_transformer(cnn, "starry_night", photos, checkpoint=ckpt, resume=True, **kw)
except fs.CheckpointError as exc:
    print("refused:", exc)
"""),
    ("md", """
## 4 · The shipped networks

The project ships four networks trained on the ImageNet sample (all but 10 photos, which are
held out for evaluation; `pretrained_weights/transformers/README.md` has the commands, the
training times and the measured table): one per painting for Starry Night, The Scream and
Composition VII, and one *conditional* network holding all three. Each is small (16/32/64
channels, 3 residual blocks, about 1.1 MB) and was trained on a 2-core CPU (5000 steps of four
128 px crops; the conditional one 15000). Below, each painting is shown beside the photo it
styles; the photo was never part of the training set."""),
    ("code", """
content = load_image(pick_image("chelsea", "tubingen"), size=128 if QUICK else 256)
content = content[:content.shape[0] // 4 * 4, :content.shape[1] // 4 * 4]   # the network's grid
available = [n for n, (f, _) in fs.STYLES.items() if (fs.TRANSFORMER_DIR / f).is_file()]
images, titles = [content], ["content"]
for name in available:
    t = time.perf_counter()
    out = fs.stylize(content, name)
    images += [load_image(fs.style_image_path(name), size=content.shape[0]), out]
    titles += [name.replace("_", " "), f"stylized ({time.perf_counter() - t:.2f} s)"]
show_images(images, titles, size=2.6);
"""),
    ("md", """
With the conditional network a style is a weight vector: moving the weights from one style
to another interpolates gamma and beta of every normalization layer, and the output moves
between the styles. Each frame's title gives its style loss to the second painting (that
painting's Gatys objective): it falls steadily along the strip."""),
    ("code", """
cond_path = fs.TRANSFORMER_DIR / fs.CONDITIONAL_NETWORK
if cond_path.is_file():
    cond = TransformerNet.load(cond_path)
    a, b = "starry_night", "the_scream"
    ts = np.linspace(0, 1, 3 if QUICK else 5)
    strip = [fs.stylize(content, network=cond, blend={a: 1 - t, b: t}) for t in ts]
    to_b = [fs.stylization_losses(cnn, content, s, b)["style"] for s in strip]
    show_images(strip, [f"{1 - t:.2f} {a} + {t:.2f} {b}\\nstyle loss to {b}: {l:.3g}"
                        for t, l in zip(ts, to_b)], size=3);
else:
    print("conditional network not found:", cond_path)
"""),
])
