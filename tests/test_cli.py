"""Command line: classify, demo report, error handling."""
import numpy as np
import pytest

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


def _figures(html):
    import re
    return re.findall(r"<figure>(.*?)</figure>", html, flags=re.S)


@pytest.mark.slow
def test_quick_demo_report_every_image_captioned_and_fits(cnn, tmp_path):
    """Issue 11: the whole quick report -- every <img> has a <figcaption>, no image
    is shown twice, none is wider than the 1100 px page, and no caption shows a
    raw file name (n01440764_tench) or '1 channels'."""
    import re

    from minicnn.data import load_image
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--quick"]) == 0
    html = (out / "index.html").read_text()
    assert html.count("<img") == len(_figures(html)) > 20
    srcs = []
    for fig in _figures(html):
        assert "<figcaption>" in fig and re.search(r"<figcaption>\S.*</figcaption>", fig), fig
        srcs.append(re.search(r'src="([^"]+)"', fig).group(1))
    assert len(srcs) == len(set(srcs))                       # nothing shown twice
    assert not re.search(r"n\d{8}_", " ".join(re.findall(r"<figcaption>(.*?)</figcaption>",
                                                        html)))
    assert " 1 channels " not in html
    for src in srcs:
        img = load_image(out / src)
        assert img.shape[1] <= 1100, (src, img.shape)
    filters = load_image(out / "act_filters_fire2_squeeze1x1.png")
    assert np.ptp(filters) > 200                             # the 1x1 matrix is not constant


def test_occlusion_panel_places_values_at_window_centres(cnn):
    """The saved occlusion panel: the map's darkest point is at the centre of the most
    sensitive window (not stretched over 224 px from the corner)."""
    from minicnn.commands.attribution import occlusion_panel
    from minicnn.data import find_image, load_image
    x = cnn.preprocess(load_image(find_image("coffee")))
    y = int(cnn.predict(x, top=1).indices[0, 0])
    size, stride = 64, 32
    panel, heat = occlusion_panel(cnn, x, y, size=size, stride=stride)
    h = x.shape[2]
    p, q = np.unravel_index(np.argmin(heat), heat.shape)
    cy, cx = int(p * stride + (size - 1) // 2), int(q * stride + (size - 1) // 2)
    top = panel.shape[0] - h                        # the label strip above both panels
    map_px = panel[top:, h + 6:h + 6 + h]           # image | 6 px gap | the map
    from minicnn.plotting import colorize
    lowest = colorize(np.array([[0.0]]), "viridis", 0, 1)[0, 0]
    dist = np.abs(map_px.astype(int) - lowest).sum(-1)
    assert dist[cy, cx] <= dist.min() + 6           # the darkest colour sits at the centre
    i, j = np.unravel_index(np.argmin(dist), dist.shape)
    # the darkest colour spreads from the centre only towards a border it touches
    # (values are held constant between the outermost centres and the edges)
    rows = (0 if p == 0 else cy - stride // 2, h if p == heat.shape[0] - 1 else cy + stride // 2)
    cols = (0 if q == 0 else cx - stride // 2, h if q == heat.shape[1] - 1 else cx + stride // 2)
    assert rows[0] <= i <= rows[1] and cols[0] <= j <= cols[1], ((i, j), (cy, cx))
    # every window's value is the colour at its centre (the map's own range, lo..hi)
    lo, hi = float(heat.min()), float(heat.max())
    for (a, b), v in np.ndenumerate(heat):
        want = colorize(np.array([[v]]), "viridis", lo, hi)[0, 0].astype(int)
        got = map_px[a * stride + (size - 1) // 2, b * stride + (size - 1) // 2].astype(int)
        assert np.abs(got - want).max() <= 12, ((a, b), got, want)
    assert panel.dtype == np.uint8 and panel.shape[1] > 2 * h  # image | map with colour bar
