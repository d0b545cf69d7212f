"""The labelled uint8 panels of minicnn.plotting (issue 11): colour bars, labels and
the placement of sliding-window (occlusion) values."""
import numpy as np
import pytest

from minicnn.plotting import (colorbar, heatmap_panel, label_grid, panel_row,
                              window_map_to_pixels)


def test_window_values_sit_at_window_centres():
    """Value (p, q) belongs to the window at rows p*stride .. p*stride + size - 1: the
    upsampled map equals it at the window's centre, not at its corner."""
    size, stride = 33, 8                         # odd size: integer centres
    heat = np.arange(4 * 5, dtype=np.float64).reshape(4, 5)
    big = window_map_to_pixels(heat, size, stride, (size + 3 * stride, size + 4 * stride))
    for p in range(4):
        for q in range(5):
            assert big[p * stride + 16, q * stride + 16] == pytest.approx(heat[p, q])
    # beyond the first / last centre: the nearest value, no extrapolation
    assert big[0, 0] == heat[0, 0] and big[-1, -1] == heat[-1, -1]


def test_window_peak_is_not_shifted():
    """A single sensitive window of a 48-px square at stride 16 on 224 px: the
    upsampled map peaks at that square's centre (the old stretch over 224 px was
    up to 11 px off)."""
    size, stride, h = 48, 16, 224
    n = (h - size) // stride + 1
    heat = np.zeros((n, n))
    heat[3, 7] = 1.0
    big = window_map_to_pixels(heat, size, stride, (h, h))
    y, x = np.unravel_index(np.argmax(big), big.shape)
    cy, cx = 3 * stride + (size - 1) / 2, 7 * stride + (size - 1) / 2
    assert abs(y - cy) <= 0.5 and abs(x - cx) <= 0.5
    with pytest.raises(ValueError, match="2-d"):
        window_map_to_pixels(np.zeros(5), size, stride, (h, h))


def test_colorbar_and_heatmap_panel():
    bar = colorbar(0.0, 1.0, 100, cmap="viridis")
    assert bar.dtype == np.uint8 and bar.shape[0] == 100 and bar.shape[1] > 20
    assert not np.array_equal(bar[2, 5], bar[-3, 5])           # colours run top to bottom
    panel = heatmap_panel(np.random.default_rng(0).random((50, 60)), label="a map")
    assert panel.shape[0] > 50 and panel.shape[1] > 60        # label above, bar on the right
    assert (panel[:10] < 128).any()                            # the label is drawn


def test_panel_row_aligns_images_under_labels_of_different_lengths():
    a = np.zeros((40, 40, 3), np.uint8)
    b = np.zeros((40, 40, 3), np.uint8)
    row = panel_row([a, b], labels=["x", "a much longer label that has to wrap"])
    rows_a = np.where((row[:, :40] == 0).all(axis=(1, 2)))[0]
    rows_b = np.where((row[:, 46:] == 0).all(axis=(1, 2)))[0]
    assert rows_a[0] == rows_b[0] and len(rows_a) == len(rows_b) == 40
    with pytest.raises(ValueError, match="labels"):
        panel_row([a, b], labels=["x"])


def test_label_grid_adds_row_and_column_labels():
    grid = np.full((2 * 11 + 1, 3 * 11 + 1, 3), 128, np.uint8)
    out = label_grid(grid, (10, 10), 1, row_labels=["0", "1"], col_labels=["a", "b", "c"])
    assert out.shape[0] > grid.shape[0] and out.shape[1] > grid.shape[1]
