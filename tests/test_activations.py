"""Filters, activation maps and maximally activating patches."""
import warnings

import numpy as np
import pytest

from minicnn.data import save_image
from minicnn.techniques.activations import activation_maps, activation_stats, zero_fraction
from minicnn.techniques.filters import activation_grid, filter_grid, normalize_tile, tile_grid
from minicnn.techniques.patches import (patch_grid, patch_images, recompute_activation,
                                        top_patches, top_patches_many)
from minicnn.techniques.receptive import receptive_fields


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """12 small random photos of varied sizes, one unreadable .jpg and a text file."""
    d = tmp_path_factory.mktemp("imgs")
    rng = np.random.default_rng(3)
    for i in range(12):
        img = rng.integers(0, 256, (36 + 2 * i, 40 + i, 3), dtype=np.uint8)
        save_image(d / f"p{i:02d}.png", img)
    (d / "broken.jpg").write_bytes(b"this is not a jpeg")
    (d / "notes.txt").write_text("ignored")
    return d


@pytest.fixture(scope="module")
def big(tiny):
    """6 preprocessed 80x80 inputs for the tiny model (large enough for interior fields)."""
    rng = np.random.default_rng(4)
    return rng.standard_normal((6, 3, 80, 80))


# ------------------------------------------------------------------ tiles and grids
def test_normalize_tile_range():
    t = normalize_tile(np.array([[-2.0, 0.0], [1.0, 2.0]]))
    assert t.dtype == np.uint8 and t.min() == 0 and t.max() == 255
    assert t[0, 1] == round(255 * 2 / 4)
    assert (normalize_tile(np.full((3, 3), 7.0)) == 0).all()


def test_filter_grid_shapes(rng):
    w = rng.standard_normal((64, 3, 3, 3))
    g = filter_grid(w)                           # 8x8 colour tiles of 3x3, pad 1
    assert g.shape == (8 * 4 + 1, 8 * 4 + 1, 3) and g.dtype == np.uint8
    tile = g[1:4, 1:4]                           # first filter, min-max scaled on its own
    assert tile.min() == 0 and tile.max() == 255
    np.testing.assert_array_equal(tile, normalize_tile(w[0].transpose(1, 2, 0)))
    grey = filter_grid(rng.standard_normal((16, 5, 7, 7)))     # one tile per input channel
    assert grey.shape == (16 * 8 + 1, 5 * 8 + 1)
    sub = filter_grid(rng.standard_normal((16, 5, 7, 7)), max_filters=4, max_channels=2)
    assert sub.shape == (4 * 8 + 1, 2 * 8 + 1)
    with pytest.raises(ValueError, match="weights must have shape"):
        filter_grid(w[0])


def test_tile_grid_layout():
    tiles = np.arange(5 * 2 * 2, dtype=np.uint8).reshape(5, 2, 2)
    g = tile_grid(tiles, ncols=3, pad=1, pad_value=200)
    assert g.shape == (2 * 3 + 1, 3 * 3 + 1)
    np.testing.assert_array_equal(g[4:6, 1:3], tiles[3])
    assert (g[4:6, 7:9] == 200).all()             # the missing 6th tile is padding


def test_activation_grid_and_relu(tiny, big):
    a = activation_maps(tiny, big[0], "fire5")
    assert a.shape == (6, 9, 9)
    assert (a >= 0).all()                         # post-ReLU
    for name in ("conv1", "fire2", "fire9", "conv10"):
        assert (activation_maps(tiny, big[1], name) >= 0).all()
    g = activation_grid(a, ncols=3)
    assert g.shape == (2 * 10 + 1, 3 * 10 + 1)
    zf = zero_fraction(a)
    assert zf.shape == (6,) and ((zf >= 0) & (zf <= 1)).all()


def test_activation_stats_dead_channels(tiny, big):
    import copy
    model = copy.deepcopy(tiny)
    model.params["fire3/expand1x1/b"] = model.params["fire3/expand1x1/b"].copy()
    model.params["fire3/expand1x1/b"][1] = -1e6            # channel 1 can never fire
    st = activation_stats(model, big, "fire3", batch_size=4)
    assert st.n_images == 6 and st.zero_fraction.shape == (6,)
    assert list(st.dead) == [1] and st.zero_fraction[1] == 1.0
    assert st.max[0] > 0


def test_real_activations_nonnegative(cnn):
    from minicnn.data import load_image, pick_image
    img = load_image(pick_image("kitten", "chelsea"))
    a = activation_maps(cnn, img, "fire2")
    side = cnn.meta["input_size"]                      # 224 (torchvision) or 227 (Caffe)
    assert a.shape == cnn.output_shape((1, 3, side, side), end="fire2")[1:]
    assert a.shape[0] == 128 and (a >= 0).all()
    if side == 224:
        assert a.shape == (128, 55, 55)
    assert 0.0 < zero_fraction(a).mean() < 1.0


# ------------------------------------------------------------------ top patches
def brute_force_top(model, x, layer, channel, k):
    out, _ = model.forward(x, end=layer)
    a = out[:, channel]
    flat = a.reshape(-1)
    order = np.lexsort((np.arange(flat.size), -flat))[:k]      # ties: image, then position
    img, rest = np.divmod(order, a.shape[1] * a.shape[2])
    return flat[order], img, [tuple(divmod(int(r), a.shape[2])) for r in rest]


@pytest.mark.parametrize("layer,channel", [("conv1", 2), ("fire5", 4), ("fire9", 0)])
def test_top_k_matches_brute_force(tiny, big, layer, channel):
    k = 7
    found = top_patches(tiny, big, layer, channel, k=k, batch_size=4)   # batches of 4 and 2
    scores = [p.score for p in found]
    assert scores == sorted(scores, reverse=True)
    s, img, pos = brute_force_top(tiny, big, layer, channel, k)
    np.testing.assert_allclose(scores, s, rtol=0, atol=0)
    assert [p.image_index for p in found] == list(img)
    assert [p.position for p in found] == pos
    assert all(isinstance(p, tuple) and len(p) == 3 for p in found)


def test_max_per_image(tiny, big):
    found = top_patches(tiny, big, "fire5", 3, k=6, max_per_image=1)
    assert sorted(p.image_index for p in found) == list(range(6))


def test_crop_reproduces_activation(tiny, big):
    fields = receptive_fields(tiny, input_size=80)
    for layer in ("conv1", "pool1", "fire3", "fire4", "fire5"):
        found = top_patches(tiny, big, layer, 1, k=40)
        inside = [p for p in found if not p.clipped]
        assert inside, layer
        size = fields[layer][0]
        for p in inside[:3]:
            y0, x0, y1, x1 = p.box
            assert y1 - y0 <= size and x1 - x0 <= size
            value = recompute_activation(tiny, big[p.image_index], layer, 1, p.position)
            assert value == pytest.approx(p.score, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("layer", ["pool5", "fire6", "fire7"])
def test_crop_reproduces_deep_units(tiny, layer):
    x = np.random.default_rng(5).standard_normal((1, 3, 160, 160))
    size, stride, offset = receptive_fields(tiny, input_size=160)[layer]
    i = -(-(-offset) // stride)                       # first unit whose field starts >= 0
    assert offset + i * stride + size <= 160
    out, _ = tiny.forward(x, end=layer)
    for c in (0, 4):
        value = recompute_activation(tiny, x[0], layer, c, (i, i))
        assert value == pytest.approx(out[0, c, i, i], rel=1e-9)


def test_expand1x1_channels_have_smaller_field(tiny, big):
    fields = receptive_fields(tiny, input_size=80, parts=True)
    p1 = top_patches(tiny, big, "fire5", 0, k=1)[0]      # expand1x1 channel
    p3 = top_patches(tiny, big, "fire5", 4, k=1)[0]      # expand3x3 channel
    s1 = p1.field[2] - p1.field[0]
    s3 = p3.field[2] - p3.field[0]
    assert s1 == fields["fire5/expand1x1"][0] < s3 == fields["fire5"][0]


def test_border_patches_are_clipped_and_marked(tiny, big):
    found = top_patches(tiny, big, "fire9", 4, k=5)     # an expand3x3 channel
    assert all(p.clipped for p in found)         # a 207 px field never fits 80 px
    for p in found:
        y0, x0, y1, x1 = p.box
        assert 0 <= y0 < y1 <= 80 and 0 <= x0 < x1 <= 80
    tiles = patch_images(tiny, big, found[:2])
    assert tiles.shape == (2, 207, 207, 3)
    p = found[0]
    fy0, fx0 = p.field[:2]
    assert (tiles[0, 0, 0] == 128).all()         # outside the image: grey marker
    y0, x0 = p.box[:2]
    img = tiny.deprocess(big[p.image_index])
    np.testing.assert_array_equal(tiles[0, y0 - fy0, x0 - fx0], img[y0, x0])


def test_patches_from_folder_skip_bad_file(tiny, folder):
    with pytest.warns(UserWarning, match="broken.jpg"):
        many = top_patches_many(tiny, folder, "fire3", [0, 5], k=4)
    assert set(many) == {0, 5}
    assert all(p.image_index != 0 for ps in many.values() for p in ps)   # 0 is broken.jpg
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid, found = patch_grid(tiny, folder, "fire3", [0, 1, 2], k=3, tile=12)
    assert grid.shape == (3 * 14 + 2, 3 * 14 + 2, 3)


def test_bad_channel_and_layer(tiny, big):
    with pytest.raises(ValueError, match=r"valid: 0\.\.5"):
        top_patches(tiny, big, "fire5", 6)
    with pytest.raises(ValueError, match="unknown layer"):
        top_patches(tiny, big, "fire99", 0)
    with pytest.raises(TypeError, match="channel must be an integer"):
        top_patches(tiny, big, "fire5", 1.5)


def test_empty_folder(tiny, tmp_path):
    with pytest.raises(ValueError, match="empty"):
        top_patches(tiny, tmp_path, "fire5", 0)


def test_real_top_patch_crop(cnn):
    """On the pretrained model: a top fire5 patch re-run alone gives its score."""
    from minicnn.data import load_image, pick_image
    imgs = [load_image(pick_image(*n)) for n in (("kitten", "chelsea"), ("sky", "coffee"))]
    x = cnn.preprocess(imgs)
    found = top_patches(cnn, x, "fire5", 37, k=30)
    inside = [p for p in found if not p.clipped][:2]
    assert inside
    for p in inside:
        value = recompute_activation(cnn, x[p.image_index], "fire5", 37, p.position)
        assert value == pytest.approx(p.score, rel=1e-4, abs=1e-4)


# ------------------------------------------------------------------ command line
def test_cli_filters_and_errors(cnn, tmp_path, capsys):
    from minicnn.cli import main
    assert main(["filters", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "filters_conv1.png").is_file()
    assert main(["filters", "--layer", "fire3", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "filters_fire3_expand3x3.png").is_file()
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["patches", "--folder", str(empty), "--out", str(tmp_path)]) == 1
    assert "empty" in capsys.readouterr().err
    assert main(["patches", "--channels", "999", "--limit", "1", "--out", str(tmp_path)]) == 1
    assert "valid: 0..255" in capsys.readouterr().err


def test_interrupt_returns_best_so_far(tiny, big, monkeypatch):
    real, calls = tiny.forward, []

    def forward(x, *a, **kw):
        calls.append(len(x))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(x, *a, **kw)

    monkeypatch.setattr(tiny, "forward", forward)
    with pytest.warns(UserWarning, match="first 4 images"):
        found = top_patches(tiny, big, "fire5", 4, k=3, batch_size=4)
    monkeypatch.undo()
    assert found == top_patches(tiny, big[:4], "fire5", 4, k=3)


def test_cli_neighbors_and_embed(cnn, tmp_path, capsys):
    import shutil

    from minicnn.cli import main
    from minicnn.data import available_images
    photos = tmp_path / "photos"
    photos.mkdir()
    for p in available_images("dataset", limit=6):     # ImageNet sample, else embedded
        shutil.copy(p, photos / p.name)
    common = ["--folder", str(photos), "--cache-dir", str(tmp_path / "cache"),
              "--out", str(tmp_path / "out")]
    assert main(["neighbors", "--queries", "2", *common]) == 0
    assert (tmp_path / "out" / "neighbors_fire9.png").is_file()
    assert main(["embed", "--method", "pca", "--tile", "16", *common]) == 0
    assert (tmp_path / "out" / "embed_pca_fire9_grid.png").is_file()
    assert len(list((tmp_path / "cache").glob("*.ok.npy"))) == 1     # shared by both


def test_grids_refuse_zero_columns():
    """Issue 10, item 11: filter_grid(W, ncols=0) was a ZeroDivisionError."""
    from minicnn.techniques.filters import filter_grid, tile_grid
    w = np.random.default_rng(0).standard_normal((4, 3, 3, 3))
    with pytest.raises(ValueError, match="ncols must be a positive integer, got 0"):
        filter_grid(w, ncols=0)
    with pytest.raises(ValueError, match="ncols must be a positive integer, got -1"):
        tile_grid(np.zeros((2, 3, 3), np.uint8), ncols=-1)
    with pytest.raises(ValueError, match="tiles is empty"):
        tile_grid(np.zeros((0, 3, 3), np.uint8))
    assert filter_grid(w, ncols=2).shape == (2 * 4 + 1, 2 * 4 + 1, 3)


# ------------------------------------------------------------------ issue 11: figures
def test_1x1_filter_grid_is_not_constant(rng):
    """A 1x1 part (fire squeeze1x1 / expand1x1) was an all-black grid: every 1x1 tile
    min-max scaled on its own is a constant.  One scale per filter shows the weights,
    and filter_figure draws the (out, in) matrix on a diverging scale."""
    from minicnn.techniques.filters import filter_figure
    w = rng.standard_normal((16, 64, 1, 1))
    grid = filter_grid(w, upscale=4)
    assert grid.shape == (16 * 5 + 1, 64 * 5 + 1)
    tiles = grid[1::5, 1::5]                                 # one pixel per weight
    assert np.ptp(tiles) == 255 and len(np.unique(tiles)) > 50
    for f in range(16):                                      # each row spans 0..255
        assert tiles[f].min() == 0 and tiles[f].max() == 255
    assert (filter_grid(w, scale="tile") == 0).sum() > 16 * 64 - 1    # the old black grid
    fig = filter_figure(w, name="fire2/squeeze1x1")
    assert fig.dtype == np.uint8 and fig.ndim == 3 and np.ptp(fig) > 200
    assert len(np.unique(fig.reshape(-1, 3), axis=0)) > 50
    layer = filter_grid(rng.standard_normal((4, 5, 3, 3)), scale="layer")
    assert layer.ndim == 3 and layer.shape[2] == 3           # diverging colours
    with pytest.raises(ValueError, match="scale"):
        filter_grid(w, scale="nope")


def test_1x1_filters_command_writes_a_weight_matrix(cnn, tmp_path):
    from minicnn.cli import main
    from minicnn.data import load_image
    for part in ("squeeze1x1", "expand1x1"):
        assert main(["filters", "--layer", "fire2", "--part", part, "--out",
                     str(tmp_path)]) == 0
        img = load_image(tmp_path / f"filters_fire2_{part}.png")
        assert np.ptp(img) > 200 and len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_clipped_patches_and_labelled_patch_figure(tiny, big):
    """Issue 11: patches clipped to the image (no grey margin), channel and score shown."""
    from minicnn.techniques.patches import patch_figure
    found = top_patches(tiny, big, "fire9", 4, k=2)          # fields never fit 80 px
    tiles = patch_images(tiny, big, found, tile=64, clip=True)
    assert tiles.shape == (2, 64, 64, 3)
    p = found[0]
    y0, x0, y1, x1 = p.box
    img = tiny.deprocess(big[p.image_index])
    assert (y1 - y0, x1 - x0) == (80, 80)                    # the whole image, at 64 px
    from PIL import Image
    expected = np.asarray(Image.fromarray(img).resize((64, 64), Image.BICUBIC))
    np.testing.assert_array_equal(tiles[0], expected)       # image content only, no grey
    fig, got = patch_figure(tiny, big, "fire5", [0, 4], k=3, tile=64)
    assert set(got) == {0, 4} and fig.dtype == np.uint8
    assert fig.shape[1] >= 3 * 64 and fig.shape[0] >= 2 * 64
