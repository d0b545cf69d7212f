"""Every Python block of docs/*.md runs as written (each in a fresh namespace, from an
empty folder), with whichever weights and images this machine has.  A block whose
fence starts a line is an example to run; a fence indented inside a list item marks
an illustrative fragment (docs/assignments.md shows pieces of the grader that way)."""
import re
from pathlib import Path

import pytest

DOCS = sorted((Path(__file__).resolve().parents[1] / "docs").glob("*.md"))
BLOCKS = [(doc.name, i, code) for doc in DOCS
          for i, code in enumerate(re.findall(r"^```python\n(.*?)^```", doc.read_text(),
                                              flags=re.S | re.M))]


def test_docs_have_python_examples():
    assert len({name for name, _, _ in BLOCKS}) >= 5


@pytest.mark.parametrize("name,index,code", BLOCKS,
                         ids=[f"{name}-{i + 1}" for name, i, _ in BLOCKS])
def test_doc_block_runs(name, index, code, cnn, tmp_path, monkeypatch):
    weights = minicnn_weights_path(cnn)          # resolved before the cache moves
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))   # feature caches etc.
    monkeypatch.setenv("MINICNN_WEIGHTS", str(weights))
    exec(compile(code, f"{name} python block {index + 1}", "exec"),
         {"__name__": f"doc_{name}_{index + 1}"})


def minicnn_weights_path(cnn):
    """The weights file the session's model came from (the doc blocks load their own)."""
    from minicnn.weights import find_or_fetch
    return find_or_fetch(None, fetch=False)
