"""``saliency``, ``guided``, ``gradcam``, ``cam``, ``occlusion`` and ``segment`` commands.

Each reads images (default: the first ``--count`` images of
:func:`minicnn.data.available_images` ``("dataset")``: the labelled ImageNet sample
when this machine has it, else the embedded photos), explains a class
(``--class``; default the label when known, else the top prediction) and writes
PNG panels into ``--out``.
"""
from pathlib import Path

import numpy as np

from . import add_common, default_images, input_path, load_model, positive_int

SALIENCY_METHODS = ("saliency", "smoothgrad", "integrated")


def register(sub):
    def common(p, layer_default=None):
        p.add_argument("images", nargs="*", help="image files (default: the ImageNet sample "
                       "when present, else the embedded photos)")
        p.add_argument("--count", type=positive_int, default=5,
                       help="how many default photos when no images are given (default 5)")
        p.add_argument("--class", dest="target", type=int, default=None,
                       help="class index to explain (default: label or top prediction)")
        add_common(p, seed=True, layer=layer_default is not None)
        if layer_default is not None:
            p.set_defaults(layer=layer_default)
        return p

    p = common(sub.add_parser("saliency", help="class saliency maps (Simonyan et al. 2014), "
                                               "SmoothGrad or Integrated Gradients"))
    p.add_argument("--method", choices=SALIENCY_METHODS, default="saliency")
    p.add_argument("--steps", type=positive_int, default=None,
                   help="SmoothGrad samples / IG steps (default 50)")
    p.set_defaults(func=run_saliency)

    p = common(sub.add_parser("guided", help="one neuron's input gradient under standard "
                                             "backprop, deconvnet and guided backprop"),
               layer_default="fire7")
    p.add_argument("--channel", type=int, default=None,
                   help="channel of --layer (default: the most active channel)")
    p.add_argument("--position", default=None,
                   help="i,j in the layer's map (default: the strongest activation)")
    p.set_defaults(func=run_guided)

    p = common(sub.add_parser("gradcam", help="Grad-CAM and guided Grad-CAM "
                                              "(Selvaraju et al. 2017)"), layer_default="fire9")
    p.add_argument("--method", choices=("gradcam", "cam"), default="gradcam",
                   help="gradcam (at --layer), or cam: the class activation map, exact for "
                        "SqueezeNet (as the cam command)")
    p.set_defaults(func=run_gradcam)

    p = common(sub.add_parser("cam", help="class activation map (Zhou et al. 2016): conv10's "
                                          "map of the class, exact for SqueezeNet"))
    p.set_defaults(func=run_cam)

    p = common(sub.add_parser("occlusion", help="class probability under a sliding grey "
                                                "square (Zeiler & Fergus 2014)"))
    p.add_argument("--size", type=positive_int, default=32, help="square size (default 32)")
    p.add_argument("--stride", type=positive_int, default=8, help="stride (default 8)")
    p.add_argument("--batch-size", type=positive_int, default=16)
    p.set_defaults(func=run_occlusion)

    p = common(sub.add_parser("segment", help="object mask from a saliency map and a "
                                              "graph cut (Simonyan et al. 2014, 3.2)"))
    p.add_argument("--rounds", type=positive_int, default=3)
    p.set_defaults(func=run_segment)


# --------------------------------------------------------------------------- helpers
def _inputs(cnn, args):
    """[(stem, x (1, 3, S, S), label or None)] for the images or the default photos."""
    from ..data import load_image
    if args.images:
        paths, labels = [input_path(p) for p in args.images], [None] * len(args.images)
    else:
        paths, labels = default_images(args.count)
    return [(Path(p).stem, cnn.preprocess(load_image(p)), lab) for p, lab in zip(paths, labels)]


def _target(cnn, x, requested, label):
    if requested is not None:
        if not 0 <= requested < cnn.num_classes:
            raise ValueError(f"--class must be in 0..{cnn.num_classes - 1}, got {requested}")
        return requested
    if label is not None:
        return label
    return int(cnn.predict(x, top=1).indices[0, 0])


def row(*images, gap=4):
    """uint8 images (H, W, 3) or grey (H, W) of equal height side by side."""
    imgs = [np.repeat(i[..., None], 3, axis=2) if i.ndim == 2 else i for i in images]
    h = imgs[0].shape[0]
    spacer = np.full((h, gap, 3), 255, np.uint8)
    parts = []
    for i in imgs:
        parts += [i, spacer]
    return np.concatenate(parts[:-1], axis=1)


def _save(args, name, img):
    from ..data import save_image
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_image(out / name, img)
    print(f"wrote {out / name}")


def _parse_position(text):
    if text is None:
        return None
    try:
        i, j = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--position must be 'i,j' (two integers), got {text!r}") from None
    return (i, j)


#: what each saliency method's panel shows
SALIENCY_LABELS = {"saliency": "saliency: max over RGB of |d score / d pixel|",
                   "smoothgrad": "SmoothGrad: mean of noisy saliency maps",
                   "integrated": "Integrated Gradients: max over RGB of |attribution|"}


def _class_label(cnn, x, y):
    """'tench (0), p=0.97': the class and the model's probability of it for ``x``."""
    s = cnn.scores(x)[0].astype(np.float64)
    p = np.exp(s - s.max())
    return f"{cnn.class_name(y)} ({y}), p={p[y] / p.sum():.2f}"


def saliency_panel(cnn, x, y, method="saliency", steps=None, rng=None, progress=False):
    """The image and its map under ``method`` side by side (uint8), each panel
    labelled; the map has a colour bar (its scale: 0 to the 99.5th percentile,
    brighter values clipped)."""
    from ..plotting import heatmap_panel, panel_row
    from ..techniques.attribution import integrated_gradients, saliency_map, smoothgrad
    if method == "saliency":
        m = saliency_map(cnn, x, y)[0]
    elif method == "smoothgrad":
        m = smoothgrad(cnn, x, y, num_samples=steps or 50, rng=rng, progress=progress)[0]
    else:
        m = np.abs(integrated_gradients(cnn, x, y, steps=steps or 50, progress=progress)[0]) \
            .max(axis=0)
    vmax = float(np.quantile(m, 0.995))
    return panel_row([cnn.deprocess(x), heatmap_panel(m, "hot", 0.0, vmax)],
                     labels=[_class_label(cnn, x, y),
                             SALIENCY_LABELS[method] + " (top 0.5% clipped)"])


def strongest_channel(cnn, x, layer):
    cnn.layer_index(layer, "layer")
    a = cnn.forward(x, end=layer)[0]
    return int(a.reshape(a.shape[0], a.shape[1], -1).max(axis=2)[0].argmax())


#: panel labels of the three ReLU backward rules
RELU_RULE_LABELS = {"standard": "standard backprop", "deconvnet": "deconvnet",
                    "guided": "guided backprop"}


def guided_panel(cnn, x, layer, channel=None, position=None):
    """Image, then standard / deconvnet / guided gradients of one neuron (uint8),
    labelled (gradients: grey = 0, saturated at 3 standard deviations)."""
    from ..plotting import panel_row
    from ..techniques.attribution import gradient_to_image, neuron_gradients
    channel = strongest_channel(cnn, x, layer) if channel is None else channel
    g = neuron_gradients(cnn, x, layer, channel, position)
    labels = [f"image; neuron: {layer} channel {channel}"] + \
        [f"{RELU_RULE_LABELS.get(m, m)} (grey 0, +-3 sd)" for m in g]
    return panel_row([cnn.deprocess(x)] + [gradient_to_image(g[m][0]) for m in g],
                     labels=labels), channel


def gradcam_panel(cnn, x, y, layer="fire9", with_cam=False):
    """Image | Grad-CAM at ``layer`` over the image (colour bar: the map's own
    scale, 0 to its maximum) | guided Grad-CAM, labelled.  ``with_cam`` adds
    the class activation map (conv10's class map, Zhou et al. 2016) after
    Grad-CAM."""
    from ..plotting import overlay_heatmap, panel_row, with_colorbar
    from ..techniques.attribution import gradcam, gradient_to_image, guided_gradcam
    img = cnn.deprocess(x)
    cam_map = gradcam(cnn, x, y, layer=layer, normalize=False)[0]
    top = max(float(cam_map.max()), 1e-12)
    ggc = guided_gradcam(cnn, x, y, layer=layer)[0]
    panels = [img, with_colorbar(overlay_heatmap(img, cam_map, cmap="jet", vmin=0, vmax=top),
                                 0.0, top, cmap="jet")]
    labels = [_class_label(cnn, x, y), f"Grad-CAM at {layer}: relu(sum_k alpha_k A_k)"]
    if with_cam:
        from ..techniques.attribution import cam
        raw = cam(cnn, x, y, normalize=False)[0]
        high = max(float(raw.max()), 1e-12)
        panels.append(with_colorbar(overlay_heatmap(img, raw, cmap="jet", vmin=0, vmax=high),
                                    0.0, high, cmap="jet"))
        labels.append("CAM: conv10's map of the class (its mean is the score)")
    panels.append(gradient_to_image(ggc))
    labels.append("guided Grad-CAM (grey 0)")
    return panel_row(panels, labels=labels)


def occlusion_panel(cnn, x, y, size=32, stride=8, batch_size=16, progress=False):
    """Image | the class probability with the grey square centred at each pixel
    (each window's value placed at the window's centre, interpolated between
    centres; colour bar: the map's actual range), labelled.  Returns
    ``(panel, heat)`` with the raw (H', W') map."""
    from ..plotting import heatmap_panel, panel_row, window_map_to_pixels
    from ..techniques.attribution import occlusion_map
    heat = occlusion_map(cnn, x, y, size=size, stride=stride, batch_size=batch_size,
                         progress=progress)[0]
    big = window_map_to_pixels(heat, size, stride, x.shape[2:])
    lo, hi = float(np.nanmin(heat)), float(np.nanmax(heat))
    if hi - lo < 1e-6:
        lo, hi = max(lo - 0.01, 0.0), min(hi + 0.01, 1.0)
    label = (f"P({cnn.class_name(y)}) with a {size}x{size} grey square centred here: "
             f"{np.nanmin(heat):.3f} to {np.nanmax(heat):.3f}")
    return panel_row([cnn.deprocess(x), heatmap_panel(big, "viridis", lo, hi)],
                     labels=[_class_label(cnn, x, y), label]), heat


def segment_panel(cnn, x, y, rounds=3, rng=None):
    """Image | saliency (colour bar) | the graph cut's foreground, labelled.
    Returns ``(panel, mask)``."""
    from ..plotting import heatmap_panel, panel_row
    from ..techniques.attribution import saliency_map
    from ..techniques.segmentation import segment_from_saliency
    img = cnn.deprocess(x)
    sal = saliency_map(cnn, x, y)[0]
    mask = segment_from_saliency(img, sal, rounds=rounds, rng=rng)
    cut = np.where(mask[..., None], img, (0.25 * img + 0.75 * 255).astype(np.uint8))
    return panel_row([img, heatmap_panel(sal, "hot", 0.0, float(np.quantile(sal, 0.995))),
                      cut],
                     labels=[_class_label(cnn, x, y), "saliency (top 0.5% clipped)",
                             f"graph cut: foreground {mask.mean():.0%} of the pixels"]), mask


# --------------------------------------------------------------------------- commands
def run_saliency(args):
    cnn = load_model(args)
    rng = np.random.default_rng(args.seed)
    for stem, x, label in _inputs(cnn, args):
        y = _target(cnn, x, args.target, label)
        panel = saliency_panel(cnn, x, y, args.method, args.steps, rng=rng, progress=True)
        _save(args, f"{args.method}_{stem}_class{y}.png", panel)
    return 0


def run_guided(args):
    cnn = load_model(args)
    position = _parse_position(args.position)
    for stem, x, _ in _inputs(cnn, args):
        panel, channel = guided_panel(cnn, x, args.layer, args.channel, position)
        _save(args, f"guided_{stem}_{args.layer}_ch{channel}.png", panel)
    return 0


def run_gradcam(args):
    if getattr(args, "method", "gradcam") == "cam":
        return run_cam(args)
    cnn = load_model(args)
    for stem, x, label in _inputs(cnn, args):
        y = _target(cnn, x, args.target, label)
        _save(args, f"gradcam_{stem}_{args.layer}_class{y}.png", gradcam_panel(cnn, x, y,
                                                                               args.layer))
    return 0


def run_cam(args):
    """Image | CAM over the image | conv10's map of the class at its own resolution
    (13x13 for 224 input, enlarged with nearest neighbours), for each image."""
    from PIL import Image

    from ..plotting import colorize, overlay_heatmap, panel_row, with_colorbar
    from ..techniques.attribution import cam
    cnn = load_model(args)
    for stem, x, label in _inputs(cnn, args):
        y = _target(cnn, x, args.target, label)
        img = cnn.deprocess(x)
        raw = cam(cnn, x, y, normalize=False, upsample=False)[0]
        big = np.asarray(Image.fromarray(colorize(raw, "jet")).resize(img.shape[1::-1],
                                                                        Image.NEAREST))
        panel = panel_row(
            [img, with_colorbar(overlay_heatmap(img, cam(cnn, x, y)[0]), 0.0, 1.0, cmap="jet"),
             with_colorbar(big, float(raw.min()), float(raw.max()), cmap="jet")],
            labels=[f"{cnn.class_name(y)} ({y})", "CAM (normalized 0..1)",
                    f"conv10 map {raw.shape[0]}x{raw.shape[1]} (raw scores)"])
        _save(args, f"cam_{stem}_class{y}.png", panel)
        print(f"  class {y} ({cnn.class_name(y)}): score {raw.mean():.2f} = mean of its "
              f"{raw.shape[0]}x{raw.shape[1]} conv10 map (max {raw.max():.2f})")
    return 0


def run_occlusion(args):
    cnn = load_model(args)
    for stem, x, label in _inputs(cnn, args):
        y = _target(cnn, x, args.target, label)
        panel, _ = occlusion_panel(cnn, x, y, args.size, args.stride, args.batch_size,
                                   progress=True)
        _save(args, f"occlusion_{stem}_class{y}.png", panel)
    return 0


def run_segment(args):
    cnn = load_model(args)
    rng = np.random.default_rng(args.seed)
    for stem, x, label in _inputs(cnn, args):
        y = _target(cnn, x, args.target, label)
        panel, _ = segment_panel(cnn, x, y, args.rounds, rng=rng)
        _save(args, f"segment_{stem}_class{y}.png", panel)
    return 0


# --------------------------------------------------------------------------- demo
def demo_section(cnn, report, args):
    """Saliency, the three ReLU rules, Grad-CAM and CAM, SmoothGrad / IG, occlusion
    and segmentation on the default photos (2 photos and fewer samples when quick);
    the target is the photo's label when known, else the top prediction."""
    from ..data import load_image
    from ..techniques import attribution
    quick = getattr(args, "quick", False)
    rng = getattr(args, "rng", None) or np.random.default_rng(0)
    paths, labels = default_images(2 if quick else 5)
    items = []
    for p, lab in zip(paths, labels):
        x = cnn.preprocess(load_image(p))
        items.append((Path(p).stem, x, _target(cnn, x, None, lab)))

    report.section("Saliency maps", "Simonyan et al. 2014: max over channels of "
                   "|d score / d pixel| for the photo's class (its label, else the top "
                   "prediction). The colour bar gives the map's scale (score per "
                   "normalized input unit); the brightest 0.5% are clipped.")
    for stem, x, y in items:
        report.image(f"attr_saliency_{stem}", saliency_panel(cnn, x, y),
                     caption=f"{cnn.class_name(y)} ({y}): the photo and its saliency map")

    layer = "fire7"
    report.section("Standard backprop, deconvnet and guided backprop",
                   f"Input gradient of the strongest {layer} neuron of the most active "
                   "channel under the three ReLU backward rules. Gradients are shown "
                   "centred on grey (0) and saturated at 3 standard deviations.")
    for stem, x, _ in items[:2]:
        panel, ch = guided_panel(cnn, x, layer)
        report.image(f"attr_guided_{stem}", panel,
                     caption=f"{layer} channel {ch}: its input gradient under standard "
                             "backprop, deconvnet and guided backprop")

    has_cam = hasattr(attribution, "cam")
    report.section("Grad-CAM, CAM and guided Grad-CAM" if has_cam else
                   "Grad-CAM and guided Grad-CAM",
                   "Selvaraju et al. 2017, at fire9: the class-discriminative map (colour "
                   "bar: its own scale), and guided backprop times that map."
                   + (" CAM (Zhou et al. 2016): conv10's map of the class, whose mean is "
                      "the class score; for SqueezeNet it is exact, no gradient needed."
                      if has_cam else ""))
    for stem, x, y in items[:2]:
        report.image(f"attr_gradcam_{stem}", gradcam_panel(cnn, x, y, with_cam=has_cam),
                     caption=f"{cnn.class_name(y)}: Grad-CAM"
                             + (", CAM" if has_cam else "") + " and guided Grad-CAM")

    n = 8 if quick else 25
    stem, x, y = items[0]
    report.section("SmoothGrad and Integrated Gradients",
                   f"Smilkov et al. 2017 ({n} noisy samples, sigma 0.15) and Sundararajan "
                   f"et al. 2017 ({n} steps from the mean-colour baseline).")
    report.image(f"attr_smoothgrad_{stem}",
                 saliency_panel(cnn, x, y, "smoothgrad", n, rng=rng),
                 caption=f"SmoothGrad of {cnn.class_name(y)}, {n} samples")
    report.image(f"attr_ig_{stem}", saliency_panel(cnn, x, y, "integrated", n),
                 caption=f"Integrated Gradients of {cnn.class_name(y)}, {n} steps "
                         "(|attribution|, max over channels)")

    stride = 32 if quick else 16
    report.section("Occlusion", f"Zeiler & Fergus 2014: probability of the true class as a "
                   f"grey 48x48 square slides with stride {stride}; each value is drawn at "
                   "the centre of its square (interpolated in between), and the colour bar "
                   "gives the probabilities.")
    panel, heat = occlusion_panel(cnn, x, y, size=48, stride=stride)
    s = cnn.scores(x)[0].astype(np.float64)
    p0 = np.exp(s - s.max())[y] / np.exp(s - s.max()).sum()
    report.image(f"attr_occlusion_{stem}", panel,
                 caption=f"{cnn.class_name(y)}: probability {p0:.3f} unoccluded; "
                         f"{np.nanmin(heat):.3f} at worst with the square over the photo "
                         f"(at best {np.nanmax(heat):.3f})")

    report.section("Saliency to segmentation", "Simonyan et al. 2014, 3.2: seeds from the "
                   "top 5% / bottom 30% of saliency, GMM colour models and a graph cut.")
    for stem, x, y in items[:1 if quick else 3]:
        panel, mask = segment_panel(cnn, x, y, rounds=2 if quick else 3, rng=rng)
        report.image(f"attr_segment_{stem}", panel,
                     caption=f"{cnn.class_name(y)}: the photo, its saliency and the graph "
                             f"cut's foreground ({mask.mean():.0%} of the pixels)")
