"""Command line: classify, demo report, error handling."""
import numpy as np

from minicnn.cli import build_parser, main


def test_help_lists_commands(capsys):
    parser = build_parser()
    text = parser.format_help()
    for cmd in ("classify", "demo"):
        assert cmd in text


def test_classify_prints_top5(cnn, data, capsys):
    path = data / "images" / "photos" / "chelsea.png"
    assert main(["classify", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].endswith("chelsea.png:") and len(out) == 6
    probs = [float(line.split("%")[0]) for line in out[1:]]
    assert probs == sorted(probs, reverse=True)


def test_classify_missing_file_is_a_clear_error(cnn, capsys, tmp_path):
    assert main(["classify", str(tmp_path / "nope.jpg")]) == 1
    assert "not found" in capsys.readouterr().err


def test_demo_classification_section(cnn, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick", "--only", "classify"]) == 0
    html = (out / "index.html").read_text()
    assert "conv1 filters" in html and (out / "conv1_filters.png").is_file()
    from minicnn.data import load_image
    filters = load_image(out / "conv1_filters.png")
    assert filters.shape[0] > 64 and np.ptp(filters) > 100
