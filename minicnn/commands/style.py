"""``texture`` and ``style`` commands.

    python -m minicnn texture brick                         # Efros-Leung, 96x96
    python -m minicnn texture path/to/img.png --method gram --steps 200
    python -m minicnn style chelsea starry_night            # cs231n's starry_night preset
    python -m minicnn style --preset composition_vii        # on tubingen, else chelsea
    python -m minicnn style photo.jpg starry_night the_scream --blend 0.7,0.3 --keep-colors
"""
import argparse
from pathlib import Path

from . import add_common, input_path, load_model, pick_image, positive_int

#: texture synthesis methods (string registry)
TEXTURE_METHODS = ("efros-leung", "gram")
TEXTURE_NAMES = ("brick", "grass", "gravel")


def _weights(text):
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") \
            from None
    return values


def register(sub):
    p = sub.add_parser("texture", help="texture synthesis: Efros-Leung (1999) or Gram "
                                       "matrices (Gatys et al. 2015)")
    p.add_argument("source", help="texture image path, or brick / grass / gravel "
                                  "(scikit-image), or a painting name for --method gram")
    p.add_argument("--method", choices=TEXTURE_METHODS, default="efros-leung")
    p.add_argument("--size", type=positive_int, default=None,
                   help="output side in pixels (default: 96 for efros-leung, 192 for gram; "
                        "a 64 px thumbnail hides the texture)")
    p.add_argument("--source-size", type=positive_int, default=None,
                   help="short side of the source (default: 64 for efros-leung, "
                        "192 for gram)")
    p.add_argument("--window", type=positive_int, default=11,
                   help="efros-leung neighbourhood (odd, default 11)")
    p.add_argument("--grey", action="store_true", help="efros-leung: synthesize in grey")
    p.add_argument("--layers", default="conv1,fire3,fire4,fire5",
                   help="gram: comma-separated style layers")
    add_common(p, seed=True, steps=True)
    p.set_defaults(func=run_texture)

    p = sub.add_parser("style", help="neural style transfer (Gatys et al. 2016), cs231n "
                                     "presets, style blends")
    p.add_argument("content", nargs="?", default=None,
                   help="content image path or name (default: tubingen when this machine "
                        "has it, else chelsea)")
    p.add_argument("styles", nargs="*", help="style image paths or names "
                   "(composition_vii, the_scream, starry_night)")
    p.add_argument("--preset", default=None,
                   help="cs231n parameter set: composition_vii, the_scream, starry_night, "
                        "feature_inversion, texture_starry_night (default: the first style's "
                        "name when it is a preset, else starry_night)")
    p.add_argument("--blend", type=_weights, default=None,
                   help="comma-separated weights, one per style (normalized to sum 1)")
    p.add_argument("--image-size", type=positive_int, default=None, help="content short side")
    p.add_argument("--style-size", type=positive_int, default=None,
                   help="style short side (larger -> larger strokes)")
    p.add_argument("--content-weight", type=float, default=None)
    p.add_argument("--style-weights", type=_weights, default=None)
    p.add_argument("--tv-weight", type=float, default=None,
                   help="total-variation weight per squared pixel level (default: the preset's)")
    p.add_argument("--init", choices=("content", "noise"), default=None)
    p.add_argument("--keep-colors", action="store_true", help="keep the content's colours")
    p.add_argument("--checkpoint", default=None,
                   help="save the state here every 50 iterations and on Ctrl-C; resume "
                        "from it when it exists")
    add_common(p, seed=True, steps=True)
    p.set_defaults(func=run_style)


# --------------------------------------------------------------------------- texture
def _texture_source(name):
    from ..data import load_image
    if name in TEXTURE_NAMES and not Path(name).exists():
        return load_image(input_path(name))
    from ..techniques.style import load_style_image
    return load_style_image(name)


def _resize_short(img, size):
    from ..data import resize_short_side
    return resize_short_side(img, size)


def run_texture(args):
    import numpy as np

    from ..data import save_image
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(args.source).stem
    img = _texture_source(args.source)
    if args.method == "efros-leung":
        from ..techniques.texture import TEXTURE_BACKEND, efros_leung
        src = _resize_short(img, args.source_size or 64)
        if args.grey:
            src = np.round(src.mean(-1)).astype(np.uint8)
        result = efros_leung(src, args.size or 96, window=args.window, rng=args.seed,
                             progress=True)
        path = out / f"texture_efros_leung_{stem}.png"
        print(f"efros-leung ({TEXTURE_BACKEND} kernel)")
    else:
        from ..techniques.texture import texture_synthesis
        cnn = load_model(args)
        layers = tuple(s for s in args.layers.split(",") if s)
        defaults = (300000, 1000, 15, 3)
        weights = defaults[:len(layers)] if len(layers) <= 4 else (1.0,) * len(layers)
        style_size = args.source_size or 192
        src = _resize_short(img, style_size)          # what the Gram matrices are taken of
        x = texture_synthesis(cnn, img, style_layers=layers, style_weights=weights,
                              style_size=style_size, out_size=max(args.size or 192, 48),
                              iterations=args.steps or 200, rng=args.seed, progress=True)
        result = cnn.deprocess(x)
        path = out / f"texture_gram_{stem}.png"
    save_image(path, result)
    source = save_image(out / f"texture_source_{stem}.png", src)     # shown beside it
    print(f"wrote {path} (source as used: {source})")
    return 0


# --------------------------------------------------------------------------- style
def run_style(args):
    from ..data import save_image
    from ..techniques.style import PRESETS, style_transfer_preset
    preset = args.preset
    if preset is None:
        first = Path(args.styles[0]).stem if args.styles else None
        preset = first if first in PRESETS else "starry_night"
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; available presets: {', '.join(PRESETS)}")
    overrides = {"content": args.content if args.content is not None
                 else str(pick_image("tubingen", "chelsea"))}
    if args.styles:
        overrides["styles"] = list(args.styles) if len(args.styles) > 1 else args.styles[0]
    for key in ("image_size", "style_size", "content_weight", "style_weights", "tv_weight",
                "init", "blend"):
        value = getattr(args, key)
        if value is not None:
            overrides[key] = value
    if args.keep_colors:
        overrides["keep_colors"] = True
    if args.checkpoint:
        overrides["checkpoint"] = args.checkpoint
    if args.steps:
        overrides["iterations"] = args.steps
    cnn = load_model(args)
    history = []
    x = style_transfer_preset(cnn, preset, rng=args.seed, progress=True, history=history,
                              **overrides)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    content = Path(str(overrides.get("content", PRESETS[preset]["content"]))).stem
    styles = overrides.get("styles", PRESETS[preset]["styles"])
    styles = styles if isinstance(styles, list) else [styles]
    name = "+".join(Path(str(s)).stem for s in styles) if args.styles else preset
    path = out / f"style_{content}_{name}.png"
    save_image(path, cnn.deprocess(x))
    if history and history[0]["style"] > 0:
        change = history[-1]["style"] / history[0]["style"] - 1
        print(f"style loss {history[0]['style']:.4g} -> {history[-1]['style']:.4g} "
              f"({abs(change):.1%} {'lower' if change <= 0 else 'higher'})")
    print(f"wrote {path}")
    return 0


# --------------------------------------------------------------------------- demo
def demo_section(cnn, report, args):
    """Efros-Leung and Gram textures, style transfer with each preset, a blend.
    Quick mode runs fewer and smaller pictures, each long enough to show its
    result (about 100 iterations), not a noisy start."""
    import time

    import numpy as np

    from ..data import load_image, resize_short_side
    from ..techniques.style import style_transfer_preset
    from ..techniques.texture import TEXTURE_BACKEND, efros_leung, texture_synthesis
    content = pick_image("tubingen", "chelsea")
    quick = getattr(args, "quick", False)
    seed = int(args.rng.integers(1 << 31)) if hasattr(args, "rng") else 0
    el_size = 48 if quick else 64
    report.section("Texture synthesis: Efros & Leung (1999)",
                   f"Pixel-by-pixel non-parametric sampling with an 11x11 Gaussian-weighted "
                   f"window, from a {el_size}-pixel source ({TEXTURE_BACKEND} window-search "
                   "kernel); both shown at 3x.")
    for name in ("brick",) if quick else ("brick", "grass", "gravel"):
        src = resize_short_side(load_image(input_path(name)), el_size)
        t = time.perf_counter()
        out = efros_leung(src, el_size, window=11, rng=seed)
        dt = time.perf_counter() - t
        report.image(f"texture_source_{name}", np.kron(src, np.ones((3, 3, 1), np.uint8)),
                     caption=f"the source: {name} ({src.shape[1]}x{src.shape[0]})")
        report.image(f"texture_efros_leung_{name}", np.kron(out, np.ones((3, 3, 1), np.uint8)),
                     caption=f"a new {out.shape[1]}x{out.shape[0]} {name} texture sampled "
                             f"from it in {dt:.1f} s")

    iters = 100 if quick else 200
    # quick: cs231n's schedule compressed to the shorter run
    sched = {"decay_lr_at": iters * 9 // 10, "clamp_until": iters * 19 // 20} if quick else {}
    side = 128 if quick else 192
    report.section("Texture synthesis: Gram matrices (Gatys et al. 2015)",
                   f"From noise, {iters} Adam iterations matching the Gram matrices of "
                   "Starry Night"
                   + (" at conv1, fire3, fire4 and fire5 (the full demo also shows conv1 "
                      "alone and conv1 + fire3)." if quick else
                      ": only conv1 (small-scale colour and edges), up to fire3, and "
                      "conv1+fire3+fire4+fire5 (larger structures)."))
    layer_sets = [("conv1",), ("conv1", "fire3"), ("conv1", "fire3", "fire4", "fire5")]
    for layers in layer_sets[-1:] if quick else layer_sets:
        weights = (300000, 1000, 15, 3)[:len(layers)]
        x = texture_synthesis(cnn, "starry_night", style_layers=layers, style_weights=weights,
                              out_size=(side, side), iterations=iters, rng=seed, **sched)
        report.image(f"texture_gram_{'_'.join(layers)}", cnn.deprocess(x),
                     caption=f"Starry Night's texture from noise, Gram matrices of "
                             f"{', '.join(layers)} ({side}x{side})")

    presets = ("starry_night",) if quick else ("composition_vii", "the_scream", "starry_night")
    report.section("Neural style transfer (Gatys et al. 2016)",
                   f"cs231n's parameter sets on {content.stem}, {iters} iterations, one "
                   "forward and one backward pass per iteration"
                   + ("; quick mode: Starry Night only, at 160 pixels." if quick else
                      "; a 50/50 blend of Starry Night and The Scream; Starry Night keeping "
                      "the photo's colours; a feature inversion from noise."))
    rows = []
    size = dict(sched, image_size=160) if quick else {}
    for preset in presets:
        history = []
        t = time.perf_counter()
        x = style_transfer_preset(cnn, preset, content=str(content), iterations=iters,
                                  history=history, **size)
        dt = time.perf_counter() - t
        change = history[-1]["style"] / history[0]["style"] - 1
        rows.append((preset, f"{dt:.1f}", f"{change:+.1%}"))
        report.image(f"style_{preset}", cnn.deprocess(x),
                     caption=f"{content.stem} in the style of {preset.replace('_', ' ')}: "
                             f"style loss {abs(change):.0%} "
                             f"{'lower' if change <= 0 else 'higher'} after {iters} "
                             f"iterations ({dt:.1f} s)")
    if not quick:
        x = style_transfer_preset(cnn, "starry_night", content=str(content),
                                  styles=["starry_night", "the_scream"], blend=[0.5, 0.5])
        report.image("style_blend_starry_scream", cnn.deprocess(x),
                     caption=f"{content.stem} in a 50/50 blend of Starry Night and The Scream")
        x = style_transfer_preset(cnn, "starry_night", content=str(content), keep_colors=True)
        report.image("style_starry_keep_colors", cnn.deprocess(x),
                     caption=f"{content.stem} in Starry Night's style, keeping the photo's "
                             "colours")
        x = style_transfer_preset(cnn, "feature_inversion", content=str(content), rng=seed)
        report.image("style_feature_inversion", cnn.deprocess(x),
                     caption=f"{content.stem} reconstructed from noise by matching its fire2 "
                             "features only (no style)")
    report.table(rows, header=("preset", "seconds", "style loss change"))
