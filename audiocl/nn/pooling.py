"""Utterance-level pooling of frame sequences ``(B, T, C)`` with a padding mask (``True`` = padded).

- :class:`MeanPooling`: masked mean over valid frames (the SUPERB emotion-recognition downstream).
- :class:`AttentiveStatsPooling`: attention-weighted mean and standard deviation, concatenated
  ("Attentive Statistics Pooling for Deep Speaker Embedding", Okabe et al., Interspeech 2018):
  a small tanh attention MLP scores each frame, the softmax over valid frames weights both moments.

Both ignore padded frames exactly, so a batch gives the same outputs as one utterance at a time.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def _valid(x: Tensor, padding_mask: Tensor | None) -> Tensor:
    """``(B, T, 1)`` float 1 = valid frame."""
    if padding_mask is None:
        return torch.ones(x.shape[:2] + (1,), dtype=x.dtype, device=x.device)
    if padding_mask.shape != x.shape[:2]:
        raise ValueError(f"padding_mask shape {tuple(padding_mask.shape)} != frames {tuple(x.shape[:2])}")
    return (~padding_mask).unsqueeze(-1).to(x.dtype)


class MeanPooling(nn.Module):
    """``(B, T, C) -> (B, C)``."""

    def __init__(self, input_dim: int):
        super().__init__()
        self.output_dim = input_dim

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        valid = _valid(x, padding_mask)
        return (x * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)


class AttentiveStatsPooling(nn.Module):
    """``(B, T, C) -> (B, 2C)``: attentive mean and standard deviation (Okabe et al., 2018)."""

    def __init__(self, input_dim: int, attention_dim: int = 128, eps: float = 1e-5):
        super().__init__()
        self.attention = nn.Sequential(nn.Linear(input_dim, attention_dim), nn.Tanh(), nn.Linear(attention_dim, 1))
        self.eps = eps
        self.output_dim = 2 * input_dim

    def forward(self, x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        valid = _valid(x, padding_mask)
        scores = self.attention(x)  # (B, T, 1)
        scores = scores.masked_fill(valid == 0, torch.finfo(scores.dtype).min)
        alpha = torch.softmax(scores, dim=1) * valid
        alpha = alpha / alpha.sum(dim=1, keepdim=True).clamp(min=self.eps)
        mean = (alpha * x).sum(dim=1)
        var = (alpha * (x - mean.unsqueeze(1)) ** 2).sum(dim=1)
        std = torch.sqrt(var.clamp(min=self.eps))
        return torch.cat([mean, std], dim=-1)


def build_pooling(kind: str, input_dim: int) -> nn.Module:
    """``kind`` in ``{"mean", "attentive_stats"}``."""
    from audiocl.errors import ConfigError

    if kind == "mean":
        return MeanPooling(input_dim)
    if kind in ("attentive_stats", "asp"):
        return AttentiveStatsPooling(input_dim)
    raise ConfigError(f"unknown pooling {kind!r}; use mean or attentive_stats")
