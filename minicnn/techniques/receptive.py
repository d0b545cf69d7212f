"""Receptive fields of every named layer, computed from the layer table.

For a chain of layers with kernel ``k_l``, stride ``s_l`` and padding ``p_l``
the receptive field of a unit of layer L is an axis-aligned square described by

    size   r_L = r_{L-1} + (k_L - 1) * j_{L-1}          (r_0 = 1)
    stride j_L = j_{L-1} * s_L                           (j_0 = 1)
    offset o_L = o_{L-1} - p_L * j_{L-1}                 (o_0 = 0)

so that unit ``(i, j)`` of layer L sees the input rows
``o_L + i * j_L .. o_L + i * j_L + r_L - 1`` (and likewise columns).  The offset
is the input coordinate of the first row of unit 0's field; it is negative when
padding lets the field hang over the top/left border (see e.g. Araujo et al.
2019, "Computing Receptive Fields of Convolutional Neural Networks", Distill).

A fire module (Iandola et al. 2016) is a 1x1 squeeze followed by parallel 1x1
and 3x3 (pad 1) expands; its field is that of its widest path, the 3x3 expand,
as the layer table records.  Ceil-mode max-pools do not change the formula:
their extra last window only hangs over the border.  The global average pool
(``pool10``) sees the whole previous feature map, so its entry depends on the
input size.
"""
import numpy as np

__all__ = ["receptive_fields", "channel_field", "receptive_box", "clip_box"]


def receptive_fields(cnn, input_size=None, parts=False):
    """``{layer_name: (size, stride, offset)}`` for every named block of ``cnn``.

    Computed from ``cnn.layers`` (kernel/stride/pad of each block), never
    hard-coded.  ``input_size`` (default ``cnn.meta['input_size']``, 224) is only
    used for global pooling layers, whose kernel is the whole previous map.
    For the pretrained SqueezeNet 1.1, ``conv1`` is (3, 2, 0) and ``fire9`` is
    (207, 16, -88).  ``parts=True`` adds the fire modules' parts
    (``fireN/squeeze1x1``, ``fireN/expand1x1``: 1x1 convolutions, and
    ``fireN/expand3x3``, equal to the block's field).
    """
    layers = getattr(cnn, "layers", None)
    if layers is None:
        raise TypeError("cnn must be a model with a layer table (cnn.layers)")
    if input_size is None:
        input_size = int(getattr(cnn, "meta", {}).get("input_size", 224))
    size, jump, offset = 1, 1, 0
    height = int(input_size)                     # current map size, for global pooling
    fields = {}
    for layer in layers:
        kind = layer["type"]
        if kind == "gap":
            kernel, stride, pad = height, 1, 0
        elif kind in ("conv", "maxpool", "fire"):
            kernel, stride, pad = layer["kernel"], layer["stride"], layer["pad"]
        else:
            raise ValueError(f"layer {layer['name']!r} has unknown type {kind!r}; "
                             "expected conv, maxpool, fire or gap")
        if parts and kind == "fire":
            name = layer["name"]
            fields[name + "/squeeze1x1"] = (int(size), int(jump), int(offset))
            fields[name + "/expand1x1"] = (int(size), int(jump), int(offset))
        size = size + (kernel - 1) * jump
        offset = offset - pad * jump
        jump = jump * stride
        fields[layer["name"]] = (int(size), int(jump), int(offset))
        if parts and kind == "fire":
            fields[layer["name"] + "/expand3x3"] = fields[layer["name"]]
        height = _output_size(layer, height)
    return fields


def channel_field(cnn, layer, channel, fields=None):
    """The receptive field ``(size, stride, offset)`` of one channel of a block.

    A fire block concatenates its expand1x1 channels (first) and expand3x3
    channels; the 1x1 channels see less of the input than the block's field.
    """
    fields = receptive_fields(cnn, parts=True) if fields is None else fields
    if layer not in fields:
        raise ValueError(f"unknown layer {layer!r}; valid layers are {', '.join(fields)}")
    entry = next((e for e in cnn.layers if e["name"] == layer), None)
    if entry is not None and entry["type"] == "fire" and channel < entry["expand1x1"]:
        return fields[layer + "/expand1x1"]
    return fields[layer]


def _output_size(layer, height):
    from ..layers import conv_output_size, pool_output_size
    if layer["type"] in ("conv", "fire"):
        return conv_output_size(height, layer["kernel"], layer["stride"], layer["pad"])
    if layer["type"] == "maxpool":
        return pool_output_size(height, layer["kernel"], layer["stride"], layer["pad"],
                                layer.get("ceil_mode", False))
    return 1


def receptive_box(field, position):
    """Unclipped input box ``(y0, x0, y1, x1)`` (y1, x1 exclusive) seen by the unit
    at ``position = (i, j)`` of a layer whose field is ``(size, stride, offset)``."""
    size, stride, offset = field
    i, j = position
    y0, x0 = offset + i * stride, offset + j * stride
    return (int(y0), int(x0), int(y0 + size), int(x0 + size))


def clip_box(box, height, width):
    """Clip a box to an image of ``height`` x ``width`` -> ``(clipped_box, was_clipped)``."""
    y0, x0, y1, x1 = box
    c = (max(y0, 0), max(x0, 0), min(y1, height), min(x1, width))
    return tuple(int(v) for v in c), c != tuple(box)
