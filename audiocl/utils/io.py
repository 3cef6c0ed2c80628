"""Atomic file writes: a job killed mid-write never leaves a truncated file behind.

Every finished artefact (data-dir files, features, checkpoints, markers) goes through these, so
"nothing lost when a job dies" holds: either the old file or the complete new one exists.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Callable, Iterator

from audiocl.utils.storage import check_free_space, storage_errors


@contextlib.contextmanager
def atomic_path(path: str | Path, *, needed_bytes: int | None = None,
                before_replace: Callable[[], None] | None = None) -> Iterator[Path]:
    """Yield a temporary path in the same directory; rename it over ``path`` only on success.

    A full disk or a denied write becomes a named :class:`~audiocl.errors.StorageError` (the partial
    temporary file is removed, ``path`` keeps its old content). ``needed_bytes``, when known, is
    checked against the free space before anything is written. ``before_replace`` runs after the new
    file is complete and synced, right before the rename (checkpoint history rotation).
    """
    path = Path(path)
    tmp_path: Path | None = None
    try:
        with storage_errors(path, needed_bytes):
            path.parent.mkdir(parents=True, exist_ok=True)
            if needed_bytes:
                check_free_space(path.parent, needed_bytes)
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
            os.close(fd)
            tmp_path = Path(tmp)
            # mkstemp creates 0600; give the finished file the permissions an ordinary open() would.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
            yield tmp_path
            with open(tmp_path, "rb") as fh:
                os.fsync(fh.fileno())
            if before_replace is not None:
                before_replace()
            os.replace(tmp_path, path)
    finally:
        if tmp_path is not None and tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(path: str | Path, text: str, encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding=encoding)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
