"""``classviz``, ``fool``, ``dream`` and ``invert``: gradient ascent on the image.

    python -m minicnn classviz 76 366 683 --steps 100 --seed 0
    python -m minicnn classviz --layer fire7 --channel 12
    python -m minicnn fool photo.jpg --target 6
    python -m minicnn fool photo.jpg --target 6 --fgsm 2 --steps 10
    python -m minicnn dream sky.jpg --layer fire8 --octaves 3 --size 512
    python -m minicnn invert photo.jpg --layer conv1,fire3,fire5,fire7

Every command writes PNGs into ``--out`` and shows a progress bar; Ctrl-C
keeps (and writes) the best image found so far.
"""
import argparse
from pathlib import Path

from . import (IMAGE_HELP, add_common, default_images, input_path, load_input, load_model,
               pick_image, positive_int)


def _positive_float(text):
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def _non_negative_float(text):
    value = float(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def register(sub):
    from ..techniques.regularizers import IMAGENET_PIXEL_STD
    from ..techniques.synthesis import CLASS_VISUALIZATION_DEFAULTS as CV
    p = sub.add_parser("classviz", help="class (or neuron) visualization by gradient ascent")
    p.add_argument("classes", nargs="*", type=int, help="class indices (default: 76 366 683)")
    p.add_argument("--channel", type=int, default=None,
                   help="with --layer: visualize this channel of the layer instead of a class")
    p.add_argument("--lr", type=_positive_float, default=CV["learning_rate"],
                   help=f"step L2 norm in pixel levels ({CV['learning_rate']:g})")
    p.add_argument("--l2-reg", type=_non_negative_float, default=CV["l2_reg"],
                   help=f"L2 penalty per squared pixel level ({CV['l2_reg']:g})")
    p.add_argument("--blur-every", type=int, default=10, help="blur every k steps (10; 0: off)")
    p.add_argument("--blur-sigma", type=_non_negative_float, default=0.5)
    p.add_argument("--jitter", type=int, default=16, help="max jitter in pixels (16)")
    p.add_argument("--decay", type=_non_negative_float, default=0.0, help="Yosinski decay rate")
    p.add_argument("--clip-norm", type=_non_negative_float, default=0.0,
                   help="zero pixels below this percentile of norm")
    p.add_argument("--clip-contribution", type=_non_negative_float, default=0.0,
                   help="zero pixels below this percentile of contribution")
    p.add_argument("--size", type=positive_int, default=224, help="image side (224)")
    p.add_argument("--init", default=None, help="start from this image (e.g. a saved "
                   "result); " + IMAGE_HELP)
    p.add_argument("--save-every", type=int, default=0,
                   help="also write the current image every k steps (0: off)")
    add_common(p, seed=True, layer=True, steps=True)
    p.set_defaults(func=run_classviz)

    p = sub.add_parser("fool", help="fooling images / adversarial examples")
    p.add_argument("images", nargs="*", help="images to fool (default: the first three "
                   "default photos); " + IMAGE_HELP)
    p.add_argument("--target", type=int, default=6, help="target class (default: 6, stingray)")
    p.add_argument("--true", type=int, default=None,
                   help="true class of the images (default: the model's prediction)")
    p.add_argument("--objective", default="target", choices=("target", "margin"),
                   help="target score (cs231n) or target minus true score")
    p.add_argument("--lr", type=_positive_float, default=IMAGENET_PIXEL_STD,
                   help=f"step L2 norm in pixel levels ({IMAGENET_PIXEL_STD:g})")
    p.add_argument("--fgsm", type=_positive_float, default=None, metavar="EPS",
                   help="use (iterative) targeted FGSM with this L-inf budget in pixel levels")
    add_common(p, steps=True)
    p.set_defaults(func=run_fool)

    p = sub.add_parser("dream", help="DeepDream on an image")
    p.add_argument("image", nargs="?", default=None,
                   help="default: sky (cs231n) when present, else coffee; " + IMAGE_HELP)
    p.add_argument("--size", type=positive_int, default=512, help="short side in pixels (512)")
    p.add_argument("--octaves", type=positive_int, default=3)
    p.add_argument("--octave-scale", type=_positive_float, default=1.4)
    p.add_argument("--lr", type=_positive_float, default=1.5,
                   help="mean step in pixel levels (1.5)")
    p.add_argument("--jitter", type=int, default=32)
    p.add_argument("--guide", default=None, help="guide image (guided dreaming)")
    add_common(p, seed=True, layer=True, steps=True)
    p.set_defaults(func=run_dream)

    p = sub.add_parser("invert", help="reconstruct an image from its features (inversion)")
    p.add_argument("image", nargs="?", default=None,
                   help="default: kitten (cs231n) when present, else chelsea; " + IMAGE_HELP)
    p.add_argument("--size", type=positive_int, default=224, help="image side (224)")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="Adam learning rate in pixel levels (default: the library's)")
    p.add_argument("--tv-weight", type=_non_negative_float, default=None,
                   help="total-variation weight per squared pixel level (default: the library's)")
    p.add_argument("--tv-beta", type=_positive_float, default=2.0)
    p.add_argument("--alpha-weight", type=_non_negative_float, default=None)
    add_common(p, seed=True, layer=True, steps=True)
    p.set_defaults(func=run_invert)


# --------------------------------------------------------------------------- commands
def run_classviz(args):
    from ..data import save_image
    from ..techniques.synthesis import class_visualization
    cnn = load_model(args)
    out = Path(args.out)
    if args.layer is not None or args.channel is not None:
        if args.layer is None or args.channel is None:
            raise ValueError("--layer and --channel go together (a neuron / channel target)")
        targets = [(args.layer, args.channel)]
    else:
        targets = args.classes or [76, 366, 683]
    init = cnn.preprocess(load_input(args.init), size=args.size, crop=args.size) \
        if args.init else None
    for target in targets:
        name = f"classviz_{target}" if isinstance(target, int) else \
            f"classviz_{target[0]}_{target[1]}"

        def save_partial(t, x, value, name=name):
            if args.save_every and (t + 1) % args.save_every == 0:
                save_image(out / f"{name}_step{t + 1}.png", cnn.deprocess(x))

        res = class_visualization(
            cnn, target, num_iterations=args.steps or 100, learning_rate=args.lr,
            l2_reg=args.l2_reg, blur_every=args.blur_every, blur_sigma=args.blur_sigma,
            max_jitter=args.jitter, decay=args.decay, clip_norm=args.clip_norm,
            clip_contribution=args.clip_contribution, size=args.size, init=init,
            rng=args.seed, callback=save_partial, progress=True, return_result=True)
        x = res.image
        path = save_image(out / f"{name}.png", cnn.deprocess(x))
        pred = cnn.predict(x, top=1)
        note = " (interrupted: best so far)" if res.interrupted else ""
        if res.start not in ("noise", "init", None):
            note += (f"; start: {res.start} (the target is zero on the noise start, so "
                     "its gradient is zero there)")
        print(f"{path}: top class {pred.names[0][0]} ({pred.indices[0][0]}) "
              f"p={pred.probabilities[0][0]:.3f}{note}")
        if res.interrupted:
            return 130
    return 0


def _magnified_difference(orig, fooled, percentile=99.0):
    """(uint8 (H, W, 3) picture of fooled - orig around grey 128, the factor): the
    difference of the two 8-bit images multiplied so that its ``percentile``-th
    percentile of |difference| reaches 127 levels (at least x1)."""
    import numpy as np
    diff = fooled.astype(np.float64) - orig.astype(np.float64)
    level = float(np.percentile(np.abs(diff), percentile))
    factor = max(1.0, round(127.0 / level)) if level > 0 else 1.0
    return np.clip(128 + factor * diff, 0, 255).astype(np.uint8), factor


def run_fool(args):
    import numpy as np

    from ..data import load_image, save_image
    from ..plotting import panel_row
    from ..techniques.regularizers import pixel_scale
    from ..techniques.synthesis import fgsm, make_fooling_image
    cnn = load_model(args)
    out = Path(args.out)
    images = args.images or [str(p) for p in default_images(3)[0]]
    x = cnn.preprocess([load_input(p) for p in images])
    y = cnn.scores(x).argmax(axis=1) if args.true is None else np.full(len(x), args.true)
    if args.fgsm is None:
        # fooling in 8-bit space (quantize=True): the PNG written below still fools
        x_fool, info = make_fooling_image(cnn, x, args.target, y=y, objective=args.objective,
                                          learning_rate=args.lr, max_iter=args.steps or 100,
                                          progress=True, return_info=True)
        steps = info["steps"]
    else:
        x_fool = fgsm(cnn, x, np.full(len(x), args.target), args.fgsm / 255.0,
                      steps=args.steps or 10, targeted=True, progress=True)
        steps = np.full(len(x), args.steps or 10)
    change = np.abs(x_fool.astype(np.float64) - x) * pixel_scale(cnn)
    pred = cnn.scores(x_fool).argmax(axis=1)
    saved_ok = []
    for i, path in enumerate(images):
        stem = Path(path).stem
        orig, fooled = cnn.deprocess(x[i]), cnn.deprocess(x_fool[i])
        png = save_image(out / f"fool_{stem}.png", fooled)
        # the check that matters: the file as written, read back (no resize, no crop)
        back = load_image(png)
        saved = int(cnn.scores(cnn.preprocess(back, size=min(back.shape[:2]),
                                              crop=None)).argmax())
        saved_ok.append(saved == args.target)
        diff, factor = _magnified_difference(orig, fooled)
        save_image(out / f"fool_{stem}_diff.png", diff)
        figure = save_image(out / f"fool_{stem}_figure.png", panel_row(
            [orig, fooled, diff],
            labels=[f"original: {cnn.class_name(y[i])}",
                    f"fooled: {cnn.class_name(saved)} (the saved PNG)",
                    f"difference x{factor:g}"]))
        print(f"{path}: {cnn.class_name(y[i])} -> {cnn.class_name(pred[i])} "
              f"({'fooled' if pred[i] == args.target else 'NOT fooled'}; the saved PNG read "
              f"back: {cnn.class_name(saved)}) steps {steps[i]}, mean change "
              f"{change[i].mean():.2f}/255, max change {change[i].max():.1f}/255\n"
              f"  {figure}: original | fooled | difference x{factor:g} (99th percentile of "
              f"|difference| -> 127 levels around grey)")
    return 0 if np.all(pred == args.target) and all(saved_ok) else 1


def run_dream(args):
    from ..data import load_image, save_image
    from ..techniques.synthesis import deepdream
    cnn = load_model(args)
    # fire8 by default: fire5 gives a regular grid of tiny eyelets, fire8 the classic
    # creatures (issue 11)
    layer = args.layer or "fire8"
    image = input_path(args.image) if args.image else pick_image("sky", "coffee")
    x = cnn.preprocess(load_image(image), size=args.size, crop=None)
    guide = None
    if args.guide:
        side = cnn.meta.get("input_size", 224)
        guide = cnn.preprocess(load_input(args.guide), size=side, crop=side)
    res = deepdream(cnn, x, layer, iterations=args.steps or 10, learning_rate=args.lr,
                    octaves=args.octaves, octave_scale=args.octave_scale,
                    max_jitter=args.jitter, guide=guide, rng=args.seed, progress=True,
                    return_result=True)
    path = save_image(Path(args.out) / f"dream_{image.stem}_{layer}.png",
                      cnn.deprocess(res.image))
    if res.interrupted:                 # as classviz: the partial dream is kept, exit 130
        print(f"wrote {path} (interrupted: the dream so far)")
        return 130
    print(f"wrote {path}")
    return 0


def run_invert(args):
    from ..data import load_image, save_image
    from ..techniques.synthesis import INVERSION_DEFAULTS, invert_features
    cnn = load_model(args)
    layers = (args.layer or "conv1,fire3,fire5,fire7").split(",")
    image = input_path(args.image) if args.image else pick_image("kitten", "chelsea")
    x0 = cnn.preprocess(load_image(image), size=args.size, crop=args.size)
    kw = dict(INVERSION_DEFAULTS, tv_beta=args.tv_beta)
    for key, value in (("iterations", args.steps), ("learning_rate", args.lr),
                       ("tv_weight", args.tv_weight), ("alpha_weight", args.alpha_weight)):
        if value is not None:
            kw[key] = value
    for layer in layers:
        phi0, _ = cnn.forward(x0, end=layer)
        x = invert_features(cnn, phi0, layer, image_size=args.size, rng=args.seed,
                            progress=True, **kw)
        path = save_image(Path(args.out) / f"invert_{image.stem}_{layer}.png",
                          cnn.deprocess(x))
        print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- demo
def demo_section(cnn, report, args):
    """Class visualization, fooling images, DeepDream and feature inversion."""
    import numpy as np

    from ..data import load_image
    from ..plotting import panel_row
    from ..techniques.regularizers import pixel_scale
    from ..techniques.synthesis import (INVERSION_DEFAULTS, class_visualization, deepdream,
                                        invert_features, make_fooling_image)
    quick = getattr(args, "quick", False)
    rng = getattr(args, "rng", None)
    seed = int(rng.integers(2 ** 31)) if rng is not None else 0

    def prob(x, c):
        s = cnn.scores(x).astype(np.float64)
        e = np.exp(s - s.max(axis=1, keepdims=True))
        c = np.broadcast_to(np.asarray(c), (len(s),))
        return e[np.arange(len(s)), c] / e.sum(axis=1)

    steps = 100
    report.section("Class visualization", "Gradient ascent on the raw class score minus "
                   "an L2 penalty, with jitter, blur and clamping (Simonyan et al. 2014; "
                   f"Yosinski et al. 2015; cs231n's schedule: {steps} steps from a blank "
                   "224x224 image).")
    for c in [76, 366] if quick else [76, 366, 683]:
        x = class_visualization(cnn, c, num_iterations=steps, size=224, rng=seed)
        pred = cnn.predict(x, top=1)
        top = "" if pred.indices[0][0] == c else \
            f"; its top class is {pred.names[0][0]} ({pred.probabilities[0][0]:.2f})"
        report.image(f"classviz_{c}", cnn.deprocess(x),
                     caption=f"{cnn.class_name(c)} ({c}), made from a blank image in {steps} "
                             f"steps: the model gives it p={prob(x, c)[0]:.2f}{top}")

    report.section("Fooling images", "Normalized gradient steps on 'stingray score minus "
                   "true score' (lecture notes) until the prediction flips, at most 100 "
                   "steps; the original, the fooling image and their difference magnified.")
    paths, labels = default_images()
    pick = [0] if quick else ([0, 300, 900] if len(paths) > 900 else [0, 1, 2])
    paths = [paths[i] for i in pick]
    x = cnn.preprocess([load_image(p) for p in paths])
    predicted = cnn.predict(x, top=1).indices[:, 0]
    y = np.array([labels[i] if labels[i] is not None else predicted[k]
                  for k, i in enumerate(pick)])
    x_fool, info = make_fooling_image(cnn, x, 6, y=y, objective="margin", return_info=True)
    p_true, p_fool = prob(x, y), prob(x_fool, y)
    p_ray = prob(x_fool, np.full(len(x), 6))
    rows = []
    for i, p in enumerate(paths):
        diff = (x_fool[i] - x[i]).transpose(1, 2, 0) * pixel_scale(cnn)[0].transpose(1, 2, 0)
        mag = max(np.abs(diff).max(), 1e-12)
        name = cnn.class_name(int(y[i]))
        pair = panel_row([cnn.deprocess(x[i]), cnn.deprocess(x_fool[i]),
                          np.clip(127.5 + 127.5 * diff / mag, 0, 255).astype(np.uint8)],
                         labels=[f"original: {name} p={p_true[i]:.2f}",
                                 f"fooling: stingray p={p_ray[i]:.2f} ({name} "
                                 f"{p_fool[i]:.2f})",
                                 f"difference x{127.5 / mag:.0f} (grey 0; max "
                                 f"{mag:.1f}/255)"])
        report.image(f"fool_{Path(p).stem}", pair,
                     caption=f"{name} -> stingray in {int(info['steps'][i])} steps: the "
                             "two images look the same, the difference is magnified")
        rows.append([name, int(info["steps"][i]), bool(info["fooled"][i]),
                     f"{info['mean_change'][i]:.2f}", f"{info['max_change'][i]:.1f}"])
    report.table(rows, header=["photo (class)", "steps", "fooled", "mean |change| /255",
                               "max |change| /255"])

    report.section("DeepDream", "Maximize 0.5 ||a||^2 at a layer (the injected gradient "
                   "is the activation itself), over octaves with jitter (Mordvintsev et al. "
                   "2015).")
    photo = pick_image("sky", "coffee")
    img = load_image(photo)
    size = 224 if quick else 384
    iterations, octaves = (5, 2) if quick else (10, 3)
    x = cnn.preprocess(img, size=size, crop=None)
    for layer in (["fire5"] if quick else ["fire3", "fire5", "fire7"]):
        d = deepdream(cnn, x, layer, iterations=iterations, octaves=octaves, rng=seed)
        report.image(f"dream_{layer}", cnn.deprocess(d),
                     caption=f"{photo.stem} dreamed at {layer}: {octaves} octaves x "
                             f"{iterations} steps")

    report.section("Feature inversion", "Reconstructions from the features of one image at "
                   "shallow to deep layers (Mahendran & Vedaldi 2015): feature loss + TV "
                   "prior + alpha-norm, Adam from noise.")
    photo = pick_image("kitten", "chelsea")
    size = 128 if quick else 160
    x0 = cnn.preprocess(load_image(photo), size=size, crop=size)
    report.image("invert_original", cnn.deprocess(x0),
                 caption=f"the original ({photo.stem}, {size}x{size})")
    for layer in (["fire3", "fire5"] if quick else ["conv1", "fire3", "fire5", "fire7"]):
        phi0, _ = cnn.forward(x0, end=layer)
        kw = dict(INVERSION_DEFAULTS)
        x = invert_features(cnn, phi0, layer, image_size=size, rng=seed, **kw)
        report.image(f"invert_{layer}", cnn.deprocess(x),
                     caption=f"an image whose {layer} features match the original's, found "
                             f"from noise in {kw['iterations']} steps")
