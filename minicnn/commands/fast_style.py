"""``train-style`` and ``stylize``: fast (feed-forward) style transfer."""
import time
from pathlib import Path

from . import IMAGE_HELP, add_common, load_input, load_model, pick_image, positive_int


def _widths(text):
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) < 1:
        import argparse
        raise argparse.ArgumentTypeError(f"expected three positive widths like 32,64,128, "
                                         f"got {text!r}")
    return values


def _floats(text):
    return tuple(float(v) for v in text.split(","))


def _blend(text):
    """'starry_night=0.5,the_scream=0.5' -> dict."""
    out = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        if not sep:
            import argparse
            raise argparse.ArgumentTypeError(f"blend entries look like name=weight, got {part!r}")
        out[name.strip()] = float(value)
    return out


def register(sub):
    p = sub.add_parser("train-style", help="train a fast style transfer network "
                       "(Johnson et al. 2016; several styles -> conditional instance norm)")
    p.add_argument("--style", nargs="+", required=True,
                   help="style name(s) (starry_night, the_scream, composition_vii) or "
                        "image path(s); several train one conditional network")
    p.add_argument("--content", default=None,
                   help="folder of training photos (default: the ImageNet sample without "
                        "the 10 photos held out for evaluation)")
    p.add_argument("--save", default=None,
                   help="network file to write (default: OUT/transformer_<styles>.npz)")
    p.add_argument("--checkpoint", default=None,
                   help="checkpoint file (default: the --save path with .ckpt.npz)")
    p.add_argument("--checkpoint-every", type=positive_int, default=50)
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint")
    p.add_argument("--overwrite", action="store_true",
                   help="start over even if the checkpoint or the network file exists "
                        "(replacing them); without it, or --resume, that is an error")
    p.add_argument("--batch-size", type=positive_int, default=4)
    p.add_argument("--crop", type=positive_int, default=256, help="crop size (multiple of 4)")
    p.add_argument("--widths", type=_widths, default=(32, 64, 128))
    p.add_argument("--res-blocks", type=int, default=5)
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate")
    p.add_argument("--lr-schedule", default="constant",
                   help="constant or cosine (decays to 0 at the last step)")
    p.add_argument("--rescale", type=_floats, default=(1.0, 1.5),
                   help="LO,HI: resize each photo's short side to crop x U(LO, HI) before "
                        "cropping (default 1,1.5; 2,3 with --crop 128 trains at 256-384 px)")
    p.add_argument("--init", default=None,
                   help="start from this network .npz (fine-tuning) instead of random weights")
    p.add_argument("--content-weight", type=float, default=None)
    p.add_argument("--content-weight-scale", type=_floats, default=(1.0,),
                   help="multiply each style's content weight: one number, or one per "
                        "--style, comma-separated (the shipped networks: 1-3)")
    p.add_argument("--style-weights", type=_floats, default=None,
                   help="4 comma-separated weights for conv1,fire3,fire4,fire5")
    p.add_argument("--style-weight-scale", type=_floats, default=None,
                   help="4 comma-separated factors multiplying each style's weights of "
                        "conv1,fire3,fire4,fire5 (e.g. 1,2,4,8: more of the larger structures)")
    p.add_argument("--loss-normalization", default="batch",
                   help="batch (the batch mean of the perceptual losses) or image (each "
                        "image's loss weighed by the inverse of its size: every photo "
                        "counts in relative terms)")
    p.add_argument("--tv-weight", type=float, default=None,
                   help="total-variation weight per squared pixel level (default: the preset's)")
    p.add_argument("--style-size", type=positive_int, default=None)
    add_common(p, out=True, seed=True, steps=True)
    p.set_defaults(func=run_train)

    p = sub.add_parser("stylize", help="stylize images with a trained transformer network "
                                       "(one forward pass)")
    p.add_argument("images", nargs="*", help="images to stylize (default: the first content "
                   "photo this machine has: tubingen, else chelsea); " + IMAGE_HELP)
    p.add_argument("--style", default="starry_night",
                   help="shipped style name or a .npz network (default: starry_night)")
    p.add_argument("--blend", type=_blend, default=None,
                   help="blend styles of the conditional network, e.g. "
                        "starry_night=0.5,the_scream=0.5")
    p.add_argument("--size", type=positive_int, default=None,
                   help="resize the short side first (default: keep)")
    p.add_argument("--no-compare", action="store_true",
                   help="do not write the <name>_<style>_compare.png panel (photo, "
                        "painting(s), result)")
    add_common(p, out=True)
    p.set_defaults(func=run_stylize)


def run_train(args):
    import numpy as np

    from ..techniques.fast_style import train_transformer
    cnn = load_model(args)
    out_dir = Path(args.out)
    tag = "+".join(Path(s).stem for s in args.style)
    save = Path(args.save) if args.save else out_dir / f"transformer_{tag}.npz"
    checkpoint = Path(args.checkpoint) if args.checkpoint else \
        save.with_name(save.stem + ".ckpt.npz")
    steps = args.steps or 2000
    net, history = train_transformer(
        cnn, args.style, args.content, steps=steps, batch_size=args.batch_size,
        crop=args.crop, widths=args.widths, res_blocks=args.res_blocks,
        init=args.init, lr_schedule=args.lr_schedule,
        rescale=args.rescale,
        learning_rate=args.lr, content_weight=args.content_weight,
        content_weight_scale=args.content_weight_scale,
        style_weights=args.style_weights, style_weight_scale=args.style_weight_scale,
        loss_normalization=args.loss_normalization, tv_weight=args.tv_weight,
        style_size=args.style_size, checkpoint=checkpoint,
        checkpoint_every=args.checkpoint_every, resume=args.resume, out=save,
        seed=args.seed, progress=True, dtype=np.float32, overwrite=args.overwrite)
    if history["interrupted"]:
        print(f"interrupted at step {history['step'][-1] if history['step'] else 0}; "
              f"checkpoint saved to {checkpoint} (continue with --resume)")
        return 130
    if history["loss"]:
        print(f"final loss {history['loss'][-1]:.4g} (content {history['content'][-1]:.4g}, "
              f"style {history['style'][-1]:.4g}, tv {history['tv'][-1]:.4g})")
    print(f"wrote {save} ({net})")
    return 0


def _paintings(names):
    """The shipped paintings among ``names`` (uint8 images, in order)."""
    from ..data import available_images, load_image
    styles = available_images("styles")
    return [(n, load_image(styles[styles.names.index(n)])) for n in names
            if n in styles.names]


def compare_panel(content, out, paintings):
    """The photo, the painting(s) and the result side by side at the result's height."""
    import numpy as np
    from PIL import Image

    from ..plotting import panel_row
    h = out.shape[0]

    def at_height(img):
        w = max(1, round(img.shape[1] * h / img.shape[0]))
        return np.asarray(Image.fromarray(img).resize((w, h), Image.BICUBIC))
    panels = [at_height(content)] + [at_height(p) for _, p in paintings] + [out]
    labels = ["photo"] + [n.replace("_", " ") for n, _ in paintings] + ["stylized"]
    return panel_row(panels, labels=labels, gap=6)


def run_stylize(args):
    from ..data import available_images, save_image
    from ..techniques.fast_style import load_transformer, stylize
    t0 = time.perf_counter()
    if args.blend is not None:
        network = None
        tag = "+".join(f"{k}{v:g}" for k, v in args.blend.items())
        painted = [k for k, v in args.blend.items() if v > 0]
    else:
        network, index = load_transformer(args.style)
        tag = Path(args.style).stem
        painted = [network.style_names[index]] if index is not None else \
            [args.style] if not str(args.style).endswith(".npz") else network.style_names
    paintings = [] if args.no_compare else _paintings(painted)
    for path in args.images or [str(available_images("content")[0])]:
        img = load_input(path)
        t = time.perf_counter()
        if network is None:
            out = stylize(img, None, blend=args.blend, size=args.size)
        else:
            style = None if index is None else network.style_names[index]
            out = stylize(img, style, size=args.size, network=network)
        dt = time.perf_counter() - t
        dest = save_image(Path(args.out) / f"{Path(path).stem}_{tag}.png", out)
        print(f"{dest}  ({out.shape[1]}x{out.shape[0]}, {dt:.2f} s)")
        if not args.no_compare:
            from ..data import resize_short_side
            src = resize_short_side(img, args.size) if args.size else img
            h, w = out.shape[:2]
            top, left = (src.shape[0] - h) // 2, (src.shape[1] - w) // 2
            panel = compare_panel(src[top:top + h, left:left + w], out, paintings)
            print(save_image(Path(args.out) / f"{Path(path).stem}_{tag}_compare.png", panel))
    print(f"total {time.perf_counter() - t0:.2f} s")
    return 0


def demo_section(cnn, report, args):
    """Shipped fast style networks on a content photo, and a blend of styles."""
    import numpy as np
    from PIL import Image

    from ..data import load_image
    from ..plotting import panel_row
    from ..techniques.fast_style import CONDITIONAL_NETWORK, STYLES, TRANSFORMER_DIR, \
        style_image_path, stylization_losses, stylize
    from ..models.transformer import TransformerNet
    report.section("Fast style transfer", "Johnson et al. (2016): a feed-forward transformer "
                   "network trained with SqueezeNet's perceptual losses stylizes a photo in "
                   "one forward pass; conditional instance norm (Dumoulin et al. 2017) holds "
                   "several styles in one network and blends them.")
    if not (TRANSFORMER_DIR / CONDITIONAL_NETWORK).is_file():
        report.text(f"The shipped networks are missing from {TRANSFORMER_DIR}; "
                    "section skipped (reinstall minicnn).")
        return
    quick = getattr(args, "quick", False)
    size = 160 if quick else 288
    photo = pick_image("chelsea", "tubingen")
    img = load_image(photo, size=size)
    img = img[:img.shape[0] // 4 * 4, :img.shape[1] // 4 * 4]     # the network's grid
    report.image("fast_style_content", img, caption=f"the content photo ({photo.stem}); "
                 "the networks never saw it in training")
    rows = []
    for name in STYLES:
        t = time.perf_counter()
        out = stylize(img, name)
        dt = time.perf_counter() - t
        losses = stylization_losses(cnn, img, out, name) if cnn is not None else None
        own = stylization_losses(cnn, img, img, name) if cnn is not None else None
        rows.append((name, f"{dt:.2f} s") + ((f"{1 - losses['style'] / own['style']:.0%}",
                                               f"{losses['saturated']:.2%}")
                                              if losses else ()))
        painting = load_image(style_image_path(name))
        painting = np.asarray(Image.fromarray(painting).resize(         # same height
            (max(1, round(painting.shape[1] * img.shape[0] / painting.shape[0])), img.shape[0]),
            Image.BICUBIC))
        report.image(f"fast_style_{name}",
                     panel_row([painting, out], labels=[name.replace("_", " "),
                                                        f"stylized in {dt:.2f} s"], gap=6),
                     caption=f"{name.replace('_', ' ')} (left) and {photo.stem} stylized by "
                             f"its network in one forward pass (right)")
    header = ["style", "stylize time"] + (["style loss below the photo's",
                                           "new pure black/white pixels"]
                                          if cnn is not None else [])
    report.table(rows, header=header)
    net = TransformerNet.load(TRANSFORMER_DIR / CONDITIONAL_NETWORK)
    a, b = ("starry_night", "the_scream") if {"starry_night", "the_scream"} <= \
        set(net.style_names) else net.style_names[:2]
    weights = np.linspace(0, 1, 3 if quick else 5)
    strip = [stylize(img, network=net, blend={a: 1 - t, b: t}) for t in weights]
    width = min(200, strip[0].shape[1])                 # five frames fit the page
    frames = [np.asarray(Image.fromarray(f).resize(
        (width, max(1, round(f.shape[0] * width / f.shape[1]))), Image.BICUBIC))
        for f in strip]
    report.image("fast_style_blend",
                 panel_row(frames, labels=[f"{1 - t:.2g} {a} + {t:.2g} {b}" for t in weights],
                           gap=4),
                 caption=f"one conditional network blending {a.replace('_', ' ')} into "
                         f"{b.replace('_', ' ')} (style weights above each frame)")
