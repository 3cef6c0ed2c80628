"""Feature writers (Kaldi ark/scp via kaldiio, one ``.npy`` per utterance) and a reader for both.

Nothing is ever half-written: the ark is written under a temporary name and renamed when the job is
complete, then its scp is written atomically (so an scp never points into a missing or partial ark);
each ``.npy`` is written to a temporary file and renamed. A job that dies leaves either nothing or
complete files, and the scp/index of a job is the last thing to appear.

Index format (both writers): one ``utt_id value`` line per utterance, in the order written, where the
value is ``/abs/path/feats.ark:OFFSET`` (Kaldi scp, readable by kaldiio and Kaldi tools) or
``/abs/path/utt.npy``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterable, Iterator, Mapping

import numpy as np

from audiocl.errors import FeatureError
from audiocl.utils.io import atomic_path, atomic_write_text

FORMATS = ("ark", "npy")


class FeatureWriter:
    """Base: collects ``(utt_id, location, num_frames)`` and writes the index on :meth:`commit`."""

    def __init__(self, scp_path: str | Path):
        self.scp_path = Path(scp_path)
        self.entries: list[tuple[str, str, int]] = []
        self._closed = False

    def write(self, utt_id: str, feats: np.ndarray) -> None:
        raise NotImplementedError

    def _check(self, utt_id: str, feats) -> np.ndarray:
        if self._closed:
            raise RuntimeError("writer already closed")
        if not utt_id or any(ch.isspace() for ch in utt_id):
            raise FeatureError(f"utterance id {utt_id!r} is empty or contains whitespace: cannot be an scp key")
        x = np.asarray(feats, dtype=np.float32)
        if x.ndim != 2:
            raise FeatureError(f"utterance {utt_id}: features must be (frames, dim), got shape {x.shape}")
        return x

    def commit(self) -> Path:
        """Finish: make the data visible under its final names; returns the index path."""
        self._closed = True
        text = "".join(f"{u} {loc}\n" for u, loc, _ in self.entries)
        atomic_write_text(self.scp_path, text)
        return self.scp_path

    def abort(self) -> None:
        self._closed = True

    @property
    def num_frames(self) -> dict[str, int]:
        return {u: n for u, _, n in self.entries}

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.commit()
        else:
            self.abort()
        return False


class ArkWriter(FeatureWriter):
    """Kaldi binary ark + scp. Optional kaldiio compression (``compression_method`` 1-8, Kaldi's codes)."""

    def __init__(self, ark_path: str | Path, scp_path: str | Path, compression_method: int | None = None):
        super().__init__(scp_path)
        self.ark_path = Path(ark_path).resolve()
        self.ark_path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{self.ark_path.name}.", suffix=".tmp", dir=self.ark_path.parent)
        self._tmp = Path(tmp)
        self._fh = os.fdopen(fd, "wb")
        self.compression_method = compression_method

    def write(self, utt_id: str, feats) -> None:
        import kaldiio

        x = self._check(utt_id, feats)
        start = self._fh.tell()
        kaldiio.save_ark(self._fh, {utt_id: x}, compression_method=self.compression_method)
        # kaldiio writes "<key> " then the binary matrix; an scp offset points just past the space
        offset = start + len(utt_id.encode("utf-8")) + 1
        self.entries.append((utt_id, f"{self.ark_path}:{offset}", int(x.shape[0])))

    def commit(self) -> Path:
        if not self._fh.closed:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
        os.chmod(self._tmp, 0o666 & ~_umask())  # mkstemp creates 0600; an ark is an ordinary data file
        os.replace(self._tmp, self.ark_path)
        return super().commit()

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        if self._tmp.exists():
            self._tmp.unlink()
        super().abort()


class NpyWriter(FeatureWriter):
    """One float32 ``<utt_id>.npy`` per utterance in ``folder`` plus an scp-like index."""

    def __init__(self, folder: str | Path, scp_path: str | Path):
        super().__init__(scp_path)
        self.folder = Path(folder).resolve()
        self.folder.mkdir(parents=True, exist_ok=True)

    def write(self, utt_id: str, feats) -> None:
        x = self._check(utt_id, feats)
        path = self.folder / (safe_file_name(utt_id) + ".npy")
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, x)
        self.entries.append((utt_id, str(path), int(x.shape[0])))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def safe_file_name(utt_id: str) -> str:
    """A file name for an utterance id (ids are Kaldi keys; '/' and a leading '.' are escaped)."""
    name = utt_id.replace("%", "%25").replace("/", "%2F").replace("\\", "%5C")
    return "%2E" + name[1:] if name.startswith(".") else name


def make_writer(fmt: str, out_dir: str | Path, name: str, scp_path: str | Path, compression_method: int | None = None):
    """Writer for job ``name`` (e.g. ``feats.3``) in ``out_dir``: ``name.ark`` or the folder ``name/``."""
    out_dir = Path(out_dir)
    if fmt == "ark":
        return ArkWriter(out_dir / f"{name}.ark", scp_path, compression_method)
    if fmt == "npy":
        return NpyWriter(out_dir / name, scp_path)
    raise FeatureError(f"unknown feature format {fmt!r}; choose one of {', '.join(FORMATS)}")


def merge_index_files(parts: Iterable[str | Path], out: str | Path) -> Path:
    """Concatenate job indexes in the given order into ``out`` (atomically); missing parts are an error."""
    chunks = []
    for part in parts:
        part = Path(part)
        if not part.is_file():
            raise FeatureError(f"job index {part} is missing: the job did not finish")
        chunks.append(part.read_text(encoding="utf-8"))
    atomic_write_text(out, "".join(chunks))
    return Path(out)


class FeatureReader(Mapping[str, np.ndarray]):
    """Read-only mapping ``utt_id -> (frames, dim) float32`` over an scp written by either writer."""

    def __init__(self, scp_path: str | Path):
        self.scp_path = Path(scp_path)
        if not self.scp_path.is_file():
            raise FeatureError(f"feature index not found: {self.scp_path}")
        self._index: dict[str, str] = {}
        for lineno, line in enumerate(self.scp_path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split(maxsplit=1)
            if len(parts) != 2:
                raise FeatureError(f"{self.scp_path} line {lineno}: expected 'utt_id location', got {line!r}")
            if parts[0] in self._index:
                raise FeatureError(f"{self.scp_path} line {lineno}: utterance {parts[0]} appears twice")
            self._index[parts[0]] = parts[1]

    def __getitem__(self, utt_id: str) -> np.ndarray:
        loc = self._index[utt_id]
        try:
            if loc.endswith(".npy"):
                return np.load(loc, allow_pickle=False)
            import kaldiio

            return np.asarray(kaldiio.load_mat(loc), dtype=np.float32)
        except (OSError, ValueError) as exc:
            raise FeatureError(f"utterance {utt_id}: cannot read features from {loc} ({exc})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)
