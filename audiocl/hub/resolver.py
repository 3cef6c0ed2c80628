"""Turn a model reference into a local path that :func:`audiocl.hub.release.load_release` can read.

This is the one place where every consumer of an upstream (fine-tuning, classification, probes,
``audiocl extract --model``) turns ``upstream.path`` into files on disk, so new kinds of reference
plug in here without touching the tasks. Local references: a release dir, its ``model.safetensors``,
a training checkpoint (``.ckpt``) or an experiment dir (its ``checkpoints/last.ckpt``).
"""

from __future__ import annotations

from pathlib import Path

from audiocl.errors import ConfigError


def resolve(ref: str | Path) -> Path:
    """The local path behind ``ref``; a reference that names nothing readable is a :class:`ConfigError`."""
    text = str(ref).strip()
    if not text:
        raise ConfigError("empty model reference: give a release dir, a checkpoint or an experiment dir")
    path = Path(text).expanduser()
    if path.exists():
        return path
    raise ConfigError(f"model reference {text!r}: no such file or directory")
