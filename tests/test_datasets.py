"""minicnn.datasets and the ``data`` command, offline: small archives made here are
served by a 127.0.0.1 server (test_download.LocalServer) in place of GitHub's."""
import argparse
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from minicnn import datasets as DS
from minicnn.download import DownloadError
from test_download import LocalServer, SilentServer, closed_port

REPO = Path(__file__).resolve().parents[1]
SAMPLE_ROOT = "imagenet-sample-images-bc69043e2862758a1906c6a24a792bb28c6bb2ff"


def jpeg(seed, size=(24, 32)):
    from PIL import Image
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, size + (3,), dtype=np.uint8)).save(buf, "JPEG")
    return buf.getvalue()


def make_zip(members, compression=zipfile.ZIP_DEFLATED):
    """{name: bytes or None (a folder)} -> zip bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            if data is None:
                zf.writestr(zipfile.ZipInfo(name), b"")
            else:
                zf.writestr(name, data)
    return buf.getvalue()


CS231N_FILES = {
    "assignment3/": None,
    "assignment3/images/": None,
    "assignment3/images/kitten.jpg": jpeg(1),
    "assignment3/images/sky.jpg": jpeg(2),
    "assignment3/images/gan_outputs_pytorch.png": b"\x89PNG fake",
    "assignment3/images/styles/": None,
    "assignment3/images/styles/tubingen.jpg": jpeg(3),
    "assignment3/images/styles/starry_night.jpg": jpeg(4),
    "assignment3/images/styles/the_scream.jpg": jpeg(5),
    "assignment3/cs231n/image_utils.py": b"# not an image\n",
    "assignment3/style-transfer-checks.npz": b"npz",
    "__MACOSX/assignment3/images/._kitten.jpg": b"resource fork",
}

SAMPLE_FILES = {
    f"{SAMPLE_ROOT}/": None,
    f"{SAMPLE_ROOT}/README.md": b"# ImageNet sample images\n",
    f"{SAMPLE_ROOT}/n15075141_toilet_tissue.JPEG": jpeg(11),
    f"{SAMPLE_ROOT}/n01440764_tench.JPEG": jpeg(12),
    f"{SAMPLE_ROOT}/n01443537_goldfish.JPEG": jpeg(13),
}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    c = tmp_path / "cache"
    monkeypatch.setenv("MINICNN_CACHE", str(c))
    return c


@pytest.fixture
def server(monkeypatch):
    """Serves the fake archives; DATASETS points at them (sha256 unknown, as upstream)."""
    files = {"/cs231n.zip": make_zip(CS231N_FILES), "/sample.zip": make_zip(SAMPLE_FILES)}
    with LocalServer(files) as srv:
        monkeypatch.setitem(DS.DATASETS["cs231n"], "url", srv.url("/cs231n.zip"))
        monkeypatch.setitem(DS.DATASETS["imagenet-sample"], "url", srv.url("/sample.zip"))
        yield srv


def tree(folder):
    """{relative path: bytes} of every file below folder."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def hidden_leftovers(root):
    return sorted(p.name for p in Path(root).iterdir()
                  if p.name.startswith(".") and (".tmp" in p.name or ".old" in p.name))


# ------------------------------------------------------------------ the whole path
def test_fetch_cs231n_layout_manifest_and_rerun(cache, server):
    assert DS.fetched_data_dir() is None
    lines = []
    folder = DS.fetch_dataset("cs231n", log=lines.append, progress=False)
    root = cache / "data"
    assert folder == root / "images"
    files = tree(folder)
    assert sorted(files) == [".fetched.json", "gan_outputs_pytorch.png", "kitten.jpg", "sky.jpg",
                             "styles/starry_night.jpg", "styles/the_scream.jpg",
                             "styles/tubingen.jpg"]
    assert files["kitten.jpg"] == CS231N_FILES["assignment3/images/kitten.jpg"]
    m = json.loads(files[".fetched.json"])
    assert m["url"] == server.url("/cs231n.zip") and m["commit"].startswith("3d84654b")
    assert m["archive_sha256_checked"] is False and "trust on first use" in \
        m["archive_sha256_origin"]
    import hashlib
    assert m["archive_sha256"] == hashlib.sha256(server.files["/cs231n.zip"]).hexdigest()
    assert m["files"]["sky.jpg"]["bytes"] == len(CS231N_FILES["assignment3/images/sky.jpg"])
    assert m["notes"] == ["expected but absent: styles/composition_vii.jpg"]
    assert DS.verify_dataset("cs231n") == []
    assert DS.fetched_data_dir() == root
    assert not (root / ".downloads" / "assignment3_colab.zip").exists()
    assert hidden_leftovers(root) == []
    assert lines[0].startswith("cs231n: fetching cs231n assignment 3 images")
    assert any(line.startswith(f"downloading {server.url('/cs231n.zip')}") for line in lines)
    assert lines[-1] == f"cs231n: 6 files in {folder}"
    from minicnn.data import load_image
    assert load_image(folder / "styles" / "tubingen.jpg").shape == (24, 32, 3)
    # again: present, nothing downloaded
    lines.clear()
    assert DS.fetch_dataset("cs231n", log=lines.append) == folder
    assert len(server.requests) == 1
    assert len(lines) == 1 and "already present" in lines[0] and "--force" in lines[0]
    # --force: fetched again, same result
    DS.fetch_dataset("cs231n", force=True, log=None)
    assert len(server.requests) == 2
    again = tree(folder)
    assert {k: v for k, v in again.items() if k != ".fetched.json"} == \
        {k: v for k, v in files.items() if k != ".fetched.json"}
    assert hidden_leftovers(root) == []


def test_fetch_imagenet_sample_labels(cache, server):
    folder = DS.fetch_dataset("imagenet-sample", log=None)
    assert folder == cache / "data" / "imagenet_sample"
    assert (folder / "labels.tsv").read_text() == (
        "file\tclass_index\twnid\n"
        "n01440764_tench.JPEG\t0\tn01440764\n"
        "n01443537_goldfish.JPEG\t1\tn01443537\n"
        "n15075141_toilet_tissue.JPEG\t999\tn15075141\n")
    assert sorted(tree(folder)) == [".fetched.json", "labels.tsv", "n01440764_tench.JPEG",
                                    "n01443537_goldfish.JPEG", "n15075141_toilet_tissue.JPEG"]
    m = DS.read_manifest(folder)
    assert m["notes"] == ["3 photos, 1000 expected"] and "labels.tsv" in m["files"]
    assert DS.fetched_data_dir() == cache / "data"
    # the same reading as minicnn.data.imagenet_sample does
    rows = [line.split("\t") for line in (folder / "labels.tsv").read_text().splitlines()[1:]]
    assert [int(r[1]) for r in rows] == [0, 1, 999]


def test_fetched_data_found_with_minicnn_cache(tmp_path, monkeypatch, server):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "c1"))
    assert DS.fetched_data_dir() is None
    DS.fetch_dataset("imagenet-sample", log=None)
    assert DS.fetched_data_dir() == tmp_path / "c1" / "data"
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path / "c2"))
    assert DS.fetched_data_dir() is None
    assert DS.fetched_data_dir(tmp_path / "c1" / "data") == tmp_path / "c1" / "data"


def test_dest_overrides_the_cache(cache, server, tmp_path):
    folder = DS.fetch_dataset("cs231n", dest=tmp_path / "mydata", log=None)
    assert folder == tmp_path / "mydata" / "images" and (folder / "kitten.jpg").is_file()
    assert not cache.exists() or DS.fetched_data_dir() is None
    assert DS.fetched_data_dir(tmp_path / "mydata") == tmp_path / "mydata"


# ------------------------------------------------------------------ resume
def test_dropped_connection_is_resumed(cache, server):
    server.drop_once["/sample.zip"] = len(server.files["/sample.zip"]) // 2
    folder = DS.fetch_dataset("imagenet-sample", log=None)
    assert server.ranged("/sample.zip") == [f"bytes={len(server.files['/sample.zip']) // 2}-"]
    assert DS.verify_dataset("imagenet-sample") == []
    assert (folder / "n01440764_tench.JPEG").read_bytes() == \
        SAMPLE_FILES[f"{SAMPLE_ROOT}/n01440764_tench.JPEG"]


def test_interrupted_fetch_resumes_next_time(cache, server, monkeypatch):
    import functools
    from minicnn import download as D
    half = len(server.files["/cs231n.zip"]) // 2
    server.drop_once["/cs231n.zip"] = half
    monkeypatch.setattr(DS, "download", functools.partial(D.download, retries=0))
    with pytest.raises(DownloadError, match=f"connection lost after {half} of"):
        DS.fetch_dataset("cs231n", log=None)
    root = cache / "data"
    assert not (root / "images").exists() and DS.fetched_data_dir() is None
    assert (root / ".downloads" / "assignment3_colab.zip.part").stat().st_size == half
    monkeypatch.setattr(DS, "download", D.download)
    DS.fetch_dataset("cs231n", log=None)
    assert server.ranged("/cs231n.zip") == [f"bytes={half}-"]
    assert DS.verify_dataset("cs231n") == []
    assert sorted(os.listdir(root / ".downloads")) == []


# ------------------------------------------------------------------ refusals
def test_corrupt_archive_refused_leaving_nothing(cache, server):
    server.files["/cs231n.zip"] = b"<html>not a zip</html>"
    with pytest.raises(DS.DatasetError, match="not a readable zip file .*corrupt or truncated"):
        DS.fetch_dataset("cs231n", log=None)
    root = cache / "data"
    assert not (root / "images").exists() and hidden_leftovers(root) == []
    assert os.listdir(root / ".downloads") == []
    # a zip whose member data is damaged (CRC mismatch)
    good = make_zip(CS231N_FILES, zipfile.ZIP_STORED)
    payload = CS231N_FILES["assignment3/images/sky.jpg"]
    at = good.index(payload) + len(payload) // 2
    server.files["/cs231n.zip"] = good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1:]
    with pytest.raises(DS.DatasetError, match="sky.jpg' of the archive .* is corrupt"):
        DS.fetch_dataset("cs231n", log=None)
    assert not (root / "images").exists() and hidden_leftovers(root) == []
    assert DS.fetched_data_dir() is None


@pytest.mark.parametrize("bad", ["../evil/images/x.jpg", "/abs/images/x.jpg",
                                 "a/images/../../x.jpg"])
def test_unsafe_members_refused(cache, server, tmp_path, bad):
    members = dict(CS231N_FILES)
    members[bad] = b"evil"
    data = make_zip(members)
    assert bad.encode() in data                   # the name went in unchanged
    server.files["/cs231n.zip"] = data
    with pytest.raises(DS.DatasetError, match="refusing the archive .* member"):
        DS.fetch_dataset("cs231n", log=None)
    assert not (cache / "data" / "images").exists()
    assert not list(tmp_path.rglob("x.jpg")) and not list(Path("/abs").glob("*"))


def test_symlink_member_refused(cache, server):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("assignment3/images/link.jpg")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    server.files["/cs231n.zip"] = buf.getvalue()
    with pytest.raises(DS.DatasetError, match="is a symbolic link"):
        DS.fetch_dataset("cs231n", log=None)


def test_wrong_sha256_refused(cache, server, monkeypatch):
    monkeypatch.setitem(DS.DATASETS["cs231n"], "sha256", "ab" * 32)
    with pytest.raises(DownloadError, match="sha256 mismatch \\(corrupt or tampered download\\)"):
        DS.fetch_dataset("cs231n", log=None)
    root = cache / "data"
    assert not (root / "images").exists() and os.listdir(root / ".downloads") == []
    import hashlib
    right = hashlib.sha256(server.files["/cs231n.zip"]).hexdigest()
    DS.fetch_dataset("cs231n", sha256=right, log=None)
    m = DS.read_manifest(root / "images")
    assert m["archive_sha256_checked"] is True and m["archive_sha256"] == right


def test_unmanaged_folder_never_replaced(cache, server):
    mine = cache / "data" / "images"
    mine.mkdir(parents=True)
    (mine / "mine.jpg").write_bytes(b"x")
    for force in (False, True):
        with pytest.raises(DS.DatasetError, match="not written by `minicnn data fetch`"):
            DS.fetch_dataset("cs231n", force=force, log=None)
    assert os.listdir(mine) == ["mine.jpg"] and server.requests == []


def test_damaged_copy_detected_and_refetched(cache, server):
    folder = DS.fetch_dataset("cs231n", log=None)
    (folder / "sky.jpg").write_bytes(b"tampered")
    (folder / "kitten.jpg").unlink()
    problems = DS.verify_dataset("cs231n")
    assert problems == ["kitten.jpg: missing", "sky.jpg: 8 bytes, recorded "
                        f"{len(CS231N_FILES['assignment3/images/sky.jpg'])}"]
    lines = []
    DS.fetch_dataset("cs231n", log=lines.append)
    assert any("is damaged (kitten.jpg: missing and 1 more); fetching again" in line
               for line in lines)
    assert DS.verify_dataset("cs231n") == []
    # same size, other bytes: only the full check sees it
    data = (folder / "sky.jpg").read_bytes()
    (folder / "sky.jpg").write_bytes(bytes([data[0] ^ 1]) + data[1:])
    assert DS.verify_dataset("cs231n", full=False) == []
    assert DS.verify_dataset("cs231n") == ["sky.jpg: sha256 differs from the one recorded "
                                           "at fetch time"]


def test_refetch_reports_changed_upstream_files(cache, server):
    DS.fetch_dataset("cs231n", log=None)
    changed = dict(CS231N_FILES)
    changed["assignment3/images/sky.jpg"] = jpeg(99)
    server.files["/cs231n.zip"] = make_zip(changed)
    lines = []
    DS.fetch_dataset("cs231n", force=True, log=lines.append)
    assert any("archive's sha256 differs" in line for line in lines)
    assert any("warning: 1 files differ from the previous fetch (e.g. sky.jpg)" in line
               for line in lines)


def test_unknown_dataset_name(cache):
    with pytest.raises(ValueError, match="unknown dataset 'mnist': choose from cs231n, "
                                         "imagenet-sample"):
        DS.fetch_dataset("mnist")


# ------------------------------------------------------------------ offline
def test_offline_connection_refused(cache, monkeypatch):
    url = f"http://127.0.0.1:{closed_port()}/cs231n.zip"
    monkeypatch.setitem(DS.DATASETS["cs231n"], "url", url)
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as err:
        DS.fetch_dataset("cs231n", log=None)
    assert time.monotonic() - t0 < 10
    assert str(err.value) == f"cannot download {url}: connection refused"
    assert DS.fetched_data_dir() is None


def test_offline_silent_host_times_out(cache, monkeypatch):
    with SilentServer() as silent:
        url = f"http://127.0.0.1:{silent.port}/cs231n.zip"
        monkeypatch.setitem(DS.DATASETS["cs231n"], "url", url)
        t0 = time.monotonic()
        with pytest.raises(DownloadError, match=r"timeout after 0\.5 s"):
            DS.fetch_dataset("cs231n", log=None, timeout=0.5, connect_timeout=0.5)
        assert time.monotonic() - t0 < 3
    assert not (cache / "data" / "images").exists()


# ------------------------------------------------------------------ concurrency
def test_concurrent_threads_one_dest(cache, server):
    server.delay = 0.01
    server.files["/sample.zip"] = make_zip(dict(SAMPLE_FILES, **{
        f"{SAMPLE_ROOT}/n01484850_great_white_shark.JPEG": os.urandom(400_000)}),
        zipfile.ZIP_STORED)
    errors = []

    def worker():
        try:
            DS.fetch_dataset("imagenet-sample", log=None)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(server.requests) == 1              # the others waited and found it present
    assert DS.verify_dataset("imagenet-sample") == []
    assert hidden_leftovers(cache / "data") == []


def test_concurrent_processes_one_dest(cache, server, tmp_path):
    server.delay = 0.05
    server.files["/cs231n.zip"] = make_zip(dict(CS231N_FILES, **{
        "assignment3/images/big.png": os.urandom(500_000)}), zipfile.ZIP_STORED)
    dest = tmp_path / "shared_dest"
    code = ("import sys; from minicnn import datasets as DS; "
            "DS.DATASETS['cs231n']['url'] = sys.argv[1]; "
            "print(DS.fetch_dataset('cs231n', dest=sys.argv[2], progress=False))")
    env = dict(os.environ, MINICNN_CACHE=str(cache), PYTHONPATH=str(REPO))
    procs = [subprocess.Popen([sys.executable, "-c", code, server.url("/cs231n.zip"), str(dest)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    assert [o[0].strip() for o in outs] == [str(dest / "images")] * 2
    logs = "".join(o[1] for o in outs)
    assert logs.count("downloading ") <= 2
    assert "already present" in logs or logs.count("downloading ") == 2
    assert DS.verify_dataset("cs231n", dest=dest) == []
    # identical to one fetch done alone
    alone = DS.fetch_dataset("cs231n", dest=tmp_path / "alone", log=None)
    strip = lambda t: {k: v for k, v in t.items() if k != ".fetched.json"}  # noqa: E731
    assert strip(tree(dest / "images")) == strip(tree(alone))
    assert hidden_leftovers(dest) == [] and os.listdir(dest / ".downloads") == []


# ------------------------------------------------------------------ the data command
def _cli(argv, capsys):
    from minicnn.commands import data_cmd
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    data_cmd.register(sub)
    args = parser.parse_args(argv)
    rc = args.func(args)
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_data_command_fetch_and_list(cache, server, capsys, tmp_path):
    rc, out, err = _cli(["data"], capsys)
    assert rc == 0
    assert "cs231n           not fetched (python -m minicnn data fetch cs231n)" in out
    assert "Weights in use:" in out
    rc, out, err = _cli(["data", "fetch", "cs231n", "imagenet-sample"], capsys)
    assert rc == 0, err
    assert f"cs231n: ready in {cache / 'data' / 'images'}" in out
    assert f"imagenet-sample: ready in {cache / 'data' / 'imagenet_sample'}" in out
    assert "cs231n: fetching" in err and "imagenet-sample: 4 files in" in err
    rc, out, err = _cli(["data", "fetch", "cs231n"], capsys)
    assert rc == 0 and "already present" in err
    rc, out, _ = _cli(["data"], capsys)
    assert f"6 files in {cache / 'data' / 'images'}  [ok]" in out
    assert f"from {server.url('/sample.zip')}" in out
    (cache / "data" / "images" / "sky.jpg").unlink()
    rc, out, _ = _cli(["data"], capsys)
    assert "DAMAGED: sky.jpg: missing (fetch again with --force)" in out
    # --dest and errors
    rc, out, err = _cli(["data", "fetch", "cs231n", "--dest", str(tmp_path / "d"), "--force"],
                        capsys)
    assert rc == 0 and f"MINICNN_DATA={tmp_path / 'd'}" in out
    server.files.pop("/sample.zip")
    rc, out, err = _cli(["data", "fetch", "imagenet-sample", "--dest", str(tmp_path / "e")],
                        capsys)
    assert rc == 1 and f"error: cannot download {server.url('/sample.zip')}: HTTP 404 " \
                       "Not Found" in err
    with pytest.raises(SystemExit):
        _cli(["data", "fetch", "mnist"], capsys)


def test_data_command_through_main(cache, server, capsys, monkeypatch):
    from minicnn import cli, commands
    if "data_cmd" not in commands.COMMAND_MODULES:       # wired by the command registry
        monkeypatch.setattr(commands, "COMMAND_MODULES",
                            commands.COMMAND_MODULES + ("data_cmd",))
    assert cli.main(["data", "fetch", "cs231n", "--no-progress"]) == 0
    assert "cs231n: ready in" in capsys.readouterr().out
    monkeypatch.setitem(DS.DATASETS["cs231n"], "url", f"http://127.0.0.1:{closed_port()}/x")
    assert cli.main(["data", "fetch", "cs231n", "--dest", str(cache / "other")]) == 1
    assert "connection refused" in capsys.readouterr().err


def test_registry_is_pinned():
    cs, sample = DS.DATASETS["cs231n"], DS.DATASETS["imagenet-sample"]
    assert cs["url"] == ("https://github.com/cs231n/cs231n.github.io/raw/"
                         "3d84654b14608fbccdff2393485631aaacfc9dab/assignments/2024/"
                         "assignment3_colab.zip")
    assert sample["url"] == ("https://github.com/EliSchwartz/imagenet-sample-images/archive/"
                             "bc69043e2862758a1906c6a24a792bb28c6bb2ff.zip")
    assert {cs["folder"], sample["folder"]} == {"images", "imagenet_sample"}
    table = DS.imagenet_class_table()
    assert table["wnids"][0] == "n01440764" and len(table["names"]) == 1000
