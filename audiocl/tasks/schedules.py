"""Learning-rate schedules: linear warm-up, then polynomial (fairseq ``polynomial_decay``) or cosine decay;
and fairseq's ``tri_stage`` (warm-up, hold, exponential decay) used by CTC fine-tuning and the CTC probe.

The schedule is a small callable object (not a closure) so ``LambdaLR.state_dict()`` stores its plain
numbers and a checkpoint stays loadable with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from audiocl.errors import ConfigError


@dataclass
class ScheduleConfig:
    """Defaults: fairseq wav2vec 2.0 BASE (``polynomial_decay``, power 1, 32k warm-up updates, end lr 0)."""

    kind: str = "polynomial"
    """``polynomial`` | ``cosine`` | ``constant`` (after warm-up)."""
    warmup_steps: int = 32000
    total_steps: int | None = None
    """Decay horizon; ``None`` = the trainer's ``max_steps``."""
    power: float = 1.0
    """Polynomial power (1 = linear decay, fairseq's default)."""
    final_lr_scale: float = 0.0
    """End learning rate as a fraction of the peak."""


class WarmupDecay:
    """Multiplier of the peak lr at optimizer step ``step`` (0-based)."""

    def __init__(self, warmup_steps: int, total_steps: int, kind: str = "polynomial", power: float = 1.0,
                 final_lr_scale: float = 0.0):
        if kind not in ("polynomial", "cosine", "constant"):
            raise ValueError(f"unknown schedule kind {kind!r} (polynomial, cosine, constant)")
        self.warmup_steps = max(0, int(warmup_steps))
        self.total_steps = max(int(total_steps), self.warmup_steps + 1)
        self.kind = kind
        self.power = float(power)
        self.final_lr_scale = float(final_lr_scale)

    def __call__(self, step: int) -> float:
        if self.warmup_steps and step < self.warmup_steps:
            return (step + 1) / self.warmup_steps
        if self.kind == "constant":
            return 1.0
        progress = min(1.0, (step - self.warmup_steps) / max(1, self.total_steps - self.warmup_steps))
        end = self.final_lr_scale
        if self.kind == "polynomial":
            return end + (1.0 - end) * (1.0 - progress) ** self.power
        return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, cfg: ScheduleConfig, max_steps: int) -> torch.optim.lr_scheduler.LambdaLR:
    total = cfg.total_steps or max_steps
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, WarmupDecay(cfg.warmup_steps, total, cfg.kind, cfg.power, cfg.final_lr_scale)
    )


class TriStage:
    """fairseq ``tri_stage`` multiplier: linear warm-up from ``init`` to 1, hold, exponential decay to ``final``."""

    def __init__(self, total_steps: int, phase_ratio: list[float], init_scale: float, final_scale: float):
        if len(phase_ratio) != 3 or abs(sum(phase_ratio) - 1.0) > 1e-6:
            raise ConfigError(f"optim.phase_ratio must be 3 numbers summing to 1, got {phase_ratio}")
        self.warmup = int(total_steps * phase_ratio[0])
        self.hold = int(total_steps * phase_ratio[1])
        self.decay = max(1, total_steps - self.warmup - self.hold)
        self.init = float(init_scale)
        self.final = float(final_scale)

    def __call__(self, step: int) -> float:
        if step < self.warmup:
            return self.init + (1.0 - self.init) * step / max(1, self.warmup)
        step -= self.warmup
        if step < self.hold:
            return 1.0
        step -= self.hold
        return math.exp(math.log(max(self.final, 1e-12)) * min(step, self.decay) / self.decay)
