"""Neural style transfer (Gatys, Ecker & Bethge, "Image Style Transfer Using
Convolutional Neural Networks", CVPR 2016), as in cs231n assignment 3.

The pixels x of an image are optimized with Adam to minimize

    L(x) = w_c sum (F_c(x) - F_c(content))^2                  (content, one layer)
         + sum_l w_l sum (G_l(x) - A_l)^2                       (style, Gram matrices)
         + w_tv TV(x)                                           (smoothness)

where F_l are SqueezeNet features, G_l their normalized Gram matrices and A_l
the style image's (a weighted average of several styles' Grams when blending,
the weights normalized to sum 1).  Each iteration runs **one** forward pass
that stops at the deepest layer a loss needs, reads every feature from
``cache.activations``, and **one** backward pass that receives the gradients
of all losses injected at their layers (``param_grads=False``).

Special cases: feature inversion (Mahendran & Vedaldi 2015) is zero style
weights from noise; Gram texture synthesis (Gatys et al. 2015) is zero
content weight from noise (:func:`minicnn.techniques.texture_synthesis`).
``keep_colors`` keeps the content's colours (Gatys et al. 2016, "Preserving
Color in Neural Artistic Style Transfer": luminance from the result,
chrominance from the content, in YIQ).

Units: the image is optimized in the model's normalized space, but the TV
term, Adam's learning rates, the clamp and the start noise are in **pixel
units** (levels of 0..255 RGB from the mean colour, ``u = x * pixel_scale``),
so they mean the same for the torchvision and the Caffe weights.  Content
and style weights act on SqueezeNet features and stay per model (cs231n's
values are for the torchvision weights).
"""
import os
import warnings
from pathlib import Path

import numpy as np

from ..losses import content_loss, gram_matrix, style_loss, tv_loss
from ..optim import adam
from ..weights import feature_scale
from .. import checks
from .regularizers import IMAGENET_PIXEL_STD, pixel_scale

__all__ = ["style_transfer", "style_transfer_preset", "style_targets", "style_losses",
           "prepare_image", "load_style_image", "keep_content_colors", "PRESETS", "INITS",
           "STYLE_IMAGES", "DEFAULT_STYLE_LAYERS", "CS231N_SCHEDULE", "available_styles"]

#: cs231n's style layers (torchvision features 1, 4, 6, 7) in our names.
DEFAULT_STYLE_LAYERS = ("conv1", "fire3", "fire4", "fire5")

#: cs231n's optimization schedule in pixel units: Adam steps 3.0 and 0.1 and the
#: clamp to [-1.5, 1.5] of the torchvision normalization (one unit ~ 57.6 pixel
#: levels) are 172.8 and 5.76 pixel levels and +-86.4 levels around the mean colour.
CS231N_SCHEDULE = {"learning_rate": 3.0 * IMAGENET_PIXEL_STD,
                   "decayed_lr": 0.1 * IMAGENET_PIXEL_STD, "decay_lr_at": 180,
                   "clamp": 1.5 * IMAGENET_PIXEL_STD, "clamp_until": 190}

#: cs231n's TV weights (normalized units) -> per squared pixel level.
_TV = {2e-2: 6e-6, 5e-2: 1.5e-5}

#: Named images of the shared data folder (``images/styles``).
STYLE_IMAGES = ("composition_vii", "the_scream", "starry_night", "tubingen")

#: cs231n's three parameter sets (content ``tubingen``), feature inversion and
#: Gram texture synthesis, in our layer names (content layer 3 -> fire2); the TV
#: weights per squared pixel level (cs231n's 5e-2 and 2e-2 / 57.6^2).  One change:
#: composition_vii's style weights are cs231n's (20000, 500, 12, 1) times 5: with
#: cs231n's the photo only takes a faint tint (style loss -88% on tubingen at 192 px,
#: barely visible); times 5 it is visibly painted and keeps its layout (-97%).
PRESETS = {
    "composition_vii": {
        "content": "tubingen", "styles": "composition_vii", "image_size": 192,
        "style_size": 512, "content_layer": "fire2", "content_weight": 5e-2,
        "style_layers": DEFAULT_STYLE_LAYERS, "style_weights": (100000, 2500, 60, 5),
        "tv_weight": _TV[5e-2], "init": "content"},
    "the_scream": {
        "content": "tubingen", "styles": "the_scream", "image_size": 192,
        "style_size": 224, "content_layer": "fire2", "content_weight": 3e-2,
        "style_layers": DEFAULT_STYLE_LAYERS, "style_weights": (200000, 800, 12, 1),
        "tv_weight": _TV[2e-2], "init": "content"},
    "starry_night": {
        "content": "tubingen", "styles": "starry_night", "image_size": 192,
        "style_size": 192, "content_layer": "fire2", "content_weight": 6e-2,
        "style_layers": DEFAULT_STYLE_LAYERS, "style_weights": (300000, 1000, 15, 3),
        "tv_weight": _TV[2e-2], "init": "content"},
    "feature_inversion": {
        "content": "tubingen", "styles": "starry_night", "image_size": 192,
        "style_size": 192, "content_layer": "fire2", "content_weight": 6e-2,
        "style_layers": DEFAULT_STYLE_LAYERS, "style_weights": (0, 0, 0, 0),
        "tv_weight": _TV[2e-2], "init": "noise"},
    "texture_starry_night": {
        "content": "tubingen", "styles": "starry_night", "image_size": 192,
        "style_size": 192, "content_layer": "fire2", "content_weight": 0.0,
        "style_layers": DEFAULT_STYLE_LAYERS, "style_weights": (300000, 1000, 15, 3),
        "tv_weight": _TV[2e-2], "init": "noise"},
}


# --------------------------------------------------------------------------- inputs
def _named_image_path(name):
    """The data folder's or fetched copy of a named image, else the embedded painting
    (``tubingen`` has no embedded copy: FileNotFoundError saying how to fetch it)."""
    from ..data import find_image
    return find_image(name)


def available_styles():
    """Names accepted wherever a style or content image is expected: the paintings,
    tubingen, and every other image name of :func:`minicnn.data.find_image`
    (kitten, chelsea, ...)."""
    from ..data import CS231N_IMAGES, EMBEDDED_IMAGES
    return STYLE_IMAGES + tuple(n for n in (*CS231N_IMAGES, *EMBEDDED_IMAGES)
                                if n not in STYLE_IMAGES)


def load_style_image(image):
    """A named image (``starry_night``, ...), a path, or an array -> uint8 RGB (H, W, 3).

    Grey and RGBA images are converted to RGB.  Unknown names raise a
    ValueError listing the available ones.
    """
    from ..data import load_image, to_rgb
    if isinstance(image, np.ndarray):
        return to_rgb(image)
    if isinstance(image, (str, os.PathLike)):
        text = str(image)
        path = Path(text)
        if text in available_styles() and not path.is_file():
            return load_image(_named_image_path(text))
        if path.is_file():
            return to_rgb(load_image(path))
        if path.suffix == "" and os.sep not in text:
            raise ValueError(f"unknown style {text!r}; available styles: "
                             f"{', '.join(available_styles())} (or give an image path)")
        raise FileNotFoundError(f"image not found: {text}")
    raise TypeError(f"image must be a style name, a path or a uint8 array, got "
                    f"{type(image).__name__}")


def prepare_image(cnn, image, size):
    """Image (name, path, uint8 array) -> (1, 3, H, W) normalized, short side ``size``
    (None keeps the size), whole image (no crop).  A float (1, 3, H, W) array is
    taken as already preprocessed and returned as is (in the model's dtype)."""
    if isinstance(image, np.ndarray) and image.ndim == 4 and np.issubdtype(image.dtype,
                                                                          np.floating):
        if image.shape[:2] != (1, 3):
            raise ValueError(f"a preprocessed image must have shape (1, 3, H, W), "
                             f"got {image.shape}")
        return image.astype(cnn.dtype, copy=False)
    if size is not None and (not isinstance(size, (int, np.integer)) or size < 1):
        raise ValueError(f"image size must be a positive int or None, got {size!r}")
    img = load_style_image(image)
    if size is None:              # keep the size (the model's preprocess(size=None) would
        size = min(img.shape[:2])  # resize to its evaluation size, 256)
    return cnn.preprocess(img, size=size, crop=None)


def _normalize_blend(n_styles, blend):
    if blend is None:
        return np.full(n_styles, 1.0 / n_styles)
    w = np.asarray(blend, dtype=np.float64).ravel()
    if w.shape != (n_styles,):
        raise ValueError(f"blend must have one weight per style ({n_styles}), got {len(w)}")
    if not np.isfinite(w).all() or (w < 0).any() or w.sum() <= 0:
        raise ValueError(f"blend weights must be non-negative with a positive sum, got "
                         f"{w.tolist()}")
    return w / w.sum()


def style_targets(cnn, styles, style_layers=DEFAULT_STYLE_LAYERS, style_size=192, blend=None):
    """Target Gram matrices {layer: (1, C, C)} of one or several style images.

    styles: one image (name, path, uint8 array or preprocessed (1, 3, H, W)) or a
    list of them; each is resized to ``style_size`` on its short side (its own
    aspect ratio; the Gram matrix does not depend on the spatial size).
    blend: weights, one per style (normalized to sum 1; default equal):
    ``A_l = sum_s blend_s G_l(style_s)``.
    """
    style_list = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if not style_list:
        raise ValueError("styles must contain at least one style image")
    weights = _normalize_blend(len(style_list), blend)
    layers = list(style_layers)
    for name in layers:
        cnn.layer_index(name, "style layer")
    end = max(layers, key=cnn.layer_index)
    targets = {name: 0.0 for name in layers}
    for w, style in zip(weights, style_list):
        x = prepare_image(cnn, style, style_size)
        _, cache = cnn.forward(x, end=end)
        for name in layers:
            targets[name] = targets[name] + w * gram_matrix(cache.activations[name]).astype(
                np.float64)
    return {name: g.astype(cnn.dtype) for name, g in targets.items()}


# --------------------------------------------------------------------------- losses
class _Objective:
    """The style-transfer objective: one forward to the deepest layer needed,
    all losses read from the cache, one backward with the injected gradients."""

    def __init__(self, cnn, content_layer, content_target, content_weight, style_layers,
                 targets, style_weights, tv_weight):
        self.cnn = cnn
        # The weights are tuned on the torchvision features (cs231n); another weights
        # set's features are feature_scale times as large: content loss grows with
        # its square, style loss (Gram matrices) with its fourth power.
        self.content_weight = float(content_weight) / feature_scale(cnn.meta,
                                                                    content_layer) ** 2
        self.content_layer = content_layer if self.content_weight != 0 else None
        self.content_target = content_target
        active = [(l, float(w) / feature_scale(cnn.meta, l) ** 4)
                  for l, w in zip(style_layers, style_weights) if w != 0]
        self.style_layers = [l for l, _ in active]
        self.style_weights = [w for _, w in active]
        self.targets = [targets[l] for l in self.style_layers] if targets else []
        self.tv_weight = float(tv_weight)
        self.scale = pixel_scale(cnn)
        needed = self.style_layers + ([self.content_layer] if self.content_layer else [])
        self.end = max(needed, key=cnn.layer_index) if needed else None

    def __call__(self, x, grad=True):
        """(losses dict, dx) at x; dx is None when ``grad`` is False."""
        losses = {"content": 0.0, "style": 0.0, "tv": 0.0}
        dx = np.zeros_like(x) if grad else None
        if self.end is not None:
            _, cache = self.cnn.forward(x, end=self.end)
            acts = cache.activations
            injected = {}
            if self.content_layer:
                losses["content"], dc = content_loss(self.content_weight,
                                                     acts[self.content_layer],
                                                     self.content_target)
                injected[self.content_layer] = dc
            if self.style_layers:
                losses["style"], dfeats = style_loss(acts, self.style_layers, self.targets,
                                                     self.style_weights)
                for name, d in dfeats.items():
                    injected[name] = injected[name] + d if name in injected else d
            if grad:
                dx, _ = self.cnn.backward(injected, cache, param_grads=False)
        u = (x * self.scale).astype(x.dtype)               # pixel levels from the mean
        losses["tv"], dtv = tv_loss(u, self.tv_weight)     # d/dx = s * d/du
        if grad:
            dx = dx + (dtv * self.scale).astype(x.dtype)
        losses["total"] = losses["content"] + losses["style"] + losses["tv"]
        return losses, dx


def style_losses(cnn, x, content, styles, *, style_weights, content_weight, tv_weight,
                 content_layer="fire2", style_layers=DEFAULT_STYLE_LAYERS, style_size=192,
                 image_size=192, blend=None):
    """The losses {"content", "style", "tv", "total"} of image x (1, 3, H, W)
    under the same objective as :func:`style_transfer` (for reporting)."""
    objective = _build_objective(cnn, content, styles, style_weights, content_weight,
                                 tv_weight, content_layer, style_layers, style_size,
                                 image_size, blend, x.shape[2:])[0]
    return objective(x.astype(cnn.dtype, copy=False), grad=False)[0]


def _build_objective(cnn, content, styles, style_weights, content_weight, tv_weight,
                     content_layer, style_layers, style_size, image_size, blend, shape=None):
    if isinstance(style_layers, str):
        style_layers = (style_layers,)
    style_layers = tuple(style_layers)
    for name in style_layers:
        cnn.layer_index(name, "style layer")
    cnn.layer_index(content_layer, "content_layer")
    if np.ndim(style_weights) == 0:
        style_weights = [style_weights] * len(style_layers)
    style_weights = [float(w) for w in style_weights]
    if len(style_weights) != len(style_layers):
        raise ValueError(f"style_weights has {len(style_weights)} entries but style_layers "
                         f"has {len(style_layers)}")
    for name, value in (("content_weight", content_weight), ("tv_weight", tv_weight)):
        if not np.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a non-negative number, got {value!r}")
    if any(not np.isfinite(w) or w < 0 for w in style_weights):
        raise ValueError(f"style_weights must be non-negative, got {style_weights}")
    content_x = None
    if content is not None:
        content_x = prepare_image(cnn, content, image_size)
    elif content_weight != 0:
        raise ValueError("content is None but content_weight is not 0")
    target = None
    if content_weight != 0:
        _, cache = cnn.forward(content_x, end=content_layer)
        target = cache.activations[content_layer].copy()
    targets = None
    if any(w != 0 for w in style_weights):
        if styles is None:
            raise ValueError("styles is None but some style_weights are not 0")
        active = tuple(l for l, w in zip(style_layers, style_weights) if w != 0)
        targets = style_targets(cnn, styles, active, style_size, blend)
    objective = _Objective(cnn, content_layer, target, content_weight, style_layers, targets,
                           style_weights, tv_weight)
    return objective, content_x


# --------------------------------------------------------------------------- init / colours
def _init_content(content_x, shape, rng, dtype):
    if content_x is None:
        raise ValueError("init='content' needs a content image")
    return content_x.astype(dtype, copy=True)


#: Amplitude of the "noise" start image in pixel levels (cs231n's uniform(0, 1)
#: in the torchvision normalization).
NOISE_INIT_LEVELS = IMAGENET_PIXEL_STD


def _init_noise(content_x, shape, rng, dtype, scale=1.0):
    # cs231n: uniform(0, 1) in the normalized space; here uniform in
    # [0, NOISE_INIT_LEVELS) pixel levels above the mean colour (scale = pixel_scale)
    return (NOISE_INIT_LEVELS * rng.random((1, 3) + tuple(shape)) / scale).astype(dtype)


#: Initializations (string registry).
INITS = {"content": _init_content, "noise": _init_noise}

_RGB_TO_YIQ = np.array([[0.299, 0.587, 0.114],
                        [0.595716, -0.274453, -0.321263],
                        [0.211456, -0.522591, 0.311135]])


def keep_content_colors(cnn, x, content_x):
    """Luminance of x with the chrominance (I, Q of YIQ) of content_x.

    Both (1, 3, H, W) normalized; works in RGB [0, 255] and returns normalized
    (1, 3, H, W): the content's size (no resize).
    """
    if x.shape != content_x.shape:
        raise ValueError(f"x {x.shape} and the content {content_x.shape} differ in shape")
    rgb = cnn.deprocess(x).astype(np.float64)
    rgb_c = cnn.deprocess(content_x).astype(np.float64)
    yiq = rgb @ _RGB_TO_YIQ.T
    yiq[..., 1:] = (rgb_c @ _RGB_TO_YIQ.T)[..., 1:]
    out = np.clip(yiq @ np.linalg.inv(_RGB_TO_YIQ).T, 0, 255)
    # no resize: size=None would mean the model's default short side (256)
    return cnn.preprocess(np.round(out).astype(np.uint8), size=min(x.shape[2:]), crop=None)


# --------------------------------------------------------------------------- main loop
def style_transfer(cnn, content, styles, *, style_weights, content_weight, tv_weight,
                   content_layer="fire2", style_layers=DEFAULT_STYLE_LAYERS, style_size,
                   blend=None, iterations=200, init="content", rng=None, callback=None,
                   image_size=192, image_shape=None, keep_colors=False,
                   learning_rate=CS231N_SCHEDULE["learning_rate"],
                   decayed_lr=CS231N_SCHEDULE["decayed_lr"],
                   decay_lr_at=CS231N_SCHEDULE["decay_lr_at"],
                   clamp=CS231N_SCHEDULE["clamp"], clamp_until=CS231N_SCHEDULE["clamp_until"],
                   progress=False, history=None, checkpoint=None, checkpoint_every=50):
    """Neural style transfer (Gatys et al. 2016) with cs231n's schedule.

    cnn: the model (SqueezeNet protocol).  content: the content image (a name
    such as ``"tubingen"``, a path, a uint8 array of any of grey/RGB/RGBA, or a
    preprocessed (1, 3, H, W)); resized to ``image_size`` (192) on its short
    side.  None is allowed when ``content_weight == 0`` (then give
    ``image_shape`` or ``init="noise"`` uses the style size).
    styles: one style image or a list (blended with ``blend`` weights,
    normalized to sum 1: the target Gram is the weighted average).
    style_size: short side of the style images (larger -> larger strokes).
    style_weights: one weight per style layer; content_weight: scalar (these
    act on features: cs231n's values suit the torchvision weights).
    tv_weight: per squared pixel level, ``tv_weight * TV(u)`` with u the image
    in pixel levels (cs231n's 2e-2 is 6e-6 here).
    init: "content" (start from the content image) or "noise" (uniform in
    [0, 57.6) pixel levels above the mean colour, cs231n's uniform [0, 1)).
    Schedule, in pixel levels: Adam on u with ``learning_rate`` (172.8,
    cs231n's 3.0) switching (new Adam state) to ``decayed_lr`` (5.76, cs231n's
    0.1) at iteration ``decay_lr_at`` (180); pixels clamped to the mean colour
    +- ``clamp`` levels (86.4, cs231n's 1.5) before each iteration below
    ``clamp_until`` (190).
    keep_colors: transfer the result's luminance onto the content's colours.
    callback(t, x, losses): after each iteration's loss evaluation.
    history: a list to which the loss dict of every iterate is appended (the
    last entry is the returned image's).
    checkpoint: a ``.npz`` path; the state (image, Adam moments, iteration,
    best image) is written there atomically every ``checkpoint_every``
    iterations and on Ctrl-C, and an existing checkpoint is resumed (the
    result is bit-identical to an uninterrupted run with the same arguments).

    Ctrl-C stops the loop and returns the lowest-loss image so far.
    Returns x (1, 3, H, W) in the model's normalized space (``cnn.deprocess``).
    """
    from tqdm.auto import tqdm
    checks.choice(init, INITS, "init", label="init")
    if not isinstance(iterations, (int, np.integer)) or iterations < 0:
        raise ValueError(f"iterations must be a non-negative int, got {iterations!r}")
    learning_rate = checks.positive(learning_rate, "learning_rate")
    decayed_lr = checks.positive(decayed_lr, "decayed_lr")
    decay_lr_at = checks.non_negative(decay_lr_at, "decay_lr_at", integer=True)
    clamp_until = checks.non_negative(clamp_until, "clamp_until", integer=True)
    if clamp is not None:
        clamp = checks.non_negative(clamp, "clamp")
    checkpoint_every = checks.positive(checkpoint_every, "checkpoint_every", integer=True)
    if style_size is not None:
        checks.positive(style_size, "style_size", integer=True)
    if image_size is not None:
        checks.positive(image_size, "image_size", integer=True)
    if image_shape is not None:
        image_shape = checks.image_size(image_shape, "image_shape")
    rng = checks.rng(rng)
    objective, content_x = _build_objective(cnn, content, styles, style_weights,
                                            content_weight, tv_weight, content_layer,
                                            style_layers, style_size, image_size, blend)
    if content_x is not None:
        shape = content_x.shape[2:]
    elif image_shape is not None:
        shape = tuple(int(s) for s in image_shape)
    else:
        first = styles[0] if isinstance(styles, (list, tuple)) else styles
        shape = prepare_image(cnn, first, style_size).shape[2:]
    if keep_colors and content_x is None:
        raise ValueError("keep_colors needs a content image")
    scale = pixel_scale(cnn)
    x = INITS[init](content_x, shape, rng, cnn.dtype, **({"scale": scale} if init == "noise"
                                                          else {}))
    cnn.output_shape(x.shape, end=objective.end or 0)      # clear error if too small
    config = {"learning_rate": learning_rate}
    best_loss, best_x = np.inf, x.copy()
    start = 0
    settings = None
    if checkpoint is not None:
        settings = _run_settings(objective, x, dict(
            style_weights=list(map(float, np.broadcast_to(style_weights, (len(tuple(
                (style_layers,) if isinstance(style_layers, str) else style_layers)),)))),
            content_weight=float(content_weight), tv_weight=float(tv_weight),
            content_layer=content_layer,
            style_layers=list((style_layers,) if isinstance(style_layers, str)
                              else style_layers),
            style_size=style_size, init=init, learning_rate=learning_rate,
            decayed_lr=decayed_lr, decay_lr_at=decay_lr_at,
            clamp=None if clamp is None else float(clamp), clamp_until=clamp_until,
            blend=None if blend is None else list(map(float, np.ravel(blend)))))
    if checkpoint is not None and Path(checkpoint).is_file():
        start, x, config, best_loss, best_x = _load_checkpoint(checkpoint, x, settings)
    bar = tqdm(range(start, iterations), disable=not progress, desc="style transfer",
               initial=start, total=iterations)
    t = start
    try:
        for t in bar:
            if t < clamp_until and clamp is not None:
                np.clip(x, (-clamp / scale).astype(x.dtype), (clamp / scale).astype(x.dtype),
                        out=x)
            losses, dx = objective(x)
            if losses["total"] < best_loss:
                best_loss, best_x = losses["total"], x.copy()
            if history is not None:
                history.append(losses)
            if callback is not None:
                callback(t, x, losses)
            if progress:
                bar.set_postfix(style=f"{losses['style']:.3g}",
                                content=f"{losses['content']:.3g}", tv=f"{losses['tv']:.3g}")
            if t == decay_lr_at:
                config = {"learning_rate": decayed_lr}
            u = (x * scale).astype(x.dtype)           # Adam on u = x s (pixel levels)
            u, config = adam(u, (dx / scale).astype(x.dtype), config)
            x = (u / scale).astype(x.dtype)
            if checkpoint is not None and (t + 1) % checkpoint_every == 0:
                _save_checkpoint(checkpoint, t + 1, x, config, best_loss, best_x, settings)
        final, _ = objective(x, grad=False)
        if history is not None:
            history.append(final)
    except KeyboardInterrupt:
        if checkpoint is not None:
            _save_checkpoint(checkpoint, t, x, config, best_loss, best_x, settings)
        warnings.warn(f"style_transfer interrupted: returning the best image so far "
                      f"(loss {best_loss:.4g})")
        x = best_x
    finally:
        bar.close()
    if keep_colors:
        x = keep_content_colors(cnn, x, content_x)
    return x


def _run_settings(objective, x0, settings):
    """What a checkpoint must agree on to be resumed: the loss weights, layers and
    schedule, and digests of the targets (content features, style Grams) and of
    the start image (content, init, seed)."""
    import hashlib
    h = hashlib.sha256()
    for a in ([objective.content_target] if objective.content_layer else []) + \
            list(objective.targets) + [x0]:
        a = np.ascontiguousarray(a)
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(a.tobytes())
    return dict(settings, inputs=h.hexdigest()[:32])


def _save_checkpoint(path, iteration, x, config, best_loss, best_x, settings=None):
    """Write the optimization state to ``path`` atomically (a temporary file of this
    process, then a rename: a failed write leaves the previous checkpoint)."""
    import json
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")
    m = config.get("m")
    extra = {} if settings is None else {"settings": np.array(json.dumps(settings,
                                                                         sort_keys=True))}
    try:
        np.savez(tmp, iteration=np.int64(iteration), x=x, best_x=best_x,
                 best_loss=np.float64(best_loss),
                 learning_rate=np.float64(config["learning_rate"]),
                 adam_t=np.int64(config.get("t", 0)),
                 m=np.zeros_like(x) if m is None else m,
                 v=np.zeros_like(x) if m is None else config["v"], **extra)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def _load_checkpoint(path, x, settings=None):
    """(iteration, x, adam config, best_loss, best_x) from a checkpoint of an image like
    x, written by a run with the same ``settings`` (else a ValueError listing them)."""
    import json
    try:
        with np.load(path, allow_pickle=False) as z:
            state = {k: z[k] for k in z.files}
        iteration = int(state["iteration"])
        saved = state["x"]
        config = {"learning_rate": float(state["learning_rate"])}
        if int(state["adam_t"]) > 0:
            config.update(m=state["m"].astype(x.dtype), v=state["v"].astype(x.dtype),
                          t=int(state["adam_t"]))
        best_loss, best_x = float(state["best_loss"]), state["best_x"].astype(x.dtype)
    except Exception as exc:                     # zip/npz errors, missing keys
        raise ValueError(f"checkpoint {path} is corrupted or not a style-transfer "
                         f"checkpoint ({type(exc).__name__}: {exc}); delete it to start "
                         f"over") from None
    if saved.shape != x.shape:
        raise ValueError(f"checkpoint {path} holds an image of shape {saved.shape}, this run "
                         f"optimizes {x.shape}; use another checkpoint path")
    if settings is not None:
        if "settings" not in state:
            warnings.warn(f"checkpoint {path} does not record its settings (written by an "
                          "older minicnn): resuming without checking them", RuntimeWarning,
                          stacklevel=3)
        else:
            saved_settings = json.loads(str(state["settings"]))
            wanted = json.loads(json.dumps(settings, sort_keys=True))
            diff = sorted(k for k in set(wanted) | set(saved_settings)
                          if wanted.get(k) != saved_settings.get(k))
            if diff:
                listing = "; ".join(
                    f"{k}: {saved_settings.get(k)!r} there, {wanted.get(k)!r} now"
                    if k != "inputs" else "inputs: other content/style images or start "
                    "image (init, rng)" for k in diff)
                raise ValueError(f"checkpoint {path} was written by a run with different "
                                 f"settings ({listing}); resuming would not reproduce an "
                                 "uninterrupted run: use another checkpoint path or delete "
                                 "it")
    return iteration, saved.astype(x.dtype), config, best_loss, best_x


def style_transfer_preset(cnn, name, **overrides):
    """Run :func:`style_transfer` with a named parameter set of :data:`PRESETS`
    (``composition_vii``, ``the_scream``, ``starry_night``, ``feature_inversion``,
    ``texture_starry_night``); keyword arguments override its entries."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; available presets: {', '.join(PRESETS)}")
    params = dict(PRESETS[name])
    params.update(overrides)
    content = params.pop("content")
    styles = params.pop("styles")
    if params.get("content_weight", 0) == 0 and params.get("init") == "noise":
        params.setdefault("image_shape", prepare_image(cnn, content,
                                                       params["image_size"]).shape[2:])
        content = None
    return style_transfer(cnn, content, styles, **params)
