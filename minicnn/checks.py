"""Argument checks shared by every technique (the bottom of the house: NumPy only).

Each check returns the cleaned value or raises a ``TypeError`` (wrong kind of
value) or ``ValueError`` (right kind, wrong value) whose message names the
argument, shows the value and says what was expected::

    learning_rate = checks.positive(learning_rate, "learning_rate")
    x = checks.batch(x, "x")                      # float (N, 3, H, W), N >= 1, finite
    rng = checks.rng(rng)                         # None -> seed 0, int -> seeded Generator
    pool = checks.choice(pool, POOLS, "pool")     # unknown names list the choices

Seeded runs stay bit-identical: :func:`rng` turns the same seed into the same
Generator that the techniques drew from before these checks existed.
"""
import numbers

import numpy as np

__all__ = ["positive", "non_negative", "each", "positive_int", "finite", "class_index", "layer_name",
           "images", "batch", "same_length", "rng", "choice", "image_size", "in_range"]


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


def _real(value, name, expected):
    """value as a Python number (int or float) or a TypeError naming ``name``."""
    if _is_bool(value):
        raise TypeError(f"{name} must be {expected}, got {value!r}")
    if isinstance(value, np.ndarray) and value.ndim == 0 \
            and np.issubdtype(value.dtype, np.number) and not np.iscomplexobj(value):
        value = value.item()
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise TypeError(f"{name} must be {expected}, got {value!r}")


def _integral(value, name, expected):
    v = _real(value, name, expected)
    if isinstance(v, float):
        if not np.isfinite(v) or v != int(v):
            raise TypeError(f"{name} must be {expected}, got {value!r}")
        v = int(v)
    return v


def positive(value, name, integer=False):
    """A number > 0 (finite): float, or int with ``integer``.

    TypeError for a non-number (or a non-integral value when ``integer``),
    ValueError ``"<name> must be positive, got <value>"`` otherwise."""
    expected = "a positive integer" if integer else "a positive number"
    v = _integral(value, name, expected) if integer else _real(value, name, expected)
    if not v > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if not np.isfinite(v):
        raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return v if integer else float(v)


def non_negative(value, name, integer=False):
    """A number >= 0 (finite): float, or int with ``integer``."""
    expected = "a non-negative integer" if integer else "a non-negative number"
    v = _integral(value, name, expected) if integer else _real(value, name, expected)
    if not v >= 0:
        raise ValueError(f"{name} must be non-negative, got {value!r}")
    if not np.isfinite(v):
        raise ValueError(f"{name} must be non-negative and finite, got {value!r}")
    return v if integer else float(v)


def each(values, name, check):
    """A number or a sequence of numbers -> list of the values, each through
    ``check(value, name)`` (:func:`positive`, :func:`non_negative`, ...), so that
    the error names the argument and shows the offending entry."""
    return [check(v, name) for v in np.atleast_1d(np.asarray(values, dtype=object))]


def positive_int(value, name):
    """An integer >= 1 (a count: batch sizes, steps, ...); ValueError
    ``"<name> must be a positive integer, got <value>"`` for anything else."""
    if _is_bool(value) or not isinstance(value, (numbers.Integral, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def in_range(value, name, lo, hi):
    """A finite number with lo <= value <= hi."""
    v = _real(value, name, f"a number in [{lo}, {hi}]")
    if not (np.isfinite(v) and lo <= v <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], got {value!r}")
    return v


def finite(value, name):
    """A number or array without NaN or infinite entries (returned unchanged)."""
    a = np.asarray(value)
    if not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise TypeError(f"{name} must be numeric, got {type(value).__name__} "
                        f"(dtype {a.dtype})")
    if np.issubdtype(a.dtype, np.inexact) and not np.isfinite(a).all():
        if a.ndim == 0:
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        bad = int((~np.isfinite(a)).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s) (of {a.size}); "
                         "expected finite values")
    return value


def class_index(value, name, num_classes):
    """An int in 0..num_classes-1."""
    if _is_bool(value) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{name} must be a class index (int), got {value!r}")
    if not 0 <= value < num_classes:
        raise ValueError(f"{name} {value} is not a class index: the model has "
                         f"{num_classes} classes (0..{num_classes - 1})")
    return int(value)


def layer_name(cnn, layer, name="layer"):
    """The name of a layer given by name or index (the model's own check and message)."""
    return cnn.layer_names[cnn.layer_index(layer, name)]


def images(x, name="x", channels=None, allow_empty=True, require_finite=False):
    """A float NumPy array (N, C, H, W) (returned unchanged).

    channels: the expected C (None: any).  allow_empty: accept N == 0.
    require_finite: refuse NaN and infinite values."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array of shape (N, C, H, W), got "
                        f"{type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must be a float array in the model's preprocessing "
                        f"(use cnn.preprocess for uint8 images), got dtype {x.dtype}")
    if x.ndim != 4 or (channels is not None and x.shape[1] != channels):
        c = "C" if channels is None else channels
        raise ValueError(f"{name} must have shape (N, {c}, H, W), got shape {x.shape}")
    if not allow_empty and len(x) == 0:
        raise ValueError(f"{name} is an empty batch (shape {x.shape}); expected at least "
                         "one image")
    if x.shape[2] == 0 or x.shape[3] == 0:
        raise ValueError(f"{name} has empty images (shape {x.shape}); expected at least "
                         "1x1 pixels")
    if require_finite and not np.isfinite(x).all():
        raise ValueError(f"{name} contains {int((~np.isfinite(x)).sum())} NaN or infinite "
                         "values")
    return x


def batch(x, name="x", channels=3):
    """Images for a technique: float (N, channels, H, W), N >= 1, all finite."""
    return images(x, name, channels=channels, allow_empty=False, require_finite=True)


def same_length(a, b, name_a="x", name_b="y", what="one per image"):
    """len(a) == len(b), else a ValueError naming both (returns the length)."""
    na, nb = len(a), len(b)
    if na != nb:
        raise ValueError(f"{name_a} has {na} entries but {name_b} has {nb}; expected "
                         f"{what}")
    return na


def rng(value, name="rng", default_seed=0):
    """A numpy Generator from None (seeded with ``default_seed``: reproducible), an
    int seed (>= 0) or a Generator (returned as is)."""
    if value is None:
        return np.random.default_rng(default_seed)
    if isinstance(value, np.random.Generator):
        return value
    if isinstance(value, (numbers.Integral, np.integer)) and not _is_bool(value):
        if value < 0:
            raise ValueError(f"{name} seed must be a non-negative int, got {value!r}")
        return np.random.default_rng(int(value))
    raise TypeError(f"{name} must be a numpy.random.Generator, an int seed or None, "
                    f"got {value!r}")


def choice(value, choices, name, label=None):
    """``value`` if it is one of ``choices`` (a string registry), else a ValueError
    listing them: ``"<name> must be one of 'a', 'b', got 'c'"``, or with ``label``
    ``"unknown <label> 'c'; choose one of a, b"`` (naming ``name`` when it differs)."""
    try:
        ok = value in choices
    except TypeError:                     # unhashable value looked up in a dict
        ok = False
    if not ok:
        listing = list(choices)
        if label is None:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, listing))}, "
                             f"got {value!r}")
        arg = "" if label == name else f" (argument {name})"
        raise ValueError(f"unknown {label} {value!r}{arg}; choose one of "
                         f"{', '.join(map(str, listing))}")
    return value


def image_size(value, name="size"):
    """An image side (int) or (H, W) of positive ints -> (H, W)."""
    given = value
    if isinstance(value, (numbers.Integral, np.integer)) and not _is_bool(value):
        value = (value, value)
    try:
        hw = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an int or (height, width), got {value!r}") from None
    if len(hw) != 2 or any(_is_bool(v) or not isinstance(v, (numbers.Integral, np.integer))
                           for v in hw):
        raise TypeError(f"{name} must be an int or (height, width) of ints, got {given!r}")
    if min(hw) < 1:
        raise ValueError(f"{name} must be positive, got {given!r}")
    return int(hw[0]), int(hw[1])
