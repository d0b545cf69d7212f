"""Download a file atomically, with a sha256 check, resume and clear errors.

This is the bottom of the house: it imports nothing from the rest of minicnn,
so :mod:`minicnn.weights` and :mod:`minicnn.datasets` can both use it.

    from minicnn.download import download, DownloadError
    digest = download(url, "cache/file.zip", sha256="ab12...")

* **Atomic.**  Bytes go to a temporary file whose name is unique to the process
  and the call (``.<name>.<pid>.<random>.tmp`` next to ``dest``); only a
  complete, verified file is renamed over ``dest`` (``os.replace``), so a crash
  or a concurrent download never leaves half a file at ``dest``.
* **Verified.**  ``sha256`` (full hex digest) or ``sha256_prefix`` (its first hex
  digits, e.g. the ``-b8a52dc0`` in a torchvision file name) must match, else
  ``sha256 mismatch (corrupt or tampered download)`` and nothing is kept.
* **Resumable.**  When a download is interrupted after some bytes arrived, they
  are kept as ``<dest>.part`` (with ``<dest>.part.json`` holding the URL and the
  server's ETag / Last-Modified).  The next call claims that file (an atomic
  rename, so two processes never append to the same part) and asks for the rest
  with an HTTP ``Range`` request (``If-Range`` when a validator is known).  A
  server that answers with the whole file (no range support, or the file
  changed) restarts cleanly from byte 0; a resumed file that fails the sha256
  check is downloaded once more from the start before the error is raised.
  Within one call a connection dropped mid-transfer is resumed up to
  ``retries`` times.
* **Bounded waits.**  Name resolution plus connecting must succeed within
  ``connect_timeout`` seconds (default 10) over all of a host's addresses;
  afterwards every read may wait at most ``timeout`` seconds.
* **Says what it does.**  One line per download through ``log`` (default: to
  stderr) says what is fetched from where; a tqdm progress bar on stderr runs
  while bytes arrive when ``progress`` is true and stderr is a terminal.

Errors are :class:`DownloadError`, a subclass of both :class:`OSError` (it is an
I/O failure: ``except OSError`` catches it) and :class:`RuntimeError` (so the
command line's error handler, which catches RuntimeError, prints it as
``error: ...``).  Its message is ``cannot download URL: REASON`` with REASON one
of ``no network (...)``, ``connection refused``, ``timeout after N s (...)`` (connecting, waiting for the answer, or mid-transfer),
``HTTP 404 Not Found``, ``connection lost after X of Y bytes``,
``sha256 mismatch (corrupt or tampered download): got ..., expected ...`` or
the underlying OS error; ``.url`` and ``.reason`` hold the two parts.

``file://`` URLs work too (no resume: the whole file is read again).
"""
import errno
import hashlib
import http.client
import json
import os
import secrets
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

__all__ = ["DownloadError", "download", "cache_root", "log_stderr", "sha256_file",
           "DEFAULT_TIMEOUT", "DEFAULT_CONNECT_TIMEOUT", "USER_AGENT"]

DEFAULT_TIMEOUT = 60.0
DEFAULT_CONNECT_TIMEOUT = 10.0
USER_AGENT = "minicnn-download/1"
_CHUNK = 1 << 16


class DownloadError(OSError, RuntimeError):
    """A download failed; ``str(exc)`` is ``cannot download URL: REASON``.

    Attributes: ``url``, ``reason`` (the short reason, e.g. ``connection refused``).
    """

    def __init__(self, url, reason):
        super().__init__(f"cannot download {url}: {reason}")
        self.url = url
        self.reason = reason

    def __reduce__(self):
        return (type(self), (self.url, self.reason))


def cache_root():
    """The root of minicnn's user cache: ``$MINICNN_CACHE`` or ``~/.cache/minicnn``.

    Weights live in it directly (:func:`minicnn.weights.cache_dir` is this folder),
    fetched datasets in its ``data/`` subfolder (:func:`minicnn.datasets.data_cache_dir`).
    """
    env = os.environ.get("MINICNN_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "minicnn"


def log_stderr(message):
    """The default ``log``: one line to stderr."""
    print(message, file=sys.stderr, flush=True)


def sha256_file(path, chunk=1 << 20):
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def _size(n):
    n = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0


# ---------------------------------------------------------------------- connecting
def _resolve(host, port, deadline):
    """getaddrinfo bounded by ``deadline`` (it has no timeout of its own)."""
    result = {}

    def work():
        try:
            result["value"] = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as exc:
            result["error"] = exc

    worker = threading.Thread(target=work, name="minicnn-resolve", daemon=True)
    worker.start()
    worker.join(max(0.0, deadline - time.monotonic()))
    if worker.is_alive():
        raise TimeoutError(f"resolving {host} took too long")
    if "error" in result:
        raise result["error"]
    return result["value"]


def _connect_by(deadline_seconds):
    """A ``socket.create_connection`` replacement whose ``timeout`` bounds the whole
    attempt (resolution and every address), not each address separately."""

    def create_connection(address, timeout=None, source_address=None, *args, **kwargs):
        budget = deadline_seconds if timeout is None else timeout
        deadline = time.monotonic() + budget
        host, port = address
        last = None
        for family, kind, proto, _, addr in _resolve(host, port, deadline):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(remaining)
                if source_address:
                    sock.bind(source_address)
                sock.connect(addr)
                return sock
            except OSError as exc:
                last = exc
                sock.close()
        if last is not None and not isinstance(last, TimeoutError):
            raise last
        raise TimeoutError(f"connecting to {host}:{port} took too long")

    return create_connection


class _Timeouts:
    """Mixin for http.client connections: connect within the connection's timeout
    (the connect timeout), then read with ``read_timeout``."""

    def __init__(self, *args, read_timeout=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._read_timeout = read_timeout
        self._create_connection = _connect_by(self.timeout)

    def connect(self):
        super().connect()
        self.sock.settimeout(self._read_timeout)


class _HTTPConnection(_Timeouts, http.client.HTTPConnection):
    pass


class _HTTPSConnection(_Timeouts, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout):
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req):
        return self.do_open(_HTTPConnection, req, read_timeout=self.read_timeout)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout):
        super().__init__()
        self.read_timeout = read_timeout

    def https_open(self, req):
        return self.do_open(_HTTPSConnection, req, context=self._context,
                            read_timeout=self.read_timeout)


# ---------------------------------------------------------------------- reasons
_NO_NETWORK = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL}


def _reason(exc, phase, connect_timeout, timeout):
    """A short human reason for ``exc`` raised while ``phase`` ('connect', 'response'
    (waiting for the response headers) or 'read' (the body))."""
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}".rstrip()
    if isinstance(exc, urllib.error.URLError):
        inner = exc.reason
        if isinstance(inner, BaseException):
            return _reason(inner, "connect", connect_timeout, timeout)
        return str(inner)
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"no network (cannot resolve the host name: {exc.strerror or exc})"
    if isinstance(exc, TimeoutError):
        if phase == "connect":
            return f"timeout after {connect_timeout:g} s (no answer while connecting; no network?)"
        if phase == "response":
            return f"timeout after {timeout:g} s (connected, but the server did not answer)"
        return f"timeout after {timeout:g} s (the server stopped sending)"
    if isinstance(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError,
                        http.client.IncompleteRead, http.client.RemoteDisconnected)):
        return f"connection lost ({type(exc).__name__})"
    if isinstance(exc, OSError) and exc.errno in _NO_NETWORK:
        return f"no network ({exc.strerror or exc})"
    if isinstance(exc, FileNotFoundError):
        return f"file not found ({exc.filename or exc})"
    return f"{type(exc).__name__}: {exc}"


class _Lost(Exception):
    """The connection ended before the whole file arrived (resumable).
    ``got``: bytes this request added; ``validators``: the response's ETag etc."""

    def __init__(self, reason, got, validators):
        super().__init__(reason)
        self.reason, self.got, self.validators = reason, got, validators


# ---------------------------------------------------------------------- the part file
def _part_paths(dest):
    return dest.with_name(dest.name + ".part"), dest.with_name(dest.name + ".part.json")


def _claim_part(dest, tmp, url):
    """Move ``<dest>.part`` to our private ``tmp`` (atomic: only one claimant wins).
    Returns (bytes, validators) -- (0, {}) when there is nothing usable."""
    part, info_path = _part_paths(dest)
    try:
        info = json.loads(info_path.read_text())
    except (OSError, ValueError):
        info = {}
    try:
        os.rename(part, tmp)
    except OSError:
        return 0, {}
    if not isinstance(info, dict) or info.get("url") != url:
        os.truncate(tmp, 0)              # a part of some other URL: start over
        return 0, {}
    return tmp.stat().st_size, info


def _stash_part(dest, tmp, url, validators):
    """Keep an interrupted download's bytes as ``<dest>.part`` for the next call."""
    part, info_path = _part_paths(dest)
    try:
        if tmp.stat().st_size == 0:
            tmp.unlink()
            return
        info_tmp = info_path.with_name(f"{info_path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        info_tmp.write_text(json.dumps(dict(validators, url=url)))
        os.replace(info_tmp, info_path)
        os.replace(tmp, part)
    except OSError:
        pass


# ---------------------------------------------------------------------- download
def download(url, dest, sha256=None, sha256_prefix=None, timeout=DEFAULT_TIMEOUT,
             connect_timeout=DEFAULT_CONNECT_TIMEOUT, progress=True, resume=True,
             log=log_stderr, retries=2):
    """Download ``url`` to ``dest`` (atomically) and return its hex sha256.

    sha256 / sha256_prefix: the expected digest or its leading hex digits
    (lower-case); a mismatch raises :class:`DownloadError` and keeps nothing.
    timeout: seconds any read may wait once connected; connect_timeout: seconds
    for name resolution plus connecting (all addresses together).
    progress: show a tqdm bar on stderr (only when stderr is a terminal).
    resume: continue from ``<dest>.part`` left by an interrupted download (and
    leave one behind when interrupted); False always starts from byte 0.
    log: callable taking one line (default: print to stderr); None is silent.
    retries: how many times one call resumes after the connection drops midway.
    See the module docstring for the details.
    """
    dest = Path(dest)
    url = str(url)
    if sha256 is not None:
        sha256 = str(sha256).lower()
    if sha256_prefix is not None:
        sha256_prefix = str(sha256_prefix).lower()
    for name, value in (("timeout", timeout), ("connect_timeout", connect_timeout)):
        if not (isinstance(value, (int, float)) and value > 0):
            raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    opener = urllib.request.build_opener(_HTTPHandler(timeout), _HTTPSHandler(timeout))
    offset, validators = _claim_part(dest, tmp, url) if resume else (0, {})
    restarted_after_resume = False
    keep_part = resume                    # an interruption keeps the bytes for next time
    attempts_left = max(0, int(retries))
    try:
        while True:
            try:
                offset, validators = _transfer(opener, url, dest, tmp, offset, validators,
                                               timeout, connect_timeout, progress, log)
            except _Lost as lost:
                validators = lost.validators
                if lost.got > 0 and attempts_left > 0:
                    attempts_left -= 1
                    offset = tmp.stat().st_size
                    if log:
                        log(f"  {lost.reason}; resuming at {_size(offset)}")
                    continue
                raise DownloadError(url, lost.reason) from None
            digest = sha256_file(tmp)
            ok = (sha256 is None or digest == sha256) and \
                (sha256_prefix is None or digest.startswith(sha256_prefix))
            if ok:
                os.replace(tmp, dest)
                _drop_part_info(dest)
                return digest
            if offset > 0 and not restarted_after_resume:
                # the bytes kept from before may not belong to this file: start over once
                restarted_after_resume = True
                os.truncate(tmp, 0)
                offset, validators = 0, {}
                if log:
                    log("  the resumed download does not verify; downloading again from the start")
                continue
            keep_part = False
            want = sha256 or f"{sha256_prefix}..."
            raise DownloadError(url, f"sha256 mismatch (corrupt or tampered download): "
                                     f"got {digest}, expected {want}")
    finally:
        if tmp.exists():
            if keep_part:
                _stash_part(dest, tmp, url, validators)
            if tmp.exists():
                tmp.unlink()


def _drop_part_info(dest):
    part, info_path = _part_paths(dest)
    if not part.exists():
        try:
            info_path.unlink()
        except OSError:
            pass


def _transfer(opener, url, dest, tmp, offset, validators, timeout, connect_timeout,
              progress, log):
    """One request: append the response body to ``tmp`` (from ``offset``).
    Returns (offset this request started at, validators).  Raises _Lost for a
    resumable interruption and DownloadError for anything else."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
        validator = validators.get("etag") or validators.get("last_modified")
        if validator:
            headers["If-Range"] = validator
    req = urllib.request.Request(url, headers=headers)
    phase = "connect"
    try:
        resp = opener.open(req, timeout=connect_timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset > 0:      # our part is not a prefix of the file
            os.truncate(tmp, 0)
            return _transfer(opener, url, dest, tmp, 0, {}, timeout, connect_timeout,
                             progress, log)
        raise DownloadError(url, _reason(exc, phase, connect_timeout, timeout)) from None
    except (OSError, http.client.HTTPException, ValueError) as exc:
        phase = "connect" if isinstance(exc, urllib.error.URLError) else "response"
        raise DownloadError(url, _reason(exc, phase, connect_timeout, timeout)) from None
    with resp:
        status = getattr(resp, "status", None) or 200
        length = resp.headers.get("Content-Length")
        length = int(length) if length and length.isdigit() else None
        start = 0
        if status == 206:
            start, total = _content_range(resp.headers.get("Content-Range"))
            if start != offset:                 # not the range we asked for: restart
                resp.close()
                os.truncate(tmp, 0)
                return _transfer(opener, url, dest, tmp, 0, {}, timeout, connect_timeout,
                                 progress, log)
        else:
            total = length
        validators = {k: v for k, v in (("etag", resp.headers.get("ETag")),
                                        ("last_modified", resp.headers.get("Last-Modified")))
                      if v}
        if start == 0 and offset > 0:
            if log:
                log(f"  the server sent the whole file (no range support or a changed file); "
                    f"restarting {dest.name} from the start")
            offset = 0
        if log:
            size = f"{_size(total)}" if total is not None else "size unknown"
            what = f", resuming at {_size(offset)}" if offset else ""
            log(f"downloading {url} ({size}{what}) -> {dest}")
        expected_end = offset + length if length is not None else None
        got = offset
        bar = _bar(progress, total, offset, dest.name)
        try:
            with open(tmp, "r+b" if offset else "wb") as f:
                f.seek(offset)
                f.truncate()
                while True:
                    try:
                        block = resp.read(_CHUNK)
                    except (OSError, http.client.HTTPException) as exc:
                        f.flush()
                        reason = _reason(exc, "read", connect_timeout, timeout)
                        if isinstance(exc, TimeoutError):   # a stalled server: keep, no retry
                            raise _Lost(reason, 0, validators) from None
                        raise _Lost(f"{reason} after {_size(got)}", got - offset,
                                    validators) from None
                    if not block:
                        break
                    f.write(block)
                    got += len(block)
                    if bar is not None:
                        bar.update(len(block))
                f.flush()
                os.fsync(f.fileno())
        finally:
            if bar is not None:
                bar.close()
        if expected_end is not None and got < expected_end:
            raise _Lost(f"connection lost after {got} of {expected_end} bytes", got - offset,
                        validators)
        return offset, validators


def _content_range(value):
    """``bytes START-END/TOTAL`` -> (START, TOTAL or None); (-1, None) when unparsable."""
    try:
        unit, rest = value.split(" ", 1)
        span, total = rest.split("/", 1)
        start = int(span.split("-", 1)[0])
        return (start if unit == "bytes" else -1), (int(total) if total != "*" else None)
    except (AttributeError, ValueError):
        return -1, None


def _bar(progress, total, initial, name):
    if not progress:
        return None
    try:
        if not sys.stderr.isatty():
            return None
        from tqdm import tqdm
    except (ImportError, AttributeError, ValueError):
        return None
    return tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                desc=name, file=sys.stderr, leave=False, dynamic_ncols=True)
