"""Command line: classify, demo report, error handling."""
import numpy as np

from minicnn.cli import build_parser, main


def test_help_lists_commands(capsys):
    parser = build_parser()
    text = parser.format_help()
    for cmd in ("classify", "demo"):
        assert cmd in text


def test_classify_prints_top5(cnn, capsys):
    from minicnn.data import find_image
    path = find_image("chelsea")                      # embedded: every machine has it
    assert main(["classify", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("chelsea.png:") and len(out) == 6
    probs = [float(line.split("%")[0]) for line in out[1:]]
    assert probs == sorted(probs, reverse=True)


def test_classify_missing_file_is_a_clear_error(cnn, capsys, tmp_path):
    assert main(["classify", str(tmp_path / "nope.jpg")]) == 1
    assert "not found" in capsys.readouterr().err


def test_classify_accepts_image_names_and_defaults(cnn, capsys):
    assert main(["classify", "coffee"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("coffee:") and "espresso" in out
    assert main(["classify"]) == 0                    # no argument: the photos this machine has
    out = capsys.readouterr().out
    assert "chelsea.png:" in out


def test_demo_classification_section(cnn, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--only", "classify"]) == 0
    html = (out / "index.html").read_text()
    assert "Classification" in html and "Contents" in html and "Weights:" in html
    assert (out / "classify_chelsea.png").is_file()
    log = capsys.readouterr().out
    assert "] Classification" in log and "weights:" in log   # a line per section as it goes


def test_demo_filters_in_activation_section(cnn, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--only", "activations"]) == 0
    html = (out / "index.html").read_text()
    assert html.count("act_filters_conv1.png") == 1 and "conv1_filters.png" not in html
    from minicnn.data import load_image
    filters = load_image(out / "act_filters_conv1.png")
    assert filters.shape[0] > 64 and np.ptp(filters) > 100


def test_demo_only_rejects_unknown_family(cnn, tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path / "d"), "--only", "classify,nope"]) == 1
    assert "nope" in capsys.readouterr().err
