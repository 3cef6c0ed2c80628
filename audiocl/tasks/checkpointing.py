"""Checkpoint and resume machinery: atomic ``last.ckpt``, RNG state, sampler position.

Lightning restores model, optimizer, scheduler and loop counters from ``ckpt_path``; what it does
not do, and what this module adds:

- :class:`AtomicCheckpointIO` writes the checkpoint to a temporary file in the same directory,
  fsyncs and renames it over the old one. A SIGKILL while writing leaves the previous complete
  ``last.ckpt`` (Lightning's own writer truncates the destination first). It keeps the last K
  checkpoints (:mod:`audiocl.tasks.checkpoint_history`) and refuses to start a save that cannot fit
  on the disk (a checkpoint is about the size of the previous one).
- :class:`PeriodicCheckpoint` saves ``last.ckpt`` every N optimizer steps and at the end.
- :class:`RngStateCallback` stores the Python, NumPy, torch (and CUDA) generator states and puts
  them back right before the first resumed step, so masking/dropout continue exactly as in an
  uninterrupted run.
- :class:`ResumableDataLoader` + :class:`SamplerProgressCallback`: the batch sampler's position
  (epoch, batches already trained on) is saved and restored through Lightning's stateful-loader hook,
  so a resumed epoch skips the batches it already trained on.

Everything stored is plain tensors/numbers so the checkpoint loads with ``weights_only=True``.
"""

from __future__ import annotations

import glob
import logging
import os
import random
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO
from torch.utils.data import DataLoader

from audiocl.tasks.atomic_save import atomic_torch_save
from audiocl.tasks.checkpoint_history import rotate

log = logging.getLogger(__name__)


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` into a temp file + fsync + ``os.replace``: the destination is never half written.

    ``keep`` > 1 keeps that many checkpoints (``last.ckpt``, ``last-1.ckpt``, ...).
    """

    def __init__(self, keep: int = 1):
        super().__init__()
        self.keep = max(1, int(keep))

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | os.PathLike, storage_options: Any = None) -> None:
        if storage_options is not None:
            raise TypeError("AtomicCheckpointIO does not take storage_options")
        path = Path(path)
        previous = path.stat().st_size if path.exists() else None
        atomic_torch_save(checkpoint, path, needed_bytes=previous,
                          before_replace=lambda: rotate(path, self.keep))


def remove_stale_temporaries(directory: str | Path) -> list[Path]:
    """Delete temp files a killed writer left behind (``.<name>.*.tmp``); returns what was removed."""
    removed = []
    for name in glob.glob(os.path.join(str(directory), ".*.ckpt.*.tmp")):
        try:
            os.unlink(name)
            removed.append(Path(name))
        except OSError:
            pass
    return removed


class PeriodicCheckpoint(pl.Callback):
    """Save ``path`` every ``every_n_steps`` optimizer steps (0 = only at the end) and when training ends."""

    def __init__(self, path: str | Path, every_n_steps: int):
        self.path = Path(path)
        self.every_n_steps = int(every_n_steps)
        self.last_saved_step = -1

    def save(self, trainer: pl.Trainer, log_pending_step: bool = False) -> None:
        # Lightning logs a step's metrics only after the on_train_batch_end hooks, i.e. after this save;
        # a kill in between would lose that step's row although the checkpoint has the step. So log the
        # pending step now (read_metrics merges the repeated row Lightning writes a moment later), then
        # flush every logger, then save: a kill after the save loses no logged step. (Lightning-private
        # `_logger_connector`, as of lightning 2.6 pinned in constraints.txt: recheck on upgrade.)
        if log_pending_step:
            trainer._logger_connector.update_train_step_metrics()
        for logger in trainer.loggers:
            logger.save()
        trainer.save_checkpoint(self.path, weights_only=False)
        self.last_saved_step = trainer.global_step

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.last_saved_step = trainer.global_step  # a resumed run does not re-save the step it loaded

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        step = trainer.global_step
        if self.every_n_steps > 0 and step > 0 and step % self.every_n_steps == 0 and step != self.last_saved_step:
            self.save(trainer, log_pending_step=True)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.global_step != self.last_saved_step:
            self.save(trainer)  # every step has been logged by now


def _rng_state() -> dict[str, Any]:
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate()[1],  # tuple of ints
        "python_gauss": random.getstate()[2],
        "numpy_keys": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
        "numpy_pos": int(np_state[2]),
        "numpy_has_gauss": int(np_state[3]),
        "numpy_gauss": float(np_state[4]),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate((3, tuple(state["python"]), state["python_gauss"]))
    np.random.set_state(("MT19937", state["numpy_keys"].numpy().astype(np.uint32), state["numpy_pos"],
                         state["numpy_has_gauss"], state["numpy_gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        try:
            torch.cuda.set_rng_state_all(state["cuda"])
        except (RuntimeError, IndexError):  # different GPU count: keep fresh CUDA generators
            log.warning("could not restore CUDA RNG states (GPU count changed)")


class RngStateCallback(pl.Callback):
    """Save the global RNG states in the checkpoint; restore them just before the first resumed step."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def state_dict(self) -> dict[str, Any]:
        return _rng_state()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = state_dict

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._pending is not None:
            _set_rng_state(self._pending)
            self._pending = None


class ResumableDataLoader(DataLoader):
    """A DataLoader whose batch sampler's position is saved in and restored from the checkpoint.

    Lightning treats a loader with ``state_dict``/``load_state_dict`` as resumable and calls
    ``load_state_dict`` before creating the iterator of the resumed epoch.
    """

    def state_dict(self) -> dict[str, Any]:
        sampler = self.batch_sampler
        return sampler.state_dict() if hasattr(sampler, "state_dict") else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        sampler = self.batch_sampler
        if state and hasattr(sampler, "load_state_dict"):
            sampler.load_state_dict(state)


class SamplerProgressCallback(pl.Callback):
    """Tell the batch sampler how many batches of the epoch were trained on (saved with the checkpoint)."""

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:  # type: ignore[override]
        loaders = trainer.train_dataloader
        for loader in loaders if isinstance(loaders, (list, tuple)) else [loaders]:
            sampler = getattr(loader, "batch_sampler", None)
            if sampler is not None and hasattr(sampler, "consumed"):
                sampler.consumed = batch_idx + 1
