"""Padding masks and wav2vec 2.0 span masking, vectorised (no Python loop over utterances or frames).

Span masking follows fairseq's ``compute_mask_indices`` (static spans, overlaps allowed):
each utterance of ``L`` valid frames gets ``max(min_masks, floor(mask_prob * L / mask_length + u))``
span starts, ``u ~ U[0,1)`` (probabilistic rounding), drawn without replacement from the starts
whose span fits inside the utterance, so padding is never masked. fairseq BASE: ``mask_prob=0.65``,
``mask_length=10``, ``min_masks=2`` (about 49% of frames end up masked because spans overlap).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def lengths_to_padding_mask(lengths: Tensor, max_len: int | None = None) -> Tensor:
    """``(B,)`` lengths -> ``(B, T)`` bool, True = padded."""
    max_len = int(lengths.max()) if max_len is None else max_len
    return torch.arange(max_len, device=lengths.device)[None, :] >= lengths[:, None]


def compute_span_mask(
    lengths: Tensor,
    max_len: int,
    mask_prob: float,
    mask_length: int,
    min_masks: int = 0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Random span mask ``(B, max_len)`` bool (True = masked), only inside each utterance's length.

    An utterance shorter than ``mask_length`` gets (at most) one span clipped to its length.
    """
    if mask_length < 1:
        raise ValueError(f"mask_length must be >= 1, got {mask_length}")
    device = lengths.device
    b = lengths.shape[0]
    lengths = lengths.long()
    if b == 0 or max_len == 0 or mask_prob <= 0:
        return torch.zeros(b, max_len, dtype=torch.bool, device=device)
    u = torch.rand(b, device=device, generator=generator)
    num = torch.floor(mask_prob * lengths.float() / mask_length + u).long().clamp(min=min_masks)
    num_starts = (lengths - mask_length + 1).clamp(min=0)
    num_starts = torch.where((lengths > 0) & (num_starts == 0), torch.ones_like(num_starts), num_starts)
    num = torch.minimum(num, num_starts)
    pos = torch.arange(max_len, device=device)
    keys = torch.rand(b, max_len, device=device, generator=generator)
    keys = keys.masked_fill(pos[None, :] >= num_starts[:, None], 2.0)
    order = keys.argsort(dim=1)
    rank = torch.empty_like(order).scatter_(1, order, pos.expand(b, -1).contiguous())
    starts = rank < num[:, None]
    csum = F.pad(starts.long().cumsum(1), (1, 0))  # csum[:, t+1] = starts in [0, t]
    lo = (pos + 1 - mask_length).clamp(min=0)
    covered = csum[:, pos + 1] - csum[:, lo]
    return (covered > 0) & (pos[None, :] < lengths[:, None])
