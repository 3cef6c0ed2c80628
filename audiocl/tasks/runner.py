"""The one place that builds and runs the Lightning Trainer for every task (pretraining, fine-tuning, classification).

Experiment layout (``exp/<tag>/``)::

    config.yaml                 the fully resolved config of the run
    checkpoints/last.ckpt       written atomically every ``checkpoint_every_n_steps``, at the end, and on
                                SIGTERM / SIGINT / SIGUSR1 (then the run stops; re-run to resume)
    checkpoints/last-1.ckpt     the one before (``keep_checkpoints``), the fallback when last.ckpt is corrupt
    log/csv/version_N/          CSV metrics, one version per run segment (resume = new segment)
    log/tensorboard/version_N/  TensorBoard events
    loss_curve.png              written at the end of training
    metrics.json                final step, last logged metrics, skipped batches, wall time

Re-running the same command resumes from ``checkpoints/last.ckpt`` (model, optimizer, scheduler,
loop counters, RNG state and sampler position); a finished run is a no-op that rewrites nothing but
``metrics.json``/``loss_curve.png``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

import lightning.pytorch as pl
import torch
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from audiocl.config import config_to_dict
from audiocl.errors import ConfigError, TrainingError, TrainingInterrupted
from audiocl.tasks.checkpoint_history import choose_resume_checkpoint
from audiocl.tasks.checkpointing import (
    AtomicCheckpointIO,
    PeriodicCheckpoint,
    ResumableDataLoader,
    RngStateCallback,
    SamplerProgressCallback,
    remove_stale_temporaries,
)
from audiocl.tasks.plots import plot_loss_curve, read_metrics
from audiocl.tasks.preemption import GracefulStop
from audiocl.tasks.trainer_config import TrainerConfig
from audiocl.utils.io import atomic_write_text
from audiocl.utils.storage import check_writable

log = logging.getLogger(__name__)

LAST_CKPT = "last.ckpt"


@dataclass
class ExpLayout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_ckpt(self) -> Path:
        return self.checkpoints / LAST_CKPT

    @property
    def log_dir(self) -> Path:
        return self.root / "log"

    @property
    def csv_dir(self) -> Path:
        return self.log_dir / "csv"

    @property
    def loss_curve(self) -> Path:
        return self.root / "loss_curve.png"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"


def _parse_devices(devices: str) -> Any:
    devices = str(devices).strip()
    if devices == "auto":
        return "auto"
    if "," in devices:
        return [int(d) for d in devices.split(",") if d.strip()]
    try:
        return int(devices)
    except ValueError:
        raise ConfigError(f"trainer.devices={devices!r}: expected 'auto', a count or a comma-separated list") from None


def resolve_precision(cfg: TrainerConfig) -> str:
    if cfg.precision != "auto":
        return cfg.precision
    on_gpu = cfg.accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu else "32-true"


def build_trainer(cfg: TrainerConfig, exp_dir: str | Path, *, callbacks: Sequence[pl.Callback] = (),
                  **overrides: Any) -> pl.Trainer:
    """The Trainer every task uses: atomic periodic ``last.ckpt``, RNG/sampler resume, CSV + TensorBoard."""
    layout = ExpLayout(Path(exp_dir))
    layout.checkpoints.mkdir(parents=True, exist_ok=True)
    periodic = PeriodicCheckpoint(layout.last_ckpt, cfg.checkpoint_every_n_steps)
    cbs: list[pl.Callback] = [
        periodic,
        *([GracefulStop(periodic, requeue_on_slurm=cfg.requeue_on_slurm)] if cfg.save_on_signal else []),
        RngStateCallback(),
        SamplerProgressCallback(),
        *callbacks,
    ]
    loggers = [CSVLogger(str(layout.log_dir), name="csv", flush_logs_every_n_steps=max(10, cfg.log_every_n_steps))]
    try:
        loggers.append(TensorBoardLogger(str(layout.log_dir), name="tensorboard", default_hp_metric=False))
    except ModuleNotFoundError:  # tensorboard is a dependency, but keep CSV-only training possible
        log.warning("tensorboard is not installed; logging to CSV only")
    kwargs: dict[str, Any] = dict(
        max_steps=cfg.max_steps,
        max_epochs=-1,
        accumulate_grad_batches=cfg.accumulate_grad_batches,
        gradient_clip_val=cfg.gradient_clip_val or None,
        gradient_clip_algorithm="norm",
        precision=resolve_precision(cfg),
        accelerator=cfg.accelerator,
        devices=_parse_devices(cfg.devices),
        num_nodes=cfg.num_nodes,
        strategy=cfg.strategy,
        logger=loggers,
        callbacks=cbs,
        plugins=[AtomicCheckpointIO(cfg.keep_checkpoints)],
        enable_checkpointing=False,
        enable_progress_bar=cfg.progress_bar,
        enable_model_summary=False,
        log_every_n_steps=cfg.log_every_n_steps,
        deterministic=cfg.deterministic,
        use_distributed_sampler=False,
        num_sanity_val_steps=0,
        default_root_dir=str(layout.root),
    )
    kwargs.update(overrides)
    return pl.Trainer(**kwargs)


def make_loader(dataset: torch.utils.data.Dataset, batch_sampler: Any, collate_fn: Any, num_workers: int = 0) -> ResumableDataLoader:
    """DataLoader with a resumable batch sampler and its own generator (so the global RNG stream is not touched)."""
    return ResumableDataLoader(
        dataset,
        batch_sampler=batch_sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),
    )


def _diff_keys(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _diff_keys(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [prefix.rstrip(".")]


def prepare_exp_dir(exp_dir: str | Path, config: Any, *, frozen_sections: Sequence[str] = ("model",)) -> ExpLayout:
    """Create the layout and save ``config.yaml``; refuse to resume a run whose model config changed."""
    from omegaconf import OmegaConf

    layout = ExpLayout(Path(exp_dir))
    check_writable(layout.root)  # a read-only exp dir fails now, not at the first checkpoint
    check_writable(layout.checkpoints)
    new = config_to_dict(config) if config is not None else {}
    if layout.config.exists() and layout.last_ckpt.exists():
        old = OmegaConf.to_container(OmegaConf.load(layout.config), resolve=True) or {}
        changed = _diff_keys(old, new)
        frozen = [k for k in changed if k.split(".")[0] in frozen_sections]
        if frozen:
            raise ConfigError(
                f"{layout.config}: cannot resume {layout.last_ckpt} with a different model config "
                f"(changed: {', '.join(frozen)}); use another --exp-dir or delete the old run"
            )
        if changed:
            log.warning("resuming %s with changed settings: %s", layout.root, ", ".join(changed))
    if config is not None:
        atomic_write_text(layout.config, OmegaConf.to_yaml(OmegaConf.create(new)))
    layout.checkpoints.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(layout.checkpoints)
    return layout


def summarize(layout: ExpLayout, task: pl.LightningModule | None, trainer: pl.Trainer | None, wall: float,
              last_n: int = 20) -> dict[str, Any]:
    """Final metrics: the mean of the last ``last_n`` logged values of every ``train/`` key."""
    rows = read_metrics(layout.csv_dir)
    keys = sorted({k for r in rows for k in r if k.startswith("train/")})
    final: dict[str, float] = {}
    for k in keys:
        vals = [r[k] for r in rows if k in r and math.isfinite(r[k])][-last_n:]
        if vals:
            final[k] = sum(vals) / len(vals)
    last_row_loss = [r["train/loss"] for r in rows if "train/loss" in r]
    out = {
        "global_step": int(trainer.global_step) if trainer is not None else int(rows[-1]["step"]) if rows else 0,
        "final_mean_last_logged": final,
        "last_logged_loss": last_row_loss[-1] if last_row_loss else None,
        "skipped_batches": int(getattr(task, "skipped_batches", 0)),
        "skipped_updates": int(getattr(task, "skipped_updates", 0)),
        "wall_seconds_this_segment": round(wall, 2),
        "checkpoint": str(layout.last_ckpt),
        "loss_curve": str(layout.loss_curve),
    }
    return out


@contextlib.contextmanager
def named_worker_deaths(cfg: TrainerConfig) -> Iterator[None]:
    """A data-loader worker killed by the OOM killer or a signal: say which and what to change."""
    try:
        yield
    except RuntimeError as exc:
        text = str(exc)
        if "DataLoader worker" not in text or ("killed by signal" not in text and "exited unexpectedly" not in text):
            raise
        raise TrainingError(
            f"a data-loader worker died: {text.splitlines()[0]}. Usually the out-of-memory killer; lower "
            f"trainer.num_workers (now {cfg.num_workers}) or the batch size (data.max_batch_seconds), then re-run "
            "the same command to resume from the last checkpoint.") from None


def run_training(task: pl.LightningModule, cfg: TrainerConfig, exp_dir: str | Path, *, config: Any = None,
                 callbacks: Sequence[pl.Callback] = (), title: str = "", **trainer_overrides: Any) -> dict[str, Any]:
    """Fit ``task`` under ``exp_dir``, resuming from ``last.ckpt`` when it exists; return the final metrics."""
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    layout = prepare_exp_dir(exp_dir, config)
    if hasattr(task, "max_consecutive_bad_batches"):
        task.max_consecutive_bad_batches = cfg.max_consecutive_bad_batches
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    trainer = build_trainer(cfg, layout.root, callbacks=callbacks, **trainer_overrides)
    stopper = next((cb for cb in trainer.callbacks if isinstance(cb, GracefulStop)), None)
    # every rank reads the same files to the same choice; only rank 0 moves corrupt ones aside
    ckpt = choose_resume_checkpoint(layout.last_ckpt, cfg.keep_checkpoints, move_aside=trainer.is_global_zero)
    if ckpt is not None:
        log.info("resuming from %s", ckpt)
    start = time.time()
    with named_worker_deaths(cfg):
        trainer.fit(task, ckpt_path=str(ckpt) if ckpt else None, weights_only=True)
    wall = time.time() - start
    metrics: dict[str, Any] = {}
    if trainer.is_global_zero:
        for lg in trainer.loggers:
            lg.save()
        plot_loss_curve(layout.csv_dir, layout.loss_curve, title=title)
        metrics = summarize(layout, task, trainer, wall)
        if stopper is not None and stopper.stopped_step is not None:
            metrics["interrupted"] = {"signal": signal.Signals(stopper.stopped_signal).name,
                                      "step": stopper.stopped_step}
        atomic_write_text(layout.metrics, json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    if stopper is not None and stopper.stopped_step is not None:
        stopper.requeue_if_slurm(trainer.is_global_zero)
        name = signal.Signals(stopper.stopped_signal).name
        raise TrainingInterrupted(
            f"stopped by {name} at step {stopper.stopped_step} of {cfg.max_steps}; checkpoint saved to "
            f"{layout.last_ckpt}" + ("; the SLURM job was requeued" if stopper.requeued else "")
            + ". Re-run the same command to resume from there.", stopper.stopped_signal)
    return metrics
