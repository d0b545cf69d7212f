"""The import structure of minicnn (issue 10): no module imports a module above it,
and no two modules import each other.  Imports are read with ``ast`` (the module
level and inside functions alike), so nothing is imported to check."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "minicnn"

#: Floors of the house, bottom first.  A module may import modules of its own floor
#: or below (and never one that imports it back); ``import minicnn`` (the package,
#: which gathers the public names of every floor) is allowed from inside functions.
FLOORS = [
    ("checks", "_kernels", "_im2col", "_maxpool", "_texture"),
    ("layers", "fast_layers", "layer_utils", "optim", "gradient_check", "losses",
     "transformer_layers", "download", "datasets", "data"),
    ("weights", "models", "models.squeezenet", "models.transformer"),
    ("techniques", "plotting"),
    ("report", "grading", "commands"),
    ("cli", "__main__", "__init__"),
]


def module_name(path):
    rel = path.relative_to(PACKAGE).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def floor_of(name):
    """The floor of a module: its own entry, else its package's (``techniques.x`` ->
    ``techniques``)."""
    parts = name.split(".")
    for k in range(len(parts), 0, -1):
        key = ".".join(parts[:k])
        for level, names in enumerate(FLOORS):
            if key in names:
                return level
    raise AssertionError(f"module minicnn.{name} has no floor in tests/test_imports.py")


def modules():
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))
            if "templates" not in p.parts}


def imports_of(name, path, known):
    """The minicnn modules that ``name`` imports (relative and absolute)."""
    tree = ast.parse(path.read_text(), str(path))
    is_pkg = path.name == "__init__.py"
    if name == "__init__":
        here = []
    else:
        here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()

    def add(target, names=()):
        for n in names:                      # from pkg import submodule
            if f"{target}.{n}".strip(".") in known:
                found.add(f"{target}.{n}".strip("."))
        if target in known or target == "":
            found.add(target or "__init__")
        elif target:
            parent = target
            while parent and parent not in known:
                parent = parent.rpartition(".")[0]
            if parent:
                found.add(parent)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "minicnn":
                    found.add("__init__")
                elif alias.name.startswith("minicnn."):
                    add(alias.name[len("minicnn."):])
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[:len(here) - (node.level - 1)] if node.level > 1 else here
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "minicnn" or (node.module or "").startswith("minicnn."):
                target = node.module[len("minicnn"):].lstrip(".")
            else:
                continue
            add(target, [a.name for a in node.names])
    found.discard(name)
    return found


@pytest.fixture(scope="module")
def graph():
    mods = modules()
    known = set(mods) | {"_im2col", "_maxpool", "_texture"}
    return {name: imports_of(name, path, known) for name, path in mods.items()}


def test_every_module_has_a_floor(graph):
    for name in graph:
        floor_of(name)


def test_no_module_imports_a_module_above_it(graph):
    bad = [f"minicnn.{a} (floor {floor_of(a)}) imports minicnn.{b} (floor {floor_of(b)})"
           for a, targets in graph.items() for b in targets
           if b != "__init__" and floor_of(b) > floor_of(a)]
    assert not bad, "\n".join(bad)


def test_no_two_modules_import_each_other(graph):
    pairs = sorted({tuple(sorted((a, b))) for a, targets in graph.items() for b in targets
                    if a in graph.get(b, ()) and "__init__" not in (a, b)
                    and not b.startswith(a + ".") and not a.startswith(b + ".")})
    assert not pairs, pairs


def test_checks_imports_only_numpy():
    tree = ast.parse((PACKAGE / "checks.py").read_text())
    names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
             for a in n.names}
    names |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
              if isinstance(n, ast.ImportFrom)}
    assert names <= {"numpy", "numbers"}, names


def test_kernels_import_nothing_of_minicnn_but_the_compiled_modules(graph):
    assert graph["_kernels"] <= {"_im2col", "_maxpool", "_texture"}, graph["_kernels"]


def test_the_known_circles_are_gone(graph):
    assert "techniques.texture" not in graph["techniques.style"]
    assert "techniques.texture" not in graph["_kernels"]
