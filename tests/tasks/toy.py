"""A tiny real model for testing the training machinery without the pretraining networks.

A strided conv net with dropout predicts each utterance's log energy from its waveform (a regression
objective that does learn), trained through the same dataset, sampler, task base class and runner as
the real tasks. Also runnable as a script (``python toy.py DATA_LIST EXP_DIR key=value ...``) so the
resume and DDP tests can start it as a separate process.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import lightning.pytorch as pl
import torch
from torch import nn

from audiocl.data.dataset import AudioCollate, AudioDataset, AudioItem
from audiocl.data.sampler import DurationBucketBatchSampler
from audiocl.tasks.base import AudioclTask
from audiocl.tasks.runner import TrainerConfig, make_loader, run_training
from audiocl.tasks.schedules import ScheduleConfig, build_scheduler


class ToyTask(AudioclTask):
    def __init__(self, items, *, max_batch_seconds=2.0, lr=3e-3, max_steps=10, seed=0, dropout=0.1,
                 shuffle=True, num_buckets=2):
        super().__init__()
        self.items = items
        self.max_batch_seconds = max_batch_seconds
        self.lr = lr
        self.max_steps = max_steps
        self.seed = seed
        self.shuffle = shuffle
        self.num_buckets = num_buckets
        self.net = nn.Sequential(nn.Conv1d(1, 8, 64, stride=32), nn.ReLU(), nn.Dropout(dropout))
        self.head = nn.Linear(8, 1)

    def compute_loss(self, batch):
        wav, lengths = batch["wav"], batch["lengths"]
        h = self.net(wav[:, None, :]).transpose(1, 2)  # (B, T', C)
        frames = ((lengths - 64) // 32 + 1).clamp(min=1)
        mask = torch.arange(h.shape[1])[None, :] < frames[:, None]
        pooled = (h * mask[..., None]).sum(1) / frames[:, None]
        pred = self.head(pooled).squeeze(1)
        energy = (wav ** 2).sum(1) / lengths
        target = torch.log(energy + 1e-6)
        per = (pred - target) ** 2
        return per.mean(), {"mae": (pred - target).abs().mean()}

    def train_dataloader(self):
        ds = AudioDataset(self.items, sample_rate=16000)
        sampler = DurationBucketBatchSampler(
            ds.durations, self.max_batch_seconds, num_buckets=self.num_buckets, shuffle=self.shuffle,
            seed=self.seed, num_replicas=self.trainer.world_size, rank=self.trainer.global_rank)
        return make_loader(ds, sampler, AudioCollate())

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.lr)
        sched = build_scheduler(opt, ScheduleConfig(warmup_steps=3), self.max_steps)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class DumpCallback(pl.Callback):
    """Save the first step's (all-reduced) gradients, the per-step loss averaged over ranks, and the final weights."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.losses = []

    def on_before_optimizer_step(self, trainer, pl_module, optimizer):
        if trainer.global_step == 0:
            grads = {n: p.grad.detach().clone() for n, p in pl_module.named_parameters() if p.grad is not None}
            torch.save(grads, self.out_dir / f"grads_rank{trainer.global_rank}.pt")

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        loss = outputs["loss"].detach().clone()
        n = torch.tensor(float(batch["wav"].shape[0]))
        if trainer.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(loss)
            loss /= trainer.world_size
            dist.all_reduce(n)
        self.losses.append((float(loss), float(n)))

    def on_train_end(self, trainer, pl_module):
        torch.save({"losses": self.losses, "params": {k: v.clone() for k, v in pl_module.state_dict().items()}},
                   self.out_dir / f"final_rank{trainer.global_rank}.pt")


def load_items(path):
    return [AudioItem(**d) for d in json.loads(Path(path).read_text())]


def main(argv):
    items_path, exp_dir, *overrides = argv
    opts = dict(o.split("=", 1) for o in overrides)
    torch.set_num_threads(1)
    torch.manual_seed(0)
    max_steps = int(opts.get("max_steps", 10))
    cfg = TrainerConfig(max_steps=max_steps, checkpoint_every_n_steps=int(opts.get("every", 2)),
                        progress_bar=False, log_every_n_steps=1, accelerator="cpu",
                        devices=opts.get("devices", "1"), strategy=opts.get("strategy", "auto"),
                        seed=0)
    task = ToyTask(load_items(items_path), max_steps=max_steps,
                   max_batch_seconds=float(opts.get("mbs", 2.0)),
                   dropout=float(opts.get("dropout", 0.1)))
    callbacks = [DumpCallback(opts["dump"])] if "dump" in opts else []
    metrics = run_training(task, cfg, exp_dir, config={"toy": opts}, callbacks=callbacks)
    if metrics:
        print("FINAL", json.dumps(metrics))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
