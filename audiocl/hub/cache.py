"""The model cache on disk: content-addressed blobs, converted releases, one JSON manifest per reference.

Layout under the cache root (``AUDIOCL_CACHE``, else the platform's user cache dir)::

    CACHEDIR.TAG                  tells backup tools to skip the folder
    blobs/<sha256>                downloaded files, named by their content
    releases/<id>/                audiocl releases (model.safetensors, config.yaml, vocab, source.json)
    entries/<slug>-<hash>.json    manifest of one reference: its sources and the release files' sizes
    locks/<name>.lock             advisory per-download locks
    tmp/                          partial downloads and conversions before their atomic rename

Why this shape: a hit must be cheap and read-only (shared caches on read-only or NFS mounts), so a
lookup reads one manifest and compares file sizes, never re-hashing gigabytes and never writing.
Files are real files (no symlinks), so the cache works on Windows and survives copying. Every
file appears by an atomic rename, so a reader never sees half a file whatever the locks do; the
locks only save a second process from downloading the same bytes again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import platformdirs
from filelock import FileLock, Timeout

from audiocl.errors import AudioclError
from audiocl.utils.io import atomic_write_text

CACHE_ENV = "AUDIOCL_CACHE"
LOCK_TIMEOUT_ENV = "AUDIOCL_LOCK_TIMEOUT"
CACHEDIR_TAG = ("Signature: 8a477f597d28d172789f06886806bc55\n"
                "# This file is a cache directory tag created by audiocl (model checkpoints).\n"
                "# For information about cache directory tags see https://bford.info/cachedir/\n")
_HASH_CHUNK = 1 << 20


def default_root() -> Path:
    """``$AUDIOCL_CACHE``, else the platform cache dir (``~/.cache/audiocl`` on Linux); read at each call."""
    env = os.environ.get(CACHE_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_cache_dir("audiocl", appauthor=False))


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(_HASH_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def entry_key(ref: str) -> str:
    """File-system-safe, collision-free name of a reference's manifest (readable prefix + hash)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", ref.split("://", 1)[-1]).strip("_")[-60:]
    return f"{slug}-{hashlib.sha256(ref.encode()).hexdigest()[:16]}"


def file_record(path: Path) -> dict[str, Any]:
    return {"sha256": sha256_file(path), "size": path.stat().st_size}


@dataclass(frozen=True)
class ModelCache:
    """One cache root. Lookups only read; everything that writes creates its folders first."""

    root: Path

    @classmethod
    def default(cls) -> "ModelCache":
        return cls(default_root())

    @property
    def blobs(self) -> Path:
        return self.root / "blobs"

    @property
    def releases(self) -> Path:
        return self.root / "releases"

    @property
    def entries(self) -> Path:
        return self.root / "entries"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    def blob_path(self, sha256: str) -> Path:
        return self.blobs / sha256.lower()

    def has_blob(self, sha256: str, size: int | None = None) -> bool:
        """A blob counts when it exists with the expected size (its name is its verified hash)."""
        path = self.blob_path(sha256)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def manifest_path(self, ref: str) -> Path:
        return self.entries / f"{entry_key(ref)}.json"

    # ----------------------------------------------------------------- reading (never writes)
    def read_manifest(self, ref: str) -> dict[str, Any] | None:
        path = self.manifest_path(ref)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) and data.get("ref") == ref else None

    def lookup(self, ref: str, *, sha256: str | None = None, local_stat: dict | None = None) -> Path | None:
        """The release dir of ``ref`` when the cache holds it intact, else ``None``.

        Intact = the manifest parses, names ``sha256`` as its source when one is asked for, matches
        ``local_stat`` for a converted local file, and every release file exists with its recorded size.
        """
        manifest = self.read_manifest(ref)
        if manifest is None:
            return None
        sources = manifest.get("sources") or []
        if sha256 and not any(s.get("sha256") == sha256.lower() for s in sources):
            return None
        if local_stat is not None and manifest.get("local_stat") != local_stat:
            return None
        release = self.root / str(manifest.get("release", ""))
        files = manifest.get("files") or {}
        if not files or not release.is_dir():
            return None
        for name, rec in files.items():
            f = release / name
            if not f.is_file() or f.stat().st_size != rec.get("size"):
                return None
        return release

    def manifests(self) -> list[dict[str, Any]]:
        out = []
        for path in sorted(self.entries.glob("*.json")) if self.entries.is_dir() else []:
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = {"ref": None, "broken_manifest": path.name}
            out.append(data)
        return out

    # ----------------------------------------------------------------- writing (misses only)
    def prepare(self) -> None:
        """Create the folders and ``CACHEDIR.TAG``; a cache that cannot be written is a clear error."""
        try:
            for d in (self.blobs, self.releases, self.entries, self.tmp, self.root / "locks"):
                d.mkdir(parents=True, exist_ok=True)
            tag = self.root / "CACHEDIR.TAG"
            if not tag.is_file():
                atomic_write_text(tag, CACHEDIR_TAG)
            self._drop_stale_staging()
        except OSError as exc:
            raise AudioclError(f"model cache {self.root} is not writable ({exc}); set {CACHE_ENV} to a "
                               "writable folder, or prefetch into this one where it is writable") from None

    def _drop_stale_staging(self, max_age: float = 86400.0) -> None:
        """Remove conversion folders a killed process left in ``tmp/`` over a day ago (partial
        downloads stay: they are what a later run resumes)."""
        now = time.time()
        for p in self.tmp.iterdir():
            if p.is_dir() and now - p.stat().st_mtime > max_age:
                shutil.rmtree(p, ignore_errors=True)

    def write_manifest(self, ref: str, manifest: dict[str, Any]) -> None:
        data = dict(manifest, ref=ref)
        atomic_write_text(self.manifest_path(ref), json.dumps(data, indent=1, sort_keys=True) + "\n")

    def add_release(self, staged: Path, release_id: str) -> Path:
        """Move a finished staging dir to ``releases/<release_id>`` (atomic); an existing one wins."""
        target = self.releases / release_id
        try:
            os.rename(staged, target)
        except OSError:
            if not target.is_dir():
                raise
            shutil.rmtree(staged, ignore_errors=True)
        return target

    def record_release(self, ref: str, release: Path, sources: list[dict], **extra: Any) -> Path:
        """Write the manifest of ``ref`` pointing at ``release`` (sizes and hashes of its files)."""
        files = {p.name: file_record(p) for p in sorted(release.iterdir()) if p.is_file()}
        self.write_manifest(ref, {"release": release.relative_to(self.root).as_posix(), "files": files,
                                  "sources": sources, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                  **extra})
        return release

    def staging_dir(self, prefix: str) -> Path:
        self.tmp.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f"{prefix}.", dir=self.tmp))

    @contextlib.contextmanager
    def lock(self, name: str, *, what: str, timeout: float | None = None) -> Iterator[bool]:
        """Hold ``locks/<name>.lock`` while downloading; yields whether the lock is held.

        Waits up to ``timeout`` seconds (``AUDIOCL_LOCK_TIMEOUT``, default one hour), saying so once.
        A lock that cannot be taken (timeout, read-only or lock-less file system) is not an error:
        the download goes on unlocked, because atomic renames, not the lock, keep the cache correct.
        """
        if timeout is None:
            timeout = float(os.environ.get(LOCK_TIMEOUT_ENV, "3600"))
        lock = FileLock(str(self.root / "locks" / f"{name}.lock"))
        held = False
        try:
            try:
                lock.acquire(timeout=min(1.0, timeout))
                held = True
            except Timeout:
                print(f"audiocl: waiting for lock {lock.lock_file} (another process is fetching {what}); "
                      f"up to {timeout:.0f} s", file=sys.stderr)
                try:
                    lock.acquire(timeout=max(0.0, timeout - 1.0))
                    held = True
                except Timeout:
                    print(f"audiocl: lock {lock.lock_file} still held after {timeout:.0f} s; going on without it",
                          file=sys.stderr)
        except OSError as exc:
            print(f"audiocl: cannot lock {lock.lock_file} ({exc}); going on without the lock", file=sys.stderr)
        try:
            yield held
        finally:
            if held:
                lock.release()

    # ----------------------------------------------------------------- maintenance
    def verify(self) -> list[str]:
        """Re-hash every release file and blob named in a manifest; one line per problem."""
        problems = []
        for m in self.manifests():
            ref = m.get("ref")
            if ref is None:
                problems.append(f"unreadable manifest {m.get('broken_manifest')}")
                continue
            release = self.root / str(m.get("release", ""))
            for name, rec in (m.get("files") or {}).items():
                f = release / name
                if not f.is_file():
                    problems.append(f"{ref}: {f} is missing")
                elif sha256_file(f) != rec.get("sha256"):
                    problems.append(f"{ref}: {f} does not match its recorded sha256 (corrupt; `audiocl cache rm {ref}`)")
            for src in m.get("sources") or []:
                blob = self.blob_path(src["sha256"]) if src.get("sha256") else None
                if blob is not None and blob.is_file() and sha256_file(blob) != src["sha256"]:
                    problems.append(f"{ref}: blob {blob} does not match its name (corrupt)")
        return problems

    def remove(self, ref: str) -> list[Path]:
        """Delete the manifest of ``ref``, and its release and blobs when no other manifest uses them."""
        manifest = self.read_manifest(ref)
        if manifest is None:
            raise AudioclError(f"{ref!r} is not in the model cache {self.root} (see `audiocl cache ls`)")
        removed = [self.manifest_path(ref)]
        self.manifest_path(ref).unlink()
        others = self.manifests()
        used_releases = {o.get("release") for o in others}
        used_blobs = {s.get("sha256") for o in others for s in o.get("sources") or []}
        if manifest.get("release") and manifest["release"] not in used_releases:
            shutil.rmtree(self.root / manifest["release"], ignore_errors=True)
            removed.append(self.root / manifest["release"])
        for src in manifest.get("sources") or []:
            sha = src.get("sha256")
            if sha and sha not in used_blobs and self.blob_path(sha).is_file():
                self.blob_path(sha).unlink()
                removed.append(self.blob_path(sha))
        return removed
