"""File-system failures as named errors: a full disk, a read-only file system, a denied permission.

A raw ``OSError: [Errno 28]`` from deep inside a writer (kaldiio, torch's zip writer) tells a user
neither which file nor how much space was missing. Every writer goes through :func:`storage_errors`
(``audiocl.utils.io.atomic_path`` does it for all atomic writes), and writers that know their size in
advance call :func:`check_free_space` before they start, so a job fails early instead of after an
hour of work.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from audiocl.errors import DiskFullError, StorageError

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
# torch's zip writer reports a failed write as a RuntimeError whose text carries no errno.
_TORCH_WRITE_FAILURES = ("unexpected pos", "file write failed", "PytorchStreamWriter failed")


def human_bytes(n: int | float) -> str:
    """``1536`` -> ``1.5 KiB``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(value) < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def _existing_ancestor(path: Path) -> Path:
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def free_bytes(path: str | Path) -> int:
    """Free bytes (for this user) on the file system that holds ``path`` or would hold it."""
    return int(shutil.disk_usage(_existing_ancestor(Path(path))).free)


def disk_full_error(path: str | Path, needed: int | None = None, what: str = "") -> DiskFullError:
    free = free_bytes(path)
    need = f"about {human_bytes(needed)}" if needed else "more space"
    return DiskFullError(f"{path}: not enough disk space{' for ' + what if what else ''}: needs {need}, "
                         f"{human_bytes(free)} free on that file system. Free some space or write elsewhere; "
                         "earlier outputs are intact.", path=str(path), needed=needed, free=free)


def check_free_space(path: str | Path, needed: int, what: str = "", margin: float = 1.05) -> None:
    """Raise :class:`DiskFullError` before writing ``needed`` bytes at ``path`` when they cannot fit."""
    if needed > 0 and free_bytes(path) < needed * margin:
        raise disk_full_error(path, needed, what)


def permission_error(path: str | Path, exc: OSError | None = None) -> StorageError:
    reason = os.strerror(exc.errno) if exc is not None and exc.errno else "not writable"
    return StorageError(f"{path}: cannot write ({reason}); choose a writable location or fix its permissions",
                        path=str(path))


def check_writable(directory: str | Path) -> None:
    """Create ``directory`` if needed and prove a file can be created in it (before a long job starts)."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno in _FULL:
            raise disk_full_error(directory) from None
        raise permission_error(directory, exc) from None


@contextlib.contextmanager
def storage_errors(path: str | Path, needed: int | None = None, what: str = "") -> Iterator[None]:
    """Turn a full disk or a denied write inside the block into a named :class:`StorageError`."""
    try:
        yield
    except OSError as exc:
        if exc.errno in _FULL:
            raise disk_full_error(path, needed, what) from None
        if exc.errno in _DENIED:
            raise permission_error(path, exc) from None
        raise
    except RuntimeError as exc:
        if not any(marker in str(exc) for marker in _TORCH_WRITE_FAILURES):
            raise
        if free_bytes(path) < (needed or 0) * 1.05 + 16 * 2**20:
            raise disk_full_error(path, needed, what) from None
        raise StorageError(f"{path}: write failed ({str(exc).splitlines()[0]}); earlier outputs are intact",
                           path=str(path)) from None
