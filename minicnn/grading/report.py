"""The grading report: one line per function (PASS / FAIL / NOT IMPLEMENTED and
points), and for a failure the first failing case, the relative error and a hint."""
from dataclasses import dataclass, field

__all__ = ["FunctionResult", "Report", "PASS", "FAIL", "NOT_IMPLEMENTED"]

PASS, FAIL, NOT_IMPLEMENTED = "PASS", "FAIL", "NOT IMPLEMENTED"


@dataclass
class FunctionResult:
    """The grade of one function.

    status: PASS, FAIL or NOT IMPLEMENTED; points / max_points; for a failure:
    case (the first failing case), message, rel_error (None when no comparison
    was made, e.g. an exception), hint (text) and hint_id (a short stable name,
    e.g. ``relu_ge``); seconds: time spent.
    """
    name: str
    status: str
    points: float
    max_points: float
    case: str = None
    message: str = None
    rel_error: float = None
    hint: str = None
    hint_id: str = None
    seconds: float = 0.0

    @property
    def passed(self):
        return self.status == PASS

    def text(self):
        pts = f"{self.points:g}/{self.max_points:g}"
        head = f"  {self.status:<16} {self.name:<36} {pts:>6}"
        lines = [head]
        if self.status == FAIL:
            if self.case:
                lines.append(f"      case:   {self.case}")
            if self.message:
                lines.append(f"      why:    {self.message}")
            if self.rel_error is not None and self.rel_error != float("inf"):
                lines.append(f"      error:  relative error {self.rel_error:.2e}")
            if self.hint:
                lines.append(f"      hint:   {self.hint}")
        elif self.status == NOT_IMPLEMENTED and self.message:
            lines.append(f"      {self.message}")
        return "\n".join(lines)


@dataclass
class Report:
    """The grades of one assignment: ``results`` in the assignment's order."""
    assignment: int
    title: str
    source: str
    results: list = field(default_factory=list)
    seconds: float = 0.0

    @property
    def points(self):
        return sum(r.points for r in self.results)

    @property
    def max_points(self):
        return sum(r.max_points for r in self.results)

    @property
    def passed(self):
        return bool(self.results) and all(r.passed for r in self.results)

    def __getitem__(self, name):
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no function {name!r} in this report; graded: "
                       f"{', '.join(r.name for r in self.results)}")

    def text(self):
        lines = [f"Assignment {self.assignment}: {self.title}", f"  graded: {self.source}"]
        lines += [r.text() for r in self.results]
        n_pass = sum(r.passed for r in self.results)
        lines.append(f"  total: {self.points:g}/{self.max_points:g} points, {n_pass} of "
                     f"{len(self.results)} functions pass ({self.seconds:.1f} s)")
        return "\n".join(lines)

    def __str__(self):
        return self.text()

    def _repr_pretty_(self, p, cycle):          # IPython shows the text
        p.text(self.text())
