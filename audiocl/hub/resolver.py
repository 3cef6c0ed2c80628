"""Turn a model reference into a local path that :func:`audiocl.hub.release.load_release` can read.

This is the one place where every consumer of an upstream (fine-tuning, classification, probes,
``audiocl extract --model``) turns ``upstream.path`` into files on disk, so the tasks accept every
kind of reference without knowing about them:

- a local audiocl release dir, its ``model.safetensors``, a training ``.ckpt`` or an experiment dir
  (used where they are);
- a local foreign checkpoint: fairseq ``.pt``, HF transformers folder, torchaudio state dict, or a
  tar/zip of a release (converted once into the cache);
- an ``http(s)`` URL (``#sha256=HEX`` pins it), a registry name (``audiocl models``), or
  ``hf:ORG/NAME[@REVISION]``: downloaded, verified, converted once, cached (:mod:`audiocl.hub.fetch`).

Under DDP (``torch.distributed`` initialised) local rank 0 fetches and converts while the other ranks
wait at a barrier and then read the cache; they never download themselves.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch.distributed as dist

from audiocl.hub.cache import ModelCache
from audiocl.hub.download import DownloadOptions
from audiocl.hub.fetch import fetch
from audiocl.hub.release import load_release


def _local_rank() -> int | None:
    """This process's rank on its node when ``torch.distributed`` runs more than one process, else ``None``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return None
    for name in ("LOCAL_RANK", "SLURM_LOCALID"):
        if os.environ.get(name, "").isdigit():
            return int(os.environ[name])
    return dist.get_rank()


def resolve(ref: str | Path, options: DownloadOptions | None = None, *, cache: ModelCache | None = None) -> Path:
    """The local path behind ``ref`` (see the module docstring); errors are :class:`audiocl.errors.AudioclError`."""
    opts = options or DownloadOptions()
    cache = cache or ModelCache.default()
    rank = _local_rank()
    if rank is None:
        return fetch(str(ref), cache, opts)
    if rank == 0:
        try:
            return fetch(str(ref), cache, opts)
        finally:
            dist.barrier()
    dist.barrier()
    return fetch(str(ref), cache, opts, network="forbidden")


def from_pretrained(ref: str | Path, *, map_location: Any = "cpu", options: DownloadOptions | None = None):
    """Load the model behind ``ref`` (whatever :func:`audiocl.hub.release.load_release` returns for it)."""
    return load_release(resolve(ref, options), map_location=map_location)
