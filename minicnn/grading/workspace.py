"""Student workspaces: the starter files, the notebook and a README of an assignment,
copied from the templates shipped inside the package (``minicnn/grading/templates``)."""
from pathlib import Path

from . import ASSIGNMENTS, _assignment

__all__ = ["template_dir", "template_files", "start", "describe", "MARKER"]

#: File in a workspace that records its assignment number (read by the grader).
MARKER = ".minicnn-assignment"


def template_dir(number):
    """The folder holding assignment ``number``'s workspace template."""
    a = _assignment(number)
    path = Path(__file__).resolve().parent / "templates" / f"assignment{a.number}"
    if not path.is_dir():
        raise FileNotFoundError(f"the template of assignment {a.number} is missing ({path}); "
                                "run python assignments/_build/build_assignments.py")
    return path


def template_files(number):
    """{file name: text} of the workspace of assignment ``number``."""
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(template_dir(number).iterdir())
            if p.is_file() and p.suffix in (".py", ".ipynb", ".md")}


def describe():
    """One line per assignment: number, folder, title, student file, functions, points."""
    lines = []
    for a in ASSIGNMENTS.values():
        checks = a.checks
        pts = sum(c.points for c in checks)
        lines.append(f"{a.number}  {a.folder:<24} {a.title}")
        lines.append(f"   {'':<24} {a.module}.py: {len(checks)} functions, {pts:g} points "
                     f"({', '.join(c.name for c in checks)})")
    return "\n".join(lines)


def _backup_name(path):
    bak = path.with_name(path.name + ".bak")
    k = 1
    while bak.exists():
        bak = path.with_name(f"{path.name}.bak{k}")
        k += 1
    return bak


def start(number, dest=None, force=False):
    """Write the workspace of assignment ``number`` into ``dest`` (default: a folder
    named like the assignment, e.g. ``01_layers``, in the current directory).

    Never overwrites: when a file it would write already exists (with other
    content), raises FileExistsError naming those files; with ``force`` each is
    first renamed to ``<name>.bak`` (``.bak1``, ... if taken).  Returns
    (workspace path, [written paths], [backup paths]).
    """
    a = _assignment(number)
    dest = Path(dest) if dest is not None else Path.cwd() / a.folder
    if dest.exists() and not dest.is_dir():
        raise NotADirectoryError(f"{dest} exists and is not a folder")
    files = template_files(a.number)
    files[MARKER] = f"{a.number}\n"
    conflicts = [dest / name for name, text in files.items()
                 if (dest / name).exists()
                 and not (name == MARKER and (dest / name).read_text() == text)]
    if conflicts and not force:
        raise FileExistsError(
            f"{dest} already holds files of a workspace; starting again would replace: "
            f"{', '.join(p.name for p in conflicts)}.  Keep your work (grade it with "
            f"`python -m minicnn grade {dest}`), choose another folder, or pass --force to "
            "keep a .bak copy of each and start over")
    dest.mkdir(parents=True, exist_ok=True)
    backups = []
    for path in conflicts:
        bak = _backup_name(path)
        path.rename(bak)
        backups.append(bak)
    written = []
    for name, text in files.items():
        path = dest / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return dest, written, backups
