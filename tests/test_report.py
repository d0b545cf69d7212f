"""minicnn.report.Report: captions are required, pictures fit the page."""
import numpy as np
import pytest

from minicnn.report import Report


def test_image_without_caption_is_refused(tmp_path):
    report = Report(tmp_path)
    img = np.zeros((8, 8, 3), np.uint8)
    for caption in (None, "", "   "):
        with pytest.raises(ValueError, match="caption"):
            report.image("a", img, caption=caption)
    with pytest.raises(ValueError, match="caption"):
        report.image("b", img)
    report.image("c", img, caption="a black square")
    html = report.write().read_text()
    assert "<figcaption>a black square</figcaption>" in html and "a.png" not in html


def test_wide_image_is_scaled_to_the_page(tmp_path):
    from minicnn.data import load_image
    report = Report(tmp_path)
    path = report.image("wide", np.zeros((100, 2400, 3), np.uint8), caption="wide")
    assert load_image(path).shape[1] <= 1100
