"""The last K training checkpoints, and choosing a good one to resume from.

One ``last.ckpt`` is not enough: a copy cut short, a sync tool or another program filling the disk
can leave it unreadable, and then nothing is left to resume from. The newest checkpoint is always
``last.ckpt`` (what users and the release exporter look for); the ones before it are
``last-1.ckpt`` ... ``last-<K-1>.ckpt``. A save writes and syncs the new file first, then shifts the
history by renames, then renames the new file into place, so at every instant the newest complete
checkpoint exists under one of these names.

On resume the newest is load-tested (``torch.load`` with ``weights_only=True`` and ``mmap``, so
a large file is not read twice into memory); a corrupt one is moved aside as ``*.corrupt`` (kept for
inspection, never deleted) and the next older is tried.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from audiocl.errors import CheckpointError

log = logging.getLogger(__name__)


def history_paths(last: str | Path, keep: int) -> list[Path]:
    """``[last.ckpt, last-1.ckpt, ..., last-<keep-1>.ckpt]``: newest first."""
    last = Path(last)
    return [last] + [last.with_name(f"{last.stem}-{i}{last.suffix}") for i in range(1, max(1, keep))]


def rotate(last: str | Path, keep: int) -> None:
    """Shift the history one place older (dropping the oldest) so the new checkpoint can become ``last``."""
    paths = history_paths(last, keep)
    if keep <= 1:
        return
    for newer, older in reversed(list(zip(paths[:-1], paths[1:]))):
        if newer.exists():
            os.replace(newer, older)


def checkpoint_problem(path: str | Path) -> str | None:
    """Why ``path`` cannot be resumed from, or ``None`` when it loads and looks like a training checkpoint."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # truncated zip, foreign pickle, empty file, I/O error
        return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'unreadable'}"
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "global_step" not in ckpt:
        return "not a training checkpoint (no state_dict / global_step)"
    return None


def choose_resume_checkpoint(last: str | Path, keep: int, move_aside: bool = True) -> Path | None:
    """The newest loadable checkpoint of the history, ``None`` when there is none at all.

    Corrupt ones are renamed to ``<name>.corrupt`` (with ``move_aside``; under DDP only rank 0 does)
    with a warning naming the file and the reason; when checkpoints exist but none loads,
    :class:`CheckpointError` lists what was tried.
    """
    candidates = [p for p in history_paths(last, max(keep, _oldest_index(last) + 1)) if p.exists()]
    tried: list[str] = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            if tried:
                log.warning("resuming from the older checkpoint %s (newer ones were corrupt)", path)
            return path
        aside = path.with_name(path.name + ".corrupt")
        if move_aside and path.exists():
            os.replace(path, aside)
        log.warning("checkpoint %s is corrupt (%s); moved aside to %s", path, problem, aside.name)
        tried.append(f"{path}: {problem} (now {aside.name})")
    if tried:
        raise CheckpointError(f"no usable checkpoint in {Path(last).parent}; tried:\n  " + "\n  ".join(tried)
                              + "\nStart afresh with another --exp-dir, or remove the *.corrupt files to retrain "
                              "from scratch in this one.")
    return None


def _oldest_index(last: str | Path) -> int:
    """The highest ``last-<i>.ckpt`` present, so a run resumed with a smaller K still sees every file."""
    last = Path(last)
    best = 0
    for p in last.parent.glob(f"{last.stem}-*{last.suffix}"):
        suffix = p.name[len(last.stem) + 1: -len(last.suffix) or None]
        if suffix.isdigit():
            best = max(best, int(suffix))
    return best
