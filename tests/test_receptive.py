"""Receptive fields from the layer table vs a brute-force perturbation measurement."""
import numpy as np
import pytest

import minicnn
from minicnn.models.squeezenet import FIRE_CHANNELS, param_shapes, squeezenet_layers
from minicnn.techniques.receptive import clip_box, receptive_box, receptive_fields


def positive_probe_model():
    """SqueezeNet 1.1's layer table with one channel per conv, positive averaging
    weights and positive biases: every ReLU is active and an input increase
    strictly increases every unit that depends on it, so "the output changed"
    means "the pixel is in the receptive field"."""
    layers = squeezenet_layers(conv1=1, fires={n: (1, 1, 1) for n in FIRE_CHANNELS},
                               num_classes=1)
    params = {k: np.full(s, 1.0 / np.prod(s[1:]) if k.endswith("/W") else 0.1)
              for k, s in param_shapes(layers).items()}
    return minicnn.SqueezeNet(params, layers=layers)


def measured_rows(model, height, width, axis):
    """For every named layer: {layer: (H_out, boolean (input lines, output index))}
    telling which input rows (axis=0) or columns (axis=1) change each output
    row/column when the whole line is raised by a large amount."""
    lines = height if axis == 0 else width
    x = np.ones((lines + 1, 3, height, width))
    for r in range(lines):
        if axis == 0:
            x[r + 1, :, r, :] += 1e8
        else:
            x[r + 1, :, :, r] += 1e8
    _, cache = model.forward(x)
    out = {}
    for name in model.layer_names:
        a = cache.activations[name]
        if a.ndim == 2:
            a = a[:, :, None, None]
        base = a[0]
        other = (1, 3) if axis == 0 else (1, 2)
        diff = np.abs(a[1:] - base).max(axis=other)          # (lines, H_out)
        scale = 1.0 + np.abs(base).max()
        out[name] = diff > 1e-3 * scale
    return out


@pytest.mark.parametrize("axis", [0, 1])
def test_receptive_fields_match_brute_force(axis):
    model = positive_probe_model()
    # odd sizes: conv1 (3x3, stride 2, no pad) then reads every input line
    size, thin = 225, 33
    height, width = (size, thin) if axis == 0 else (thin, size)
    fields = receptive_fields(model, input_size=size)
    assert set(fields) == set(model.layer_names)
    changed = measured_rows(model, height, width, axis)
    for name in model.layer_names:
        seen = changed[name]
        for i in range(seen.shape[1]):
            box = receptive_box(fields[name], (i, i))
            (y0, _, y1, _), _ = clip_box(box, size, size)
            expected = np.zeros(size, dtype=bool)
            expected[y0:y1] = True
            assert np.array_equal(seen[:, i], expected), (name, i)


def test_pretrained_table_values(tiny):
    fields = receptive_fields(tiny, input_size=224)
    assert fields["conv1"] == (3, 2, 0)
    assert fields["pool1"] == (7, 4, 0)
    assert fields["fire5"] == (63, 8, -24)
    assert fields["fire9"] == (207, 16, -88)
    assert fields["conv10"] == fields["fire9"]
    assert fields["pool10"][0] >= 224


def test_parts_fields(tiny):
    fields = receptive_fields(tiny, parts=True)
    size, stride, offset = fields["fire5"]
    assert fields["fire5/expand3x3"] == fields["fire5"]
    assert fields["fire5/squeeze1x1"] == fields["fire4"]
    assert fields["fire5/expand1x1"] == fields["fire4"]
    assert fields["fire5/expand1x1"][0] == size - 2 * stride


def test_clip_box_marks_border():
    assert clip_box((-4, 2, 11, 17), 20, 20) == ((0, 2, 11, 17), True)
    assert clip_box((1, 2, 11, 17), 20, 20) == ((1, 2, 11, 17), False)


def test_bad_layer_type():
    class Fake:
        layers = [{"name": "x", "type": "lstm"}]
        meta = {}
    with pytest.raises(ValueError, match="unknown type 'lstm'"):
        receptive_fields(Fake())
