"""Find, load and verify pretrained SqueezeNet 1.1 weights.

Weights are never committed.  :func:`resolve_weights` looks, in order, at

1. an explicit path,
2. ``$MINICNN_WEIGHTS``,
3. ``$MINICNN_DATA/weights/squeezenet1_1.npz``,
4. converted weights in ``pretrained_weights/`` or the user cache (``~/.cache/minicnn``),

A weights file is an ``.npz`` of float32 arrays named like ``conv1/W``,
``fire2/squeeze1x1/b``, ... plus an optional ``__meta__`` entry: a JSON string
with the preprocessing (channel order, scale, mean, std, input size) and the
provenance.  Files are read with ``allow_pickle=False``; every array's presence,
shape, dtype and finiteness is checked.
"""
import json
import os
from pathlib import Path

import numpy as np

from .models.squeezenet import TORCHVISION_PREPROCESSING, param_shapes

__all__ = ["WeightsError", "resolve_weights", "load_weights", "save_weights", "cache_dir",
           "PACKAGE_WEIGHTS_DIR", "DEFAULT_NAMES"]

PACKAGE_WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "pretrained_weights"
DEFAULT_NAMES = ("squeezenet1_1.npz", "squeezenet1_1_torchvision.npz", "squeezenet1_1_caffe.npz")
META_KEY = "__meta__"


class WeightsError(RuntimeError):
    """Weights could not be found, fetched or verified; the message says why."""


def cache_dir():
    """The user cache for converted weights (``$MINICNN_CACHE`` or ~/.cache/minicnn)."""
    return Path(os.environ.get("MINICNN_CACHE", Path.home() / ".cache" / "minicnn"))


def _candidates(weights=None):
    """(description, path) pairs in resolution order."""
    from .data import data_dir
    out = []
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


def resolve_weights(weights=None):
    """Path of the first weights file found (see the module docstring for the order).

    Raises :class:`WeightsError` listing every place tried when none exists.
    """
    tried = []
    for label, path in _candidates(weights):
        if path.is_file():
            return path
        tried.append(f"{label}: {path} (not found)")
    raise WeightsError("no SqueezeNet weights found:\n  " + "\n  ".join(tried))


def _read_meta(npz, path):
    if META_KEY in npz.files:
        return json.loads(str(npz[META_KEY][()]))
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


def load_weights(path, expected_shapes=None):
    """Read and verify a weights ``.npz`` -> ``(params, meta)``.

    params maps names to float32 arrays; meta is the preprocessing/provenance
    dict.  Raises :class:`WeightsError` naming the file and the problem for a
    truncated or tampered file and for missing, misshapen, non-float or
    non-finite arrays.
    """
    path = Path(path)
    expected_shapes = param_shapes() if expected_shapes is None else expected_shapes
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = _read_meta(npz, path)
            params = {}
            problems = []
            for name, shape in expected_shapes.items():
                if name not in npz.files:
                    problems.append(f"missing array {name!r}")
                    continue
                arr = npz[name]
                if tuple(arr.shape) != tuple(shape):
                    problems.append(f"{name!r} has shape {arr.shape}, expected {tuple(shape)}")
                elif not np.issubdtype(arr.dtype, np.floating):
                    problems.append(f"{name!r} has dtype {arr.dtype}, expected float")
                elif not np.isfinite(arr).all():
                    problems.append(f"{name!r} contains NaN or infinite values")
                else:
                    params[name] = np.ascontiguousarray(arr, dtype=np.float32)
    except (OSError, ValueError, EOFError, KeyError) as exc:
        raise WeightsError(f"cannot read weights file {path}: {exc}") from None
    except Exception as exc:  # zipfile.BadZipFile, zlib.error on tampered data
        raise WeightsError(f"cannot read weights file {path}: {type(exc).__name__}: {exc}") \
            from None
    if problems:
        raise WeightsError(f"weights file {path} is invalid: " + "; ".join(problems))
    return params, meta


def save_weights(path, params, meta):
    """Write ``params`` and ``meta`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    arrays = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
    arrays[META_KEY] = np.array(json.dumps(meta))
    with open(tmp, "wb") as f:
        np.savez(f, **arrays)
    os.replace(tmp, path)
    return path
