"""Typed configuration of CTC fine-tuning (recipe stage 4).

Defaults follow fairseq's wav2vec 2.0 fine-tuning recipe ``base_10m.yaml``: Adam (0.9, 0.98, eps 1e-8),
lr 5e-5, tri-stage learning-rate schedule with phase ratios 0.1/0.4/0.5, initial and final scale
0.01 / 0.05, 13k updates, 3.2M samples (200 s) per batch. The upstream is described by the shared
:class:`~audiocl.tasks.upstream.UpstreamConfig`; the model's fine-tuning knobs by
:class:`~audiocl.models.ctc_asr.CtcModelConfig`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from audiocl.models.ctc_asr import CtcModelConfig
from audiocl.tasks.trainer_config import TrainerConfig
from audiocl.tasks.upstream import UpstreamConfig


@dataclass
class TokenizerConfig:
    kind: str = "char"
    vocab_size: int = 100
    case: str = "upper"
    oov: str = "unk"


@dataclass
class CtcDataConfig:
    train: str = ""
    """Kaldi data dir with ``wav.scp`` and ``text`` (e.g. a label-fraction subset)."""
    sample_rate: int = 16000
    max_batch_seconds: float = 200.0
    """fairseq ``max_tokens = 3.2M`` samples = 200 s of 16 kHz audio per batch."""
    max_batch_size: int = 0
    """Cap on utterances per batch (0 = none)."""
    max_seconds: float = 35.0
    num_buckets: int = 10


@dataclass
class CtcOptimConfig:
    """fairseq ``base_10m.yaml``: Adam, lr 5e-5, tri-stage 0.1/0.4/0.5, final scale 0.05."""

    lr: float = 5e-5
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-8
    weight_decay: float = 0.0
    phase_ratio: list[float] = field(default_factory=lambda: [0.1, 0.4, 0.5])
    init_lr_scale: float = 0.01
    final_lr_scale: float = 0.05


def _default_trainer() -> TrainerConfig:
    return TrainerConfig(max_steps=13000, checkpoint_every_n_steps=200)


@dataclass
class FinetuneCtcConfig:
    upstream: UpstreamConfig = field(default_factory=UpstreamConfig)
    model: CtcModelConfig = field(default_factory=CtcModelConfig)
    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    data: CtcDataConfig = field(default_factory=CtcDataConfig)
    optim: CtcOptimConfig = field(default_factory=CtcOptimConfig)
    trainer: TrainerConfig = field(default_factory=_default_trainer)
