"""The grader's machinery: calling student code safely, comparing arrays, naming mistakes.

A check is a function ``check(S, ctx)`` that runs a few cases:

    with ctx.case("3x3 kernel, stride 2, no padding"):
        out, cache = ctx.unpack(S.conv_forward(x, w, b, param), 2, "conv_forward")
        ctx.expect(out, ref_out, "out", mistakes=[(FLIPPED, flipped_out)])

``S`` is a :class:`Student` proxy: every attribute is the student's function,
called with copies of its arguments and a running time limit; an exception
raised inside it becomes :class:`StudentError` (the message names the last line
of the student's file in the traceback), ``NotImplementedError`` becomes
:class:`NotImplementedSignal`.  ``ctx.expect`` raises :class:`Failure` with the
case, the relative error and a hint: the first *mistake model* whose output
the student's output matches (a mistake model is the output a classic wrong
implementation would give on the same case, or a predicate on the output).

Relative error (one number per comparison, robust to zeros):

    err(got, want) = max |got - want| / max(max |want|, max |got|, 1e-30)
"""
import copy
from dataclasses import dataclass
import signal
import threading
import traceback
from pathlib import Path

import numpy as np

__all__ = ["Failure", "NotImplementedSignal", "StudentError", "TimeLimitExceeded",
           "Student", "Context", "Check", "relative_error", "run_with_time_limit", "Hint"]

#: Tolerances: against the library's reference (same formula, float64), and
#: against a centred-difference numeric gradient (h = 1e-5).
REF_TOL = 1e-7
NUM_TOL = 1e-6


@dataclass(frozen=True)
class Check:
    """One graded function: ``name`` (the student's function), ``points``,
    ``fn(S, ctx)`` the checks, ``needs`` the functions it calls or whose cache it
    reads (named in the hint when it fails for no known reason)."""
    name: str
    points: float
    fn: object
    needs: tuple = ()


class Hint(str):
    """A hint: its text, with a short ``id`` the tests and the report use."""

    def __new__(cls, id, text):
        self = super().__new__(cls, text)
        self.id = id
        return self


class Failure(Exception):
    """A check failed: ``case``, ``message``, ``rel_error`` (or None), ``hint`` (or None)."""

    def __init__(self, message, case=None, rel_error=None, hint=None):
        super().__init__(message)
        self.message, self.case, self.rel_error, self.hint = message, case, rel_error, hint


class NotImplementedSignal(Exception):
    """The student's function (or one it calls) raised NotImplementedError."""


class StudentError(Exception):
    """An exception raised inside the student's code; ``where`` is the last student line."""

    def __init__(self, function, exc, where):
        self.function, self.exc, self.where = function, exc, where
        text = f"{function} raised {type(exc).__name__}: {exc}"
        if where:
            text += f" (at {where})"
        super().__init__(text)


class TimeLimitExceeded(BaseException):
    """Raised (asynchronously) when a function runs past its time limit.  A
    BaseException so that a student's ``except Exception`` cannot swallow it."""


def relative_error(got, want):
    """max |got - want| / max(max |want|, max |got|, 1e-30); inf when shapes differ."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return float("inf")
    if got.size == 0:
        return 0.0
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = max(float(np.abs(want).max()), float(np.abs(got).max()), 1e-30)
    return float(np.abs(got - want).max() / scale)


def _matches(got, candidate, tol=1e-6):
    if callable(candidate):
        try:
            return bool(candidate(got))
        except Exception:           # a predicate that cannot apply does not match
            return False
    try:
        return relative_error(got, candidate) < tol
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------- student calls
def _copy(value):
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, (list, tuple, dict)):
        return copy.deepcopy(value)
    return value


class Student:
    """Proxy to a student module: ``S.name(*args)`` calls the student's ``name``
    with copies of array arguments and turns exceptions into
    :class:`StudentError` / :class:`NotImplementedSignal`.  ``files`` are the
    student's source files (to find the last student line of a traceback)."""

    def __init__(self, module, files=()):
        self._module = module
        self._files = {str(Path(f).resolve()) for f in files if f}
        mod_file = getattr(module, "__file__", None)
        if mod_file:
            self._files.add(str(Path(mod_file).resolve()))

    def has(self, name):
        return callable(getattr(self._module, name, None))

    def raw(self, name):
        return getattr(self._module, name)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        fn = getattr(self._module, name, None)
        if fn is None or not callable(fn):
            raise Failure(f"the module defines no function {name}()",
                          hint=Hint("missing", f"define {name} with the starter's signature "
                                               "(public API: keep the name)"))

        def call(*args, **kwargs):
            args = tuple(_copy(a) for a in args)
            kwargs = {k: _copy(v) for k, v in kwargs.items()}
            try:
                return fn(*args, **kwargs)
            except (TimeLimitExceeded, Failure, NotImplementedSignal, StudentError):
                raise
            except NotImplementedError as exc:
                raise NotImplementedSignal(str(exc) or f"{name} is not implemented") from None
            except Exception as exc:                       # noqa: BLE001 (student code)
                raise StudentError(name, exc, self._where(exc)) from None
        return call

    def _where(self, exc):
        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if str(Path(f.filename).resolve()) in self._files]
        if not mine:
            return None
        f = mine[-1]
        line = (f.line or "").strip()
        return f"{Path(f.filename).name}:{f.lineno} in {f.name}: {line}"


# --------------------------------------------------------------------------- context
class Context:
    """What a check uses: ``rng`` (seeded), ``case`` (a context manager naming the
    current case), ``expect`` (compare), ``unpack`` (validate a returned tuple),
    ``cache`` (memo shared by every grading run of the process, for numeric
    gradients of the reference)."""

    _memo = {}

    def __init__(self, function, seed=0):
        self.function = function
        self.rng = np.random.default_rng(seed)
        self.current = None
        self.error_hint = None

    # a case: converts student errors raised inside into a Failure of this case
    def case(self, name, error_hint=None):
        ctx = self

        class _Case:
            def __enter__(self):
                ctx.current, ctx.error_hint = name, error_hint
                return ctx

            def __exit__(self, kind, exc, tb):
                if isinstance(exc, StudentError):
                    raise Failure(str(exc), case=name, hint=error_hint) from None
                return False
        return _Case()

    def fail(self, message, hint=None, rel_error=None):
        raise Failure(message, case=self.current, rel_error=rel_error, hint=hint)

    def unpack(self, result, n, what):
        """``result`` must be a tuple/list of length ``n`` (n > 1)."""
        if not isinstance(result, (tuple, list)) or len(result) != n:
            got = type(result).__name__ if not isinstance(result, (tuple, list)) \
                else f"{len(result)} values"
            self.fail(f"{what} must return {n} values, got {got}",
                      hint=Hint("returns", f"{what} returns a tuple of {n} values: see its "
                                           "docstring"))
        return result

    def array(self, value, what):
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            self.fail(f"{what} must be a NumPy array, got {type(value).__name__}")
        return arr

    def expect(self, got, want, what, mistakes=(), hint=None, tol=REF_TOL, against="reference"):
        """Raise a Failure unless ``got`` equals ``want`` to ``tol`` (relative error).

        mistakes: (Hint, candidate) pairs; a candidate is an array (the output of
        the mistake on this case) or a predicate ``f(got) -> bool``.  The first
        match gives the hint; else ``hint``; else a shape / precision hint.
        """
        if got is None:
            self.fail(f"{what} is None (the function returned nothing for it)",
                      hint=hint or Hint("none", f"return {what}; it is None"))
        try:
            g = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            self.fail(f"{what} must be a NumPy array, got {type(got).__name__}")
        w = np.asarray(want, dtype=np.float64)
        err = relative_error(g, w)
        if err < tol:
            return err
        chosen = None
        for h, candidate in mistakes:
            if _matches(got, candidate):
                chosen = h
                break
        if g.shape != w.shape:
            msg = f"{what} has shape {g.shape}, expected {w.shape}"
            raise Failure(msg, case=self.current, rel_error=None,
                          hint=chosen or hint or Hint("shape", f"{what} must have shape "
                                                               f"{w.shape}"))
        if chosen is None and err < 1e-4:
            chosen = Hint("precision", "close but not exact (float32 somewhere?): keep the "
                                       "input dtype, float64, throughout")
        raise Failure(f"{what} differs from the {against} (tolerance {tol:.0e})",
                      case=self.current, rel_error=err,
                      hint=chosen or hint)

    def expect_gradient(self, got, reference, numeric, what, mistakes=(), hint=None):
        """A backward output must equal both the library's reference and the
        numeric gradient (so a wrong reference could not pass either)."""
        self.expect(got, reference, what, mistakes, hint, REF_TOL)
        self.expect(got, numeric, what, mistakes, hint, NUM_TOL, against="numeric gradient")

    def memo(self, key, compute):
        key = (self.function,) + tuple(key)
        if key not in Context._memo:
            Context._memo[key] = compute()
        return Context._memo[key]


# --------------------------------------------------------------------------- time limits
def _stop_thread(thread, wait=1.0):
    """Raise TimeLimitExceeded inside ``thread`` (at its next bytecode) and wait up to
    ``wait`` seconds for it to end.  Returns whether it ended."""
    import ctypes
    set_async = ctypes.pythonapi.PyThreadState_SetAsyncExc
    set_async.argtypes = [ctypes.c_ulong, ctypes.py_object]
    if set_async(thread.ident, TimeLimitExceeded) > 1:          # never more than one
        set_async(thread.ident, None)
    thread.join(wait)
    return not thread.is_alive()


def run_with_time_limit(fn, seconds):
    """Run ``fn()`` and return its value; raise TimeLimitExceeded after ``seconds``.

    On the main thread (POSIX) a SIGALRM timer interrupts the Python code where
    it is (NumPy calls finish first).  Elsewhere ``fn`` runs in a daemon thread;
    when the time is up, TimeLimitExceeded is raised inside that thread too
    (``PyThreadState_SetAsyncExc``: it stops at the next Python bytecode, so an
    endless student loop does not keep a core and the GIL busy for the rest of the
    process; a long NumPy call ends first), and its result is ignored.
    """
    if seconds is None or seconds <= 0:
        return fn()
    on_main = threading.current_thread() is threading.main_thread()
    if on_main and hasattr(signal, "setitimer"):
        def _alarm(signum, frame):
            raise TimeLimitExceeded(f"time limit of {seconds:g} s exceeded")
        previous = signal.signal(signal.SIGALRM, _alarm)
        signal.setitimer(signal.ITIMER_REAL, seconds)
        try:
            return fn()
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:                       # noqa: BLE001
            box["error"] = exc
    t = threading.Thread(target=target, daemon=True, name="minicnn-grade")
    t.start()
    t.join(seconds)
    if t.is_alive():
        _stop_thread(t)
        raise TimeLimitExceeded(f"time limit of {seconds:g} s exceeded")
    if "error" in box:
        raise box["error"]
    return box.get("value")
