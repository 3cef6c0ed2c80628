"""Stop training cleanly on SIGTERM, SIGINT or SIGUSR1: finish the step, save a checkpoint, exit.

SLURM sends SIGTERM on preemption, ``scancel`` and time limits (and, with ``--signal=USR1@90``, a
grace signal before that); a user presses Ctrl-C. Lightning's default handling logs the signal and
exits without a checkpoint, losing every step since the last periodic save. Here the handler only
records the signal; at the end of the current optimizer step the callback saves ``last.ckpt`` at that
step (through :class:`~audiocl.tasks.checkpointing.PeriodicCheckpoint`, so the step's metrics are
logged first) and asks the trainer to stop. :func:`audiocl.tasks.runner.run_training` then raises
:class:`~audiocl.errors.TrainingInterrupted` (exit status 128 + signal), and re-running the same
command resumes exactly there. Under DDP every rank agrees on the stop step (any rank's signal
stops all). Under SLURM the job requeues itself (``scontrol requeue``) when it was started with
``--requeue``-able settings; see ``docs/distributed.md``.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import threading
from typing import Any

import lightning.pytorch as pl

from audiocl.tasks.checkpointing import PeriodicCheckpoint

log = logging.getLogger(__name__)

STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGUSR1")


def slurm_job_id() -> str | None:
    """The id ``scontrol requeue`` takes: ``<array job>_<task>`` for array tasks, else the job id."""
    if os.environ.get("SLURM_ARRAY_JOB_ID") and os.environ.get("SLURM_ARRAY_TASK_ID"):
        return f"{os.environ['SLURM_ARRAY_JOB_ID']}_{os.environ['SLURM_ARRAY_TASK_ID']}"
    return os.environ.get("SLURM_JOB_ID") or None


def requeue_slurm_job(job_id: str) -> bool:
    """Ask SLURM to put this job back in the queue; a failure is a warning (the checkpoint is saved anyway)."""
    try:
        done = subprocess.run(["scontrol", "requeue", job_id], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("could not requeue SLURM job %s (%s); re-submit it to resume", job_id, exc)
        return False
    if done.returncode != 0:
        log.warning("scontrol requeue %s failed: %s; re-submit it to resume", job_id, done.stderr.strip())
        return False
    log.warning("SLURM job %s requeued; it resumes from the saved checkpoint", job_id)
    return True


class GracefulStop(pl.Callback):
    """Record stop signals; at the next optimizer-step boundary save a checkpoint and stop the trainer.

    Under SLURM, :meth:`requeue_if_slurm` puts the job back in the queue once the run has written
    everything (the runner calls it last).

    Handlers are installed when training starts (after Lightning installed its own) and the ones that
    were in place when this object was created are put back at teardown. A second Ctrl-C while the
    step finishes interrupts at once, as users expect.
    """

    def __init__(self, checkpoint: PeriodicCheckpoint, signals: tuple[str, ...] = STOP_SIGNALS,
                 requeue_on_slurm: bool = True):
        self.checkpoint = checkpoint
        self.signals = [getattr(signal, name) for name in signals if hasattr(signal, name)]
        self.requeue_on_slurm = requeue_on_slurm
        self.requested: int | None = None
        self.stopped_signal: int | None = None
        self.stopped_step: int | None = None
        self.requeued = False
        on_main = threading.current_thread() is threading.main_thread()
        self._original = {s: signal.getsignal(s) for s in self.signals} if on_main else {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = signum
        log.warning("received %s: finishing the current step, then saving a checkpoint (Ctrl-C again to abort "
                    "without saving)", signal.Signals(signum).name)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for s in self._original:
            signal.signal(s, self._handle)

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:  # type: ignore[override]
        if (batch_idx + 1) % max(1, trainer.accumulate_grad_batches):
            return  # stop only at an optimizer-step boundary
        requested = self.requested is not None
        if trainer.world_size > 1:
            requested = trainer.strategy.reduce_boolean_decision(requested, all=False)
        if not requested or self.stopped_step is not None:
            return
        if trainer.global_step != self.checkpoint.last_saved_step:
            self.checkpoint.save(trainer, log_pending_step=True)
        self.stopped_signal = self.requested if self.requested is not None else int(signal.SIGTERM)
        self.stopped_step = int(trainer.global_step)
        trainer.should_stop = True

    def requeue_if_slurm(self, is_global_zero: bool) -> None:
        """``scontrol requeue`` this job (rank 0, after a signal). Called last, once everything is written:
        SLURM answers a requeue by signalling the running job, which must not cut the final messages."""
        job = slurm_job_id()
        if self.stopped_step is not None and self.requeue_on_slurm and job and is_global_zero:
            self.requeued = requeue_slurm_job(job)

    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        for s, handler in self._original.items():
            signal.signal(s, handler)
