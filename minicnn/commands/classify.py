"""``classify`` and ``demo`` commands."""
from pathlib import Path

from . import IMAGE_HELP, add_common, load_input, load_model


def register(sub):
    p = sub.add_parser("classify", help="print the top-5 classes of images")
    p.add_argument("images", nargs="*", help="images to classify (default: the photos this "
                   "machine has); " + IMAGE_HELP)
    p.add_argument("--top", type=int, default=5)
    add_common(p, out=False)
    p.set_defaults(func=run_classify)

    p = sub.add_parser("demo", help="classify sample photos and write an HTML report "
                                    "of every technique into demo_output/")
    p.add_argument("--out", default="demo_output", help="report folder (default: demo_output)")
    p.add_argument("--quick", action="store_true", help="fewer iterations everywhere")
    p.add_argument("--only", default=None,
                   help="comma-separated command families to include (default: all)")
    add_common(p, out=False, seed=True)
    p.set_defaults(func=run_demo)


def run_classify(args):
    from ..data import available_images
    cnn = load_model(args)
    for path in args.images or [str(p) for p in available_images("photos")]:
        x = cnn.preprocess(load_input(path))
        pred = cnn.predict(x, top=args.top)
        print(f"{path}:")
        for idx, name, prob in zip(pred.indices[0], pred.names[0], pred.probabilities[0]):
            print(f"  {prob:7.2%}  {name} ({idx})")
    return 0


def demo_section(cnn, report, args):
    """Classify the bundled sample photos and show conv1's filters."""
    from ..data import load_image, sample_photos
    from ..techniques.filters import filter_grid
    photos = sample_photos()
    report.section("Classification", "Top-5 classes of the sample photos that "
                   "scikit-learn ships, with SqueezeNet 1.1.")
    for path in photos:
        img = load_image(path)
        x = cnn.preprocess(img)
        pred = cnn.predict(x)
        caption = ", ".join(f"{n} {p:.1%}" for n, p in zip(pred.names[0], pred.probabilities[0]))
        report.image(f"classify_{Path(path).stem}", cnn.deprocess(x), caption=caption)
    report.section("conv1 filters", "The 64 RGB 3x3 filters of the first layer, each "
                   "min-max scaled (oriented edges and colour blobs).")
    report.image("conv1_filters", filter_grid(cnn.params["conv1/W"], upscale=8))


def run_demo(args):
    import numpy as np

    from ..cli import command_modules
    from ..report import Report
    cnn = load_model(args)
    only = set(args.only.split(",")) if args.only else None
    report = Report(args.out, title="minicnn demo: visualizing and understanding SqueezeNet")
    args.rng = np.random.default_rng(args.seed)
    for mod in command_modules():
        family = mod.__name__.rsplit(".", 1)[-1]
        if hasattr(mod, "demo_section") and (only is None or family in only):
            mod.demo_section(cnn, report, args)
    path = report.write()
    print(f"wrote {path}")
    return 0
