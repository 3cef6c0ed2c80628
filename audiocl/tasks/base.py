"""Base LightningModule of every audiocl task: the guard against non-finite batches lives here, once.

Subclasses implement :meth:`AudioclTask.compute_loss` (``batch -> (loss, logs)``). The base class

- skips a batch whose input is empty or non-finite, or whose loss is non-finite, *without* a backward
  pass or a parameter update, counts it (``train/skipped_batches``) and warns with the utterance ids;
- drops the update when the gradients are non-finite (all ``.grad`` set to ``None``, so AdamW leaves
  weights and moments untouched) and counts that too;
- under DDP takes the skip decision on all ranks together (a skip on one rank only would leave the
  others waiting in the gradient all-reduce);
- stops with :class:`TrainingError` after ``max_consecutive_bad_batches`` bad batches in a row,
  because then the run has diverged and skipping only hides it;
- logs the loss, every scalar from ``logs``, the learning rate and the gradient norm (before clipping).

The counters are saved in the checkpoint so a resumed run keeps counting.
"""

from __future__ import annotations

import logging
from typing import Any

import lightning.pytorch as pl
import torch
from torch import Tensor

from audiocl.errors import TrainingError

log = logging.getLogger(__name__)


class AudioclTask(pl.LightningModule):
    """Shared training-step guard and logging; see the module docstring."""

    max_consecutive_bad_batches: int = 20

    def __init__(self) -> None:
        super().__init__()
        self.skipped_batches = 0
        self.skipped_updates = 0
        self._consecutive_bad = 0

    # ----------------------------------------------------------- to implement
    def compute_loss(self, batch: Any) -> tuple[Tensor, dict[str, Any]]:  # pragma: no cover - abstract
        raise NotImplementedError

    def batch_size_of(self, batch: Any) -> int:
        if isinstance(batch, dict) and "wav" in batch:
            return int(batch["wav"].shape[0])
        return 1

    def check_batch(self, batch: Any) -> str | None:
        """Reason to skip ``batch`` before the forward pass, or ``None``. Default: empty or non-finite ``wav``."""
        if isinstance(batch, dict) and "wav" in batch:
            wav = batch["wav"]
            if wav.numel() == 0:
                return "empty batch (every utterance unreadable)"
            if not torch.isfinite(wav).all():
                bad = (~torch.isfinite(wav)).flatten(1).any(1)
                ids = [u for u, b in zip(batch.get("utt_ids", []), bad.tolist()) if b]
                return f"non-finite input samples in utterance(s) {', '.join(ids) or '?'}"
        return None

    # ------------------------------------------------------------ Lightning
    def training_step(self, batch: Any, batch_idx: int) -> Tensor | None:
        reason = self.check_batch(batch)
        loss: Tensor | None = None
        logs: dict[str, Any] = {}
        if reason is None:
            loss, logs = self.compute_loss(batch)
            if not torch.isfinite(loss.detach()).all():
                reason = f"non-finite loss ({loss.detach().float().item()})"
        bad = reason is not None
        if self._trainer is not None and self._trainer.world_size > 1:
            bad = bool(self._trainer.strategy.reduce_boolean_decision(bad, all=False))
            if bad and reason is None:
                reason = "a non-finite batch on another rank"
        if isinstance(batch, dict) and batch.get("num_bad"):
            self.log("train/bad_utterances", float(batch["num_bad"]), on_step=True, reduce_fx="sum")
        if bad:
            self._record_bad(reason or "?", batch)
            return None
        self._consecutive_bad = 0
        assert loss is not None
        bs = self.batch_size_of(batch)
        self.log("train/loss", loss.detach(), on_step=True, prog_bar=True, batch_size=bs)
        for key, value in logs.items():
            if key == "loss":
                continue
            if isinstance(value, Tensor):
                if value.numel() != 1:
                    continue
                value = value.detach().float()
            if value is None:
                continue
            self.log(f"train/{key}", value, on_step=True, batch_size=bs)
        opt = self.optimizers(use_pl_optimizer=False) if self._trainer is not None else None
        if opt is not None and not isinstance(opt, list):
            self.log("train/lr", float(opt.param_groups[0]["lr"]), on_step=True, prog_bar=True, batch_size=bs)
        self.log("train/skipped_batches", float(self.skipped_batches + self.skipped_updates), on_step=True,
                 batch_size=bs)
        return loss

    def _record_bad(self, reason: str, batch: Any) -> None:
        self.skipped_batches += 1
        self._consecutive_bad += 1
        ids = batch.get("utt_ids", []) if isinstance(batch, dict) else []
        shown = ", ".join(ids[:8]) + (" ..." if len(ids) > 8 else "")
        log.warning("step %d: skipping batch (%s); utterances: %s", self.global_step, reason, shown)
        self.log("train/skipped_batches", float(self.skipped_batches + self.skipped_updates), on_step=True,
                 batch_size=max(1, len(ids)))
        if self._consecutive_bad >= self.max_consecutive_bad_batches:
            raise TrainingError(
                f"{self._consecutive_bad} consecutive batches were skipped (last: {reason}; utterances: {shown}); "
                f"training has diverged or the data is broken. Lower the learning rate or fix the data, then "
                f"re-run the same command to resume from the last checkpoint."
            )

    def on_before_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        grads = [p.grad.detach() for p in self.parameters() if p.grad is not None]
        if not grads:
            return
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.float()) for g in grads]))
        if not torch.isfinite(norm):
            for p in self.parameters():
                p.grad = None
            self.skipped_updates += 1
            log.warning("step %d: non-finite gradient norm; update skipped", self.global_step)
        else:
            self.log("train/grad_norm", norm, on_step=True)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["audiocl_counters"] = {"skipped_batches": self.skipped_batches,
                                          "skipped_updates": self.skipped_updates}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counters = checkpoint.get("audiocl_counters", {})
        self.skipped_batches = int(counters.get("skipped_batches", 0))
        self.skipped_updates = int(counters.get("skipped_updates", 0))
