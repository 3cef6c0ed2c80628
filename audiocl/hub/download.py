"""Download one URL into the cache's blob store: resumable, hashed while written, never trusted half-done.

What each rule prevents (failures users of other model hubs report):

* bytes stream to a ``*.partial`` file with a name unique to this process, in the cache's ``tmp/``;
  only a complete file whose sha256 is known becomes ``blobs/<sha256>``, by ``fsync`` + atomic
  rename. A cut transfer is never a cache hit, and two processes never write the same file.
* a retry (same call) or a later run resumes the partial file with ``Range: bytes=N-``, and appends
  only when the server answers 206 with a ``Content-Range`` starting at N; a 200 (server ignores
  Range) or any other range restarts from byte 0.
* the sha256 is computed while writing (the prefix once when resuming); a mismatch with the expected
  hash deletes the file and says so. Without an expected hash the download needs
  ``allow_unverified`` and prints the computed hash so the user can pin it.
* a download does not start when the free space is below what is still to come.
* connection errors, timeouts and 5xx/429 answers are retried with exponential backoff; proxies come
  from the usual ``HTTP(S)_PROXY`` / ``NO_PROXY`` variables (``requests`` reads them).
* a tqdm bar on a terminal, none with ``quiet`` or when stderr is not a TTY (logs stay clean).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
from tqdm.auto import tqdm

from audiocl.errors import ChecksumError, DownloadError
from audiocl.hub.cache import ModelCache

_CHUNK = 1 << 20
_SPACE_MARGIN = 16 << 20  # keep this much free beyond the file itself
_RETRY_STATUS = {408, 429, 500, 502, 503, 504}


@dataclass
class DownloadOptions:
    """How to fetch: the expected content, how hard to try, how much to say."""

    sha256: str | None = None
    size: int | None = None
    allow_unverified: bool = False
    quiet: bool = False
    progress: bool | None = None  # None: a bar when stderr is a TTY and not quiet
    retries: int = 3
    backoff: float = 1.0          # seconds before the first retry, doubled each time
    timeout: float = 60.0         # seconds without data before a connection counts as dead


@dataclass(frozen=True)
class Blob:
    """A verified file in the blob store."""

    path: Path
    sha256: str
    size: int
    verified: bool  # False when no expected hash was known (downloaded with allow_unverified)


class _Retry(Exception):
    """A transfer attempt ended early; the partial file stays for the next attempt."""


def free_bytes(path: Path) -> int:
    """Free space of the file system holding ``path`` (a function so tests can simulate a full disk)."""
    return shutil.disk_usage(path).free


def _hash_prefix(path: Path) -> "hashlib._Hash":
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_CHUNK):
            digest.update(block)
    return digest


def _adopt_partial(cache: ModelCache, stem: str) -> Path:
    """This process's partial file; the largest left over by an earlier run is renamed to it (resume)."""
    mine = cache.tmp / f"{stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    leftovers = sorted(cache.tmp.glob(f"{stem}.*.partial"), key=lambda p: p.stat().st_size, reverse=True)
    for old in leftovers:
        try:
            os.rename(old, mine)  # atomic: if another process took it first, this fails
            return mine
        except OSError:
            continue
    return mine


def _parse_content_range(value: str | None) -> tuple[int, int | None] | None:
    m = re.fullmatch(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", (value or "").strip())
    if not m:
        return None
    return int(m.group(1)), (int(m.group(3)) if m.group(3) != "*" else None)


def _check_space(directory: Path, needed: int | None, url: str) -> None:
    if needed is None:
        return
    free = free_bytes(directory)
    if free < needed + _SPACE_MARGIN:
        raise DownloadError(f"not enough free space in {directory} for {url}: {needed / 1e6:.1f} MB still to "
                            f"download, {free / 1e6:.1f} MB free; free some space or set AUDIOCL_CACHE elsewhere")


def _attempt(session, url: str, partial: Path, opts: DownloadOptions, label: str) -> "hashlib._Hash":
    """One request continuing ``partial``; returns the sha256 of the complete file or raises ``_Retry``."""
    offset = partial.stat().st_size if partial.exists() else 0
    headers = {"Range": f"bytes={offset}-", "Accept-Encoding": "identity"} if offset else {"Accept-Encoding": "identity"}
    try:
        resp = session.get(url, headers=headers, stream=True, timeout=opts.timeout)
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from None
    with resp:
        if resp.status_code == 416 and offset:  # asked past the end: our partial file is wrong, start over
            partial.unlink()
            raise _Retry("server refused the resume range (416); restarting")
        if resp.status_code in _RETRY_STATUS:
            raise _Retry(f"HTTP {resp.status_code}")
        if resp.status_code not in (200, 206):
            raise DownloadError(f"download of {url} failed: HTTP {resp.status_code} {resp.reason}")
        total: int | None
        if resp.status_code == 206:
            rng = _parse_content_range(resp.headers.get("Content-Range"))
            if rng is None or rng[0] != offset:
                partial.unlink(missing_ok=True)
                raise _Retry(f"server answered Content-Range {resp.headers.get('Content-Range')!r} to a "
                             f"request for bytes {offset}-; restarting from byte 0")
            total = rng[1]
        else:
            offset = 0  # a 200 is the whole file: a server that ignores Range restarts us from zero
            length = resp.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        if total is None:
            total = opts.size
        _check_space(partial.parent, None if total is None else total - offset, url)
        digest = _hash_prefix(partial) if offset else hashlib.sha256()
        show = opts.progress if opts.progress is not None else (not opts.quiet and sys.stderr.isatty())
        received = offset
        with open(partial, "ab" if offset else "wb") as fh, tqdm(
                total=total, initial=offset, unit="B", unit_scale=True, unit_divisor=1024, desc=label,
                disable=not show, file=sys.stderr) as bar:
            try:
                # read1 returns what has arrived, so a connection cut mid-chunk loses no received byte
                while block := resp.raw.read1(_CHUNK):
                    fh.write(block)
                    digest.update(block)
                    received += len(block)
                    bar.update(len(block))
            except (OSError, urllib3.exceptions.HTTPError, requests.RequestException) as exc:
                fh.flush()
                os.fsync(fh.fileno())
                raise _Retry(f"connection lost after {received} bytes ({type(exc).__name__})") from None
            fh.flush()
            os.fsync(fh.fileno())
    if total is not None and received != total:
        raise _Retry(f"got {received} of {total} bytes")
    return digest


def download_blob(url: str, cache: ModelCache, opts: DownloadOptions, *, label: str | None = None) -> Blob:
    """Fetch ``url`` into ``cache.blobs`` (see the module docstring); returns the verified blob.

    A blob already present under the expected hash (with the expected size) is returned without any
    network request.
    """
    label = label or url.rsplit("/", 1)[-1] or url
    expected = opts.sha256.lower() if opts.sha256 else None
    if expected and not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise DownloadError(f"--sha256 {opts.sha256!r} is not a hex sha256 (64 characters 0-9a-f)")
    if expected and cache.has_blob(expected, opts.size):
        return Blob(cache.blob_path(expected), expected, cache.blob_path(expected).stat().st_size, True)
    if expected is None and not opts.allow_unverified:
        raise DownloadError(f"no sha256 is known for {url}: pass --sha256 HASH (or a URL ending in "
                            "#sha256=HASH), or --allow-unverified to download it and print its hash")
    cache.prepare()
    stem = expected or hashlib.sha256(url.encode()).hexdigest()[:32]
    with cache.lock(stem, what=url):
        if expected and cache.has_blob(expected, opts.size):
            return Blob(cache.blob_path(expected), expected, cache.blob_path(expected).stat().st_size, True)
        _check_space(cache.tmp, opts.size, url)
        partial = _adopt_partial(cache, stem)
        digest = _transfer(url, partial, opts, label)
        return _finish(url, partial, digest.hexdigest(), opts, cache)


def _finish(url: str, partial: Path, actual: str, opts: DownloadOptions, cache: ModelCache) -> Blob:
    """Check the finished partial file against what was expected and move it to ``blobs/<sha256>``."""
    expected = opts.sha256.lower() if opts.sha256 else None
    size = partial.stat().st_size
    if expected and actual != expected:
        partial.unlink(missing_ok=True)
        raise ChecksumError(f"sha256 mismatch for {url}: expected {expected}, got {actual} ({size} bytes); "
                            "deleted the download, nothing was cached")
    if opts.size is not None and size != opts.size:
        partial.unlink(missing_ok=True)
        raise ChecksumError(f"size mismatch for {url}: expected {opts.size} bytes, got {size}; deleted the "
                            "download, nothing was cached")
    if expected is None:
        print(f"audiocl: unverified download of {url}\n  sha256 {actual}  ({size} bytes)\n"
              f"  pin it next time with --sha256 {actual}", file=sys.stderr)
    target = cache.blob_path(actual)
    os.replace(partial, target)  # identical content if another process got there first
    return Blob(target, actual, size, expected is not None)


def _transfer(url: str, partial: Path, opts: DownloadOptions, label: str) -> "hashlib._Hash":
    last = ""
    with requests.Session() as session:
        session.headers["User-Agent"] = "audiocl-hub/1.0"
        for attempt in range(opts.retries + 1):
            try:
                return _attempt(session, url, partial, opts, label)
            except _Retry as exc:
                last = str(exc)
                if attempt < opts.retries:
                    time.sleep(opts.backoff * 2 ** attempt)
    have = partial.stat().st_size if partial.exists() else 0
    raise DownloadError(f"download of {url} failed after {opts.retries + 1} attempt(s) ({last}); {have} bytes "
                        "are kept and the next run resumes from there")
