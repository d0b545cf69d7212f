"""Command-line families; see :mod:`minicnn.cli` for the protocol."""
import argparse
import importlib

from ..data import pick_image  # noqa: F401  (used by the command modules)

#: Command modules in the order their commands and demo sections appear.
COMMAND_MODULES = (
    "classify",
    "data_cmd",
    "weights_cmd",
    "attribution",
    "synthesis",
    "multifaceted",
    "activations",
    "style",
    "fast_style",
    "assignment_cmd",
)


def command_modules():
    """The command modules that exist (a family not yet installed is skipped)."""
    mods = []
    for name in COMMAND_MODULES:
        try:
            mods.append(importlib.import_module(f"minicnn.commands.{name}"))
        except ModuleNotFoundError as exc:
            if exc.name != f"minicnn.commands.{name}":
                raise
    return mods


def check_output_folder(path, argument="--out"):
    """Make sure ``path`` is a folder this process can write (creating it), so a
    command fails before its computation rather than after it; raises
    NotADirectoryError / PermissionError naming ``argument``."""
    import os
    from pathlib import Path
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{argument} {path} is a file; expected a folder for the "
                                 "output images")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise type(exc)(f"{argument} {path}: cannot create the folder ({exc.strerror or exc})") \
            from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise PermissionError(f"{argument} {path}: the folder is not writable")
    return path


def add_common(parser, out=True, seed=False, layer=False, steps=False):
    """Add the options shared by many commands (--weights, --out, --seed, ...)."""
    parser.add_argument("--weights", default=None, help="weights file (default: resolved)")
    if out:
        parser.add_argument("--out", default="out", help="output folder for PNGs (default: out)")
    if seed:
        parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    if layer:
        parser.add_argument("--layer", default=None, help="layer name, e.g. fire5")
    if steps:
        parser.add_argument("--steps", type=positive_int, default=None,
                            help="number of iterations")
    return parser


def positive_int(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def load_model(args):
    import minicnn
    return minicnn.load_squeezenet(getattr(args, "weights", None))


def default_images(count=None, kind="dataset"):
    """(paths, labels) of the images a command uses when given none: the first
    ``count`` of :func:`minicnn.data.available_images` ``(kind)``; labels are
    class indices, or None where unknown (the command then explains its top
    prediction)."""
    from ..data import available_images
    images = available_images(kind, limit=count)
    return list(images), [int(v) if v >= 0 else None for v in images.labels]


#: Help text for an image argument.
IMAGE_HELP = "an image file or the name of an image this machine has (`python -m minicnn data`)"


def input_path(text):
    """A command's image argument: an existing file, else a known image name
    (``kitten``, ``chelsea``, ``starry_night``...; see :func:`minicnn.data.find_image`)."""
    from pathlib import Path

    from ..data import CS231N_IMAGES, EMBEDDED_IMAGES, find_image
    path = Path(text)
    if path.is_file():
        return path
    if str(text) in CS231N_IMAGES or str(text) in EMBEDDED_IMAGES:
        return find_image(str(text))
    raise FileNotFoundError(f"image not found: {text} (not a file, nor an image name: "
                            f"{', '.join(list(CS231N_IMAGES) + list(EMBEDDED_IMAGES))})")


def load_input(text, size=None):
    """uint8 RGB (H, W, 3) of :func:`input_path` ``(text)``."""
    from ..data import load_image
    return load_image(input_path(text), size=size)
