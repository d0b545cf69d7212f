"""Fetch the public data the demos use, into the layout of the shared data folder.

Two named datasets (:data:`DATASETS`), each one archive pinned to a commit of a
public GitHub repository:

* ``cs231n`` -- the official cs231n assignment 3 zip
  (``cs231n/cs231n.github.io`` at 3d84654b, ``assignments/2024/assignment3_colab.zip``);
  every image under its ``*/images/`` folder is kept, subfolders included, giving
  ``images/kitten.jpg``, ``images/sky.jpg`` and ``images/styles/*.jpg``
  (tubingen, starry_night, the_scream, composition_vii, ...).
* ``imagenet-sample`` -- ``EliSchwartz/imagenet-sample-images`` at bc69043e: one
  photo per ImageNet class, ``n<wnid>_<name>.JPEG``; written to
  ``imagenet_sample/`` with a ``labels.tsv`` (``file``, ``class_index``, ``wnid``,
  in class-index order; the index of a wnid comes from the class table shipped
  in ``minicnn/_data/imagenet_classes.json``).  The photos are kept as
  published (not resized).

Where: a data root, by default :func:`data_cache_dir` (``$MINICNN_CACHE/data``,
i.e. ``~/.cache/minicnn/data``), or ``dest``.  The root then looks like the
shared data folder (``images/``, ``imagenet_sample/``) and
:func:`fetched_data_dir` returns it, so :mod:`minicnn.data` can use it when no
``$MINICNN_DATA`` is set.

How:

1. the archive is downloaded by :func:`minicnn.download.download` into
   ``<root>/.downloads/`` (atomic, resumable, bounded timeouts, progress);
2. it is checked: every member name must be relative without ``..`` (and no
   symlinks), the selected members are read with their CRC-32 checked;
3. the files are extracted into a temporary sibling folder
   (``<root>/.<folder>.tmp-<pid>-<random>``) with a ``.fetched.json`` manifest,
   which is then renamed into place: a failure (network, corrupt archive,
   refused member) leaves nothing half-written, and the archive is deleted
   after a successful unpack;
4. one fetch at a time per folder (an ``flock`` on ``<root>/.<folder>.lock``,
   where available): a second fetcher waits, then finds the data present.

Honesty about checksums: we could not download these archives when writing
this module, so their sha256 is unknown (``sha256: None`` in the registry).
Such an archive is accepted on first download (trust on first use): its
sha256, the URL and commit, and the sha256 and size of every unpacked file are
recorded in ``<folder>/.fetched.json``; :func:`verify_dataset` checks the files
against that record later (so a damaged or modified file is detected), and a
later ``force`` refetch reports whether the archive or the files differ from
the ones recorded.  Once a digest is known, put it in :data:`DATASETS` and a
mismatching download is refused.  (GitHub builds ``/archive/`` zips on the
fly, so its bytes may change while the files stay the same: this is why the
files, not only the archive, are recorded.)

Running a fetch again when the data is present (and its files match the
manifest by size) says so and does nothing; ``force=True`` fetches again.  A
folder that exists without a manifest (not written by this module) is never
replaced.
"""
import contextlib
import datetime
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import zipfile
import zlib
from pathlib import Path

from .download import (DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, cache_root, download,
                       log_stderr, sha256_file)

__all__ = ["DATASETS", "DatasetError", "fetch_dataset", "verify_dataset", "dataset_status",
           "fetched_data_dir", "data_cache_dir", "data_root", "dataset_folder",
           "read_manifest", "imagenet_class_table", "MANIFEST_NAME"]

MANIFEST_NAME = ".fetched.json"
MAX_UNPACKED_BYTES = 4 << 30           # refuse archives that would unpack to more
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_CLASS_TABLE = Path(__file__).resolve().parent / "_data" / "imagenet_classes.json"

_CS231N_COMMIT = "3d84654b14608fbccdff2393485631aaacfc9dab"
_SAMPLE_COMMIT = "bc69043e2862758a1906c6a24a792bb28c6bb2ff"

#: The datasets :func:`fetch_dataset` knows.  ``sha256`` None = not known yet (see the
#: module docstring); ``folder`` is the subfolder of the data root it fills.
DATASETS = {
    "cs231n": {
        "description": "cs231n assignment 3 images: kitten.jpg, sky.jpg and the style "
                       "transfer images styles/*.jpg",
        "url": f"https://github.com/cs231n/cs231n.github.io/raw/{_CS231N_COMMIT}/"
               "assignments/2024/assignment3_colab.zip",
        "sha256": None,
        "repo": "cs231n/cs231n.github.io",
        "commit": _CS231N_COMMIT,
        "path": "assignments/2024/assignment3_colab.zip",
        "archive": "assignment3_colab.zip",
        "folder": "images",
        "layout": "cs231n-images",
        "expected": ["kitten.jpg", "sky.jpg", "styles/tubingen.jpg", "styles/starry_night.jpg",
                     "styles/the_scream.jpg", "styles/composition_vii.jpg"],
    },
    "imagenet-sample": {
        "description": "1000 ImageNet photos, one per class, with labels.tsv",
        "url": f"https://github.com/EliSchwartz/imagenet-sample-images/archive/"
               f"{_SAMPLE_COMMIT}.zip",
        "sha256": None,
        "repo": "EliSchwartz/imagenet-sample-images",
        "commit": _SAMPLE_COMMIT,
        "path": None,
        "archive": f"imagenet-sample-images-{_SAMPLE_COMMIT[:12]}.zip",
        "folder": "imagenet_sample",
        "layout": "imagenet-sample",
        "expected_count": 1000,
    },
}


class DatasetError(RuntimeError):
    """A dataset could not be fetched, unpacked or verified; the message says why."""


# ---------------------------------------------------------------------- places
def data_cache_dir():
    """The default data root for fetched datasets: ``<cache_root>/data``
    (``$MINICNN_CACHE/data`` or ``~/.cache/minicnn/data``)."""
    return cache_root() / "data"


def _spec(name):
    try:
        return DATASETS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown dataset {name!r}: choose from "
                         f"{', '.join(sorted(DATASETS))}") from None


def data_root(dest=None):
    """The data root datasets are fetched into: ``dest`` or :func:`data_cache_dir`."""
    return Path(dest).expanduser() if dest is not None else data_cache_dir()


def dataset_folder(name, dest=None):
    """Where dataset ``name`` lives: ``<dest or data_cache_dir()>/<folder>``."""
    return data_root(dest) / _spec(name)["folder"]


def read_manifest(folder):
    """The ``.fetched.json`` of a dataset folder as a dict, or None when absent/unreadable."""
    try:
        with open(Path(folder) / MANIFEST_NAME) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and isinstance(manifest.get("files"),
                                                                 dict) else None


def fetched_data_dir(dest=None):
    """The data root holding fetched datasets (``images/`` and/or ``imagenet_sample/``
    in the layout of the shared data folder), or None when nothing was fetched.

    dest: the root to look at (default :func:`data_cache_dir`).  A dataset counts
    when its folder has a ``.fetched.json`` manifest; use :func:`verify_dataset`
    to check its files.  Meant for :func:`minicnn.data.data_dir`'s lookup after
    ``$MINICNN_DATA``.
    """
    root = data_root(dest)
    for spec in DATASETS.values():
        if read_manifest(root / spec["folder"]) is not None:
            return root
    return None


def verify_dataset(name, dest=None, full=True):
    """Problems with a fetched dataset (an empty list when it is intact).

    Every file recorded in the manifest must exist with its size and, when
    ``full``, its sha256.  A missing folder or manifest is one problem.
    """
    folder = dataset_folder(name, dest)
    if not folder.is_dir():
        return [f"{folder} does not exist (not fetched)"]
    manifest = read_manifest(folder)
    if manifest is None:
        return [f"{folder} has no readable {MANIFEST_NAME} (not written by `minicnn data "
                "fetch`)"]
    problems = []
    for rel, info in sorted(manifest["files"].items()):
        path = folder / rel
        try:
            size = path.stat().st_size
        except OSError:
            problems.append(f"{rel}: missing")
            continue
        if size != info.get("bytes"):
            problems.append(f"{rel}: {size} bytes, recorded {info.get('bytes')}")
        elif full and sha256_file(path) != info.get("sha256"):
            problems.append(f"{rel}: sha256 differs from the one recorded at fetch time")
    return problems


def dataset_status(name, dest=None, full=False):
    """A dict describing a dataset: ``name``, ``folder``, ``present`` (has a manifest),
    ``files`` (count), ``manifest`` (dict or None), ``problems`` (see
    :func:`verify_dataset`; size checks only unless ``full``) and the registry ``spec``."""
    folder = dataset_folder(name, dest)
    manifest = read_manifest(folder)
    problems = verify_dataset(name, dest, full=full) if manifest is not None else []
    return {"name": name, "folder": folder, "present": manifest is not None,
            "files": len(manifest["files"]) if manifest else 0, "manifest": manifest,
            "problems": problems, "spec": _spec(name)}


def imagenet_class_table():
    """The shipped ImageNet class table (``wnids``, ``names``, ``short_names``,
    ``clean_names``) from ``minicnn/_data/imagenet_classes.json``."""
    try:
        with open(_CLASS_TABLE) as f:
            table = json.load(f)
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read the ImageNet class table {_CLASS_TABLE}: {exc}") \
            from None
    if not isinstance(table, dict) or len(table.get("wnids", ())) != 1000:
        raise DatasetError(f"{_CLASS_TABLE} does not hold 1000 'wnids'")
    return table


# ---------------------------------------------------------------------- helpers
def _unique(root, stem):
    return root / f".{stem}-{os.getpid()}-{secrets.token_hex(4)}"


@contextlib.contextmanager
def _exclusive(path, log, what):
    """Hold an exclusive flock on ``path`` (no-op where fcntl does not exist)."""
    try:
        import fcntl
    except ImportError:                                   # pragma: no cover (Windows)
        yield
        return
    with open(path, "a+") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if log:
                log(f"{what}: another process is fetching it; waiting ({path})")
            fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def _unsafe_member(info):
    """Why a zip member may not be unpacked, or None."""
    name = info.filename
    if "\0" in name or "\\" in name:
        return "has a NUL or backslash in its name"
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if any(part == ".." for part in name.split("/")):
        return "has a '..' component"
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    return None


def _skipped(parts):
    return any(p == "__MACOSX" for p in parts) or parts[-1].startswith("._")


def _is_image(name):
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _select_cs231n(infos, notes):
    """Members under a ``*/images/`` folder -> {relative path below images/: info}."""
    chosen = {}
    for info in infos:
        parts = info.filename.split("/")
        if info.is_dir() or _skipped(parts) or "images" not in parts[:-1]:
            continue
        rel = parts[parts.index("images") + 1:]
        if not rel or not _is_image(rel[-1]):
            continue
        rel = "/".join(rel)
        if rel in chosen:
            notes.append(f"two members map to images/{rel}; kept {chosen[rel].filename}")
            continue
        chosen[rel] = info
    return chosen


_SAMPLE_NAME = re.compile(r"^(n\d{8})_[^/]+\.(jpe?g|png)$", re.IGNORECASE)


def _select_imagenet(infos, notes):
    """``n<wnid>_<name>.JPEG`` members -> ({file name: info}, {file name: (index, wnid)})."""
    index = {w: i for i, w in enumerate(imagenet_class_table()["wnids"])}
    chosen, labels, seen = {}, {}, {}
    unknown = []
    for info in sorted(infos, key=lambda i: i.filename):
        parts = info.filename.split("/")
        if info.is_dir() or _skipped(parts):
            continue
        m = _SAMPLE_NAME.match(parts[-1])
        if not m:
            continue
        wnid = m.group(1).lower()
        if wnid not in index:
            unknown.append(parts[-1])
            continue
        if wnid in seen or parts[-1] in chosen:
            notes.append(f"more than one photo of {wnid}; kept {seen.get(wnid, parts[-1])}")
            continue
        seen[wnid] = parts[-1]
        chosen[parts[-1]] = info
        labels[parts[-1]] = (index[wnid], wnid)
    if unknown:
        notes.append(f"{len(unknown)} photos of wnids outside the 1000 classes skipped "
                     f"(e.g. {unknown[0]})")
    return chosen, labels


def _unpack(name, spec, archive, url, tmpdir, log):
    """Check and extract ``archive`` into ``tmpdir``; returns (files, notes) where
    files maps relative paths to {sha256, bytes}."""
    notes = []
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(f"{name}: the archive from {url} is not a readable zip file "
                           f"({exc}): corrupt or truncated download") from None
    with zf:
        infos = zf.infolist()
        for info in infos:
            why = _unsafe_member(info)
            if why:
                raise DatasetError(f"{name}: refusing the archive from {url}: member "
                                   f"{info.filename!r} {why}")
        labels = None
        if spec["layout"] == "cs231n-images":
            chosen = _select_cs231n(infos, notes)
            if not chosen:
                raise DatasetError(f"{name}: the archive from {url} has no images under an "
                                   f"'images/' folder ({len(infos)} members)")
            missing = [e for e in spec.get("expected", ()) if e not in chosen]
            if missing:
                notes.append(f"expected but absent: {', '.join(missing)}")
        elif spec["layout"] == "imagenet-sample":
            chosen, labels = _select_imagenet(infos, notes)
            if not chosen:
                raise DatasetError(f"{name}: the archive from {url} has no n<wnid>_<name>.JPEG "
                                   f"photos ({len(infos)} members)")
            want = spec.get("expected_count")
            if want and len(chosen) != want:
                notes.append(f"{len(chosen)} photos, {want} expected")
        else:
            raise DatasetError(f"{name}: unknown layout {spec['layout']!r}")
        total = sum(info.file_size for info in chosen.values())
        if total > MAX_UNPACKED_BYTES:
            raise DatasetError(f"{name}: the archive from {url} would unpack to {total} bytes "
                               f"(more than {MAX_UNPACKED_BYTES}); refused")
        files = {}
        tmpdir.mkdir(parents=True)
        for rel, info in sorted(chosen.items()):
            out = tmpdir / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            h, n = hashlib.sha256(), 0
            try:
                with zf.open(info) as src, open(out, "wb") as dst:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        h.update(block)
                        dst.write(block)
                        n += len(block)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                raise DatasetError(f"{name}: member {info.filename!r} of the archive from "
                                   f"{url} is corrupt ({exc}); nothing was installed") from None
            files[rel] = {"sha256": h.hexdigest(), "bytes": n}
    if labels is not None:
        rows = sorted(labels.items(), key=lambda kv: kv[1][0])
        text = "file\tclass_index\twnid\n" + "".join(f"{f}\t{i}\t{w}\n" for f, (i, w) in rows)
        (tmpdir / "labels.tsv").write_text(text)
        files["labels.tsv"] = {"sha256": hashlib.sha256(text.encode()).hexdigest(),
                               "bytes": len(text.encode())}
    return files, notes


def _install(tmpdir, target):
    """Rename the finished ``tmpdir`` to ``target``, replacing a previous fetch."""
    old = None
    if target.exists():
        old = _unique(target.parent, f"{target.name}.old")
        os.rename(target, old)
    try:
        os.rename(tmpdir, target)
    except OSError:
        if old is not None and not target.exists():
            os.rename(old, target)                     # put the previous copy back
            old = None
        raise
    finally:
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------- fetch
def fetch_dataset(name, dest=None, force=False, log=log_stderr, progress=True, url=None,
                  sha256=None, timeout=DEFAULT_TIMEOUT, connect_timeout=DEFAULT_CONNECT_TIMEOUT):
    """Fetch dataset ``name`` (see :data:`DATASETS`) into ``<dest>/<folder>``; returns
    that folder.

    dest: the data root (default :func:`data_cache_dir`).  force: fetch again even
    when present.  log: callable for the status lines (default stderr; None is
    quiet); progress: download progress bar on a terminal.  url / sha256 override
    the registry's (a mirror, or a digest you know).  Raises
    :class:`minicnn.download.DownloadError` when the download fails and
    :class:`DatasetError` for a refused or corrupt archive; in both cases
    nothing is installed (an interrupted download is kept for resuming).
    """
    spec = _spec(name)
    url = url or spec["url"]
    sha256 = sha256 or spec.get("sha256")
    root = data_root(dest)
    root.mkdir(parents=True, exist_ok=True)
    target = root / spec["folder"]
    say = log or (lambda _line: None)
    with _exclusive(root / f".{spec['folder']}.lock", log, name):
        previous = read_manifest(target) if target.exists() else None
        if target.exists() and previous is None:
            raise DatasetError(f"{name}: {target} exists but was not written by `minicnn data "
                               f"fetch` (no {MANIFEST_NAME}); move it away to fetch {name} "
                               "there")
        if previous is not None and not force:
            problems = verify_dataset(name, dest, full=False)
            if not problems:
                say(f"{name}: already present in {target} ({len(previous['files'])} files, "
                    f"fetched {previous.get('fetched_at', '?')} from {previous.get('url')}); "
                    "use --force to fetch again")
                return target
            say(f"{name}: {target} is damaged ({problems[0]}"
                f"{f' and {len(problems) - 1} more' if len(problems) > 1 else ''}); "
                "fetching again")
        say(f"{name}: fetching {spec['description']} from {spec['repo']} at commit "
            f"{spec['commit'][:12]}")
        archive = root / ".downloads" / spec["archive"]
        digest = download(url, archive, sha256=sha256, timeout=timeout,
                          connect_timeout=connect_timeout, progress=progress, log=log)
        tmpdir = _unique(root, f"{spec['folder']}.tmp")
        try:
            try:
                files, notes = _unpack(name, spec, archive, url, tmpdir, log)
            except DatasetError:
                archive.unlink(missing_ok=True)   # a bad archive is not kept for next time
                raise
            manifest = {
                "dataset": name, "url": url, "repo": spec["repo"], "commit": spec["commit"],
                "path": spec.get("path"), "archive_sha256": digest,
                "archive_bytes": archive.stat().st_size,
                "archive_sha256_checked": bool(sha256),
                "archive_sha256_origin": ("the registry (minicnn.datasets.DATASETS)" if sha256
                                          else "recorded at this download (trust on first use)"),
                "fetched_at": datetime.datetime.now(datetime.timezone.utc)
                .isoformat(timespec="seconds"),
                "notes": notes, "files": files,
            }
            (tmpdir / MANIFEST_NAME).write_text(json.dumps(manifest, indent=1, sort_keys=True))
            _install(tmpdir, target)
        finally:
            if tmpdir.exists():
                shutil.rmtree(tmpdir, ignore_errors=True)
        archive.unlink(missing_ok=True)
        for note in notes:
            say(f"{name}: note: {note}")
        if previous is not None:
            _compare(name, previous, manifest, say)
        say(f"{name}: {len(files)} files in {target}")
        return target


def _compare(name, previous, manifest, say):
    """Tell whether a refetch differs from the fetch recorded before."""
    if previous.get("archive_sha256") not in (None, manifest["archive_sha256"]):
        say(f"{name}: note: the archive's sha256 differs from the one recorded on "
            f"{previous.get('fetched_at', '?')} (GitHub may rebuild archives; comparing files)")
    old, new = previous.get("files", {}), manifest["files"]
    changed = [f for f in new if f in old and old[f].get("sha256") != new[f]["sha256"]]
    if changed:
        say(f"{name}: warning: {len(changed)} files differ from the previous fetch "
            f"(e.g. {changed[0]}): the published data changed or was tampered with")
