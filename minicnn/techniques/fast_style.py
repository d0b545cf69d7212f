"""Fast (feed-forward) style transfer: Johnson, Alahi & Fei-Fei 2016, "Perceptual
losses for real-time style transfer and super-resolution", with instance norm
(Ulyanov et al. 2016) and, for several styles in one network, conditional
instance norm (Dumoulin, Shlens & Kudlur 2017, "A learned representation for
artistic style").

A :class:`~minicnn.models.transformer.TransformerNet` ``T`` is trained so that
``y = T(x)`` minimizes, for photos ``x`` (random crops of an image folder),
the perceptual loss measured by the frozen SqueezeNet ``phi``::

    L(x) = w_c sum (phi_c(y) - phi_c(x))^2                      (content, fire2)
         + sum_l w_l sum (G(phi_l(y)) - G(phi_l(s)))^2           (style, Gram)
         + w_tv TV(y)

averaged over the batch.  One forward of SqueezeNet up to the deepest loss
layer feeds every term through ``cache.activations``; one backward with the
gradients injected at each layer (``param_grads=False``) gives dL/dy, which
the transformer's own backward turns into parameter gradients for Adam.

Training is resumable: checkpoints (parameters, Adam moments, step, loss
history, a SHA-256 of the contents) are written atomically every
``checkpoint_every`` steps; the batch of step ``t`` (images, crops, flips and,
for a conditional net, the style) depends only on ``(seed, t)``, so a resumed
run ends with exactly the weights of an uninterrupted one.
"""
import hashlib
import json
import os
import warnings
from pathlib import Path

import numpy as np

from .. import checks, optim
from ..data import (available_images, list_images, load_image, resize_short_side,
                    shipped_weights_dir, to_rgb)
from ..losses import content_loss, gram_matrix, style_loss, tv_loss
from ..models.transformer import TransformerNet, _atomic_savez
from ..weights import feature_scale
from .regularizers import pixel_scale
from .style import PRESETS as _GATYS

__all__ = ["train_transformer", "stylize", "load_transformer", "STYLES", "STYLE_PRESETS",
           "TRANSFORMER_DIR", "CheckpointError", "load_checkpoint", "training_batch", "train_step",
           "perceptual_loss", "style_targets", "style_image_path", "blend_weights",
           "heldout_photos", "training_photos", "evaluation_photos", "saturated_fraction",
           "stylization_losses", "HELDOUT_EVERY", "EVALUATION_IMAGES"]

#: Folder of the networks shipped with the project.
TRANSFORMER_DIR = shipped_weights_dir() / "transformers"

#: Shipped networks: style name -> (file in TRANSFORMER_DIR, style name inside a
#: conditional network or None).  A name with its own single-style network uses
#: it; the conditional network serves the others and every blend.
STYLES = {
    "starry_night": ("starry_night.npz", None),
    "the_scream": ("the_scream.npz", None),
    "composition_vii": ("composition_vii.npz", None),
}
#: The conditional network (Dumoulin et al. 2017) shipped for blends.
CONDITIONAL_NETWORK = "three_styles.npz"

#: Loss weights for training, per style image: exactly the Gatys parameter sets
#: of :data:`minicnn.techniques.style.PRESETS` (cs231n's, with Composition VII's
#: style weights times 5), so that a network is trained on the objective by which
#: it is compared with 200 iterations of Gatys optimization: the style image size,
#: the weights of content, style layers conv1, fire3, fire4, fire5 and TV (per
#: squared pixel level: TV of the output in 0..255 levels, the same for every
#: SqueezeNet weight set).
STYLE_PRESETS = {name: {"style_size": _GATYS[name]["style_size"],
                        "content_weight": _GATYS[name]["content_weight"],
                        "style_weights": tuple(float(w) for w in _GATYS[name]["style_weights"]),
                        "tv_weight": _GATYS[name]["tv_weight"]}
                 for name in ("composition_vii", "the_scream", "starry_night")}
DEFAULT_PRESET = "starry_night"
STYLE_LAYERS = ("conv1", "fire3", "fire4", "fire5")
CONTENT_LAYER = "fire2"


class CheckpointError(ValueError):
    """A checkpoint that cannot be trusted (truncated, corrupted or incompatible)."""


# --------------------------------------------------------------------------- style images
def style_image_path(name):
    """The painting of a named style: the data folder's copy when present, else the
    one shipped with minicnn (see :func:`minicnn.data.available_images`)."""
    styles = available_images("styles")
    if name not in styles.names:
        raise ValueError(f"unknown style image {name!r}; available: {', '.join(styles.names)}")
    return styles[styles.names.index(name)]


def _style_spec(style):
    """(name, uint8 image, preset) from a style name, path or image array."""
    if isinstance(style, np.ndarray):
        return "custom", to_rgb(style), dict(STYLE_PRESETS[DEFAULT_PRESET])
    style = str(style)
    if os.path.isfile(style):
        name = Path(style).stem
        path = style
    else:
        name, path = style, style_image_path(style)
    preset = dict(STYLE_PRESETS.get(name, STYLE_PRESETS[DEFAULT_PRESET]))
    return name, load_image(path), preset


def style_targets(cnn, style_img, style_size, style_layers=STYLE_LAYERS):
    """Gram matrices (1, C, C) of a style image resized to ``style_size`` (short side)."""
    xs = cnn.preprocess(style_img, size=style_size, crop=None)
    _, cache = cnn.forward(xs, end=max(style_layers, key=cnn.layer_index))
    return [gram_matrix(cache.activations[layer]) for layer in style_layers]


# --------------------------------------------------------------------------- data
def training_batch(files, step, seed, batch_size, crop, num_styles=1, scale=(1.0, 1.5)):
    """The uint8 batch (B, crop, crop, 3) and style index of training step ``step``.

    Everything random (which images, the resize factor in ``scale`` applied to
    the short side, the crop position, a horizontal flip, the style) is drawn
    from ``np.random.default_rng([seed, step])``: it depends only on
    (seed, step), which makes resumed runs bit-identical.
    """
    rng = np.random.default_rng([int(seed), int(step)])
    style = int(rng.integers(num_styles))
    batch = np.empty((batch_size, crop, crop, 3), dtype=np.uint8)
    for i, k in enumerate(rng.integers(len(files), size=batch_size)):
        img = load_image(files[k])
        size = int(round(crop * rng.uniform(*scale)))
        img = resize_short_side(img, max(size, crop))
        top = int(rng.integers(img.shape[0] - crop + 1))
        left = int(rng.integers(img.shape[1] - crop + 1))
        img = img[top:top + crop, left:left + crop]
        batch[i] = img[:, ::-1] if rng.random() < 0.5 else img
    return batch, style


# --------------------------------------------------------------------------- evaluation
#: Every HELDOUT_EVERY-th photo of the ImageNet sample (sorted by file name) is held
#: out of training: the shipped networks are evaluated on photos they never saw.
HELDOUT_EVERY = 100
#: The other evaluation photos: the cs231n content images and the embedded colour photos.
EVALUATION_IMAGES = ("tubingen", "kitten", "sky", "chelsea", "coffee", "astronaut", "rocket",
                     "motorcycle_left", "china", "flower")


def heldout_photos(files):
    """The photos of ``files`` (the ImageNet sample) held out of training: every
    :data:`HELDOUT_EVERY`-th of them in sorted order (10 of the 1000)."""
    return sorted(Path(f) for f in files)[::HELDOUT_EVERY]


def training_photos(files):
    """``files`` without :func:`heldout_photos` (when there are at least
    HELDOUT_EVERY of them; a small folder is used whole)."""
    files = sorted(Path(f) for f in files)
    if len(files) < HELDOUT_EVERY:
        return files
    held = set(heldout_photos(files))
    return [f for f in files if f not in held]


def evaluation_photos():
    """(name, path) of the 20 evaluation photos: the 10 held-out ImageNet-sample
    photos and :data:`EVALUATION_IMAGES` (needs the data folder or the fetched
    cs231n images and ImageNet sample)."""
    from ..data import find_image
    sample = available_images("dataset")
    if sample.source == "embedded":
        raise FileNotFoundError("the evaluation photos need the ImageNet sample: "
                                + (sample.hint or "set MINICNN_DATA"))
    return [(p.stem, p) for p in heldout_photos(sample)] + \
        [(name, find_image(name)) for name in EVALUATION_IMAGES]


def saturated_fraction(content, image):
    """Fraction of the pixels of ``image`` (uint8 (H, W, 3)) that are pure black
    (0, 0, 0) or pure white (255, 255, 255) where ``content`` (same shape) is not."""
    content, image = np.asarray(content), np.asarray(image)
    if content.shape != image.shape:
        raise ValueError(f"content {content.shape} and image {image.shape} differ in shape")

    def pure(a):
        return (a == 0).all(axis=-1) | (a == 255).all(axis=-1)
    return float((pure(image) & ~pure(content)).mean())


def stylization_losses(cnn, content, image, style, weights_of=None):
    """The Gatys objective of a named style (:data:`STYLE_PRESETS`) evaluated on a
    stylized uint8 ``image`` (H, W, 3) of the uint8 ``content`` photo (same size):
    {"content", "style", "tv", "total", "saturated"}.  This is the objective that
    :func:`minicnn.techniques.style.style_transfer_preset` minimizes, so the
    numbers compare directly with Gatys optimization's.

    weights_of: measure the distance to ``style``'s painting with another style's
    layer weights (to compare one output's distances to several paintings in one
    metric); the painting keeps its own size.
    """
    from .style import style_losses
    preset = dict(STYLE_PRESETS[style])
    if weights_of is not None:
        preset["style_weights"] = STYLE_PRESETS[weights_of]["style_weights"]
    x = cnn.preprocess(image, size=min(image.shape[:2]), crop=None)
    losses = style_losses(cnn, x, content, style, style_weights=preset["style_weights"],
                          content_weight=preset["content_weight"],
                          tv_weight=preset["tv_weight"], style_size=preset["style_size"],
                          image_size=None)
    losses = {k: float(v) for k, v in losses.items()}
    losses["saturated"] = saturated_fraction(content, image)
    return losses


# --------------------------------------------------------------------------- loss
def perceptual_loss(cnn, y, x, targets, preset, content_layer=CONTENT_LAYER,
                    style_layers=STYLE_LAYERS):
    """Batch-mean perceptual loss of outputs ``y`` for inputs ``x`` (both
    (N, 3, H, W) normalized) -> (losses dict, dL/dy).

    targets: list of style Gram matrices (1, C, C) aligned with style_layers.
    preset: dict with content_weight, style_weights (per layer), tv_weight
    (per squared pixel level: ``tv_weight * TV(y * pixel_scale(cnn))``).
    """
    n = y.shape[0]
    end = max([content_layer, *style_layers], key=cnn.layer_index)
    content_target = cnn.forward(x, end=content_layer)[0]
    _, cache = cnn.forward(y, end=end)
    feats = cache.activations
    # weights tuned on the torchvision features: rescaled for other sets (as in style.py)
    lc, dc = content_loss(preset["content_weight"] / n
                          / feature_scale(cnn.meta, content_layer) ** 2,
                          feats[content_layer], content_target)
    ls, dfeats = style_loss(feats, style_layers, targets,
                            [w / n / feature_scale(cnn.meta, layer) ** 4
                             for w, layer in zip(preset["style_weights"], style_layers)])
    dfeats = dict(dfeats)
    dfeats[content_layer] = dfeats[content_layer] + dc if content_layer in dfeats else dc
    dy, _ = cnn.backward(dfeats, cache, param_grads=False)
    scale = pixel_scale(cnn)                                 # TV in pixel levels
    lt, dt = tv_loss((y * scale).astype(y.dtype), preset["tv_weight"] / n)
    dy = dy + (dt * scale).astype(dy.dtype)
    return {"loss": lc + ls + lt, "content": lc, "style": ls, "tv": lt}, dy


def perceptual_loss_per_image(cnn, y, x, targets, preset, content_layer=CONTENT_LAYER,
                              style_layers=STYLE_LAYERS):
    """:func:`perceptual_loss` with each image's loss weighed by the inverse of its size
    -> (losses dict, dL/dy).

    With ``L_i`` image i's perceptual loss (content + style + TV, the Gatys objective of
    that photo) and ``c_i = mean(L) / L_i`` held constant, the gradient is that of
    ``(1/n) sum_i c_i L_i``: within a photo the balance of content, style and TV is the
    same as in :func:`perceptual_loss`, but across photos each counts in relative terms,
    so a photo with small losses (little to change before it looks painted) is no longer
    cheap to sacrifice for the others.  The losses returned are the usual batch means
    (comparable with :func:`perceptual_loss`'s).  The loss network runs once per image.
    """
    n = y.shape[0]
    parts = [perceptual_loss(cnn, y[i:i + 1], x[i:i + 1], targets, preset, content_layer,
                             style_layers) for i in range(n)]
    totals = np.array([p[0]["loss"] for p in parts], dtype=float)
    c = totals.mean() / np.maximum(totals, np.finfo(float).tiny)
    dy = np.concatenate([ci * p[1] for ci, p in zip(c, parts)]) / n
    losses = {k: float(np.mean([p[0][k] for p in parts])) for k in parts[0][0]}
    return losses, dy.astype(y.dtype, copy=False)


#: how a training batch's perceptual losses are combined: "batch" (their mean,
#: :func:`perceptual_loss`, as Johnson et al.) or "image" (each image's loss weighed by
#: the inverse of its size, :func:`perceptual_loss_per_image`)
LOSS_NORMALIZATIONS = {"batch": perceptual_loss, "image": perceptual_loss_per_image}


def train_step(net, cnn, x, targets, preset, adam, style=None, content_layer=CONTENT_LAYER,
               style_layers=STYLE_LAYERS, loss_normalization="batch"):
    """One Adam step of the transformer on a batch ``x`` (N, 3, H, W) -> losses.

    y = T(x); (L, dL/dy) from :func:`perceptual_loss` (or, with ``loss_normalization``
    "image", :func:`perceptual_loss_per_image`); T's backward gives the parameter
    gradients; ``adam`` maps parameter names to their Adam configs (updated in place,
    like ``net.params``).
    """
    loss_fn = LOSS_NORMALIZATIONS[checks.choice(loss_normalization, LOSS_NORMALIZATIONS,
                                                "loss_normalization")]
    y, cache = net.forward(x, style=style)
    losses, dy = loss_fn(cnn, y, x, targets, preset, content_layer, style_layers)
    _, grads = net.backward(dy.astype(net.dtype, copy=False), cache, input_grad=False)
    for k, g in grads.items():
        net.params[k], adam[k] = optim.adam(net.params[k], g, adam.setdefault(k, {}))
    return losses


# --------------------------------------------------------------------------- checkpoints
def _digest(arrays):
    h = hashlib.sha256()
    for k in sorted(arrays):
        if k == "checksum":
            continue
        a = np.ascontiguousarray(arrays[k])
        h.update(k.encode())
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _prev_path(path):
    path = Path(path)
    return path.with_name(path.stem + ".prev" + path.suffix)


def save_checkpoint(path, net, adam_configs, step, history, settings):
    """Atomically write a training checkpoint; the one it replaces becomes
    ``<name>.prev.npz``."""
    path = Path(path)
    arrays = {f"param/{k}": v for k, v in net.params.items()}
    for k, cfg in adam_configs.items():
        if cfg.get("m") is not None:
            arrays[f"adam_m/{k}"], arrays[f"adam_v/{k}"] = cfg["m"], cfg["v"]
            arrays[f"adam_t/{k}"] = np.array(cfg["t"])
    arrays["config"] = np.array(json.dumps(net.config()))
    arrays["settings"] = np.array(json.dumps(settings))
    arrays["step"] = np.array(int(step))
    for k, v in history.items():
        arrays[f"history/{k}"] = np.asarray(v, dtype=np.float64)
    arrays["checksum"] = np.array(_digest(arrays))
    tmp = _new_path(path)
    _atomic_savez(tmp, arrays)
    if path.exists():
        _keep_as_prev(path)
    os.replace(tmp, path)
    return path


def _new_path(path):
    path = Path(path)
    return path.with_name(f".{path.name}.new")


def _keep_as_prev(path):
    """Make ``<name>.prev.npz`` a copy of ``path`` while ``path`` itself stays in place
    (a hard link, else a copy, under a temporary name renamed over the old ``.prev``):
    at every instant of the rotation ``path`` is a complete checkpoint."""
    import shutil
    prev = _prev_path(path)
    tmp = prev.with_name(f".{prev.name}.{os.getpid()}.tmp")
    try:
        if tmp.exists():
            tmp.unlink()
        try:
            os.link(path, tmp)
        except OSError:
            shutil.copyfile(path, tmp)
        os.replace(tmp, prev)
    finally:
        if tmp.exists():
            tmp.unlink()


def _verified(path):
    """True when ``path`` is a complete checkpoint (its SHA-256 matches)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        return "checksum" in arrays and str(arrays["checksum"]) == _digest(arrays)
    except Exception:
        return False


def recover_checkpoint(path):
    """Finish a checkpoint rotation that a crash interrupted.

    The rotation used to rename ``path`` to ``<name>.prev.npz`` and then the new
    ``.<name>.new`` to ``path``; a crash between the two renames left no
    ``path`` (and ``--resume`` started over at step 0).  When ``path`` is missing and the new file is complete, it is
    renamed into place; when only ``<name>.prev.npz`` is left, it is copied to
    ``path``.  Returns ``path`` when a checkpoint is (now) there, else None.
    """
    path = Path(path)
    if path.exists():
        return path
    new, prev = _new_path(path), _prev_path(path)
    if new.is_file() and _verified(new):
        os.replace(new, path)
        return path
    if prev.is_file():
        import shutil
        tmp = path.with_name(f".{path.name}.{os.getpid()}.restore")
        shutil.copyfile(prev, tmp)
        os.replace(tmp, path)
        return path
    return None


def _existing_training_files(checkpoint, out):
    """The files a fresh (not resumed) run would replace."""
    found = []
    if checkpoint is not None:
        c = Path(checkpoint)
        found += [p for p in (c, _new_path(c), _prev_path(c)) if p.exists()]
    if out is not None and Path(out).exists():
        found.append(Path(out))
    return found


def load_checkpoint(path):
    """Read and verify a checkpoint -> dict(net, adam, step, history, settings).

    Raises :class:`CheckpointError` (the file is left untouched, and so is the
    previous checkpoint ``<name>.prev.npz``) when the file is truncated,
    corrupted (SHA-256 mismatch) or not a checkpoint.
    """
    path = Path(path)
    prev = _prev_path(path)
    hint = (f"; the previous checkpoint {prev} is kept and can be resumed with "
            f"checkpoint={str(prev)!r}" if prev.exists() else "")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} is unreadable or corrupted "
                              f"({type(exc).__name__}: {exc}); refusing to resume{hint}") \
            from None
    if "checksum" not in arrays or "config" not in arrays or "step" not in arrays:
        raise CheckpointError(f"{path} is not a minicnn training checkpoint{hint}")
    if str(arrays["checksum"]) != _digest(arrays):
        raise CheckpointError(f"checkpoint {path} is corrupted (SHA-256 mismatch); "
                              f"refusing to resume{hint}")
    config = json.loads(str(arrays["config"]))
    params = {k[6:]: v for k, v in arrays.items() if k.startswith("param/")}
    net = TransformerNet(config["widths"], config["res_blocks"], config["num_styles"],
                         config["style_names"], params=params, meta=config["meta"],
                         dtype=params["out/W"].dtype)
    adam = {}
    for k in net.params:
        if f"adam_m/{k}" in arrays:
            adam[k] = {"m": arrays[f"adam_m/{k}"], "v": arrays[f"adam_v/{k}"],
                       "t": int(arrays[f"adam_t/{k}"])}
    history = {k[8:]: list(v) for k, v in arrays.items() if k.startswith("history/")}
    return {"net": net, "adam": adam, "step": int(arrays["step"]), "history": history,
            "settings": json.loads(str(arrays["settings"]))}


# --------------------------------------------------------------------------- training
def train_transformer(cnn, styles, content=None, *, steps=2000, batch_size=4, crop=256,
                      widths=(32, 64, 128), res_blocks=5, init=None,
                      learning_rate=1e-3, lr_schedule="constant", rescale=(1.0, 1.5),
                      content_weight=None, style_weights=None, tv_weight=None,
                      content_weight_scale=1.0, style_weight_scale=None,
                      loss_normalization="batch",
                      style_size=None, content_layer=CONTENT_LAYER, style_layers=STYLE_LAYERS,
                      checkpoint=None, checkpoint_every=100, resume=False, out=None, seed=0,
                      progress=False, callback=None, dtype=np.float32, overwrite=False):
    """Train a transformer network for one style (instance norm) or several
    (conditional instance norm, one style drawn per step) -> (net, history).

    cnn: the loss network (SqueezeNet, frozen).
    styles: a style name (``starry_night``, ``the_scream``, ``composition_vii``:
        the shared paintings), an image path or a uint8 image, or a list of them
        (several -> a conditional network).
    content: training photos: a folder, a list of paths (default: the ImageNet
        sample without the 10 photos held out for evaluation, :func:`training_photos`,
        when present, else the embedded photos, ``available_images("dataset")``).
        Each step takes ``batch_size`` random crops of ``crop`` x ``crop`` pixels
        (a multiple of 4) of photos whose short side is first resized to ``crop``
        times a factor drawn from ``rescale`` (lo, hi): (1, 1.5) shows nearly
        whole photos at the crop's size; (2, 3) with crop 128 shows parts of
        photos at 256-384 px, the scale at which the networks are evaluated.
    widths, res_blocks: the architecture (:class:`TransformerNet`); a resumed run
        keeps the checkpoint's.
    init: a network (``.npz`` path or TransformerNet) to start from instead of a
        random one (fine-tuning; its architecture replaces widths and res_blocks;
        its styles must be ``styles``); Adam starts afresh.
    lr_schedule: ``"constant"`` or ``"cosine"`` (:data:`minicnn.optim.LR_SCHEDULES`:
        ``learning_rate`` decays to 0 at ``steps``).
    content_weight_scale: multiplies each style's content weight (after any
        override): > 1 keeps more of the photo.  One number for every style, or
        one per style in the order of ``styles`` (a conditional network whose
        styles need different balances).  The shipped networks use 1-3 (at
        the presets' 1.0, Starry Night's network ends with about 2.2x the content
        loss of 200 Gatys iterations for 0.9x its style loss).
    style_weight_scale: one factor per style layer multiplying every style's
        per-layer weights (after any override), e.g. ``(1, 2, 4, 8)`` weighs the
        deeper layers' Grams more (the larger structures of a painting) while
        each style keeps its own balance; None: ``(1, 1, 1, 1)``.
    loss_normalization: ``"batch"`` (the batch mean of the perceptual losses) or
        ``"image"`` (each image's loss weighed by the inverse of its size, so that
        every photo counts in relative terms: :func:`perceptual_loss_per_image`; the
        shipped The Scream met every target on 19 of 20 held-out photos with it, 18
        without).  :data:`LOSS_NORMALIZATIONS`.
    content_weight, style_weights (4 values for conv1, fire3, fire4, fire5),
        tv_weight, style_size: override the cs231n preset of each style
        (:data:`STYLE_PRESETS`; Starry Night's for other images).
    checkpoint: path of the training checkpoint, written atomically every
        ``checkpoint_every`` steps, at the end and on Ctrl-C.
    resume: continue from ``checkpoint`` when it exists (the batches depend only
        on (seed, step), so the result equals an uninterrupted run); a rotation
        cut short by a crash is completed first (:func:`recover_checkpoint`).
    out: where to save the final network (``TransformerNet.save``).
    overwrite: without ``resume``, an existing checkpoint (or ``out``) is an
        error (FileExistsError) rather than silently replaced by a new run from
        step 0; ``overwrite=True`` starts over and replaces them.
    callback(step, net, losses): called after each step.

    history: dict of lists ``step``, ``loss``, ``content``, ``style``, ``tv``
    (batch means); ``history["interrupted"]`` is True after a Ctrl-C.
    """
    from tqdm import tqdm
    if isinstance(styles, (str, os.PathLike, np.ndarray)):
        styles = [styles]
    styles = list(styles)
    if not styles:
        raise ValueError("styles must name at least one style")
    crop = checks.positive(crop, "crop", integer=True)
    steps = checks.positive(steps, "steps", integer=True)
    batch_size = checks.positive(batch_size, "batch_size", integer=True)
    checkpoint_every = checks.positive(checkpoint_every, "checkpoint_every", integer=True)
    if crop % 4 or crop < 8:
        raise ValueError(f"crop must be a multiple of 4 and at least 8, got {crop}")
    learning_rate = checks.positive(learning_rate, "learning_rate")
    rescale = tuple(float(checks.positive(r, "rescale")) for r in np.ravel(rescale))
    if len(rescale) != 2 or rescale[0] > rescale[1]:
        raise ValueError(f"rescale must be two factors lo <= hi, got {rescale}")
    checks.choice(loss_normalization, LOSS_NORMALIZATIONS, "loss_normalization")
    checks.choice(lr_schedule, optim.LR_SCHEDULES, "lr_schedule",
                  label="learning-rate schedule")
    scales = checks.each(content_weight_scale, "content_weight_scale", checks.positive)
    if len(scales) not in (1, len(styles)):
        raise ValueError(f"content_weight_scale must be one number or one per style "
                         f"({len(styles)}), got {len(scales)} values")
    scales = scales * len(styles) if len(scales) == 1 else scales
    style_layers = tuple(style_layers)
    if style_weight_scale is not None:
        style_weight_scale = checks.each(style_weight_scale, "style_weight_scale",
                                         checks.non_negative)
        if len(style_weight_scale) != len(style_layers):
            raise ValueError(f"style_weight_scale has {len(style_weight_scale)} values for "
                             f"{len(style_layers)} style layers")
    for name, value in (("content_weight", content_weight), ("tv_weight", tv_weight)):
        if value is not None:
            checks.non_negative(value, name)
    if style_weights is not None:
        style_weights = checks.each(style_weights, "style_weights", checks.non_negative)
    if style_size is not None:
        style_size = checks.positive(style_size, "style_size", integer=True)
    seed = checks.non_negative(seed, "seed", integer=True)
    if resume and checkpoint is not None:
        if recover_checkpoint(checkpoint) is None:
            warnings.warn(f"resume: no checkpoint at {checkpoint} (nor a .prev/.new copy); "
                          "starting from step 0", RuntimeWarning, stacklevel=2)
    elif not overwrite:
        existing = _existing_training_files(checkpoint, out)
        if existing:
            raise FileExistsError(
                f"{', '.join(map(str, existing))} already exist(s): a new run would start "
                f"from step 0 and replace {'them' if len(existing) > 1 else 'it'}; pass "
                "resume=True (--resume) to continue the checkpoint, or overwrite=True "
                "(--overwrite) to start over")
    if content is None:     # the ImageNet sample without the held-out photos, else embedded
        content = training_photos(available_images("dataset"))
    files = list_images(content) if isinstance(content, (str, os.PathLike)) \
        else [Path(p) for p in content]
    if not files:
        raise ValueError("content has no training images")
    cnn.layer_index(content_layer, "content_layer")
    for layer in style_layers:
        cnn.layer_index(layer, "style_layers")

    names, presets, targets = [], [], []
    for s, scale in zip(styles, scales):
        name, img, preset = _style_spec(s)
        for key, value in (("content_weight", content_weight), ("tv_weight", tv_weight),
                           ("style_size", style_size), ("style_weights", style_weights)):
            if value is not None:
                preset[key] = value
        preset["style_weights"] = [float(w) for w in preset["style_weights"]]
        if style_weight_scale is not None:
            preset["style_weights"] = [float(w * m) for w, m in
                                       zip(preset["style_weights"], style_weight_scale)]
        preset["content_weight"] = float(preset["content_weight"]) * scale
        if len(preset["style_weights"]) != len(style_layers):
            raise ValueError(f"style_weights has {len(preset['style_weights'])} values for "
                             f"{len(style_layers)} style layers")
        names.append(name)
        presets.append(preset)
        targets.append(style_targets(cnn, img, preset["style_size"], style_layers))

    settings = {"styles": names, "presets": presets, "crop": crop, "batch_size": batch_size,
                "seed": int(seed), "learning_rate": float(learning_rate),
                "content_layer": content_layer, "style_layers": list(style_layers)}
    if lr_schedule != "constant":           # (absent: constant, as older checkpoints)
        settings.update(lr_schedule=lr_schedule, steps=steps)
    if rescale != (1.0, 1.5):               # (absent: the default, as older checkpoints)
        settings["rescale"] = list(rescale)
    if loss_normalization != "batch":       # (absent: batch, as older checkpoints)
        settings["loss_normalization"] = loss_normalization
    if init is not None:
        if not isinstance(init, TransformerNet):
            init = TransformerNet.load(init, dtype=dtype)
        if list(init.style_names) != names:
            raise ValueError(f"init is a network of {init.style_names}, not of {names}")
        settings["init"] = _digest({f"param/{k}": v for k, v in init.params.items()})
    start, history = 0, {k: [] for k in ("step", "loss", "content", "style", "tv")}
    adam = {}
    net = None
    if resume and checkpoint is not None and Path(checkpoint).exists():
        state = load_checkpoint(checkpoint)
        net, adam, start, history = state["net"], state["adam"], state["step"], \
            state["history"]
        wanted = json.loads(json.dumps(settings))
        diff = sorted(k for k in set(wanted) | set(state["settings"])
                      if wanted.get(k) != state["settings"].get(k))
        if diff:
            saved = state["settings"]
            listing = "; ".join(f"{k}: {saved.get(k)!r} there, {wanted.get(k)!r} now"
                                for k in diff)
            raise CheckpointError(f"checkpoint {checkpoint} was written by a run with "
                                  f"different settings ({listing}); resuming would not "
                                  f"reproduce an uninterrupted run")
    if net is None and init is not None:
        net = TransformerNet(init.widths, init.res_blocks, num_styles=len(names),
                             style_names=names, params=init.params, meta=init.meta,
                             dtype=dtype)
        # the record of the run that made it goes under this run's (provenance)
        prior = net.meta.pop("training", None)
        if prior is not None:
            net.meta["init_training"] = prior
    if net is None:
        net = TransformerNet(widths, res_blocks, num_styles=len(names), style_names=names,
                             meta={"mean": list(cnn.meta["mean"]), "std": list(cnn.meta["std"])},
                             rng=np.random.default_rng([int(seed), 2**31]), dtype=dtype)
    for k in net.params:                    # the rate is set at each step (lr_schedule)
        adam.setdefault(k, {})

    def save(step):
        if checkpoint is not None:
            save_checkpoint(checkpoint, net, adam, step, history, settings)

    step = start
    interrupted = False
    bar = tqdm(total=steps, initial=start, disable=not progress, desc="train-style",
               unit="step")
    try:
        while step < steps:
            batch, s = training_batch(files, step, seed, batch_size, crop, len(names),
                                      scale=rescale)
            # size=crop: the crops reach the loss network as they are (size=None would
            # resize them to the evaluation size, 256)
            x = cnn.preprocess(batch, size=crop, crop=None).astype(net.dtype)
            w = np.eye(len(names))[s] if net.conditional else None
            rate = optim.scheduled_rate(learning_rate, lr_schedule, step, steps)
            for k in net.params:
                adam[k]["learning_rate"] = rate
            losses = train_step(net, cnn, x, targets[s], presets[s], adam, style=w,
                                content_layer=content_layer, style_layers=style_layers,
                                loss_normalization=loss_normalization)
            step += 1
            history["step"].append(step)
            for k in ("loss", "content", "style", "tv"):
                history[k].append(losses[k])
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.3g}", content=f"{losses['content']:.3g}",
                            style=f"{losses['style']:.3g}", tv=f"{losses['tv']:.3g}",
                            refresh=False)
            if callback is not None:
                callback(step, net, losses)
            if step % int(checkpoint_every) == 0 or step == steps:
                save(step)
    except KeyboardInterrupt:
        interrupted = True
        save(step)
    finally:
        bar.close()
    net.meta["training"] = dict(settings, steps=step)
    if "init_training" in net.meta:
        net.meta["training"]["init_training"] = net.meta.pop("init_training")
    if out is not None and not interrupted:
        net.save(out)
    history = dict(history, interrupted=interrupted)
    return net, history


# --------------------------------------------------------------------------- stylize
def _network_file(name):
    return TRANSFORMER_DIR / name


def load_transformer(style="starry_night", dtype=np.float32):
    """(net, style_weights) for a shipped style name (:data:`STYLES`), a path to
    an ``.npz`` written by ``TransformerNet.save``, or a TransformerNet."""
    if isinstance(style, TransformerNet):
        return style, None
    if isinstance(style, (str, os.PathLike)) and str(style).endswith(".npz"):
        return TransformerNet.load(style, dtype=dtype), None
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; available styles are "
                         f"{', '.join(sorted(STYLES))} (or a path to a .npz network)")
    file, inner = STYLES[style]
    net = TransformerNet.load(_network_file(file), dtype=dtype)
    return net, (None if inner is None else net.style_index(inner))


def blend_weights(net, blend):
    """(S,) weights of a conditional network from a dict {style name: weight} or
    a sequence of S weights; normalized to sum 1."""
    if not net.conditional:
        raise ValueError("blending needs a conditional network (several styles)")
    if isinstance(blend, dict):
        w = np.zeros(net.num_styles)
        for name, value in blend.items():
            w[net.style_index(name)] += float(value)
    else:
        w = np.asarray(blend, dtype=np.float64)
        if w.shape != (net.num_styles,):
            raise ValueError(f"blend must have {net.num_styles} weights "
                             f"({', '.join(net.style_names)}), got shape {w.shape}")
    if (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"blend weights must be non-negative with a positive sum, got {w}")
    return w / w.sum()


def stylize(content, style="starry_night", *, blend=None, size=None, network=None):
    """Stylize uint8 image(s) with a trained transformer in one forward pass.

    content: uint8 (H, W, 3) image (grey/RGBA converted), a path, or a list.
    style: a shipped style name (:data:`STYLES`), a path to a network ``.npz``,
        or a TransformerNet.
    blend: {style name: weight} (or S weights) for a conditional network:
        gamma and beta are the weighted average of the styles' rows
        (Dumoulin et al. 2017); the shipped three-style network is used when
        ``style`` is a shipped name or None.
    size: resize the short side first (None keeps the image; H and W are
        cropped to multiples of 4).
    network: an already loaded TransformerNet (overrides ``style``).
    Returns uint8 (H', W', 3) (or (N, H', W', 3) for a list).
    """
    if isinstance(content, (str, os.PathLike)):
        content = load_image(content)
    if network is not None:
        net, weights = network, None
        if net.conditional and isinstance(style, str) and style in net.style_names:
            weights = net.style_index(style)
    elif blend is not None and (style is None or style in STYLES):
        net = TransformerNet.load(_network_file(CONDITIONAL_NETWORK))
        weights = None
    else:
        net, weights = load_transformer(style)
    if blend is not None:
        weights = blend_weights(net, blend)
    if net.conditional and weights is None:
        raise ValueError(f"this network holds {net.num_styles} styles "
                         f"({', '.join(net.style_names)}); pass style=<name> or blend=")
    return net.stylize(content, style=weights, size=size)
