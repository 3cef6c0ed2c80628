"""Self-supervised speech pretraining task (wav2vec 2.0 / CPC) on the shared runner.

``PretrainTask`` wraps a model from the model registry (:func:`audiocl.models.build`); the model computes its own
loss (contrastive objective chosen by name in its config), the task adds what is about *training*:
AdamW, linear warm-up then polynomial/cosine decay per optimizer step, the Gumbel temperature
schedule (``model.set_num_updates``), per-step logs (loss parts, contrastive accuracy, codebook
perplexities, temperature, learning rate, gradient norm) and the duration-bucketed data loader.
Non-finite batches and updates are skipped and counted by :class:`AudioclTask`.

:func:`run_pretrain` is what ``audiocl pretrain`` calls.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from audiocl.config import config_to_dict
from audiocl.nn.optim import adamw
from audiocl.tasks.base import AudioclTask
from audiocl.tasks.pretrain_config import PretrainConfig
from audiocl.tasks.runner import make_loader, run_training
from audiocl.tasks.schedules import build_scheduler

log = logging.getLogger(__name__)


def build_model(cfg: PretrainConfig) -> torch.nn.Module:
    from audiocl import models

    return models.build(cfg.ssl_type, cfg.model)


class PretrainTask(AudioclTask):
    """LightningModule around a pretraining model; ``data_dir`` is the Kaldi data dir to train on."""

    def __init__(self, cfg: PretrainConfig, data_dir: str | Path | None = None, model: torch.nn.Module | None = None):
        super().__init__()
        self.cfg = cfg
        self.data_dir = None if data_dir is None else str(data_dir)
        self.model = model if model is not None else build_model(cfg)
        self._dataset = None

    # ------------------------------------------------------------------ steps
    def compute_loss(self, batch: dict[str, Any]) -> tuple[Tensor, dict[str, Any]]:
        self.model.set_num_updates(int(self.global_step))
        out = self.model(batch["wav"], batch["lengths"], speakers=batch.get("speakers"), utt_ids=batch.get("utt_ids"))
        logs = dict(out.logs)
        logs["batch_seconds"] = float(batch["lengths"].sum()) / self.cfg.data.sample_rate
        return out.loss, logs

    # ------------------------------------------------------------------- data
    def dataset(self):
        from audiocl.data.dataset import AudioDataset

        if self._dataset is None:
            if self.data_dir is None:
                raise ValueError("PretrainTask needs data_dir to build its data loader")
            d = self.cfg.data
            min_seconds = max(d.min_seconds, self.model.min_samples / d.sample_rate)
            self._dataset = AudioDataset.from_data_dir(
                self.data_dir, sample_rate=d.sample_rate, min_seconds=min_seconds, crop_seconds=d.crop_seconds,
                normalize=d.normalize, skip_bad=d.skip_bad)
        return self._dataset

    def train_dataloader(self):
        from audiocl.data.dataset import AudioCollate
        from audiocl.data.sampler import DurationBucketBatchSampler

        ds = self.dataset()
        d = self.cfg.data
        world = self.trainer.world_size if self._trainer is not None else 1
        rank = self.trainer.global_rank if self._trainer is not None else 0
        sampler = DurationBucketBatchSampler(
            ds.durations, d.max_batch_seconds, num_buckets=d.num_buckets, shuffle=True, seed=self.cfg.trainer.seed,
            max_batch_size=d.max_batch_size or None, num_replicas=world, rank=rank)
        return make_loader(ds, sampler, AudioCollate(crop_to_shortest=d.crop_to_shortest), self.cfg.trainer.num_workers)

    # ------------------------------------------------------------------ optim
    def configure_optimizers(self):
        o = self.cfg.optim
        opt = adamw(self.model.parameters(), lr=o.lr, betas=tuple(o.betas), eps=o.eps, weight_decay=o.weight_decay)
        sched = build_scheduler(opt, self.cfg.schedule, self.cfg.trainer.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 1}}

    # ------------------------------------------------------------ checkpoint
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        checkpoint["audiocl_config"] = config_to_dict(self.cfg)
        checkpoint["audiocl_kind"] = "pretrain"


def run_pretrain(cfg: PretrainConfig, data_dir: str | Path, exp_dir: str | Path) -> dict[str, Any]:
    """Train (or resume) under ``exp_dir``; returns the final metrics (also in ``exp_dir/metrics.json``)."""
    import lightning.pytorch as pl

    if cfg.trainer.num_threads > 0:
        torch.set_num_threads(cfg.trainer.num_threads)
    pl.seed_everything(cfg.trainer.seed, workers=True, verbose=False)  # same initial weights on every rank / run
    task = PretrainTask(cfg, data_dir)
    task.dataset()  # fail early (bad data dir, nothing long enough) before Lightning starts
    title = f"{cfg.ssl_type} pretraining"
    metrics = run_training(task, cfg.trainer, exp_dir, config=cfg, title=title)
    if metrics:
        metrics["ssl_type"] = cfg.ssl_type
        metrics["num_train_utts"] = len(task.dataset())
        negatives = getattr(cfg.model, "num_negatives", None)
        if negatives:
            metrics["chance_accuracy"] = 1.0 / (negatives + 1)
        valid = (metrics.get("final_mean_last_logged") or {}).get("train/valid_negatives")
        if valid is not None:  # negatives sharing the positive's codes are not distractors
            metrics["chance_accuracy_effective"] = 1.0 / (float(valid) + 1)
        entries = getattr(cfg.model, "latent_vars", None)
        groups = getattr(cfg.model, "latent_groups", None)
        if entries and groups:
            metrics["codebook_entries"] = int(entries * groups)
        from audiocl.utils.io import atomic_write_text
        import json

        atomic_write_text(Path(exp_dir) / "metrics.json", json.dumps(metrics, indent=2, sort_keys=True) + "\n")
    return metrics
