"""minicnn.download: atomic download, sha256, resume with Range, clear errors.

Everything here talks only to servers on 127.0.0.1 that the tests start
(``LocalServer``, also used by test_datasets.py); nothing needs the network.
"""
import hashlib
import http.server
import os
import socket
import threading
import time
from pathlib import Path

import pytest

from minicnn import download as D
from minicnn.download import DownloadError, download


# ------------------------------------------------------------------ a local HTTP server
class LocalServer:
    """http.server on 127.0.0.1:<free port> in a thread, serving ``files``
    ({'/path': bytes}) with Range support (turn it off with ``ranges=False``).

    ``drop_once[path] = n`` makes the next full or ranged response of ``path``
    stop after ``n`` body bytes and close the connection (once); ``stall_once[path]
    = n`` sends ``n`` bytes, then nothing for 3 s (once).  ``requests``
    records (path, Range header) of every GET.  ``delay`` seconds are slept
    before each 64 KB of a body (to make concurrent clients overlap).
    """

    def __init__(self, files=None, ranges=True, delay=0.0):
        self.files = dict(files or {})
        self.ranges = ranges
        self.delay = delay
        self.drop_once = {}
        self.stall_once = {}
        self.requests = []
        self.lock = threading.Lock()
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                path = self.path.split("?", 1)[0]
                rng = self.headers.get("Range")
                with owner.lock:
                    owner.requests.append((path, rng))
                    drop = owner.drop_once.pop(path, None)
                    stall = owner.stall_once.pop(path, None)
                data = owner.files.get(path)
                if data is None:
                    self.send_error(404)
                    return
                etag = '"' + hashlib.sha256(data).hexdigest()[:16] + '"'
                start = 0
                if rng and owner.ranges and rng.startswith("bytes="):
                    if_range = self.headers.get("If-Range")
                    if if_range is None or if_range == etag:
                        start = int(rng[6:].split("-", 1)[0])
                if start >= len(data) and start > 0:
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = data[start:]
                if start:
                    self.send_response(206)
                    self.send_header("Content-Range",
                                     f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                if owner.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                self.send_header("ETag", etag)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                if drop is not None:
                    self.wfile.write(body[:drop])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if stall is not None:
                    self.wfile.write(body[:stall])
                    self.wfile.flush()
                    time.sleep(3)
                    self.close_connection = True
                    return
                for i in range(0, len(body), 1 << 16):
                    if owner.delay:
                        time.sleep(owner.delay)
                    self.wfile.write(body[i:i + (1 << 16)])

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,),
                                       daemon=True)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def ranged(self, path):
        return [r for p, r in self.requests if p == path and r]

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port():
    """A 127.0.0.1 port nobody listens on (bound, then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SilentServer:
    """Accepts TCP connections on 127.0.0.1 (via the listen backlog) and never answers."""

    def __enter__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        return self

    def __exit__(self, *exc):
        self.sock.close()


def payload(n=300_000, seed=1):
    import numpy as np
    return np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes()


@pytest.fixture
def server():
    with LocalServer() as srv:
        yield srv


def _leftovers(folder):
    return sorted(p.name for p in Path(folder).iterdir() if ".tmp" in p.name)


# ------------------------------------------------------------------ tests
def test_download_verifies_and_writes_atomically(server, tmp_path):
    data = payload()
    sha = hashlib.sha256(data).hexdigest()
    server.files["/f.bin"] = data
    lines = []
    dest = tmp_path / "sub" / "f.bin"
    assert download(server.url("/f.bin"), dest, sha256=sha, log=lines.append) == sha
    assert dest.read_bytes() == data
    assert len(lines) == 1 and server.url("/f.bin") in lines[0] and "KB" in lines[0]
    assert download(server.url("/f.bin"), dest, sha256_prefix=sha[:8], log=None) == sha
    assert _leftovers(dest.parent) == [] and not (dest.parent / "f.bin.part").exists()


def test_wrong_sha256_refused_and_nothing_kept(server, tmp_path):
    server.files["/f.bin"] = payload(1000)
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError) as err:
        download(server.url("/f.bin"), dest, sha256="0" * 64, log=None)
    msg = str(err.value)
    assert msg.startswith(f"cannot download {server.url('/f.bin')}: ")
    assert "sha256 mismatch (corrupt or tampered download)" in msg and "0" * 64 in msg
    with pytest.raises(DownloadError, match="expected 00000000\\.\\.\\."):
        download(server.url("/f.bin"), dest, sha256_prefix="00000000", log=None)
    assert os.listdir(tmp_path) == []


def test_http_404_names_url_and_status(server, tmp_path):
    with pytest.raises(DownloadError) as err:
        download(server.url("/missing.zip"), tmp_path / "m.zip", log=None)
    assert str(err.value) == f"cannot download {server.url('/missing.zip')}: HTTP 404 Not Found"
    assert err.value.reason == "HTTP 404 Not Found"
    assert isinstance(err.value, OSError) and isinstance(err.value, RuntimeError)
    assert os.listdir(tmp_path) == []


def test_connection_refused_is_fast_and_clear(tmp_path):
    url = f"http://127.0.0.1:{closed_port()}/x.zip"
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path / "x.zip", log=None)
    assert time.monotonic() - t0 < 10
    assert str(err.value) == f"cannot download {url}: connection refused"


def test_silent_server_times_out_within_the_timeout(tmp_path):
    with SilentServer() as silent:
        url = f"http://127.0.0.1:{silent.port}/x.zip"
        t0 = time.monotonic()
        with pytest.raises(DownloadError) as err:
            download(url, tmp_path / "x.zip", timeout=0.5, connect_timeout=0.5, log=None)
        elapsed = time.monotonic() - t0
    assert elapsed < 3, elapsed
    assert "timeout after 0.5 s (connected, but the server did not answer)" in str(err.value)
    assert url in str(err.value)


def test_connect_timeout_bounds_resolution_and_connect(monkeypatch, tmp_path):
    """A host whose connect() never completes (simulated: no address is contacted)."""
    def slow_resolve(host, port, deadline):
        time.sleep(max(0.0, deadline - time.monotonic()) + 0.05)
        raise TimeoutError("resolving took too long")

    monkeypatch.setattr(D, "_resolve", slow_resolve)
    t0 = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download("http://127.0.0.1:9/x", tmp_path / "x", connect_timeout=0.3, log=None)
    assert time.monotonic() - t0 < 2
    assert "timeout after 0.3 s (no answer while connecting; no network?)" in str(err.value)


def test_no_network_reason(monkeypatch, tmp_path):
    import socket as S

    def no_dns(host, port, deadline):
        raise S.gaierror(S.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(D, "_resolve", no_dns)
    with pytest.raises(DownloadError, match=r"cannot download http://127\.0\.0\.1:9/x: "
                                            r"no network \(cannot resolve"):
        download("http://127.0.0.1:9/x", tmp_path / "x", log=None)


def test_dropped_connection_resumed_in_the_same_call(server, tmp_path):
    data = payload()
    sha = hashlib.sha256(data).hexdigest()
    server.files["/f.bin"] = data
    server.drop_once["/f.bin"] = 100_000
    lines = []
    dest = tmp_path / "f.bin"
    assert download(server.url("/f.bin"), dest, sha256=sha, log=lines.append) == sha
    assert dest.read_bytes() == data
    assert server.ranged("/f.bin") == ["bytes=100000-"]
    assert any("resuming at" in line for line in lines)
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_interrupted_download_leaves_part_and_next_call_resumes(server, tmp_path):
    data = payload()
    sha = hashlib.sha256(data).hexdigest()
    server.files["/f.bin"] = data
    server.drop_once["/f.bin"] = 120_000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError, match="connection lost after 120000 of 300000 bytes"):
        download(server.url("/f.bin"), dest, sha256=sha, retries=0, log=None)
    part = tmp_path / "f.bin.part"
    assert part.read_bytes() == data[:120_000] and not dest.exists()
    assert _leftovers(tmp_path) == []
    assert download(server.url("/f.bin"), dest, sha256=sha, log=None) == sha
    assert dest.read_bytes() == data and not part.exists()
    assert not (tmp_path / "f.bin.part.json").exists()
    assert server.ranged("/f.bin") == ["bytes=120000-"]


def test_stalled_transfer_times_out_and_keeps_the_part(server, tmp_path):
    data = payload()
    server.files["/f.bin"] = data
    server.stall_once["/f.bin"] = 80_000
    t0 = time.monotonic()
    with pytest.raises(DownloadError, match=r"timeout after 0\.5 s \(the server stopped "
                                            r"sending\)"):
        download(server.url("/f.bin"), tmp_path / "f.bin", timeout=0.5, log=None)
    assert time.monotonic() - t0 < 2.5
    part = (tmp_path / "f.bin.part").read_bytes()      # what was read before the stall
    assert 0 < len(part) <= 80_000 and part == data[:len(part)]
    download(server.url("/f.bin"), tmp_path / "f.bin", log=None)
    assert (tmp_path / "f.bin").read_bytes() == data
    assert server.ranged("/f.bin") == [f"bytes={len(part)}-"]


def test_server_without_ranges_restarts_cleanly(tmp_path):
    data = payload()
    sha = hashlib.sha256(data).hexdigest()
    with LocalServer({"/f.bin": data}, ranges=False) as srv:
        srv.drop_once["/f.bin"] = 50_000
        lines = []
        assert download(srv.url("/f.bin"), tmp_path / "f.bin", sha256=sha,
                        log=lines.append) == sha
        assert (tmp_path / "f.bin").read_bytes() == data
        assert any("restarting" in line for line in lines)


def test_corrupt_part_is_detected_and_restarted(server, tmp_path):
    data = payload()
    sha = hashlib.sha256(data).hexdigest()
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    # a part whose bytes are not a prefix of the file (same URL, no validator)
    (tmp_path / "f.bin.part").write_bytes(b"\0" * 5000)
    (tmp_path / "f.bin.part.json").write_text(f'{{"url": "{server.url("/f.bin")}"}}')
    lines = []
    assert download(server.url("/f.bin"), dest, sha256=sha, log=lines.append) == sha
    assert dest.read_bytes() == data
    assert any("does not verify" in line for line in lines)
    # a part of another URL is ignored; a part longer than the file gets 416 -> restart
    (tmp_path / "f.bin.part").write_bytes(b"\0" * 5000)
    (tmp_path / "f.bin.part.json").write_text('{"url": "http://127.0.0.1:1/other"}')
    assert download(server.url("/f.bin"), dest, sha256=sha, log=None) == sha
    (tmp_path / "f.bin.part").write_bytes(data + b"extra")
    (tmp_path / "f.bin.part.json").write_text(f'{{"url": "{server.url("/f.bin")}"}}')
    assert download(server.url("/f.bin"), dest, sha256=sha, log=None) == sha
    assert sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_changed_file_with_if_range_restarts(server, tmp_path):
    old, new = payload(seed=1), payload(seed=2)
    server.files["/f.bin"] = old
    server.drop_once["/f.bin"] = 70_000
    dest = tmp_path / "f.bin"
    with pytest.raises(DownloadError):
        download(server.url("/f.bin"), dest, retries=0, log=None)
    server.files["/f.bin"] = new                 # the file changed upstream
    sha = download(server.url("/f.bin"), dest, log=None)
    assert dest.read_bytes() == new and sha == hashlib.sha256(new).hexdigest()


def test_resume_false_ignores_and_keeps_no_part(server, tmp_path):
    data = payload()
    server.files["/f.bin"] = data
    server.drop_once["/f.bin"] = 10_000
    with pytest.raises(DownloadError):
        download(server.url("/f.bin"), tmp_path / "f.bin", resume=False, retries=0, log=None)
    assert os.listdir(tmp_path) == []


def test_concurrent_downloads_into_one_dest(server, tmp_path):
    data = payload(600_000)
    sha = hashlib.sha256(data).hexdigest()
    server.files["/f.bin"] = data
    dest = tmp_path / "f.bin"
    errors, results = [], []

    def worker():
        try:
            results.append(download(server.url("/f.bin"), dest, sha256=sha, log=None))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and results == [sha] * 4
    assert dest.read_bytes() == data and sorted(os.listdir(tmp_path)) == ["f.bin"]


def test_file_urls_and_bad_arguments(tmp_path):
    src = tmp_path / "src.bin"
    src.write_bytes(b"hello")
    sha = download(src.as_uri(), tmp_path / "copy.bin", log=None)
    assert sha == hashlib.sha256(b"hello").hexdigest()
    with pytest.raises(DownloadError, match="file not found"):
        download((tmp_path / "nope").as_uri(), tmp_path / "x", log=None)
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        download(src.as_uri(), tmp_path / "y", timeout=0)


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MINICNN_CACHE", str(tmp_path))
    assert D.cache_root() == tmp_path
    monkeypatch.delenv("MINICNN_CACHE")
    assert D.cache_root() == Path.home() / ".cache" / "minicnn"
