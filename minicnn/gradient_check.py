"""Numerical gradients by centred differences, and the relative error used to compare them.

    rel_error(x, y) = max |x - y| / max(1e-8, |x| + |y|)        (elementwise, cs231n)

Checks use float64, h = 1e-5, and inputs away from ReLU and max-pool kinks;
a correct backward then agrees to better than 1e-7.
"""
import numpy as np

__all__ = ["eval_numerical_gradient", "eval_numerical_gradient_array", "rel_error",
           "assert_gradients_close"]


def rel_error(x, y):
    """Largest elementwise relative error max |x - y| / max(1e-8, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"cannot compare arrays of shapes {x.shape} and {y.shape}")
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


def eval_numerical_gradient(f, x, verbose=False, h=1e-5):
    """Gradient of a scalar function ``f(x)`` at ``x`` (modified in place and restored).

    df/dx[i] ~ (f(x + h e_i) - f(x - h e_i)) / (2h)
    """
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fxph = f(x)
        x[ix] = old - h
        fxmh = f(x)
        x[ix] = old
        grad[ix] = (fxph - fxmh) / (2 * h)
        if verbose:
            print(ix, grad[ix])
        it.iternext()
    return grad


def eval_numerical_gradient_array(f, x, df, h=1e-5):
    """Gradient of ``sum(f(x) * df)`` at ``x``: the vector-Jacobian product that a
    backward pass computes for upstream gradient ``df``."""
    grad = np.zeros_like(x, dtype=np.float64)
    it = np.nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        pos = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old - h
        neg = np.array(f(x), dtype=np.float64, copy=True)
        x[ix] = old
        grad[ix] = np.sum((pos - neg) * df) / (2 * h)
        it.iternext()
    return grad


def assert_gradients_close(analytic, numeric, name="x", tol=1e-7):
    """Raise AssertionError naming ``name`` and the worst index when the relative
    error between the analytic and numeric gradients exceeds ``tol``."""
    a, n = np.asarray(analytic, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if a.shape != n.shape:
        raise AssertionError(f"gradient of {name}: analytic shape {a.shape} != numeric {n.shape}")
    err = np.abs(a - n) / np.maximum(1e-8, np.abs(a) + np.abs(n))
    worst = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    if err.size and err[worst] > tol:
        raise AssertionError(
            f"gradient of {name} disagrees at index {tuple(int(i) for i in worst)}: "
            f"analytic {a[worst]:.10g}, numeric {n[worst]:.10g}, rel error {err[worst]:.3g} "
            f"> {tol:g}")
    return float(err.max()) if err.size else 0.0
