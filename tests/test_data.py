"""Which images a machine has: the data folder, the fetched cache, the embedded set."""
import json
from pathlib import Path

import numpy as np
import pytest

from minicnn import data as D


@pytest.fixture
def no_data_folder(monkeypatch, tmp_path):
    """A fresh machine: no data folder, an empty cache."""
    monkeypatch.setenv("MINICNN_DATA", "none")
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def fake_data_folder(monkeypatch, tmp_path):
    """A small data folder laid out like ../shared/data."""
    from minicnn.data import save_image
    root = tmp_path / "data"
    img = np.zeros((40, 50, 3), np.uint8)
    for rel in ("images/kitten.jpg", "images/sky.jpg", "images/styles/tubingen.jpg",
                "images/styles/starry_night.jpg"):
        save_image(root / rel, img)
    sample = root / "imagenet_sample"
    lines = ["file\tclass_index\twnid"]
    for i, wnid in enumerate(D.imagenet_class_names("wnids")[:3]):
        save_image(sample / f"{wnid}_x.JPEG", img)
        lines.append(f"{wnid}_x.JPEG\t{i}\t{wnid}")
    (sample / "labels.tsv").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("MINICNN_DATA", str(root))
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "cache"))
    return root


def test_class_names_ship_with_the_package(no_data_folder):
    names = D.imagenet_class_names()
    assert len(names) == 1000 and names[0] == "tench" and names[281] == "tabby"
    wnids = D.imagenet_class_names("wnids")
    assert wnids[0] == "n01440764" and len(set(wnids)) == 1000
    with pytest.raises(ValueError, match="kind must be one of"):
        D.imagenet_class_names("nope")


def test_class_table_equals_the_shared_one(data):
    shipped = json.loads((D.PACKAGE_DATA / "imagenet_classes.json").read_text())
    shared = json.loads((data / "imagenet_classes.json").read_text())
    assert shipped == shared


def test_minicnn_data_none_means_no_data_folder(no_data_folder):
    assert D.data_dir() is None
    with pytest.raises(FileNotFoundError, match="MINICNN_DATA"):
        D.data_dir(required=True)


def test_missing_minicnn_data_does_not_fall_back(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_DATA", str(tmp_path / "missing"))
    assert D.data_dir() is None


@pytest.mark.parametrize("kind", D.IMAGE_KINDS)
def test_every_kind_exists_on_a_fresh_machine(no_data_folder, kind):
    images = D.available_images(kind)
    assert len(images) >= 3 and images.source == "embedded"
    assert all(Path(p).is_file() for p in images)
    img = D.load_image(images[0])
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3


def test_embedded_dataset_is_about_twenty_images_with_some_labels(no_data_folder):
    ds = D.available_images("dataset")
    assert 12 <= len(ds) <= 25 and len(ds.labels) == len(ds)
    assert not ds.has_labels and (ds.labels >= 0).sum() >= 3
    assert "data fetch imagenet-sample" in ds.hint
    names = D.imagenet_class_names()
    assert names[ds.labels[ds.names.index("coffee")]] == "espresso"
    sub = ds[:5]
    assert isinstance(sub, D.ImageSet) and len(sub) == len(sub.labels) == 5
    assert D.available_images("dataset", limit=4).names == ds.names[:4]


def test_styles_are_the_shipped_paintings_small_but_not_upscaled(no_data_folder):
    """Small files, yet each painting's short side covers the style size of its Gatys
    preset (an upscaled painting gives blurred Gram targets: Composition VII at 340 px
    scaled to 512 halved the measured style-loss drop of its network)."""
    from minicnn.techniques.style import PRESETS
    styles = D.available_images("styles")
    assert styles.names == ["starry_night", "the_scream", "composition_vii"]
    for name, p in zip(styles.names, styles):
        assert Path(p).parent == D.PACKAGE_DATA / "styles"
        h, w = D.load_image(p).shape[:2]
        assert max(h, w) <= 800 and Path(p).stat().st_size < 250_000
        assert min(h, w) >= PRESETS[name]["style_size"], name


def test_data_folder_comes_first(fake_data_folder):
    photos = D.available_images("photos")
    assert photos.names[:2] == ["kitten", "sky"] and "chelsea" in photos.names
    assert D.available_images("content").names[0] == "tubingen"
    ds = D.available_images("dataset")
    assert len(ds) == 3 and ds.has_labels and list(ds.labels) == [0, 1, 2]
    assert D.find_image("starry_night") == fake_data_folder / "images/styles/starry_night.jpg"
    assert D.find_image("the_scream").parent == D.PACKAGE_DATA / "styles"   # not in the folder
    paths, labels = D.imagenet_sample(limit=2)
    assert len(paths) == 2 and list(labels) == [0, 1]


def test_cs231n_images_missing_say_how_to_fetch(no_data_folder):
    with pytest.raises(FileNotFoundError, match="data fetch cs231n"):
        D.find_image("kitten")
    with pytest.raises(FileNotFoundError, match="data fetch imagenet-sample"):
        D.imagenet_sample()
    with pytest.raises(ValueError, match="known names: kitten"):
        D.find_image("unicorn")
    have = D.image_names()
    assert have["chelsea"] and not have["kitten"]


def test_fetched_data_is_found_without_minicnn_data(no_data_folder, tmp_path, monkeypatch):
    from minicnn import datasets
    root = Path(datasets.fetched_data_dir() or tmp_path / "cache" / "data")
    monkeypatch.setattr(datasets, "fetched_data_dir", lambda: root)
    D.save_image(root / "images" / "kitten.jpg", np.zeros((8, 8, 3), np.uint8))
    assert D.find_image("kitten") == root / "images" / "kitten.jpg"
    assert D.available_images("photos").names[0] == "kitten"


def test_bad_arguments_are_named(no_data_folder):
    with pytest.raises(ValueError, match="kind must be one of"):
        D.available_images("pictures")
    with pytest.raises(ValueError, match="limit"):
        D.available_images("photos", limit=0)
    with pytest.raises(ValueError, match="embedded image"):
        D.embedded_image_path("kitten")


def test_shipped_networks_and_licences_are_package_data():
    assert (D.shipped_weights_dir() / "transformers").is_dir()
    assert any((D.shipped_weights_dir() / "transformers").glob("*.npz"))
    text = (D.PACKAGE_DATA / "DATA_LICENSES.md").read_text()
    for name in D.EMBEDDED_IMAGES:
        assert name in text
