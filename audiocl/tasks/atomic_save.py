"""``torch.save`` that never leaves a half-written file (kept free of Lightning so any process can use it cheaply)."""

from __future__ import annotations

import os
from typing import Any, Callable

import torch

from audiocl.utils.io import atomic_path


def atomic_torch_save(obj: Any, path: str | os.PathLike, *, needed_bytes: int | None = None,
                      before_replace: Callable[[], None] | None = None) -> None:
    """Save into a temp file in the same directory, fsync, then rename over ``path``.

    A full disk is a named :class:`~audiocl.errors.DiskFullError` (checked up front when
    ``needed_bytes`` is known); ``path`` keeps its previous content either way.
    """
    with atomic_path(path, needed_bytes=needed_bytes, before_replace=before_replace) as tmp:
        torch.save(obj, tmp)
