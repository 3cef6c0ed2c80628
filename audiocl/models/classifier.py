"""Utterance classifier (style / emotion, speaker id, keyword) on top of an upstream's layers.

SUPERB-style probing ("SUPERB: Speech processing Universal PERformance Benchmark", Yang et al.,
2021; s3prl's ``Featurizer`` + utterance-level downstream): the upstream's hidden layers are
combined by a learned softmax-weighted sum (:class:`~audiocl.nn.weighted_sum.WeightedLayerSum`),
projected (``Linear(C, hidden)``, s3prl's ``projector``, hidden 256), pooled over valid frames
(mean, or attentive statistics) and classified by a linear layer.

The same :class:`ClassifierHead` runs on any stack of "layers" ``(L, B, T, C)``: the layers of a
frozen pretrained upstream, or a single layer of fbank features (the baseline the issue compares
against), so "the same head" is literally the same module with ``L`` and ``C`` from its input.
:class:`UtteranceClassifier` puts a trainable upstream in front for full fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from audiocl.nn.pooling import build_pooling
from audiocl.nn.weighted_sum import WeightedLayerSum


@dataclass
class ClassifierHeadConfig:
    """Defaults: s3prl's emotion-recognition downstream (projector 256, mean pooling)."""

    hidden_dim: int = 256
    pooling: str = "mean"
    """``mean`` or ``attentive_stats``."""
    dropout: float = 0.1
    normalize_layers: bool = True
    """LayerNorm each layer before the weighted sum (s3prl Featurizer ``normalize``)."""


class ClassifierHead(nn.Module):
    """``(layers (L, B, T, C), padding_mask (B, T)) -> logits (B, num_classes)``."""

    def __init__(self, num_layers: int, input_dim: int, num_classes: int, cfg: ClassifierHeadConfig | None = None):
        super().__init__()
        cfg = cfg or ClassifierHeadConfig()
        self.cfg = cfg
        self.weighted_sum = WeightedLayerSum(num_layers, normalize=cfg.normalize_layers)
        self.projector = nn.Linear(input_dim, cfg.hidden_dim)
        self.pooling = build_pooling(cfg.pooling, cfg.hidden_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.output = nn.Linear(self.pooling.output_dim, num_classes)

    def forward(self, layers: Tensor | list[Tensor], padding_mask: Tensor | None = None) -> Tensor:
        x = self.weighted_sum(list(layers))
        x = self.dropout(torch.relu(self.projector(x)))
        pooled = self.pooling(x, padding_mask)
        return self.output(self.dropout(pooled))


class UtteranceClassifier(nn.Module):
    """Upstream (``extract_layers``) + :class:`ClassifierHead`; ``freeze_upstream`` runs it without grad."""

    def __init__(self, upstream: nn.Module, head: ClassifierHead, freeze_upstream: bool = True):
        super().__init__()
        self.upstream = upstream
        self.head = head
        self.freeze_upstream = freeze_upstream
        if freeze_upstream:
            for p in upstream.parameters():
                p.requires_grad_(False)

    def forward(self, wav: Tensor, lengths: Tensor) -> Tensor:
        from audiocl.nn.masking import lengths_to_padding_mask

        if self.freeze_upstream:
            self.upstream.eval()
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze_upstream):
            layers, frame_lengths = self.upstream.extract_layers(wav, lengths)
        mask = lengths_to_padding_mask(frame_lengths.to(layers[0].device), layers[0].shape[1])
        return self.head(layers, mask)
