"""Features of a folder of images: extraction (batched, cached, parallel), nearest
neighbours, PCA / t-SNE embeddings and thumbnail pictures of them.

Lecture: "Last layer: nearest neighbors" (Krizhevsky et al. 2012, the elephant
example: neighbours in the 4096-d feature space share the class even when the
pixels differ) and "Last layer: dimensionality reduction" (van der Maaten &
Hinton 2008, t-SNE; Karpathy's t-SNE grid of ImageNet features).

Image sources (``images`` / ``images_or_folder`` arguments) are

- a folder: its image files (by extension) in sorted file-name order;
- a list of image file paths, in that order;
- an already preprocessed float array (N, 3, H, W).

Unreadable files are skipped with one warning that names them; the rows of the
result follow the source order with those files left out
(``return_paths=True`` tells which files the rows are).
"""
import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from .. import checks

__all__ = ["extract_features", "feature_cache_dir", "list_image_files", "load_batch",
           "iter_batches", "pixel_features", "thumbnails", "nearest_neighbors",
           "neighbor_agreement", "embed", "tsne_grid", "thumbnail_scatter", "neighbor_rows",
           "POOLS", "EMBEDDINGS", "METRICS", "RESTRICTED_IMAGENET", "restricted_imagenet_group"]

#: How a spatial feature map (N, C, H, W) becomes a vector per image.
POOLS = ("avg", "max", "none")
#: Dimensionality reductions of :func:`embed`.
EMBEDDINGS = ("tsne", "pca")
#: Distances of :func:`nearest_neighbors`.
METRICS = ("euclidean", "cosine")

#: The nine "restricted ImageNet" superclasses (Tsipras et al. 2019), inclusive
#: ranges of ImageNet class indices.
RESTRICTED_IMAGENET = {
    "dog": (151, 268), "cat": (281, 285), "frog": (30, 32), "turtle": (33, 37),
    "bird": (80, 100), "primate": (365, 382), "fish": (389, 397), "crab": (118, 121),
    "insect": (300, 319),
}

_CACHE_FORMAT = 1


def _check_choice(value, choices, argument):
    return checks.choice(value, choices, argument)


def restricted_imagenet_group(class_indices):
    """Superclass index (0..8, in :data:`RESTRICTED_IMAGENET` order) of each ImageNet
    class index, or -1 for classes outside the nine groups."""
    idx = np.asarray(class_indices)
    groups = np.full(idx.shape, -1, dtype=int)
    for g, (lo, hi) in enumerate(RESTRICTED_IMAGENET.values()):
        groups[(idx >= lo) & (idx <= hi)] = g
    return groups


# --------------------------------------------------------------------------- image sources
def list_image_files(folder):
    """Image files (by extension) of ``folder`` in sorted file-name order.

    Raises FileNotFoundError for a missing folder and ValueError for a folder
    without images.  Files with other extensions (labels, notes) are ignored.
    """
    from ..data import IMAGE_EXTENSIONS
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    files = sorted((p for p in folder.iterdir()
                    if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS),
                   key=lambda p: p.name)
    if not files:
        raise ValueError(f"image folder {folder} is empty: it contains no image files "
                         f"({', '.join(IMAGE_EXTENSIONS)})")
    return files


def _source(images, argument="images"):
    """-> ("array", x) or ("paths", [Path, ...])."""
    if isinstance(images, np.ndarray):
        if images.ndim != 4 or images.shape[1] != 3 or not np.issubdtype(images.dtype,
                                                                          np.floating):
            raise ValueError(f"{argument} as an array must be preprocessed float (N, 3, H, W), "
                             f"got dtype {images.dtype} shape {images.shape}")
        if len(images) == 0:
            raise ValueError(f"{argument} is an empty array")
        return "array", images
    if isinstance(images, (str, os.PathLike)):
        path = Path(images)
        if path.is_dir():
            return "paths", list_image_files(path)
        if path.is_file():
            return "paths", [path]
        raise FileNotFoundError(f"{argument}: no such folder or file: {path}")
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError(f"{argument} is an empty list")
        bad = [p for p in images if not isinstance(p, (str, os.PathLike))]
        if bad:
            raise TypeError(f"{argument} must be a folder, a list of image paths or a "
                            f"(N, 3, H, W) array; the list holds {type(bad[0]).__name__}")
        return "paths", [Path(p) for p in images]
    raise TypeError(f"{argument} must be a folder, a list of image paths or a preprocessed "
                    f"(N, 3, H, W) array, got {type(images).__name__}")


def load_batch(cnn, paths, size=None, crop="default"):
    """Decode and preprocess image files -> (x (n, 3, H, W), ok (len(paths),) bool).

    Files that cannot be read as images are left out (``ok`` False); x is None
    when none could be read.
    """
    from ..data import load_image
    imgs, ok = [], np.zeros(len(paths), dtype=bool)
    for i, p in enumerate(paths):
        try:
            imgs.append(load_image(p))
            ok[i] = True
        except (ValueError, OSError):
            pass
    if not imgs:
        return None, ok
    return cnn.preprocess(imgs, size=size, crop=crop), ok


def _warn_skipped(paths):
    if paths:
        names = ", ".join(str(p) for p in paths[:20])
        more = f" and {len(paths) - 20} more" if len(paths) > 20 else ""
        warnings.warn(f"skipped {len(paths)} unreadable or non-image file(s): {names}{more}",
                      stacklevel=3)


def iter_batches(cnn, images, batch_size=16, size=None, crop="default", progress=False,
                 desc="images", skipped=None):
    """Yield ``(rows, x)`` over an image source: ``rows`` are the source indices of
    the images in the preprocessed batch ``x`` (N, 3, H, W).

    Unreadable files are skipped and appended to the list ``skipped`` (when
    given) or reported in one warning at the end.  A progress bar over images
    is shown when ``progress``.
    """
    from tqdm import tqdm
    batch_size = _positive(batch_size, "batch_size")
    kind, src = _source(images)
    bad = [] if skipped is None else skipped
    with tqdm(total=len(src), desc=desc, unit="img", disable=not progress) as bar:
        for start in range(0, len(src), batch_size):
            rows = np.arange(start, min(start + batch_size, len(src)))
            if kind == "array":
                x = np.asarray(src[rows], dtype=cnn.dtype)
            else:
                x, ok = load_batch(cnn, src[start:rows[-1] + 1], size=size, crop=crop)
                bad.extend(src[start + i] for i in np.flatnonzero(~ok))
                rows = rows[ok]
            bar.update(len(ok) if kind == "paths" else len(rows))
            if x is not None:
                yield rows, x
    if skipped is None:
        _warn_skipped(bad)


def _positive(value, argument):
    return checks.positive_int(value, argument)


# --------------------------------------------------------------------------- extraction
def feature_cache_dir(cache_dir=None):
    """Where features are cached: ``cache_dir``, else ``$MINICNN_CACHE/features``,
    else ``~/.cache/minicnn/features``."""
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get("MINICNN_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "minicnn") / "features"


def _weights_digest(cnn):
    h = hashlib.blake2b(digest_size=16)
    for name in sorted(cnn.params):
        a = np.ascontiguousarray(cnn.params[name])
        h.update(f"{name}:{a.dtype}:{a.shape};".encode())
        h.update(a.data)
    return h.hexdigest()


def _pool(a, pool):
    """(N, C, H, W) -> (N, D) by ``pool``; (N, D) passes through."""
    if a.ndim == 2:
        return a
    if pool == "avg":
        return a.mean(axis=(2, 3))
    if pool == "max":
        return a.max(axis=(2, 3))
    return a.reshape(len(a), -1)


def _features_of_batch(cnn, x, layer, pool):
    out, _ = cnn.forward(x, end=layer)
    return np.ascontiguousarray(_pool(out, pool), dtype=cnn.dtype)


def _extract_chunk(cnn, paths, layer, pool, size, crop, batch_size):
    """Features (n_ok, D) and the ok mask of one chunk of image files."""
    feats, oks = [], []
    for start in range(0, len(paths), batch_size):
        x, ok = load_batch(cnn, paths[start:start + batch_size], size=size, crop=crop)
        oks.append(ok)
        if x is not None:
            feats.append(_features_of_batch(cnn, x, layer, pool))
    ok = np.concatenate(oks)
    return (np.concatenate(feats) if feats else None), ok


_WORKER_MODELS = {}


def _worker_chunk(model_file, digest, layers, meta, paths, layer, pool, size, crop, batch_size):
    """Runs in a joblib worker: the model is loaded once per process (keyed by the
    weights digest) and BLAS is limited to one thread."""
    from threadpoolctl import threadpool_limits
    cnn = _WORKER_MODELS.get(digest)
    if cnn is None:
        from ..models.squeezenet import SqueezeNet
        with np.load(model_file, allow_pickle=False) as f:
            params = {k: f[k] for k in f.files}
        cnn = SqueezeNet(params, meta=meta, layers=layers)
        _WORKER_MODELS.clear()
        _WORKER_MODELS[digest] = cnn
    with threadpool_limits(limits=1):
        return _extract_chunk(cnn, paths, layer, pool, size, crop, batch_size)


def _model_file(cnn, digest, folder):
    """The model's weights as an .npz the workers can load (written once)."""
    path = folder / "models" / f"{digest}.npz"
    if not path.is_file():
        _save_npz_atomic(path, **cnn.params)
    return path


def _cache_key(cnn, paths, layer, pool, size, crop, content_hash):
    h = hashlib.sha256()
    spec = {"format": _CACHE_FORMAT, "layer": layer, "pool": pool, "size": size, "crop": crop,
            "meta": {k: cnn.meta.get(k) for k in ("channel_order", "scale", "mean", "std",
                                                 "input_size", "resize")},
            "dtype": str(np.dtype(cnn.dtype)), "weights": _weights_digest(cnn),
            "layers": [sorted(e.items()) for e in cnn.layers]}
    h.update(json.dumps(spec, sort_keys=True, default=str).encode())
    for p in paths:
        st = p.stat() if p.exists() else None
        h.update(f"{p.resolve()}|".encode())
        if st is None:
            h.update(b"missing;")
        elif content_hash:
            h.update(hashlib.blake2b(p.read_bytes(), digest_size=16).digest())
        else:
            h.update(f"{st.st_size}|{st.st_mtime_ns};".encode())
    return h.hexdigest()[:32]


def extract_features(cnn, images_or_folder, layer="fire9", batch_size=16, n_jobs=1,
                     cache_dir=None, pool="avg", size=None, crop="default", cache=True,
                     content_hash=False, chunk_size=None, progress=False, return_paths=False):
    """Features of a layer for every image of a folder, a list of paths or an array.

    Returns (N, D) in ``cnn.dtype``, rows in source order (a folder: sorted file
    names; unreadable files are left out with a warning).  A spatial layer's
    (N, C, H, W) output is reduced by ``pool``: ``"avg"`` (global average, the
    default: fire9 -> 512-d), ``"max"`` or ``"none"`` (flattened C*H*W, e.g. fire9
    -> 86528-d); ``layer="pool10"`` gives the 1000 class scores.

    Images are decoded, resized (short side ``size``, default ``cnn.meta['resize']``)
    and centre cropped (``crop``, default ``cnn.meta['input_size']``: 224 for the
    torchvision weights, 227 for Caffe's) as :meth:`cnn.preprocess`, in batches of
    ``batch_size``, with a tqdm bar over images when ``progress``.

    Caching (paths only): the result is saved as ``<key>.npy`` in ``cache_dir``
    (default :func:`feature_cache_dir`), the key hashing the files' resolved
    names, sizes and modification times (or their bytes with
    ``content_hash=True``), the layer, pooling, preprocessing and a digest of
    the weights; any change makes a new key.  Work is done in chunks of
    ``chunk_size`` images (default 8 batches) saved as they finish, so an
    interrupted run (Ctrl-C) resumes where it stopped.  ``cache=False``
    disables all of this.

    ``n_jobs > 1`` spreads the chunks over that many joblib (loky) worker
    processes; each loads the model once and uses one BLAS thread.
    """
    batch_size = _positive(batch_size, "batch_size")
    n_jobs = _positive(n_jobs, "n_jobs")
    _check_choice(pool, POOLS, "pool")
    layer = cnn.layer_names[cnn.layer_index(layer)]
    kind, src = _source(images_or_folder, "images_or_folder")
    if kind == "array":
        feats = [_features_of_batch(cnn, np.asarray(src[i:i + batch_size], dtype=cnn.dtype),
                                    layer, pool)
                 for i in _progress_range(len(src), batch_size, progress)]
        out = np.concatenate(feats)
        return (out, None) if return_paths else out

    paths = src
    chunk = _positive(chunk_size or 8 * batch_size, "chunk_size")
    folder = feature_cache_dir(cache_dir)
    key = _cache_key(cnn, paths, layer, pool, size, crop, content_hash) if cache else None
    if cache:
        done = _read_cached(folder, key, len(paths), _feature_width(cnn, layer, pool, crop),
                            cnn.dtype, layer, pool)
        if done is not None:
            feats, ok = done
            return _finish(feats, ok, paths, return_paths)

    starts = list(range(0, len(paths), chunk))
    parts_dir = folder / f"{key}.parts" if cache else None
    results = {}
    width = _feature_width(cnn, layer, pool, crop)
    if cache and parts_dir.is_dir():
        for s in starts:
            part = parts_dir / f"{s:08d}.npz"
            if part.is_file():
                value = _read_part(part, len(paths[s:s + chunk]), width, cnn.dtype)
                if value is None:
                    _unlink_quietly(part)      # torn or foreign: recompute this chunk
                else:
                    results[s] = value
    todo = [s for s in starts if s not in results]

    def save_part(s, value):
        results[s] = value
        if cache:
            feats, ok = value
            _save_npz_atomic(parts_dir / f"{s:08d}.npz",
                             features=np.zeros((0,), cnn.dtype) if feats is None else feats,
                             ok=ok)

    from tqdm import tqdm
    with tqdm(total=len(paths), initial=sum(len(results[s][1]) for s in results),
              desc=f"features {layer}", unit="img", disable=not progress) as bar:
        if n_jobs == 1 or len(todo) <= 1:
            for s in todo:
                value = _extract_chunk(cnn, paths[s:s + chunk], layer, pool, size, crop,
                                       batch_size)
                save_part(s, value)
                bar.update(len(value[1]))
        else:
            from joblib import Parallel, delayed
            digest = _weights_digest(cnn)
            model_dir = folder if cache else Path(_tempdir())
            try:
                mfile = _model_file(cnn, digest, model_dir)
                jobs = (delayed(_worker_chunk)(str(mfile), digest, cnn.layers, cnn.meta,
                                               paths[s:s + chunk], layer, pool, size, crop,
                                               batch_size) for s in todo)
                runner = Parallel(n_jobs=n_jobs, backend="loky", return_as="generator")
                for s, value in zip(todo, runner(jobs)):
                    save_part(s, value)
                    bar.update(len(value[1]))
            finally:
                if not cache:
                    shutil.rmtree(model_dir, ignore_errors=True)
    feats = [results[s][0] for s in starts if results[s][0] is not None]
    ok = np.concatenate([results[s][1] for s in starts])
    if not feats:
        raise ValueError(f"none of the {len(paths)} files could be read as an image "
                         f"(first: {paths[0]})")
    feats = np.concatenate(feats)
    if cache:
        _write_cached(folder, key, feats, ok, paths, layer, pool)
        shutil.rmtree(parts_dir, ignore_errors=True)
    return _finish(feats, ok, paths, return_paths)


def _tempdir():
    import tempfile
    return tempfile.mkdtemp(prefix="minicnn-models-")


def _progress_range(n, step, progress):
    from tqdm import tqdm
    return tqdm(range(0, n, step), desc="features", disable=not progress)


def _finish(feats, ok, paths, return_paths):
    _warn_skipped([p for p, good in zip(paths, ok) if not good])
    if return_paths:
        return feats, [p for p, good in zip(paths, ok) if good]
    return feats


def _feature_width(cnn, layer, pool, crop):
    """The number of features per image of ``layer`` pooled by ``pool`` (None when
    it depends on the image size: ``pool="none"`` without a fixed crop)."""
    k = cnn.layer_index(layer)
    if pool != "none" or cnn.layers[k]["type"] == "gap":
        return int(cnn.layers[k]["out"])
    side = cnn.meta.get("input_size", 224) if crop == "default" else crop
    if side is None:
        return None
    return int(np.prod(cnn.output_shape((1, 3, side, side), end=k)[1:]))


def _consistent(feats, ok, n_files, width, dtype):
    """Whether features and validity mask read from the cache are what they claim:
    one mask entry per file, one row per valid file, the layer's width, the
    model's dtype."""
    return (ok.shape == (n_files,) and feats.ndim == 2 and len(feats) == int(ok.sum())
            and (width is None or feats.shape[1] == width) and feats.dtype == np.dtype(dtype))


def _unlink_quietly(path):
    try:
        path.unlink()
    except OSError:
        pass


def _tmp_name(path):
    """A temporary name beside ``path`` unique to this process and call (several
    processes may write the same cache at once)."""
    import uuid
    return path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")


def _save_atomic(path, write):
    """write(file object) to a unique temporary file, then rename over ``path``; a
    folder removed meanwhile by another process is recreated (three tries).  A
    failed write (disk full) leaves the previous ``path`` as it was."""
    for attempt in range(3):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = _tmp_name(path)
        try:
            with open(tmp, "wb") as f:
                write(f)
            os.replace(tmp, path)
            return path
        except FileNotFoundError:
            if attempt == 2:
                raise
        finally:
            _unlink_quietly(tmp)
    return path


def _save_npz_atomic(path, **arrays):
    return _save_atomic(path, lambda f: np.savez(f, **arrays))


def _read_part(part, n_files, width, dtype):
    try:
        with np.load(part, allow_pickle=False) as f:
            feats, ok = f["features"], f["ok"].astype(bool)
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if feats.size == 0:
        return (None, ok) if ok.shape == (n_files,) and not ok.any() else None
    if not _consistent(feats, ok, n_files, width, dtype):
        return None
    return feats, ok


def _read_cached(folder, key, n_files=None, width=None, dtype=None, layer=None, pool=None):
    """(features, ok) cached under ``key``, or None when absent or when what is read
    does not match the model, layer and file list it claims to be (then it is
    recomputed, with a warning)."""
    f, m = folder / f"{key}.npy", folder / f"{key}.ok.npy"
    if not (f.is_file() and m.is_file()):
        return None
    try:
        feats, ok = np.load(f, allow_pickle=False), np.load(m, allow_pickle=False).astype(bool)
    except (OSError, ValueError, EOFError):
        return None
    problem = None
    if n_files is not None and not _consistent(feats, ok, n_files, width,
                                               feats.dtype if dtype is None else dtype):
        problem = (f"features {feats.shape} {feats.dtype} and mask {ok.shape} "
                   f"({int(ok.sum())} valid) for {n_files} files of {width} features")
    info = folder / f"{key}.json"
    if problem is None and layer is not None and info.is_file():
        try:
            meta = json.loads(info.read_text())
            if meta.get("layer") != layer or meta.get("pool") != pool \
                    or meta.get("n_files") != n_files:
                problem = (f"written for layer {meta.get('layer')!r} pool "
                           f"{meta.get('pool')!r} and {meta.get('n_files')} files")
        except (OSError, ValueError):
            pass
    if problem is not None:
        warnings.warn(f"feature cache {f} does not match what it is cached for "
                      f"({problem}; expected layer {layer!r}); recomputing", RuntimeWarning,
                      stacklevel=3)
        return None
    return feats, ok


def _write_cached(folder, key, feats, ok, paths, layer, pool):
    folder.mkdir(parents=True, exist_ok=True)
    info = {"layer": layer, "pool": pool, "shape": list(feats.shape), "n_files": len(paths),
            "first": str(paths[0]), "skipped": [str(p) for p, g in zip(paths, ok) if not g]}
    _save_atomic(folder / f"{key}.json", lambda f: f.write(json.dumps(info, indent=1).encode()))
    for suffix, arr in ((".ok.npy", ok), (".npy", feats)):      # features last: the marker
        _save_atomic(folder / f"{key}{suffix}", lambda f, arr=arr: np.save(f, arr))


# --------------------------------------------------------------------------- pixels, thumbnails
def thumbnails(images, size=32, cnn=None):
    """Square thumbnails (N, size, size, 3) uint8: short side resized, centre crop.

    ``images``: a folder, a list of paths, a list/array of uint8 (H, W, 3) images,
    or a preprocessed (N, 3, H, W) array (then ``cnn`` is needed to deprocess).
    Unreadable files are skipped with a warning.
    """
    from ..data import load_image, prepare_images
    size = _positive(size, "size")
    if isinstance(images, np.ndarray) and images.ndim == 4 and images.shape[1] == 3 \
            and np.issubdtype(images.dtype, np.floating):
        if cnn is None:
            raise ValueError("thumbnails of a preprocessed array need cnn= to deprocess it")
        imgs = cnn.deprocess(images)
        imgs = list(imgs[None] if imgs.ndim == 3 else imgs)
    elif isinstance(images, np.ndarray) or (isinstance(images, (list, tuple)) and images
                                            and isinstance(images[0], np.ndarray)):
        imgs = list(images)
    else:
        _, paths = _source(images)
        imgs, bad = [], []
        for p in paths:
            try:
                imgs.append(load_image(p))
            except (ValueError, OSError):
                bad.append(p)
        _warn_skipped(bad)
    return prepare_images(imgs, size=size, crop=size)


def pixel_features(images, size=32, cnn=None):
    """The pixel-space baseline: each image as a flattened ``size`` x ``size`` RGB
    thumbnail scaled to 0..1, shape (N, size*size*3)."""
    t = thumbnails(images, size=size, cnn=cnn)
    return t.reshape(len(t), -1).astype(np.float32) / 255.0


# --------------------------------------------------------------------------- neighbours
def nearest_neighbors(features, queries, k=5, metric="euclidean", exclude_self=False):
    """k nearest reference rows for each query (scikit-learn ``NearestNeighbors``).

    features: (N, D) reference set.  queries: (Q, D) query vectors, a single
    (D,) vector, or integer row indices into ``features``; with indices and
    ``exclude_self`` a row is never its own neighbour.  metric: "euclidean" or
    "cosine".  Returns ``(distances, indices)``, each (Q, k), nearest first
    (ties broken by the lower index).
    """
    from sklearn.neighbors import NearestNeighbors
    _check_choice(metric, METRICS, "metric")
    feats = np.asarray(features)
    if feats.ndim != 2 or not np.issubdtype(feats.dtype, np.number):
        raise ValueError(f"features must be a numeric (N, D) array, got shape {feats.shape}")
    k = _positive(k, "k")
    q = np.asarray(queries)
    self_rows = None
    if np.issubdtype(q.dtype, np.integer) and q.ndim <= 1:
        self_rows = np.atleast_1d(q)
        if self_rows.size and (self_rows.min() < -len(feats) or self_rows.max() >= len(feats)):
            raise ValueError(f"query indices must be in 0..{len(feats) - 1}")
        q = feats[self_rows]
    elif q.ndim == 1:
        q = q[None]
    if q.ndim != 2 or q.shape[1] != feats.shape[1]:
        raise ValueError(f"queries must be (Q, {feats.shape[1]}) vectors or row indices, "
                         f"got shape {np.shape(queries)}")
    drop = exclude_self and self_rows is not None
    want = k + 1 if drop else k
    if want > len(feats):
        raise ValueError(f"k={k} is more than the {len(feats) - int(drop)} available "
                         "reference rows")
    nn = NearestNeighbors(n_neighbors=want, metric=metric, algorithm="brute")
    nn.fit(feats.astype(np.float64))
    dist, idx = nn.kneighbors(q.astype(np.float64))
    order = np.lexsort((idx, dist), axis=1)
    dist, idx = np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)
    if drop:
        keep = idx != (self_rows % len(feats))[:, None]
        # remove the self match (or the last column when self was not among them)
        rows = []
        for r in range(len(idx)):
            cols = np.flatnonzero(keep[r])[:k]
            rows.append(cols)
        cols = np.stack(rows)
        dist, idx = np.take_along_axis(dist, cols, 1), np.take_along_axis(idx, cols, 1)
    return dist, idx


def neighbor_agreement(labels, indices, query_labels=None):
    """Fraction of neighbours sharing their query's label (mean over queries and k).

    labels: (N,) labels of the reference rows; indices: (Q, k) from
    :func:`nearest_neighbors`; query_labels default to ``labels`` (queries are
    the reference rows themselves).
    """
    labels = np.asarray(labels)
    indices = np.asarray(indices)
    ql = labels if query_labels is None else np.asarray(query_labels)
    if len(ql) != len(indices):
        raise ValueError(f"{len(indices)} rows of indices but {len(ql)} query labels")
    return float(np.mean(labels[indices] == ql[:, None]))


# --------------------------------------------------------------------------- embeddings
def embed(features, method="tsne", seed=0, n_components=2, perplexity=30.0, pca_dims=50,
          return_model=False):
    """Low-dimensional embedding (N, n_components) of features (N, D).

    ``"pca"``: principal components (scikit-learn ``PCA``, exact SVD), the
    projections on the top ``n_components`` orthonormal directions.
    ``"tsne"``: t-SNE (van der Maaten & Hinton 2008; scikit-learn ``TSNE``)
    after a PCA to ``pca_dims`` dimensions, PCA initialisation, perplexity
    clipped to (N - 1) / 3 for small sets, one OpenMP thread.  ``seed`` makes
    runs bit-identical.
    ``return_model`` also returns the fitted estimator.
    """
    from sklearn.decomposition import PCA
    _check_choice(method, EMBEDDINGS, "method")
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"features must be (N, D) with N >= 3, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or infinite values")
    n_components = _positive(n_components, "n_components")
    checks.positive(perplexity, "perplexity")
    pca_dims = _positive(pca_dims, "pca_dims")
    if seed is not None:
        seed = checks.non_negative(seed, "seed", integer=True)
    if method == "tsne" and np.ptp(x, axis=0).max() == 0:
        # scikit-learn's Barnes-Hut t-SNE crashes the process (SIGSEGV) on these
        raise ValueError(f"features are {len(x)} identical vectors: t-SNE needs at least two "
                         "distinct rows (use method='pca', or check the extraction)")
    if method == "pca":
        model = PCA(n_components=min(n_components, *x.shape), svd_solver="full",
                    random_state=seed)
        y = model.fit_transform(x)
    else:
        from sklearn.manifold import TSNE
        dims = min(pca_dims, x.shape[0], x.shape[1])
        if x.shape[1] > dims:
            x = PCA(n_components=dims, svd_solver="full", random_state=seed).fit_transform(x)
        from threadpoolctl import threadpool_limits
        model = TSNE(n_components=n_components, perplexity=min(perplexity, (len(x) - 1) / 3),
                     init="pca", random_state=seed, method="barnes_hut" if n_components < 4
                     else "exact")
        # one OpenMP thread: the Barnes-Hut gradient is then summed in a fixed order
        # (bit-identical seeded runs), and it avoids spin-waiting on a busy machine
        with threadpool_limits(limits=1, user_api="openmp"):
            y = model.fit_transform(x)
    return (y, model) if return_model else y


def _unit_square(points):
    p = np.asarray(points, dtype=np.float64)
    lo, hi = p.min(axis=0), p.max(axis=0)
    return (p - lo) / np.where(hi - lo > 0, hi - lo, 1.0)


def tsne_grid(embedding, thumbs, grid=None, pad=0, fill=255):
    """Snap images to a regular grid that preserves a 2-d embedding's layout.

    embedding: (N, 2); thumbs: (N, t, t, 3) uint8.  Grid cells are assigned by
    minimum total squared distance between the (unit-square scaled) points
    and the cell centres, solved exactly with ``scipy.optimize.
    linear_sum_assignment``.  ``grid=(rows, cols)`` defaults to the smallest
    square holding N.  Returns ``(image, cells)``: the uint8 picture and the
    (N, 2) (row, col) cell of each image.
    """
    from scipy.optimize import linear_sum_assignment

    from .filters import tile_grid
    emb = np.asarray(embedding)
    thumbs = np.asarray(thumbs)
    if emb.ndim != 2 or emb.shape[1] != 2 or len(emb) != len(thumbs):
        raise ValueError(f"embedding must be (N, 2) with one row per thumbnail, got "
                         f"{emb.shape} for {len(thumbs)} thumbnails")
    n = len(emb)
    if grid is None:
        side = int(np.ceil(np.sqrt(n)))
        grid = (int(np.ceil(n / side)), side)
    rows, cols = grid
    if rows * cols < n:
        raise ValueError(f"grid {rows}x{cols} has fewer cells than the {n} images")
    p = _unit_square(emb)
    gy, gx = np.meshgrid((np.arange(rows) + 0.5) / rows, (np.arange(cols) + 0.5) / cols,
                         indexing="ij")
    centres = np.stack([gx.ravel(), 1.0 - gy.ravel()], axis=1)     # x right, y up
    cost = ((p[:, None, :] - centres[None]) ** 2).sum(-1)
    point, cell = linear_sum_assignment(cost)
    tiles = np.full((rows * cols,) + thumbs.shape[1:], fill, dtype=np.uint8)
    tiles[cell] = thumbs[point]
    cells = np.zeros((n, 2), dtype=int)
    cells[point] = np.stack(np.divmod(cell, cols), axis=1)
    return tile_grid(tiles, ncols=cols, pad=pad, pad_value=fill), cells


def thumbnail_scatter(embedding, thumbs, canvas=800, fill=255):
    """Paste thumbnails (N, t, t, 3) at their 2-d embedding positions on a
    ``canvas`` x ``canvas`` uint8 image (later images on top; y axis up)."""
    emb = np.asarray(embedding)
    thumbs = np.asarray(thumbs)
    if emb.ndim != 2 or emb.shape[1] != 2 or len(emb) != len(thumbs):
        raise ValueError(f"embedding must be (N, 2) with one row per thumbnail, got "
                         f"{emb.shape} for {len(thumbs)} thumbnails")
    t = thumbs.shape[1]
    if canvas <= t:
        raise ValueError(f"canvas ({canvas}) must be larger than a thumbnail ({t})")
    out = np.full((canvas, canvas, 3), fill, dtype=np.uint8)
    p = _unit_square(emb)
    xs = np.round(p[:, 0] * (canvas - t)).astype(int)
    ys = np.round((1.0 - p[:, 1]) * (canvas - t)).astype(int)
    for x, y, th in zip(xs, ys, thumbs):
        out[y:y + t, x:x + t] = th
    return out


def neighbor_rows(query_thumbs, feature_thumbs, pixel_thumbs=None, gap=8, pad=2, fill=255):
    """The lecture's figure as one uint8 image: per row, the query, its k
    feature-space neighbours and (when given) its k pixel-space neighbours.

    query_thumbs: (Q, t, t, 3); feature_thumbs / pixel_thumbs: (Q, k, t, t, 3).
    """
    from .filters import tile_grid
    q = np.asarray(query_thumbs)
    f = np.asarray(feature_thumbs)
    if f.ndim != 5 or len(f) != len(q):
        raise ValueError(f"feature_thumbs must be (Q, k, t, t, 3) with Q={len(q)}, got {f.shape}")
    blocks = [q[:, None], f] if pixel_thumbs is None else [q[:, None], f,
                                                           np.asarray(pixel_thumbs)]
    rows = []
    for r in range(len(q)):
        parts = [tile_grid(b[r], ncols=len(b[r]), pad=pad, pad_value=fill) for b in blocks]
        h = parts[0].shape[0]
        spacer = np.full((h, gap, 3), fill, dtype=np.uint8)
        row = [parts[0]]
        for part in parts[1:]:
            row += [spacer, part]
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)
