"""Fast style transfer: training (loss goes down, seeded runs identical), resumable
checkpoints (Ctrl-C, SIGKILL in a subprocess, corrupted files), stylize and
blends, the shipped networks and the CLI.  Tiny models and images keep it fast."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import minicnn
from minicnn.data import find_image, load_image, save_image
from minicnn.models.transformer import TransformerNet
from minicnn.techniques import fast_style as fs

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Six small random 'photos' of different sizes (one grey, one RGBA)."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(11)
    for i in range(6):
        h, w = 36 + 3 * i, 44 - 2 * i
        img = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        img = np.clip(img.astype(int) + np.linspace(0, 90, w)[None, :, None], 0, 255)
        if i == 1:
            img = img[..., 0]
        save_image(folder / f"p{i}.png", img.astype(np.uint8))
    return folder


STYLE_IMG = np.random.default_rng(5).integers(0, 256, (48, 56, 3), dtype=np.uint8)
TRAIN = dict(steps=8, batch_size=2, crop=32, widths=(3, 4, 4), res_blocks=1, style_size=40,
             checkpoint_every=2, learning_rate=2e-3, seed=3, dtype=np.float64)


def run_training(folder, checkpoint=None, resume=False, callback=None, **overrides):
    """The configuration shared by the in-process runs and the subprocess."""
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    kw = dict(TRAIN, **overrides)
    return fs.train_transformer(cnn, STYLE_IMG, content=folder, checkpoint=checkpoint,
                                resume=resume, callback=callback, **kw)


@pytest.fixture(scope="module")
def reference(photos):
    """An uninterrupted seeded run of TRAIN['steps'] steps."""
    return run_training(photos)


def _same_params(a, b):
    assert set(a.params) == set(b.params)
    for k in a.params:
        np.testing.assert_array_equal(a.params[k], b.params[k], err_msg=k)


def test_training_batch_depends_only_on_seed_and_step(photos):
    files = sorted(photos.iterdir())
    b1, s1 = fs.training_batch(files, 5, 0, 3, 32, num_styles=3)
    b2, s2 = fs.training_batch(files, 5, 0, 3, 32, num_styles=3)
    b3, _ = fs.training_batch(files, 6, 0, 3, 32, num_styles=3)
    assert b1.shape == (3, 32, 32, 3) and b1.dtype == np.uint8
    np.testing.assert_array_equal(b1, b2)
    assert s1 == s2
    assert not np.array_equal(b1, b3)


def test_seeded_runs_identical_and_history(reference, photos):
    net, hist = reference
    again, hist2 = run_training(photos)
    _same_params(net, again)
    assert hist["loss"] == hist2["loss"]
    assert hist["step"] == list(range(1, TRAIN["steps"] + 1)) and not hist["interrupted"]
    np.testing.assert_allclose(np.add(np.add(hist["content"], hist["style"]), hist["tv"]),
                               hist["loss"])
    other, _ = run_training(photos, seed=4, steps=2)
    assert not np.array_equal(other.params["out/W"], net.params["out/W"])


def test_training_feeds_the_crops_at_their_size(photos, monkeypatch):
    """The crops reach the transformer and the loss network as crop x crop pixels, the
    same pixels as the batch (a preprocess with the default size once resized the
    128 px crops to 256, which trained on blurred, 4x larger images)."""
    seen = []
    real = fs.train_step

    def spy(net, cnn, x, *args, **kwargs):
        seen.append(x.copy())
        return real(net, cnn, x, *args, **kwargs)
    monkeypatch.setattr(fs, "train_step", spy)
    run_training(photos, steps=1)
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    batch, _ = fs.training_batch(sorted(photos.iterdir()), 0, TRAIN["seed"],
                                 TRAIN["batch_size"], TRAIN["crop"])
    assert seen[0].shape == (TRAIN["batch_size"], 3, TRAIN["crop"], TRAIN["crop"])
    np.testing.assert_allclose(cnn.deprocess(seen[0]), batch, atol=1)
    # rescale=(2, 3): crops of photos resized to 2-3x the crop, as training_batch(scale=)
    seen.clear()
    run_training(photos, steps=1, rescale=(2, 3))
    batch, _ = fs.training_batch(sorted(photos.iterdir()), 0, TRAIN["seed"],
                                 TRAIN["batch_size"], TRAIN["crop"], scale=(2, 3))
    np.testing.assert_allclose(cnn.deprocess(seen[0]), batch, atol=1)
    whole, _ = fs.training_batch(sorted(photos.iterdir()), 0, TRAIN["seed"],
                                 TRAIN["batch_size"], TRAIN["crop"])
    assert np.abs(batch.astype(int) - whole).mean() > 5


def test_heldout_photos_are_not_trained_on(tmp_path):
    files = [tmp_path / f"img{i:04d}.jpg" for i in range(1000)]
    held = fs.heldout_photos(files)
    train = fs.training_photos(files)
    assert len(held) == 10 and len(train) == 990
    assert not set(held) & set(train)
    assert fs.training_photos(files[:50]) == sorted(files[:50])


def test_saturated_fraction_counts_new_pure_black_and_white():
    content = np.full((10, 10, 3), 100, np.uint8)
    content[0, :] = 0                                  # the photo's own black row
    img = content.copy()
    img[0, :] = 0                                      # not new
    img[1, :5] = 0                                     # 5 new black pixels
    img[2, :3] = 255                                   # 3 new white pixels
    img[3, :4, 0] = 0                                  # one channel at 0: not pure black
    assert fs.saturated_fraction(content, img) == pytest.approx(8 / 100)


def test_train_step_lowers_the_loss_on_a_batch(photos):
    """Overfitting one batch: 25 Adam steps cut the perceptual loss by more than half."""
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    targets = fs.style_targets(cnn, STYLE_IMG, 40)
    preset = {"content_weight": 1.0, "style_weights": [1e2] * 4, "tv_weight": 1e-3}
    batch, _ = fs.training_batch(sorted(photos.iterdir()), 0, 0, 2, 32)
    x = cnn.preprocess(batch, size=None, crop=None)
    net = TransformerNet((4, 6, 6), 1, rng=np.random.default_rng(0), dtype=np.float64)
    adam = {k: {"learning_rate": 2e-3} for k in net.params}
    losses = [fs.train_step(net, cnn, x, targets, preset, adam)["loss"] for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0], losses


def test_ctrl_c_saves_checkpoint_and_resume_is_bit_identical(reference, photos, tmp_path):
    ckpt = tmp_path / "ck.npz"

    def interrupt(step, net, losses):
        if step == 5:
            raise KeyboardInterrupt

    net, hist = run_training(photos, ckpt, callback=interrupt)
    assert hist["interrupted"] and hist["step"][-1] == 5
    assert fs.load_checkpoint(ckpt)["step"] == 5              # saved at the interrupt
    resumed, hist2 = run_training(photos, ckpt, resume=True)
    _same_params(resumed, reference[0])
    assert hist2["loss"] == reference[1]["loss"]


SUBPROCESS = """
import sys, time
sys.path.insert(0, {tests!r})
from test_fast_style import run_training

def report(step, net, losses):
    print(step, flush=True)
    time.sleep(0.3)

run_training({folder!r}, {ckpt!r}, steps=40, callback=report)
"""


def test_sigkill_then_resume_loses_at_most_one_interval(reference, photos, tmp_path):
    ckpt = tmp_path / "ck.npz"
    code = SUBPROCESS.format(tests=str(TESTS), folder=str(photos), ckpt=str(ckpt))
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                            env=env, cwd=str(ROOT))
    last = 0
    deadline = time.monotonic() + 90
    try:
        for line in proc.stdout:
            last = int(line)
            if last >= 5 or time.monotonic() > deadline:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert last >= 5
    saved = fs.load_checkpoint(ckpt)["step"]
    assert last - TRAIN["checkpoint_every"] <= saved <= last
    # the subprocess ran with steps=40; resuming to 8 equals the uninterrupted run
    resumed, hist = run_training(photos, ckpt, resume=True)
    _same_params(resumed, reference[0])
    assert hist["loss"] == reference[1]["loss"]


def test_corrupted_checkpoint_refused_and_previous_kept(photos, tmp_path):
    ckpt = tmp_path / "ck.npz"
    run_training(photos, ckpt, steps=4)                       # checkpoints at 2 and 4
    prev = ckpt.with_name("ck.prev.npz")
    assert fs.load_checkpoint(prev)["step"] == 2
    raw = bytearray(ckpt.read_bytes())
    for damage in ("flip", "truncate"):
        bad = bytes(raw[: len(raw) // 2]) if damage == "truncate" else \
            bytes(raw[:len(raw) // 2]) + bytes([raw[len(raw) // 2] ^ 0xFF]) + \
            bytes(raw[len(raw) // 2 + 1:])
        ckpt.write_bytes(bad)
        with pytest.raises(fs.CheckpointError, match="corrupted.*ck.prev.npz"):
            run_training(photos, ckpt, resume=True)
        assert ckpt.read_bytes() == bad                       # refused, not overwritten
        assert fs.load_checkpoint(prev)["step"] == 2           # previous one intact
    net, hist = run_training(photos, prev, resume=True, steps=4)     # resumes from step 2
    assert hist["step"] == [1, 2, 3, 4]
    with pytest.raises(fs.CheckpointError, match="different settings.*learning_rate"):
        run_training(photos, prev, resume=True, steps=6, learning_rate=1e-3)


def test_bad_arguments(photos):
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    with pytest.raises(ValueError, match="multiple of 4"):
        fs.train_transformer(cnn, STYLE_IMG, content=photos, crop=30, steps=1)
    with pytest.raises(ValueError, match="style_weights has 2 values"):
        fs.train_transformer(cnn, STYLE_IMG, content=photos, crop=32, steps=1,
                             style_weights=(1.0, 2.0))
    with pytest.raises(ValueError, match="unknown style_layers"):
        fs.train_transformer(cnn, STYLE_IMG, content=photos, crop=32, steps=1,
                             style_layers=("conv1", "fire99"))


def test_learning_rate_schedules():
    from minicnn import optim
    assert optim.scheduled_rate(1e-3, "constant", 7, 10) == 1e-3
    rates = [optim.scheduled_rate(2.0, "cosine", s, 4) for s in range(5)]
    np.testing.assert_allclose(rates, [2.0, 1 + np.sqrt(0.5), 1.0, 1 - np.sqrt(0.5), 0.0],
                               atol=1e-12)
    with pytest.raises(ValueError, match="schedule 'step'.*constant, cosine"):
        optim.scheduled_rate(1.0, "step", 0, 1)


def test_fine_tuning_starts_from_the_network_and_follows_the_schedule(
        reference, photos, tmp_path, monkeypatch):
    """init= starts from the given network (its architecture, fresh Adam), the
    cosine schedule sets each step's rate, and a resume with another schedule
    or another start is refused."""
    start = reference[0]
    rates = []
    adam = fs.optim.adam

    def spy(w, dw, config):
        if w.ndim == 4 and w.shape == start.params["out/W"].shape:
            rates.append(config["learning_rate"])
        return adam(w, dw, config)

    monkeypatch.setattr(fs.optim, "adam", spy)
    ckpt = tmp_path / "ft.npz"
    net, _ = run_training(photos, ckpt, init=start, steps=4, lr_schedule="cosine",
                          widths=(5, 5, 5), seed=4)
    assert net.widths == start.widths and net.res_blocks == start.res_blocks
    # conv1/W and out/W share the (3, 3, 9, 9) shape: two calls per step
    np.testing.assert_allclose(rates, [2e-3 * (1 + np.cos(np.pi * s / 4)) / 2
                                       for s in range(4) for _ in range(2)])
    frozen, _ = run_training(photos, None, init=start, steps=1, learning_rate=1e-30)
    for k in start.params:
        np.testing.assert_allclose(frozen.params[k], start.params[k], rtol=1e-12, atol=1e-25)
    with pytest.raises(fs.CheckpointError, match="different settings.*lr_schedule"):
        run_training(photos, ckpt, resume=True, init=start, steps=4)
    with pytest.raises(fs.CheckpointError, match="different settings.*rescale"):
        run_training(photos, ckpt, resume=True, init=start, steps=4, lr_schedule="cosine",
                     seed=4, rescale=(1, 2))
    with pytest.raises(fs.CheckpointError, match="different settings.*init"):
        run_training(photos, ckpt, resume=True, steps=4, lr_schedule="cosine", seed=4)
    with pytest.raises(ValueError, match="init is a network of"):
        run_training(photos, None, init=TransformerNet((3, 4, 4), 1, num_styles=2,
                                                      dtype=np.float64), steps=1)
    with pytest.raises(ValueError, match="learning-rate schedule 'linear'"):
        run_training(photos, None, steps=1, lr_schedule="linear")


def test_per_image_loss_normalization(photos, tmp_path):
    """loss_normalization="image": the gradient is that of (1/n) sum_i c_i L_i with
    c_i = mean(L) / L_i held constant (each image's own perceptual-loss gradient, scaled),
    the reported losses are the usual batch means; an image whose loss is larger counts
    less.  Recorded in the settings (a resume with the other choice is refused); unknown
    names list the choices."""
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    targets = fs.style_targets(cnn, STYLE_IMG, 40)
    preset = {"content_weight": 1.0, "style_weights": [1e2] * 4, "tv_weight": 1e-3}
    batch, _ = fs.training_batch(sorted(photos.iterdir()), 0, 0, 3, 32)
    x = cnn.preprocess(batch, size=None, crop=None)
    x[1] *= 0.2                                             # a flat photo: other losses
    net = TransformerNet((4, 6, 6), 1, rng=np.random.default_rng(0), dtype=np.float64)
    y = net.forward(x)[0]
    batch_losses, dy_batch = fs.perceptual_loss(cnn, y, x, targets, preset)
    losses, dy = fs.perceptual_loss_per_image(cnn, y, x, targets, preset)
    for k in batch_losses:
        assert np.isclose(losses[k], batch_losses[k], rtol=1e-10), k
    own = [fs.perceptual_loss(cnn, y[i:i + 1], x[i:i + 1], targets, preset) for i in range(3)]
    L = np.array([o[0]["loss"] for o in own])
    assert L.max() > 1.1 * L.min()                          # the weights c_i differ
    for i, (o, li) in enumerate(zip(own, L)):
        np.testing.assert_allclose(dy[i:i + 1], o[1] * (L.mean() / li) / 3, rtol=1e-12)
        # the batch mean's gradient is the same per-image gradient, unscaled
        np.testing.assert_allclose(dy_batch[i:i + 1], o[1] / 3, rtol=1e-7, atol=1e-12)
    # numeric check of d/dy of (1/n) sum_i c_i L_i along a random direction
    c = L.mean() / L
    v = np.random.default_rng(2).standard_normal(y.shape)
    h = 1e-5

    def weighted(yy):
        return sum(ci * fs.perceptual_loss(cnn, yy[i:i + 1], x[i:i + 1], targets, preset)[0]
                   ["loss"] for i, ci in enumerate(c)) / 3
    numeric = (weighted(y + h * v) - weighted(y - h * v)) / (2 * h)
    assert np.isclose(numeric, (dy * v).sum(), rtol=1e-6)

    ckpt = tmp_path / "image.npz"
    trained, _ = run_training(photos, ckpt, steps=2, loss_normalization="image")
    assert trained.meta["training"]["loss_normalization"] == "image"
    plain, _ = run_training(photos, None, steps=1)
    assert "loss_normalization" not in plain.meta["training"]       # the default: batch
    with pytest.raises(fs.CheckpointError, match="different settings.*loss_normalization"):
        run_training(photos, ckpt, resume=True, steps=3)
    with pytest.raises(ValueError, match="batch.*image"):
        run_training(photos, None, steps=1, loss_normalization="sample")


def test_content_weight_scale_per_style(photos, tmp_path):
    """A conditional network can weigh each style's content differently: one
    scale per style multiplies that style's preset content weight; a single
    number scales all; a wrong count is refused, and so is a resume with other
    scales (they are part of the checkpoint's settings)."""
    other = np.random.default_rng(6).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    ckpt = tmp_path / "cond.npz"
    base, _ = run_training(photos, None, steps=1, content_weight=100.0)
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    kw = dict(TRAIN, steps=2, content_weight=100.0)
    net, _ = fs.train_transformer(cnn, [STYLE_IMG, other], content=photos, checkpoint=ckpt,
                                  content_weight_scale=(3.0, 0.5), **kw)
    weights = [p["content_weight"] for p in net.meta["training"]["presets"]]
    assert weights == [300.0, 50.0]
    assert base.meta["training"]["presets"][0]["content_weight"] == 100.0
    single, _ = fs.train_transformer(cnn, [STYLE_IMG, other], content=photos,
                                     content_weight_scale=2.0, **dict(kw, steps=1))
    assert [p["content_weight"] for p in single.meta["training"]["presets"]] == [200.0, 200.0]
    with pytest.raises(ValueError, match=r"content_weight_scale must be one number or one "
                                         r"per style \(2\), got 3 values"):
        fs.train_transformer(cnn, [STYLE_IMG, other], content=photos,
                             content_weight_scale=(1, 2, 3), **kw)
    with pytest.raises(ValueError, match="content_weight_scale must be positive"):
        fs.train_transformer(cnn, [STYLE_IMG, other], content=photos,
                             content_weight_scale=(1, -2), **kw)
    with pytest.raises(fs.CheckpointError, match="different settings.*presets"):
        fs.train_transformer(cnn, [STYLE_IMG, other], content=photos, checkpoint=ckpt,
                             resume=True, content_weight_scale=(3.0, 1.0), **kw)


def test_style_weight_scale_multiplies_each_layer(photos, tmp_path):
    """style_weight_scale multiplies every style's per-layer weights (each style
    keeps its own balance); a wrong count or a negative factor is refused; other
    factors refuse a resume."""
    other = np.random.default_rng(6).integers(0, 256, (40, 44, 3), dtype=np.uint8)
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    kw = dict(TRAIN, steps=1)
    ckpt = tmp_path / "sw.npz"
    net, _ = fs.train_transformer(cnn, [STYLE_IMG, other], content=photos, checkpoint=ckpt,
                                  style_weights=(10, 20, 30, 40),
                                  style_weight_scale=(1, 2, 4, 0), **kw)
    for preset in net.meta["training"]["presets"]:
        assert preset["style_weights"] == [10.0, 40.0, 120.0, 0.0]
    plain, _ = fs.train_transformer(cnn, STYLE_IMG, content=photos, **kw)
    scaled, _ = fs.train_transformer(cnn, STYLE_IMG, content=photos,
                                     style_weight_scale=(2, 2, 2, 2), **kw)
    np.testing.assert_allclose(scaled.meta["training"]["presets"][0]["style_weights"],
                               2 * np.array(plain.meta["training"]["presets"][0]
                                            ["style_weights"]))
    with pytest.raises(ValueError, match="style_weight_scale has 3 values for 4 style layers"):
        fs.train_transformer(cnn, STYLE_IMG, content=photos, style_weight_scale=(1, 2, 3), **kw)
    with pytest.raises(ValueError, match="style_weight_scale must be non-negative"):
        fs.train_transformer(cnn, STYLE_IMG, content=photos, style_weight_scale=(1, 1, 1, -1),
                             **kw)
    with pytest.raises(fs.CheckpointError, match="different settings.*presets"):
        fs.train_transformer(cnn, [STYLE_IMG, other], content=photos, checkpoint=ckpt,
                             resume=True, style_weights=(10, 20, 30, 40),
                             style_weight_scale=(1, 2, 4, 8), **kw)


def test_unknown_style_lists_available():
    with pytest.raises(ValueError, match="starry_night"):
        fs.stylize(np.zeros((16, 16, 3), np.uint8), "picasso")
    with pytest.raises(ValueError, match="starry_night"):
        fs.style_image_path("picasso")


@pytest.fixture(scope="module")
def cond_net(tmp_path_factory):
    net = TransformerNet.tiny(np.random.default_rng(2), num_styles=3, dtype=np.float32)
    net.style_names = ["a", "b", "c"]
    path = tmp_path_factory.mktemp("nets") / "cond.npz"
    net.save(path)
    return path


def test_blends(cond_net):
    img = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    net = TransformerNet.load(cond_net)
    one = fs.stylize(img, "b", network=net)
    # blending a style with itself, or unnormalized weights, changes nothing
    np.testing.assert_array_equal(fs.stylize(img, blend={"b": 0.25}, network=net), one)
    np.testing.assert_array_equal(fs.stylize(img, blend=[0, 3.0, 0], network=net), one)
    # reordering the styles of a blend changes nothing
    ab = fs.stylize(img, blend={"a": 0.3, "c": 0.7}, network=net)
    ba = fs.stylize(img, blend={"c": 0.7, "a": 0.3}, network=net)
    np.testing.assert_array_equal(ab, ba)
    assert not np.array_equal(ab, one)
    assert np.allclose(fs.blend_weights(net, {"c": 2, "a": 2}), [0.5, 0, 0.5])
    with pytest.raises(ValueError, match="unknown style"):
        fs.stylize(img, blend={"zz": 1.0}, network=net)
    with pytest.raises(ValueError, match="non-negative"):
        fs.blend_weights(net, [1.0, -1.0, 0.5])
    with pytest.raises(ValueError, match="pass style=<name> or blend="):
        fs.stylize(img, network=net, style=None)


def test_stylize_cli_with_a_network_file(cond_net, tmp_path):
    from minicnn.cli import main
    img = tmp_path / "in.png"
    save_image(img, np.random.default_rng(0).integers(0, 256, (30, 26, 4), dtype=np.uint8))
    assert main(["stylize", str(img), "--style", str(cond_net), "--out", str(tmp_path)]) == 1
    single = TransformerNet.tiny(np.random.default_rng(2), dtype=np.float32)
    single.save(tmp_path / "single.npz")
    assert main(["stylize", str(img), "--style", str(tmp_path / "single.npz"),
                 "--out", str(tmp_path)]) == 0
    out = load_image(tmp_path / "in_single.png")
    assert out.shape == (28, 24, 3)


# ---------------------------------------------------------------------------- shipped networks
def _shipped():
    files = {f for f, _ in fs.STYLES.values()} | {fs.CONDITIONAL_NETWORK}
    return [fs.TRANSFORMER_DIR / f for f in sorted(files)]


@pytest.mark.parametrize("path", _shipped(), ids=lambda p: p.stem)
def test_shipped_network_files(path):
    assert path.is_file(), f"{path.name} is not shipped"
    assert path.stat().st_size < 2_000_000
    net = TransformerNet.load(path)
    training = net.meta["training"]
    assert set(training["styles"]) == set(net.style_names)
    # fine-tuned networks record the runs they started from: count every stage's steps
    stages = [training]
    while "init_training" in stages[-1]:
        stages.append(stages[-1]["init_training"])
    assert sum(t["steps"] for t in stages) >= 4000
    # the recorded setup is the networks' README's: 128-pixel crops, then stages at 256
    assert stages[-1]["crop"] == 128
    assert all(t["crop"] in (128, 256) and set(t["styles"]) == set(net.style_names)
               for t in stages)


@pytest.fixture(scope="module")
def held_out_photo():
    """chelsea (embedded: every machine has it; the networks never trained on it)."""
    img = load_image(find_image("chelsea"), size=256)
    return img[:img.shape[0] // 4 * 4, :img.shape[1] // 4 * 4]


def test_shipped_networks_stylize_a_held_out_photo(cnn, held_out_photo):
    """Each shipped style, on a photo it never saw, measured with this machine's loss
    network (either weights set) under its painting's Gatys objective: the style loss
    falls by more than 80% from the photo's own, and under 1% of the pixels turn pure
    black or white."""
    img = held_out_photo
    nets = {name: fs.load_transformer(name) for name in fs.STYLES}
    cond = TransformerNet.load(fs.TRANSFORMER_DIR / fs.CONDITIONAL_NETWORK)
    for name in fs.STYLES:
        for net, index in (nets[name], (cond, cond.style_index(name))):
            out = net.stylize(img, style=index)
            got = fs.stylization_losses(cnn, img, out, name)
            own = fs.stylization_losses(cnn, img, img, name)
            assert got["style"] < 0.2 * own["style"], (name, net.conditional, got, own)
            assert got["saturated"] < 0.01, (name, net.conditional, got)


def test_shipped_conditional_network_keeps_its_styles_apart(cnn, held_out_photo):
    """In the conditional network each style is closer to its own painting than to the
    other two (style losses in one metric: that style's layer weights), and a blend
    moving from Starry Night to The Scream lowers the style loss to The Scream at
    every step."""
    img = held_out_photo
    cond = TransformerNet.load(fs.TRANSFORMER_DIR / fs.CONDITIONAL_NETWORK)
    for name in cond.style_names:
        out = cond.stylize(img, style=cond.style_index(name))
        dist = {t: fs.stylization_losses(cnn, img, out, t, weights_of=name)["style"]
                for t in cond.style_names}
        assert min(dist, key=dist.get) == name, (name, dist)
    to_scream = [fs.stylization_losses(cnn, img, fs.stylize(
        img, network=cond, blend={"starry_night": 1 - t, "the_scream": t}), "the_scream")["style"]
        for t in np.linspace(0, 1, 5)]
    assert all(np.diff(to_scream) < 0), to_scream


def test_train_style_cli_smoke(tmp_path):
    """Two steps of the CLI on the real loss network, then --resume to 3."""
    import shutil

    from minicnn.cli import main
    from minicnn.data import available_images
    folder = tmp_path / "photos"
    folder.mkdir()
    for p in available_images("photos", limit=7):
        shutil.copy(p, folder / p.name)
    args = ["train-style", "--style", "the_scream", "--content", str(folder), "--steps", "2",
            "--crop", "64", "--batch-size", "1", "--widths", "4,4,4", "--res-blocks", "0",
            "--checkpoint-every", "1", "--out", str(tmp_path)]
    assert main(args) == 0
    assert main(args[:6] + ["3"] + args[7:] + ["--resume"]) == 0
    net = TransformerNet.load(tmp_path / "transformer_the_scream.npz")
    assert net.meta["training"]["steps"] == 3
    # fine-tune it: --init, a cosine schedule, crops of photos at 2-3x the crop
    tuned = tmp_path / "tuned.npz"
    assert main(args + ["--init", str(tmp_path / "transformer_the_scream.npz"), "--lr-schedule",
                        "cosine", "--rescale", "2,3", "--content-weight-scale", "1.5",
                        "--style-weight-scale", "1,2,4,8", "--loss-normalization", "image",
                        "--save", str(tuned)]) == 0
    training = TransformerNet.load(tuned).meta["training"]
    assert training["presets"][0]["content_weight"] == \
        1.5 * net.meta["training"]["presets"][0]["content_weight"]
    np.testing.assert_allclose(training["presets"][0]["style_weights"], np.array(
        net.meta["training"]["presets"][0]["style_weights"]) * [1, 2, 4, 8])
    assert training["lr_schedule"] == "cosine" and training["rescale"] == [2.0, 3.0]
    assert training["loss_normalization"] == "image"
    assert "init" in training and training["steps"] == 2
    assert training["init_training"]["steps"] == 3                   # the first run's record


def test_demo_section_with_stand_in_networks(tmp_path, monkeypatch):
    """The demo section runs end to end (tiny stand-in networks in place of the shipped ones)."""
    import argparse

    from minicnn.commands import fast_style as cmd
    from minicnn.report import Report
    rng = np.random.default_rng(0)
    for name in ("starry_night", "the_scream", "composition_vii"):
        TransformerNet.tiny(rng, dtype=np.float32).save(tmp_path / f"{name}.npz")
    cond = TransformerNet.tiny(rng, num_styles=3, dtype=np.float32)
    cond.style_names = ["composition_vii", "the_scream", "starry_night"]
    cond.save(tmp_path / "three_styles.npz")
    monkeypatch.setattr(fs, "TRANSFORMER_DIR", tmp_path)
    report = Report(tmp_path / "report")
    cmd.demo_section(None, report, argparse.Namespace(quick=True, rng=rng))
    html = report.write().read_text()
    assert "Fast style transfer" in html and "fast_style_blend.png" in html
    assert (tmp_path / "report" / "fast_style_composition_vii.png").is_file()


def test_stylize_cli_writes_the_photo_beside_the_painting(tmp_path, monkeypatch):
    """`stylize` also writes <photo>_<style>_compare.png: photo, painting, result at one
    height (stand-in network in place of the shipped one); --no-compare skips it."""
    from minicnn.cli import main
    TransformerNet.tiny(np.random.default_rng(0), dtype=np.float32).save(
        tmp_path / "the_scream.npz")
    monkeypatch.setattr(fs, "TRANSFORMER_DIR", tmp_path)
    img = np.random.default_rng(1).integers(0, 256, (30, 41, 3), dtype=np.uint8)
    save_image(tmp_path / "in.png", img)
    assert main(["stylize", str(tmp_path / "in.png"), "--style", "the_scream",
                 "--out", str(tmp_path / "o")]) == 0
    out = load_image(tmp_path / "o" / "in_the_scream.png")
    panel = load_image(tmp_path / "o" / "in_the_scream_compare.png")
    assert out.shape == (28, 40, 3)
    assert panel.shape[1] > 2 * out.shape[1] and panel.shape[0] > out.shape[0]
    assert main(["stylize", str(tmp_path / "in.png"), "--style", "the_scream", "--no-compare",
                 "--out", str(tmp_path / "p")]) == 0
    assert not (tmp_path / "p" / "in_the_scream_compare.png").exists()


# --------------------------------------------------------------------------- nothing lost
def test_fresh_run_refuses_to_replace_an_existing_checkpoint(photos, tmp_path):
    """Issue 10, item 1: a run without resume over an existing checkpoint (or network
    file) is refused before any work; overwrite=True starts over on purpose."""
    ckpt, out = tmp_path / "ck.npz", tmp_path / "net.npz"
    run_training(photos, ckpt, steps=2, out=out)
    before, net_before = ckpt.read_bytes(), out.read_bytes()
    with pytest.raises(FileExistsError, match="resume=True.*overwrite=True"):
        run_training(photos, ckpt, steps=2, out=out)
    with pytest.raises(FileExistsError, match="net.npz"):
        run_training(photos, None, steps=2, out=out)
    assert ckpt.read_bytes() == before and out.read_bytes() == net_before
    _, hist = run_training(photos, ckpt, steps=2, out=out, overwrite=True)
    assert hist["step"] == [1, 2]
    with pytest.raises(FileExistsError):          # the CLI: one line, exit code 1
        fs.train_transformer(minicnn.SqueezeNet.tiny(np.random.default_rng(1)), STYLE_IMG,
                             content=photos, checkpoint=ckpt, steps=1)


def test_crash_between_the_renames_of_the_rotation_is_recovered(reference, photos, tmp_path):
    """Issue 10, item 2: the old rotation (path -> .prev, .new -> path) cut by a crash
    left only .prev and .<name>.new; resume completes it instead of restarting at 0."""
    ckpt = tmp_path / "ck.npz"
    run_training(photos, ckpt, steps=4)                     # ck at step 4, .prev at 2
    new = fs._new_path(ckpt)
    os.replace(ckpt, new)                                   # the state after the crash
    assert not ckpt.exists()
    assert fs.recover_checkpoint(ckpt) == ckpt and not new.exists()
    assert fs.load_checkpoint(ckpt)["step"] == 4
    os.replace(ckpt, new)
    resumed, hist = run_training(photos, ckpt, resume=True)
    assert hist["step"][0] == 1 and len(hist["step"]) == TRAIN["steps"]   # history kept
    _same_params(resumed, reference[0])
    # a torn .new falls back to .prev (step 2), never to step 0
    run_training(photos, ckpt, steps=4, overwrite=True)
    new.write_bytes(ckpt.read_bytes()[:100])
    ckpt.unlink()
    assert fs.recover_checkpoint(ckpt) == ckpt
    assert fs.load_checkpoint(ckpt)["step"] == 2
    assert fs.load_checkpoint(fs._prev_path(ckpt))["step"] == 2


def test_rotation_keeps_a_complete_checkpoint_at_every_instant(photos, tmp_path, monkeypatch):
    """A crash at the final rename of the new rotation leaves the previous checkpoint in
    place (the .prev copy is a link, the path itself is never renamed away)."""
    ckpt = tmp_path / "ck.npz"
    run_training(photos, ckpt, steps=2)
    real_replace = os.replace

    def crash(src, dst):
        if Path(dst) == ckpt:
            raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(fs.os, "replace", crash)
    with pytest.raises(OSError, match="No space"):
        run_training(photos, ckpt, steps=4, resume=True)
    monkeypatch.undo()
    assert fs.load_checkpoint(ckpt)["step"] == 2
    assert fs.load_checkpoint(fs._prev_path(ckpt))["step"] == 2


def test_bad_training_numbers_are_refused(photos):
    """Issue 10, item 5: NaN / negative learning rates and weights, checkpoint_every=0."""
    cnn = minicnn.SqueezeNet.tiny(np.random.default_rng(1))
    for kw, match in ((dict(learning_rate=float("nan")), "learning_rate must be positive"),
                      (dict(learning_rate=-1), "learning_rate must be positive, got -1"),
                      (dict(checkpoint_every=0), "checkpoint_every must be positive"),
                      (dict(tv_weight=-1.0), "tv_weight must be non-negative"),
                      (dict(content_weight=float("inf")), "content_weight must be"),
                      (dict(style_weights=(1, 1, float("nan"), 1)), "style_weights must be"),
                      (dict(rescale=(2, 1)), r"rescale must be two factors lo <= hi"),
                      (dict(rescale=(0, 1)), "rescale must be positive")):
        with pytest.raises(ValueError, match=match):
            fs.train_transformer(cnn, STYLE_IMG, content=photos, crop=32, steps=1, **kw)


def test_evaluation_table_counts_targets_and_names_the_misses(monkeypatch):
    """benchmarks/eval_style_networks.py: medians and maxima of the ratios, the photos
    meeting every target, and a note naming each photo that misses one."""
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import eval_style_networks as ev

    def rec(name, style, content, gatys_style=100.0, gatys_content=100.0, sat=0.0):
        return {"photo": name, "photo_style": 1000.0,
                "ours": {"style": style, "content": content, "saturated": sat},
                "gatys": {"style": gatys_style, "content": gatys_content}}
    rows = [{"network": "n.npz", "style": "s", "photos": [
        rec("good", 150, 150), rec("painted_less", 250, 100), rec("kept_less", 100, 210),
        rec("blobs", 100, 100, sat=0.02)]}]
    lines, notes = ev.summarize(rows)
    assert lines[2] == "| n.npz | s | 1.25, 2.50 | 0.12, 0.25 | 1.25, 2.10 | 2.00% | 1/4 |"
    assert len(notes) == 1 and "good" not in notes[0]
    for name in ("painted_less (style 2.50", "kept_less (style 1.00, content 2.10",
                 "blobs (style 1.00, content 1.00, saturated 2.00%)"):
        assert name in notes[0]
