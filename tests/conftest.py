"""Shared fixtures.

- ``tiny``: a tiny float64 SqueezeNet (random weights) for gradient tests.
- ``cnn``: the pretrained float32 SqueezeNet (skips when no weights are found;
  CI points MINICNN_DATA at the shared data folder).
- ``data``: the shared data folder (skips when absent).
"""
import os

import numpy as np
import pytest

import minicnn
from minicnn.data import data_dir


@pytest.fixture
def rng():
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def tiny():
    return minicnn.SqueezeNet.tiny(np.random.default_rng(1))


@pytest.fixture(scope="session")
def data():
    root = data_dir()
    if root is None:
        pytest.skip("shared data folder not found (set MINICNN_DATA)")
    return root


@pytest.fixture(scope="session")
def cnn():
    from minicnn.weights import WeightsError
    try:
        return minicnn.load_squeezenet(fetch=False)
    except WeightsError as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(f"pretrained weights unavailable: {exc}")
