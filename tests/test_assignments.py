"""The student notebooks: with the solutions filled in they run headless
(MINICNN_QUICK=1) and every check cell prints PASS; on a fresh workspace the
first check cell reports NOT IMPLEMENTED instead of crashing."""
import shutil
from pathlib import Path

import pytest

from minicnn.grading import ASSIGNMENTS, workspace

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "assignments" / "solutions"
NUMBERS = sorted(ASSIGNMENTS)


def _execute(nb, cwd, allow_errors=False):
    nbclient = pytest.importorskip("nbclient")
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3",
                                     allow_errors=allow_errors,
                                     resources={"metadata": {"path": str(cwd)}})
    client.execute()
    return nb


def _text(cell):
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.get("output_type") == "stream")


def _check_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("check(FILE")]


@pytest.mark.slow
@pytest.mark.parametrize("number", NUMBERS)
def test_notebook_with_solutions_runs_and_checks_pass(number, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("MINICNN_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    a = ASSIGNMENTS[number]
    dest, _, _ = workspace.start(number, tmp_path / a.folder)
    for py in (SOLUTIONS / a.folder).glob("*.py"):
        shutil.copy(py, dest / py.name)
    nb = _execute(nbformat.read(dest / a.notebook, as_version=4), dest)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue")
    checks = _check_cells(nb)
    assert len(checks) >= 3
    for cell in checks:
        out = _text(cell)
        assert "PASS" in out and "FAIL" not in out and "NOT IMPLEMENTED" not in out, out
    assert "not yet" not in "".join(_text(c) for c in nb.cells if c.cell_type == "code")
    assert "functions pass" in _text(nb.cells[-1])


@pytest.mark.parametrize("number", NUMBERS)
def test_fresh_notebook_first_check_says_not_implemented(number, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    monkeypatch.setenv("MINICNN_QUICK", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    a = ASSIGNMENTS[number]
    dest, _, _ = workspace.start(number, tmp_path / a.folder)
    nb = nbformat.read(dest / a.notebook, as_version=4)
    first = nb.cells.index(_check_cells(nb)[0])
    nb.cells = nb.cells[:first + 1]                 # up to the first check cell
    nb = _execute(nb, dest)
    out = _text(nb.cells[-1])
    assert "NOT IMPLEMENTED" in out and "not implemented yet" in out, out
