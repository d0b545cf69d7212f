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
    """Classify the photos this machine has."""
    from ..data import available_images, load_image
    photos = available_images("photos", limit=4 if getattr(args, "quick", False) else 8)
    report.section("Classification", f"Top-5 classes of {len(photos)} photos "
                   f"({photos.source}), with SqueezeNet 1.1.")
    for path in photos:
        img = load_image(path)
        x = cnn.preprocess(img)
        pred = cnn.predict(x)
        caption = f"{Path(path).stem}, top 5: " + ", ".join(
            f"{n} {p:.1%}" for n, p in zip(pred.names[0], pred.probabilities[0]))
        report.image(f"classify_{Path(path).stem}", cnn.deprocess(x), caption=caption)


def run_demo(args):
    import numpy as np

    from . import command_modules
    from ..report import Report
    from ..data import available_images
    from ..weights import describe_weights
    modules = [m for m in command_modules() if hasattr(m, "demo_section")]
    families = [m.__name__.rsplit(".", 1)[-1] for m in modules]
    only = set(args.only.split(",")) if args.only else None
    if only is not None and not only <= set(families):
        raise ValueError(f"--only: unknown families {', '.join(sorted(only - set(families)))}; "
                         f"choose from {', '.join(families)}")
    cnn = load_model(args)
    weights = describe_weights(cnn.meta)
    photos, dataset = available_images("photos"), available_images("dataset")
    print(f"weights: {weights}")
    print(f"images: photos from {photos.source}, dataset of {len(dataset)} from "
          f"{dataset.source}")
    intro = [
        "Every technique of cs231n's lecture 'Visualizing and Understanding' on a pretrained "
        "SqueezeNet 1.1, computed on this machine's CPU with minicnn's explicit forward and "
        "backward passes: what the network sees (classification, filters, activations, "
        "maximally activating patches, nearest neighbours, t-SNE), which pixels matter "
        "(saliency, guided backprop, Grad-CAM, occlusion, segmentation), images made by "
        "gradient ascent (class visualization, fooling images, DeepDream, feature inversion) "
        "and style (texture synthesis, neural and fast style transfer).",
        f"Weights: {weights}.",
        f"Images: photos from {photos.source} ({', '.join(photos.names[:6])}"
        f"{', ...' if len(photos) > 6 else ''}); dataset sections use {len(dataset)} images "
        f"from {dataset.source}." + (f" {dataset.hint[0].upper()}{dataset.hint[1:]}."
                                     if dataset.hint else ""),
        ("Quick mode: fewer iterations and smaller images than the full demo."
         if args.quick else "Full settings (`make demo`)."),
    ]
    report = Report(args.out, title="minicnn demo: visualizing and understanding SqueezeNet",
                    intro=intro, log=print)
    args.rng = np.random.default_rng(args.seed)
    for mod, family in zip(modules, families):
        if only is None or family in only:
            mod.demo_section(cnn, report, args)
    path = report.write()
    print(f"wrote {path}")
    return 0
