"""Resumable HTTP(S) download with MD5 verification, for corpus archives of many gigabytes.

Why our own: a 6 GB LibriSpeech archive over a flaky link must survive an interrupted connection and a
killed job without starting over, and a tampered or truncated archive must never be taken for a good
one. So:

* bytes go to ``DEST.part``; after an interruption the next attempt (same call, up to ``retries`` times,
  or a later run) asks for the rest with an HTTP ``Range`` request and appends. A server that ignores
  ``Range`` (answers 200) makes us restart from byte 0 instead of appending garbage.
* only a complete file whose MD5 matches is renamed to ``DEST`` (atomic ``os.replace``). A mismatch
  raises :class:`~audiocl.errors.ChecksumError` naming the URL, both sums and the size, and moves the bad
  bytes to ``DEST.bad`` so the next run downloads afresh.
* an existing ``DEST`` is verified, not trusted: if its MD5 does not match, :class:`ChecksumError`.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from audiocl.errors import ChecksumError, DownloadError

_CHUNK = 1 << 20


def md5sum(path: str | Path, chunk_size: int = _CHUNK) -> str:
    """Hex MD5 of a file, read in chunks (archives are larger than memory)."""
    digest = hashlib.md5()  # noqa: S324 - verifies a publisher's checksum, not a security boundary
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


def _verify(path: Path, md5: str | None, url: str, name: Path | None = None) -> None:
    if md5 is None:
        return
    actual = md5sum(path)
    if actual.lower() != md5.lower():
        raise ChecksumError(
            f"checksum mismatch for {name or path} (from {url}): expected MD5 {md5.lower()}, got {actual} "
            f"({path.stat().st_size} bytes); the file is truncated or tampered with"
        )


def _total_from_headers(resp: http.client.HTTPResponse, offset: int) -> int | None:
    content_range = resp.headers.get("Content-Range")
    if content_range and (m := re.match(r"bytes\s+(\d+)-(\d+)/(\d+|\*)", content_range)):
        if int(m.group(1)) != offset:
            raise DownloadError(f"server answered range {content_range!r} to a request for bytes {offset}-")
        return int(m.group(3)) if m.group(3) != "*" else None
    length = resp.headers.get("Content-Length")
    return offset + int(length) if length and length.isdigit() else None


def _fetch_once(url: str, part: Path, timeout: float, progress: Callable[[int, int | None], None] | None) -> bool:
    """One HTTP request continuing ``part``. Returns True when the file is complete.

    Connection problems propagate as ``OSError``/``http.client.HTTPException`` (the caller retries).
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "audiocl-download/1.0"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        resp = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - URL is the user's knob
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the .part file is already complete
            return True
        raise DownloadError(f"download of {url} failed: HTTP {exc.code} {exc.reason}") from None
    with resp:
        if offset and resp.status == 200:  # server ignored Range: start over rather than append
            offset = 0
        total = _total_from_headers(resp, offset)
        mode = "ab" if offset else "wb"
        received = offset
        with open(part, mode) as fh:
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                fh.write(block)
                received += len(block)
                if progress:
                    progress(received, total)
            fh.flush()
            os.fsync(fh.fileno())
    if total is not None and received < total:
        raise http.client.IncompleteRead(b"", total - received)
    return True


def download_file(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    retries: int = 3,
    timeout: float = 60.0,
    retry_wait: float = 1.0,
    progress: Callable[[int, int | None], None] | None = None,
) -> Path:
    """Download ``url`` to ``dest`` with resume and MD5 verification; return ``dest``.

    ``retries`` = extra attempts after an interrupted transfer within this call (each resumes). When all
    fail, :class:`DownloadError` says how far it got; ``DEST.part`` stays for the next run to resume.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.exists():
        try:
            _verify(dest, md5, url)
        except ChecksumError as exc:
            raise ChecksumError(f"{exc}; delete {dest} to download it again") from None
        return dest
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout, progress)
            break
        except (OSError, http.client.HTTPException) as exc:
            last_error = exc
            if attempt < retries:
                time.sleep(retry_wait)
    else:
        have = part.stat().st_size if part.exists() else 0
        raise DownloadError(
            f"download of {url} was interrupted ({type(last_error).__name__}: {last_error}) after "
            f"{retries + 1} attempt(s); {have} bytes are in {part}: run again to resume"
        )
    try:
        _verify(part, md5, url, name=dest)
    except ChecksumError as exc:
        bad = dest.with_name(dest.name + ".bad")
        os.replace(part, bad)
        raise ChecksumError(f"{exc}; moved it to {bad} (the next run downloads afresh)") from None
    os.replace(part, dest)
    return dest


def print_progress(prefix: str) -> Callable[[int, int | None], None]:
    """A progress callback printing a line every 10% (log-friendly, no carriage returns)."""
    state = {"next": 0.0}

    def report(received: int, total: int | None) -> None:
        if not total:
            return
        frac = received / total
        if frac >= state["next"] or received == total:
            print(f"{prefix}: {received / 1e6:.1f} / {total / 1e6:.1f} MB ({100 * frac:.0f}%)", file=sys.stderr)
            state["next"] = (int(frac * 10) + 1) / 10

    return report
