"""Tell what a local checkpoint is, without executing anything it contains.

Formats: ``release`` (audiocl: ``model.safetensors`` + ``config.yaml``), ``checkpoint`` (an audiocl
training ``.ckpt`` or experiment dir), ``hf`` (an HF transformers folder: ``config.json`` + weights),
``fairseq`` (a ``.pt`` with ``model`` and ``cfg``/``args``), ``torchaudio`` (a bare wav2vec 2.0
state dict in torchaudio's names) and ``archive`` (a tar or zip of one of the folder formats).

Torch files are opened only with ``torch.load(weights_only=True)``; a fairseq checkpoint, which also
pickles its config objects, is read by :func:`audiocl.hub.convert_fairseq.load_fairseq_checkpoint`
with its explicit allow-list. Anything else in a pickle is refused, never unpickled in full.
"""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path
from typing import Any

import torch

from audiocl.errors import AudioclError

FORMATS = ("release", "checkpoint", "hf", "fairseq", "torchaudio", "archive")
TORCHAUDIO_MARKERS = ("encoder.transformer.", "encoder.feature_projection.")


def is_zip(path: Path) -> bool:
    """A zip archive by its leading magic. ``zipfile.is_zipfile`` searches the tail for an end-of-directory
    record, which a compressed tar stream can contain by chance."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"PK\x03\x04"
    except OSError:
        return False


def is_torch_zip(path: Path) -> bool:
    """``torch.save`` files are zip archives holding a ``data.pkl``; plain zips of folders are not."""
    try:
        with zipfile.ZipFile(path) as zf:
            return any(n.endswith("/data.pkl") or n == "data.pkl" for n in zf.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def is_archive(path: Path) -> bool:
    if not path.is_file():
        return False
    if is_zip(path):
        return not is_torch_zip(path)
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False


def load_weights_only(path: Path) -> Any:
    """``torch.load(weights_only=True)``; what it refuses is an :class:`AudioclError`, never a full unpickle."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=is_torch_zip(path))
    except Exception as exc:  # UnpicklingError, truncated file, not a torch file
        raise AudioclError(f"{path}: cannot read it with torch.load(weights_only=True) ({type(exc).__name__}: "
                           f"{str(exc).splitlines()[0] if str(exc) else ''})") from None


def _torch_file_format(path: Path) -> str:
    try:
        obj = load_weights_only(path)
    except AudioclError:
        # fairseq pickles argparse / omegaconf config objects, which the plain weights-only loader
        # refuses; the fairseq reader retries with exactly those classes allowed (and refuses the rest)
        return "fairseq"
    if isinstance(obj, dict):
        if "state_dict" in obj and "audiocl_config" in obj:
            return "checkpoint"
        if "model" in obj and ("cfg" in obj or "args" in obj):
            return "fairseq"
        keys = [k for k in obj if isinstance(k, str)]
        if keys and any(k.startswith(TORCHAUDIO_MARKERS) for k in keys):
            return "torchaudio"
    raise AudioclError(f"{path}: a torch file, but neither an audiocl checkpoint, a fairseq checkpoint nor a "
                       "torchaudio wav2vec 2.0 state dict")


def detect_format(path: str | Path) -> str:
    """One of :data:`FORMATS` for a local file or folder; an unknown layout is an :class:`AudioclError`."""
    path = Path(path)
    if path.is_dir():
        if (path / "model.safetensors").is_file() and (path / "config.yaml").is_file():
            return "release"
        if (path / "checkpoints" / "last.ckpt").is_file():
            return "checkpoint"
        if (path / "config.json").is_file() and any((path / n).is_file()
                                                    for n in ("model.safetensors", "pytorch_model.bin")):
            return "hf"
        raise AudioclError(f"{path}: not a model folder (expected model.safetensors + config.yaml of an audiocl "
                           "release, config.json + weights of an HF transformers model, or an experiment dir)")
    if not path.is_file():
        raise AudioclError(f"{path}: no such file or directory")
    if path.suffix == ".safetensors" and (path.parent / "config.yaml").is_file():
        return "release"
    if path.suffix == ".ckpt":
        return "checkpoint"
    if is_archive(path):
        return "archive"
    return _torch_file_format(path)
