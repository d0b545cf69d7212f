"""Offline autograder of the minicnn assignments.

    from minicnn.grading import grade
    report = grade("my_workspace")            # a workspace folder, a .py file or a module
    print(report)                              # PASS / FAIL / NOT IMPLEMENTED, points, hints
    report.passed                              # True when every function passes

Each assignment (:data:`ASSIGNMENTS`) is one student file whose functions have
the names and signatures of the library's.  Every function is graded in float64
on seeded random cases plus edge cases (odd and non-square sizes, stride > 1,
padding, ceil-mode windows hanging over the edge, batches of several images),
its forward output compared with the library (the reference) and every
backward with both the reference and a numeric gradient.  A failure names the
first failing case, the relative error and a hint: the classic mistake whose
output the student's output matches (see :mod:`minicnn.grading.core`).

Student code is imported from its file with importlib (a module name unique to
the workspace; nothing is unpickled), each function's checks run under a time
limit, and an exception inside a student function fails that function only
(naming the last line of the student's file in the traceback).
"""
import hashlib
import importlib
import importlib.util
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .core import (Check, Failure, NotImplementedSignal, Student, StudentError, TimeLimitExceeded,
                   Context, run_with_time_limit)
from .report import FAIL, NOT_IMPLEMENTED, PASS, FunctionResult, Report

__all__ = ["grade", "check", "load_student_module", "ASSIGNMENTS", "Assignment", "Check",
           "Report", "FunctionResult", "reference_module", "PASS", "FAIL", "NOT_IMPLEMENTED",
           "DEFAULT_TIME_LIMIT"]

#: Seconds each function's checks may take (a student's naive loops included).
DEFAULT_TIME_LIMIT = 60.0


@dataclass(frozen=True)
class Assignment:
    """number, folder (of the workspace template), title, module (the student's
    file without .py), checks (module path of the checks)."""
    number: int
    folder: str
    title: str
    module: str
    checks_module: str
    notebook: str

    @property
    def checks(self):
        return importlib.import_module(self.checks_module).CHECKS

    def reference(self):
        """A namespace of the library's functions under the student's names."""
        return importlib.import_module(self.checks_module).reference()


ASSIGNMENTS = {a.number: a for a in [
    Assignment(1, "01_layers", "Layers and gradient checks", "layers",
               "minicnn.grading.a1_layers", "01_layers.ipynb"),
    Assignment(2, "02_attribution", "Saliency, guided backprop, occlusion, Grad-CAM",
               "attribution", "minicnn.grading.a2_attribution", "02_attribution.ipynb"),
    Assignment(3, "03_synthesis", "Image synthesis: class visualization, fooling, DeepDream, "
               "feature inversion", "synthesis", "minicnn.grading.a3_synthesis",
               "03_synthesis.ipynb"),
    Assignment(4, "04_style", "Style: content, Gram, style and TV losses, style transfer",
               "style", "minicnn.grading.a4_style", "04_style.ipynb"),
    Assignment(5, "05_fast_style", "Fast style: instance norm, upsampling, reflection padding",
               "transformer_layers", "minicnn.grading.a5_fast_style", "05_fast_style.ipynb"),
    Assignment(6, "06_inside_the_network", "Inside the network: receptive fields, top "
               "patches, nearest neighbours", "activations", "minicnn.grading.a6_network",
               "06_inside_the_network.ipynb"),
]}


def reference_module(number):
    """The library's functions for assignment ``number`` under the student's names."""
    return _assignment(number).reference()


def _assignment(number):
    try:
        return ASSIGNMENTS[int(number)]
    except (KeyError, TypeError, ValueError):
        raise ValueError(f"assignment must be one of {sorted(ASSIGNMENTS)}, got "
                         f"{number!r}") from None


# --------------------------------------------------------------------------- loading
def load_student_module(path):
    """Import a student's .py file under a module name unique to its path
    (``minicnn_student_<hash>_<stem>``), re-executing it on every call so that
    edits are seen.  Raises ImportError naming the file and the line on a
    syntax error or an exception at import time."""
    path = Path(path).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"no such student file: {path}")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    name = f"minicnn_student_{digest}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:                       # noqa: BLE001 (student code)
        sys.modules.pop(name, None)
        where = Student(module, [path])._where(exc) if exc.__traceback__ else None
        if isinstance(exc, SyntaxError):
            where = f"{path.name}:{exc.lineno}: {(exc.text or '').strip()}"
        raise ImportError(f"could not import {path.name}: {type(exc).__name__}: {exc}"
                          + (f" (at {where})" if where else "")) from None
    return module


def _resolve(target, assignment):
    """-> (Assignment, module or None, import error or None, description, files)."""
    if isinstance(target, (str, Path)):
        p = Path(target)
        if p.is_dir():
            if assignment is None:
                found = [a for a in ASSIGNMENTS.values() if (p / f"{a.module}.py").is_file()]
                marker = p / ".minicnn-assignment"
                if marker.is_file():
                    assignment = int(marker.read_text().split()[0])
                elif len(found) == 1:
                    assignment = found[0].number
                else:
                    raise ValueError(f"cannot tell which assignment {p} holds (found "
                                     f"{[a.module + '.py' for a in found] or 'no student file'}"
                                     "); pass assignment=N (--assignment N)")
            a = _assignment(assignment)
            p = p / f"{a.module}.py"
        elif assignment is None:
            match = [a for a in ASSIGNMENTS.values() if a.module == p.stem]
            if not match:
                raise ValueError(f"cannot tell which assignment {p.name} belongs to; pass "
                                 "assignment=N")
            assignment = match[0].number
        a = _assignment(assignment)
        if not p.is_file():
            raise FileNotFoundError(f"no student file {p} (assignment {a.number} expects "
                                    f"{a.module}.py)")
        try:
            return a, load_student_module(p), None, str(p), [p]
        except ImportError as exc:
            return a, None, str(exc), str(p), [p]
    module = target
    if assignment is None:
        assignment = getattr(module, "ASSIGNMENT", None)
        if assignment is None:
            raise ValueError("pass assignment=N: the module does not say which assignment "
                             "it implements (ASSIGNMENT = N)")
    a = _assignment(assignment)
    src = getattr(module, "__file__", None) or getattr(module, "__name__", repr(module))
    return a, module, None, str(src), [getattr(module, "__file__", None)]


# --------------------------------------------------------------------------- grading
def _grade_check(chk, student, time_limit, seed):
    t0 = time.perf_counter()
    res = FunctionResult(chk.name, FAIL, 0.0, chk.points)
    ctx = Context(chk.name, seed)
    try:
        if not student.has(chk.name):
            raise Failure(f"{chk.name} is not defined in the student's file",
                          hint="keep the starter's function names and signatures")
        run_with_time_limit(lambda: chk.fn(student, ctx), time_limit)
        res.status, res.points = PASS, float(chk.points)
    except NotImplementedSignal as exc:
        res.status = NOT_IMPLEMENTED
        res.message = str(exc) if chk.name in str(exc) else f"needs another function: {exc}"
    except Failure as f:
        res.case, res.message, res.rel_error = f.case, f.message, f.rel_error
        if f.hint is not None:
            res.hint, res.hint_id = str(f.hint), getattr(f.hint, "id", None)
        if chk.needs and res.hint is None:
            res.hint = (f"{chk.name} uses {', '.join(chk.needs)}: make sure those pass "
                        "first")
            res.hint_id = "needs"
    except StudentError as exc:
        res.case, res.message = ctx.current, str(exc)
    except TimeLimitExceeded:
        res.case = ctx.current
        res.message = (f"took longer than {time_limit:g} s (an endless loop? loops over "
                       "pixels inside loops over images?)")
        res.hint_id = "time"
    except Exception as exc:                                   # noqa: BLE001
        # the student's function returned something the checks cannot use
        res.case = ctx.current
        res.message = f"its result could not be checked: {type(exc).__name__}: {exc}"
    res.seconds = time.perf_counter() - t0
    return res


def grade(target, assignment=None, function=None, time_limit=DEFAULT_TIME_LIMIT, seed=0):
    """Grade a student's work -> :class:`Report`.

    target: a workspace folder (made by ``python -m minicnn assignment start``),
    a student .py file, or an imported module (then ``assignment`` is needed
    unless the module sets ``ASSIGNMENT``).  function: grade only this function
    (a name or a list of names).  time_limit: seconds per function.  Never
    raises because of the student's code: an import error fails every function.
    """
    a, module, import_error, source, files = _resolve(target, assignment)
    checks = a.checks
    if function is not None:
        names = [function] if isinstance(function, str) else list(function)
        known = {c.name for c in checks}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"assignment {a.number} grades no function {unknown[0]!r}; its "
                             f"functions: {', '.join(c.name for c in checks)}")
        checks = [c for c in checks if c.name in names]
    report = Report(a.number, a.title, source)
    t0 = time.perf_counter()
    if module is None:
        for chk in checks:
            report.results.append(FunctionResult(chk.name, FAIL, 0.0, chk.points,
                                                 message=import_error,
                                                 hint="fix the error so that the file imports",
                                                 hint_id="import"))
    else:
        student = Student(module, files)
        for chk in checks:
            report.results.append(_grade_check(chk, student, time_limit, seed))
    report.seconds = time.perf_counter() - t0
    return report


def check(target, function, assignment=None, quiet=False, time_limit=DEFAULT_TIME_LIMIT):
    """Grade one function (or a list) and print its lines of the report: the
    notebooks' check cells.  Returns the :class:`Report`; never raises for the
    student's code."""
    report = grade(target, assignment=assignment, function=function, time_limit=time_limit)
    if not quiet:
        print("\n".join(r.text() for r in report.results))
    return report
