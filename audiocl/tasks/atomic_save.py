"""``torch.save`` that never leaves a half-written file (kept free of Lightning so any process can use it cheaply)."""

from __future__ import annotations

import os
from typing import Any

import torch

from audiocl.utils.io import atomic_path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """Save into a temp file in the same directory, fsync, then rename over ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
