"""Feature extraction (cache, joblib), nearest neighbours, PCA / t-SNE, pictures."""
import os
import warnings

import numpy as np
import pytest

from minicnn.data import save_image
from minicnn.techniques.features import (RESTRICTED_IMAGENET, embed, extract_features,
                                         neighbor_agreement, neighbor_rows, nearest_neighbors,
                                         pixel_features, restricted_imagenet_group,
                                         thumbnail_scatter, thumbnails, tsne_grid)


def make_folder(d, n=12, seed=3):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        save_image(d / f"p{i:02d}.png", rng.integers(0, 256, (36 + i, 40, 3), dtype=np.uint8))
    return d


@pytest.fixture
def folder(tmp_path):
    return make_folder(tmp_path / "imgs")


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **kw)


# ------------------------------------------------------------------ extraction
def test_sources_agree_and_order(tiny, folder, tmp_path):
    files = sorted(folder.iterdir())
    f_folder = extract_features(tiny, folder, "fire9", batch_size=5, cache_dir=tmp_path / "c")
    f_list = extract_features(tiny, files[::-1], "fire9", batch_size=5, cache=False)
    x = tiny.preprocess([__import__("minicnn").data.load_image(p) for p in files])
    f_arr = extract_features(tiny, x, "fire9", batch_size=5)
    assert f_folder.shape == (12, 6)                   # fire9 of the tiny model: 6 channels
    np.testing.assert_allclose(f_list, f_folder[::-1], rtol=1e-12)
    np.testing.assert_allclose(f_arr, f_folder, rtol=1e-12)
    out, _ = tiny.forward(x, end="fire9")
    np.testing.assert_allclose(f_arr, out.mean(axis=(2, 3)), rtol=1e-12)
    flat = extract_features(tiny, x, "fire9", pool="none")
    assert flat.shape == (12, out[0].size)
    scores = extract_features(tiny, x, "pool10")
    assert scores.shape == (12, 10)


def test_cache_is_warm_and_invalidated(tiny, folder, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    f1 = extract_features(tiny, folder, "fire9", cache_dir=cache)
    assert len(list(cache.glob("*.npy"))) == 2          # features + row mask
    # warm: read from the cache without running the network at all
    # (its speed is measured in benchmarks/bench_features.py, not asserted here)
    with monkeypatch.context() as m:
        m.setattr(tiny, "forward", lambda *a, **k: pytest.fail("warm cache ran the network"))
        f2 = extract_features(tiny, folder, "fire9", cache_dir=cache)
    np.testing.assert_array_equal(f1, f2)
    # change one image: a new key, recomputed row
    img = np.zeros((40, 40, 3), np.uint8)
    save_image(folder / "p03.png", img)
    f3 = extract_features(tiny, folder, "fire9", cache_dir=cache)
    changed = np.flatnonzero(np.abs(f3 - f1).max(axis=1) > 0)
    assert list(changed) == [3]
    assert len(list(cache.glob("*.ok.npy"))) == 2
    # another layer / pooling is another key
    f4 = extract_features(tiny, folder, "fire5", pool="max", cache_dir=cache)
    f5 = extract_features(tiny, folder, "fire5", pool="avg", cache_dir=cache)
    assert not np.allclose(f4, f5)
    assert len(list(cache.glob("*.ok.npy"))) == 4


def test_cache_content_hash_sees_same_mtime_edit(tiny, folder, tmp_path):
    cache = tmp_path / "cache"
    f1 = extract_features(tiny, folder, "fire5", cache_dir=cache, content_hash=True)
    p = folder / "p01.png"
    st = p.stat()
    save_image(p, np.full((37, 40, 3), 9, np.uint8))
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
    f2 = extract_features(tiny, folder, "fire5", cache_dir=cache, content_hash=True)
    assert not np.allclose(f1[1], f2[1])


def test_resume_from_parts(tiny, folder, tmp_path, monkeypatch):
    from minicnn.techniques import features as F
    cache = tmp_path / "cache"
    real = F._extract_chunk
    calls, state = [], {"armed": True}

    def flaky(cnn, paths, *a):
        calls.append(len(paths))
        if len(calls) == 2 and state.pop("armed", False):
            raise KeyboardInterrupt
        return real(cnn, paths, *a)

    monkeypatch.setattr(F, "_extract_chunk", flaky)
    interrupted = False
    try:                  # (pytest.raises does not catch KeyboardInterrupt)
        extract_features(tiny, folder, "fire9", batch_size=2, chunk_size=4, cache_dir=cache)
    except KeyboardInterrupt:
        interrupted = True
    assert interrupted
    assert len(list(cache.glob("*.parts/*.npz"))) == 1  # the first chunk was kept
    calls.clear()
    f = extract_features(tiny, folder, "fire9", batch_size=2, chunk_size=4, cache_dir=cache)
    assert calls == [4, 4]                               # only the two missing chunks
    monkeypatch.setattr(F, "_extract_chunk", real)
    np.testing.assert_allclose(f, extract_features(tiny, folder, "fire9", cache=False))
    assert not list(cache.glob("*.parts"))


def test_n_jobs_matches_serial(tiny, folder, tmp_path):
    serial = extract_features(tiny, folder, "fire9", cache=False)
    parallel = extract_features(tiny, folder, "fire9", batch_size=2, chunk_size=3, n_jobs=2,
                                cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(parallel, serial)


def test_bad_files_skipped_with_warning(tiny, folder, tmp_path):
    (folder / "aa_broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (folder / "readme.txt").write_text("not an image")
    with pytest.warns(UserWarning, match="aa_broken.jpg"):
        f, paths = extract_features(tiny, folder, "fire9", cache_dir=tmp_path / "c",
                                    return_paths=True)
    assert f.shape[0] == 12 and all(p.name != "aa_broken.jpg" for p in paths)
    with pytest.warns(UserWarning, match="aa_broken.jpg"):      # also from the cache
        f2 = extract_features(tiny, folder, "fire9", cache_dir=tmp_path / "c")
    np.testing.assert_array_equal(f, f2)


def test_bad_inputs(tiny, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        extract_features(tiny, tmp_path, "fire9")
    with pytest.raises(FileNotFoundError):
        extract_features(tiny, tmp_path / "nope", "fire9")
    with pytest.raises(ValueError, match="unknown layer"):
        extract_features(tiny, tmp_path, "fc7")
    with pytest.raises(ValueError, match="pool must be one of"):
        extract_features(tiny, tmp_path, "fire9", pool="sum")
    with pytest.raises(ValueError, match="n_jobs"):
        extract_features(tiny, tmp_path, "fire9", n_jobs=0)
    with pytest.raises(TypeError, match="folder, a list"):
        extract_features(tiny, 42, "fire9")
    (tmp_path / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="none of the 1 files"):
        quiet(extract_features, tiny, tmp_path, "fire9", cache=False)


# ------------------------------------------------------------------ neighbours
def test_nearest_neighbor_of_reference_is_itself(rng):
    feats = rng.standard_normal((30, 8))
    d, idx = nearest_neighbors(feats, feats, k=3)
    assert (idx[:, 0] == np.arange(30)).all() and np.allclose(d[:, 0], 0, atol=1e-6)
    assert (np.diff(d, axis=1) >= 0).all()
    d2, idx2 = nearest_neighbors(feats, np.arange(30), k=3, exclude_self=True)
    assert (idx2 != np.arange(30)[:, None]).all()
    np.testing.assert_array_equal(idx2[:, :2], idx[:, 1:])
    brute = np.argsort(((feats[:, None] - feats[None]) ** 2).sum(-1), axis=1)[:, :3]
    np.testing.assert_array_equal(idx, brute)
    _, ci = nearest_neighbors(feats, feats[:4], k=1, metric="cosine")
    assert list(ci[:, 0]) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="metric must be one of"):
        nearest_neighbors(feats, feats, metric="manhattan")
    with pytest.raises(ValueError, match="more than the 30"):
        nearest_neighbors(feats, feats, k=31)


def test_agreement_and_groups():
    labels = np.array([0, 0, 1, 1])
    idx = np.array([[1, 2], [0, 1], [3, 0], [2, 3]])
    assert neighbor_agreement(labels, idx) == pytest.approx(6 / 8)
    g = restricted_imagenet_group([151, 268, 281, 30, 33, 80, 365, 389, 118, 300, 0, 999])
    assert list(g) == [0, 0, 1, 2, 3, 4, 5, 6, 7, 8, -1, -1]
    sizes = [hi - lo + 1 for lo, hi in RESTRICTED_IMAGENET.values()]
    assert sum(sizes) == 203


# ------------------------------------------------------------------ embeddings
def test_pca_components_orthonormal(rng):
    x = rng.standard_normal((40, 12)) @ rng.standard_normal((12, 12))
    y, model = embed(x, "pca", return_model=True)
    comps = model.components_
    np.testing.assert_allclose(comps @ comps.T, np.eye(2), atol=1e-10)
    np.testing.assert_allclose(y, (x - x.mean(0)) @ comps.T, atol=1e-8)
    assert np.var(y[:, 0]) >= np.var(y[:, 1])


def test_tsne_seeded_reproducible(rng):
    x = np.concatenate([rng.standard_normal((15, 10)), rng.standard_normal((15, 10)) + 6])
    a, b = embed(x, "tsne", seed=3), embed(x, "tsne", seed=3)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (30, 2)
    # the two clusters stay apart
    _, idx = nearest_neighbors(a, np.arange(30), k=3, exclude_self=True)
    assert neighbor_agreement(np.repeat([0, 1], 15), idx) > 0.9
    with pytest.raises(ValueError, match="method must be one of"):
        embed(x, "umap")


def test_pictures(tiny, folder, rng):
    th = thumbnails(folder, size=10)
    assert th.shape == (12, 10, 10, 3) and th.dtype == np.uint8
    px = pixel_features(folder, size=8)
    assert px.shape == (12, 192) and 0 <= px.min() and px.max() <= 1
    emb = rng.standard_normal((12, 2))
    grid, cells = tsne_grid(emb, th, grid=(3, 4))
    assert grid.shape == (30, 40, 3)
    assert len({tuple(c) for c in cells}) == 12          # one image per cell
    # the leftmost point lands in the left column half, the top point in the top row half
    assert cells[np.argmin(emb[:, 0]), 1] <= 1 and cells[np.argmax(emb[:, 1]), 0] <= 1
    for i, (r, c) in enumerate(cells):
        np.testing.assert_array_equal(grid[r * 10:(r + 1) * 10, c * 10:(c + 1) * 10], th[i])
    sc = thumbnail_scatter(emb, th, canvas=100)
    assert sc.shape == (100, 100, 3)
    rows = neighbor_rows(th[:2], th[np.array([[1, 2], [3, 4]])], th[np.array([[5, 6], [7, 8]])])
    assert rows.shape[0] == 2 * (10 + 2 * 2) and rows.dtype == np.uint8


def test_real_features_and_neighbours(cnn):
    """Pretrained model: neighbours of a photo in a tiny reference set (itself, its
    horizontal flip and another photo) are itself, then its flip."""
    from minicnn.data import load_image, pick_image
    imgs = [load_image(pick_image(*n)) for n in (("kitten", "chelsea"), ("sky", "coffee"))]
    imgs.append(imgs[0][:, ::-1])
    x = cnn.preprocess(imgs)
    g = extract_features(cnn, x, "fire9")
    assert g.shape == (3, 512) and g.dtype == np.float32 and (g >= 0).all()
    _, idx = nearest_neighbors(g, [0, 1], k=2)
    assert list(idx[0]) == [0, 2]                       # the flipped kitten beats the sky
    assert idx[1, 0] == 1


@pytest.mark.parametrize("plant", ["other_layer_width", "mask_disagrees", "too_few_rows"])
def test_cache_file_that_does_not_match_is_recomputed(tiny, folder, tmp_path, plant):
    """Issue 10, item 8: what is read under a cache key must be what the key claims
    (the model's layer width, one mask entry per file, one row per valid file);
    otherwise it is recomputed with a warning, never returned as is."""
    cache = tmp_path / "cache"
    good = extract_features(tiny, folder, "fire5", cache_dir=cache)
    feats_file = next(p for p in cache.glob("*.npy") if not p.name.endswith(".ok.npy"))
    mask_file = feats_file.with_name(feats_file.name[:-4] + ".ok.npy")
    n = len(np.load(mask_file))
    if plant == "other_layer_width":                   # e.g. fire3's 128 for fire5's 256
        np.save(feats_file, np.ones((good.shape[0], good.shape[1] // 2), good.dtype))
    elif plant == "mask_disagrees":                    # one more valid file than rows
        mask = np.ones(n, bool)
        mask[0] = False
        np.save(mask_file, mask)
        np.save(feats_file, good[:-2])
    else:
        np.save(feats_file, good[:-1])
    with pytest.warns(RuntimeWarning, match="does not match"):
        again = extract_features(tiny, folder, "fire5", cache_dir=cache)
    np.testing.assert_array_equal(again, good)
    assert again.shape == good.shape
