"""Command line: ``python -m minicnn COMMAND ...``.

Each family of commands lives in a module of :mod:`minicnn.commands` that
defines ``register(subparsers)`` (adding its subcommands, each with
``set_defaults(func=run)`` where ``run(args) -> exit code``) and, optionally,
``demo_section(cnn, report, args)`` which adds its part to the demo report.
"""
import argparse
import sys

from .commands import COMMAND_MODULES, check_output_folder, command_modules  # noqa: F401


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m minicnn",
        description="minicnn: cs231n's 'Visualizing and Understanding' on a CPU")
    parser.add_argument("--version", action="store_true", help="print the version and backend")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in command_modules():
        mod.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.version:
        import minicnn
        minicnn.show_config()
        return 0
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if getattr(args, "out", None):
            check_output_folder(args.out)      # before any computation, not after it
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError, OSError, RuntimeError) as exc:
        # OSError covers missing, unreadable and unwritable files, PermissionError and
        # FileExistsError; Pillow's decoding errors are turned into ValueErrors in
        # minicnn.data
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
