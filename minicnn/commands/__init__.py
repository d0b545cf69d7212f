"""Command-line families; see :mod:`minicnn.cli` for the protocol."""
import argparse


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
