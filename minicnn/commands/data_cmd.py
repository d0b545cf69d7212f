"""``data`` command: what data and weights are available, and fetching the public datasets.

    python -m minicnn data                          # the data folder, fetched sets, weights
    python -m minicnn data fetch cs231n             # kitten.jpg, sky.jpg, styles/*.jpg
    python -m minicnn data fetch imagenet-sample    # 1000 labelled ImageNet photos
    python -m minicnn data fetch cs231n --dest DIR --force

Fetched data goes to the cache (``$MINICNN_CACHE/data``, default
``~/.cache/minicnn/data``) unless ``--dest`` says otherwise; see
:mod:`minicnn.datasets` and docs/data.md.  Status lines and the progress bar go
to stderr, the summary to stdout.
"""
import sys


def register(sub):
    p = sub.add_parser(
        "data", help="list the available data and weights; fetch the public datasets",
        description="Without an action: list the data folder, the datasets fetched into "
                    "the cache, the images shipped with the package and the weights in use. "
                    "`data fetch NAME` downloads a public dataset (cs231n: the assignment 3 "
                    "images; imagenet-sample: 1000 labelled ImageNet photos).")
    p.set_defaults(func=run)
    actions = p.add_subparsers(dest="data_action", metavar="ACTION")
    from ..datasets import DATASETS
    f = actions.add_parser(
        "fetch", help="download and unpack a public dataset",
        description="Download a dataset archive (pinned to a commit; resumable), check it, "
                    "unpack it atomically into DEST/<folder> and record what was unpacked "
                    "in DEST/<folder>/.fetched.json.  "
                    + "  ".join(f"{n}: {s['description']}." for n, s in DATASETS.items()))
    f.add_argument("names", nargs="+", metavar="NAME", choices=sorted(DATASETS),
                   help=f"dataset to fetch: {', '.join(sorted(DATASETS))}")
    f.add_argument("--dest", metavar="DIR", default=None,
                   help="data root to fetch into (default: $MINICNN_CACHE/data or "
                        "~/.cache/minicnn/data)")
    f.add_argument("--force", action="store_true",
                   help="fetch again even when the dataset is already present")
    f.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar")
    f.set_defaults(func=run_fetch)


# ---------------------------------------------------------------------- data fetch
def run_fetch(args):
    from .. import datasets as DS
    from ..download import DownloadError
    status = 0
    for name in args.names:
        try:
            folder = DS.fetch_dataset(name, dest=args.dest, force=args.force,
                                      progress=getattr(args, "progress", True))
        except (DownloadError, DS.DatasetError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            status = 1
            continue
        print(f"{name}: ready in {folder}")
    if status == 0:
        root = DS.data_root(args.dest)
        if args.dest is None:
            print(f"minicnn finds fetched data in {root} (minicnn.datasets.fetched_data_dir())")
        else:
            print(f"to use it: MINICNN_DATA={root}")
    return status


# ---------------------------------------------------------------------- data (listing)
def _count_images(folder):
    from ..datasets import IMAGE_EXTENSIONS
    return sum(1 for p in folder.rglob("*")
               if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _data_folder_lines():
    from .. import data as D
    root = D.data_dir()
    if root is None:
        return ["Data folder: none (set MINICNN_DATA, or fetch the datasets below)"]
    lines = [f"Data folder: {root}"]
    images = root / "images"
    if images.is_dir():
        subs = sorted(p.name + "/" for p in images.iterdir() if p.is_dir())
        lines.append(f"  images/           {_count_images(images)} images"
                     + (f" (in {', '.join(subs)} and at the top)" if subs else ""))
    sample = root / "imagenet_sample"
    if (sample / "labels.tsv").is_file():
        with open(sample / "labels.tsv") as f:
            n = max(0, sum(1 for _ in f) - 1)
        lines.append(f"  imagenet_sample/  {n} labelled photos (labels.tsv)")
    weights = root / "weights"
    if weights.is_dir():
        lines.append(f"  weights/          {', '.join(sorted(p.name for p in weights.iterdir()))}")
    if (root / "imagenet_classes.json").is_file():
        lines.append("  imagenet_classes.json")
    return lines


def _fetched_lines():
    from .. import datasets as DS
    root = DS.data_cache_dir()
    lines = [f"Fetched datasets in {root}:"]
    for name in DS.DATASETS:
        st = DS.dataset_status(name)
        if not st["present"]:
            lines.append(f"  {name:<16} not fetched (python -m minicnn data fetch {name})")
            continue
        m = st["manifest"]
        state = "ok" if not st["problems"] else \
            f"DAMAGED: {st['problems'][0]} (fetch again with --force)"
        lines.append(f"  {name:<16} {st['files']} files in {st['folder']}  [{state}]")
        lines.append(f"  {'':<16} from {m.get('url')} (fetched {m.get('fetched_at', '?')})")
    return lines


def _embedded_lines():
    """What minicnn.data.available_images(kind) finds for each kind (data folder, fetched
    cache or the images embedded in the package); nothing when that API is absent."""
    from .. import data as D
    available = getattr(D, "available_images", None)
    if not callable(available):
        return []
    kinds = getattr(D, "IMAGE_KINDS", None) or (None,)
    lines = ["Images the commands use (minicnn.data.available_images):"]
    for kind in kinds:
        try:
            found = available(kind) if kind is not None else available()
        except Exception as exc:  # a listing must not fail because of one part
            lines.append(f"  {kind or 'images':<10} unavailable ({type(exc).__name__}: {exc})")
            continue
        names = list(getattr(found, "names", None) or
                     [getattr(x, "name", str(x)) for x in (found or [])])
        shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
        source = getattr(found, "source", None)
        lines.append(f"  {kind or 'images':<10} {len(names):4d} from "
                     f"{source or '?'}" + (f": {shown}" if shown else ""))
    return lines


def _weights_lines():
    from .. import weights as W
    report = W.resolution_report()
    used = next((r for r in report if r["found"]), None)
    if used is None:
        return ["Weights in use: none found (python -m minicnn weights --source caffe, "
                "or set MINICNN_DATA / MINICNN_WEIGHTS)"]
    try:
        meta = W.verify_weights(used["path"])
    except W.WeightsError as exc:
        return [f"Weights in use: {used['path']} ({used['label']}) does not verify: {exc}"]
    return [f"Weights in use: {W.describe_weights(meta)}",
            f"  from the {used['label']}: {used['path']}"]


def run(args):
    lines = _data_folder_lines() + [""] + _fetched_lines()
    embedded = _embedded_lines()
    if embedded:
        lines += [""] + embedded
    lines += [""] + _weights_lines()
    print("\n".join(lines))
    return 0
