"""The autograder: the reference and the solutions score full marks, fresh workspaces
score 0 (NOT IMPLEMENTED everywhere), every mutant fails with its hint, student
errors fail one function (never the grader), and the workspace / grade commands."""
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from minicnn import cli
from minicnn.grading import ASSIGNMENTS, FAIL, NOT_IMPLEMENTED, PASS, grade, reference_module
from minicnn.grading import workspace
from minicnn.grading.mutants import MUTANTS, mutated_module

ROOT = Path(__file__).resolve().parents[1]
SOLUTIONS = ROOT / "assignments" / "solutions"
NUMBERS = sorted(ASSIGNMENTS)


@pytest.mark.parametrize("number", NUMBERS)
def test_reference_scores_full_marks(number):
    report = grade(reference_module(number), assignment=number)
    assert report.passed, report.text()
    assert report.points == report.max_points > 0


@pytest.mark.parametrize("number", NUMBERS)
def test_solutions_score_full_marks_and_grade_fast(number):
    a = ASSIGNMENTS[number]
    t0 = time.perf_counter()
    report = grade(SOLUTIONS / a.folder / f"{a.module}.py")
    elapsed = time.perf_counter() - t0
    assert report.passed, report.text()
    assert elapsed < 30, f"grading assignment {number} took {elapsed:.1f} s"


@pytest.mark.parametrize("number", NUMBERS)
def test_fresh_workspace_scores_zero_not_implemented(number, tmp_path):
    dest, written, backups = workspace.start(number, tmp_path / "ws")
    assert not backups and (dest / ".minicnn-assignment").is_file()
    report = grade(dest)
    assert report.points == 0 and not report.passed
    assert {r.status for r in report.results} == {NOT_IMPLEMENTED}, report.text()
    for r in report.results:               # names the function (its own, or the one it needs)
        assert "not implemented yet" in r.message


@pytest.mark.parametrize("m", MUTANTS, ids=[f"{m.hint_id}-{m.mistake[:30]}" for m in MUTANTS])
def test_mutant_fails_with_its_hint(m):
    result = grade(mutated_module(m), assignment=m.assignment, function=m.function)[m.function]
    assert result.status == FAIL, result.text()
    assert result.hint_id == m.hint_id, result.text()
    assert result.case and result.hint


def test_the_twenty_classic_mistakes_have_mutants():
    required = {"relu_ge", "guided_activation", "deconv_mask", "rules_swapped", "conv_flipped",
                "conv_no_crop", "dw_batch", "db_axes", "pool_spread", "pool_overwrite",
                "pool_ceil", "affine_reshape", "fire_concat", "gram_not_normalized",
                "gram_twice", "style_factor2", "tv_one_direction", "tv_sign", "in_batch_stats",
                "saliency_signed", "dream_sum"}
    assert required <= {m.hint_id for m in MUTANTS}


def test_templates_are_built_from_the_solutions():
    build = ROOT / "assignments" / "_build" / "build_assignments.py"
    out = subprocess.run([sys.executable, str(build), "--check"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_starters_keep_names_and_signatures_and_raise_naming_the_function(tmp_path):
    import inspect

    from minicnn.grading import load_student_module
    for number in NUMBERS:
        a = ASSIGNMENTS[number]
        dest, _, _ = workspace.start(number, tmp_path / str(number))
        starter = load_student_module(dest / f"{a.module}.py")
        ref = reference_module(number)
        for chk in a.checks:
            fn = getattr(starter, chk.name)
            assert fn.__doc__, chk.name
            params = list(inspect.signature(getattr(ref, chk.name)).parameters)
            mine = list(inspect.signature(fn).parameters)
            assert params[:len(mine)] == mine, (chk.name, mine, params)
        src = (dest / f"{a.module}.py").read_text()
        assert "BEGIN SOLUTION" not in src and "TODO" in src


# --------------------------------------------------------------------------- robustness
def _student(tmp_path, body):
    path = tmp_path / "style.py"
    path.write_text("import numpy as np\nASSIGNMENT = 4\n" + textwrap.dedent(body))
    return path


def test_exception_in_student_code_fails_that_function_only(tmp_path):
    path = _student(tmp_path, """
        def content_loss(w, f, p):
            d = f - p
            return w * np.sum(d * d), 2 * w * d

        def tv_loss(img, w):
            x = img[:, :, 1:] - img[:, :, :-1, :, 0]
            return 0.0, x
    """)
    report = grade(path)
    assert report["content_loss"].status == PASS
    tv = report["tv_loss"]
    assert tv.status == FAIL and "IndexError" in tv.message
    assert "style.py:9 in tv_loss" in tv.message            # the last student line
    assert report["gram_forward"].status == FAIL             # not defined
    assert "not defined" in report["gram_forward"].message


def test_endless_loop_hits_the_time_limit(tmp_path):
    path = _student(tmp_path, """
        def content_loss(w, f, p):
            while True:
                pass
    """)
    t0 = time.perf_counter()
    report = grade(path, function="content_loss", time_limit=1.0)
    assert time.perf_counter() - t0 < 10
    r = report["content_loss"]
    assert r.status == FAIL and "longer than 1 s" in r.message


def test_time_limit_off_the_main_thread(tmp_path):
    import threading
    path = _student(tmp_path, """
        def content_loss(w, f, p):
            while True:
                pass
    """)
    box = {}
    t = threading.Thread(target=lambda: box.update(r=grade(path, function="content_loss",
                                                           time_limit=0.5)))
    t.start()
    t.join(20)
    assert box["r"]["content_loss"].status == FAIL
    # the endless loop is stopped, not abandoned: a spinning thread would hold a core
    # and half the GIL for the rest of the process
    deadline = time.perf_counter() + 5
    while time.perf_counter() < deadline and any(
            th.name == "minicnn-grade" for th in threading.enumerate()):
        time.sleep(0.05)
    assert not [th for th in threading.enumerate() if th.name == "minicnn-grade"]


def test_syntax_error_fails_every_function_with_the_line(tmp_path):
    path = _student(tmp_path, "def content_loss(w, f, p)\n    return 0\n")
    report = grade(path)
    assert all(r.status == FAIL for r in report.results)
    assert "style.py:3" in report.results[0].message


def test_student_modules_are_unique_per_workspace(tmp_path):
    from minicnn.grading import load_student_module
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = _student(tmp_path / "a", "X = 1\n")
    b = _student(tmp_path / "b", "X = 2\n")
    ma, mb = load_student_module(a), load_student_module(b)
    assert ma.__name__ != mb.__name__ and (ma.X, mb.X) == (1, 2)


# --------------------------------------------------------------------------- commands
def test_start_refuses_to_overwrite_and_force_keeps_backups(tmp_path, capsys):
    dest = tmp_path / "ws"
    assert cli.main(["assignment", "start", "4", str(dest)]) == 0
    (dest / "style.py").write_text("# my work\n")
    assert cli.main(["assignment", "start", "4", str(dest)]) == 1
    err = capsys.readouterr().err
    assert "style.py" in err and "04_style.ipynb" in err and "--force" in err
    assert (dest / "style.py").read_text() == "# my work\n"
    assert cli.main(["assignment", "start", "4", str(dest), "--force"]) == 0
    assert (dest / "style.py.bak").read_text() == "# my work\n"
    assert "NotImplementedError" in (dest / "style.py").read_text()


def test_list_and_grade_exit_codes(tmp_path, capsys):
    assert cli.main(["assignment", "list"]) == 0
    assert "05_fast_style" in capsys.readouterr().out
    dest = tmp_path / "ws"
    assert cli.main(["assignment", "start", "4", str(dest)]) == 0
    capsys.readouterr()
    assert cli.main(["grade", str(dest)]) == 1
    assert "NOT IMPLEMENTED" in capsys.readouterr().out
    (dest / "style.py").write_text((SOLUTIONS / "04_style" / "style.py").read_text())
    assert cli.main(["grade", str(dest)]) == 0
    assert cli.main(["grade", str(dest), "--function", "tv_loss"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "10/10" in out
    assert cli.main(["grade", str(dest), "--function", "nope"]) == 2


def test_layering_grading_is_below_commands_and_above_techniques():
    import ast
    for path in (ROOT / "minicnn" / "grading").glob("*.py"):
        tree = ast.parse(path.read_text())
        mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not any("commands" in m or m.startswith("..cli") for m in mods), path
    for path in list((ROOT / "minicnn" / "techniques").glob("*.py")) + \
            [ROOT / "minicnn" / f for f in ("layers.py", "losses.py", "transformer_layers.py")]:
        tree = ast.parse(path.read_text())
        mods = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        mods += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not any("grading" in m for m in mods), path
