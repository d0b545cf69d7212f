"""Builds the student workspaces from the solutions: `python assignments/_build/build_assignments.py`.

One source of truth: ``assignments/solutions/NN_name/*.py`` hold the complete
solutions, each function's body between ``# BEGIN SOLUTION`` and
``# END SOLUTION`` lines.  This script writes, for every assignment, into
``minicnn/grading/templates/assignmentN/`` (shipped in the wheel; copied by
``python -m minicnn assignment start N``):

- the starter files: each solution block replaced by a marked TODO block that
  raises ``NotImplementedError("<function>: ...")``;
- the student notebook (teaching text, check cells that call the grader, and a
  demo that uses the student's functions);
- a short README.

``--check`` only verifies that the templates are up to date (used by the tests).
"""
import difflib
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
SOLUTIONS = ROOT / "assignments" / "solutions"
TEMPLATES = ROOT / "minicnn" / "grading" / "templates"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from student_notebooks import NOTEBOOKS  # noqa: E402

BEGIN, END = "# BEGIN SOLUTION", "# END SOLUTION"


def strip_solutions(source, filename):
    """Replace every solution block by a TODO block raising NotImplementedError
    that names the enclosing function."""
    out, inside, func = [], False, None
    for number, line in enumerate(source.splitlines(keepends=True), 1):
        m = re.match(r"\s*def (\w+)\(", line)
        if m and not inside:
            func = m.group(1)
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"{filename}:{number}: nested {BEGIN}")
            if func is None:
                raise ValueError(f"{filename}:{number}: {BEGIN} outside a function")
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}# TODO: ---------------- your code here ----------------\n")
            out.append(f'{indent}raise NotImplementedError("{func}: not implemented yet '
                       f'(the TODO block in {filename})")\n')
            out.append(f"{indent}# ---------------------- end of your code ----------------\n")
            inside = True
        elif stripped == END:
            if not inside:
                raise ValueError(f"{filename}:{number}: {END} without {BEGIN}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{filename}: {BEGIN} never closed")
    return "".join(out)


def readme(number, title, module, notebook):
    return f"""# Assignment {number}: {title}

Your work goes into `{module}.py`: every function has its docstring (shapes, formula, paper)
and a marked TODO block that raises `NotImplementedError` until you replace it. Keep the
names and signatures: the notebook and the grader call them.

1. Open `{notebook}` (`jupyter lab {notebook}`): it explains each function, and its check
   cells grade your work so far.
2. Implement the functions in order; after each one, run its check cell.
3. Grade everything from a terminal:

       python -m minicnn grade .                       # the whole assignment
       python -m minicnn grade . --function NAME       # one function

   Each function is PASS, FAIL (with the first failing case, the relative error and a hint
   naming the likely mistake) or NOT IMPLEMENTED. The exit code is 0 only when all pass.

The pretrained SqueezeNet, the images and the plotting come from `minicnn`; the functions
you write must not import their own answers from it (`minicnn.layers`, `minicnn.losses`,
`minicnn.techniques`...).
"""


def build(check=False):
    sys.path.insert(0, str(ROOT))
    from minicnn.grading import ASSIGNMENTS
    stale = []
    for a in ASSIGNMENTS.values():
        src_dir = SOLUTIONS / a.folder
        if not src_dir.is_dir():
            print(f"assignment {a.number}: no solutions in {src_dir}, skipped")
            continue
        dest = TEMPLATES / f"assignment{a.number}"
        files = {}
        for py in sorted(src_dir.glob("*.py")):
            files[py.name] = strip_solutions(py.read_text(), py.name)
        files["README.md"] = readme(a.number, a.title, a.module, a.notebook)
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                     "language": "python"}
        for kind, text in NOTEBOOKS[a.number]():
            text = text.strip("\n")
            nb.cells.append(nbformat.v4.new_markdown_cell(text) if kind == "md"
                            else nbformat.v4.new_code_cell(text))
        for i, cell in enumerate(nb.cells):            # stable ids: reproducible builds
            cell["id"] = f"a{a.number}-{i:02d}"
        files[a.notebook] = nbformat.writes(nb) + "\n"
        for name, text in files.items():
            path = dest / name
            old = path.read_text() if path.is_file() else None
            if old != text:
                stale.append(path)
                if check:
                    diff = difflib.unified_diff((old or "").splitlines(), text.splitlines(),
                                                lineterm="", n=1)
                    print("\n".join(list(diff)[:20]))
                else:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_text(text)
    if check and stale:
        print("stale templates (run python assignments/_build/build_assignments.py):")
        for p in stale:
            print("  ", p.relative_to(ROOT))
        return 1
    if not check:
        print(f"wrote {len(stale)} files" if stale else "templates up to date")
    return 0


if __name__ == "__main__":
    sys.exit(build(check="--check" in sys.argv))
