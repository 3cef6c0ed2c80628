"""Negative sampling for contrastive prediction, vectorised over the whole batch.

``sample_in_groups`` draws, for each anchor, ``k`` candidates uniformly from the members of its
group (an utterance for wav2vec 2.0 — fairseq samples from the masked frames of the same utterance;
a speaker for CPC's within-speaker sampling), optionally excluding the anchor itself while keeping
the distribution uniform over the others (fairseq's ``tszs >= neg_idxs`` shift).
"""

from __future__ import annotations

import torch
from torch import Tensor


def group_layout(group_ids: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """For items with (not necessarily sorted) group ids: ``(order, start, count)``.

    ``order`` lists item indices sorted by group (stable); ``start[i]``/``count[i]`` give the slice of
    ``order`` holding item ``i``'s group.
    """
    order = torch.argsort(group_ids, stable=True)
    sorted_ids = group_ids[order]
    _, counts = torch.unique_consecutive(sorted_ids, return_counts=True)
    starts = torch.cumsum(counts, 0) - counts
    group_index = torch.repeat_interleave(torch.arange(len(counts), device=group_ids.device), counts)
    start_sorted = starts[group_index]
    count_sorted = counts[group_index]
    start = torch.empty_like(start_sorted).scatter_(0, order, start_sorted)
    count = torch.empty_like(count_sorted).scatter_(0, order, count_sorted)
    return order, start, count


def sample_in_groups(
    group_ids: Tensor,
    num: int,
    exclude_self: bool = True,
    anchors: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Sample ``num`` items per anchor from the anchor's group.

    ``group_ids (N,)`` are the groups of the pool items; by default every pool item is an anchor.
    Returns ``(idx (A, num) long into the pool, valid (A, num) bool)``: ``valid`` is False where the
    group has no other member (the index then points at the anchor itself and must be ignored).
    """
    order, start, count = group_layout(group_ids)
    n = group_ids.shape[0]
    if anchors is None:
        anchors = torch.arange(n, device=group_ids.device)
    a_start, a_count = start[anchors], count[anchors]
    u = torch.rand(anchors.shape[0], num, device=group_ids.device, generator=generator)
    if exclude_self:
        # rank of the anchor inside its group's slice of ``order``
        rank_in_sorted = torch.empty_like(order).scatter_(0, order, torch.arange(n, device=order.device))
        self_pos = rank_in_sorted[anchors] - a_start
        avail = (a_count - 1).clamp(min=0)
        r = torch.floor(u * avail[:, None].float()).long()
        r = torch.minimum(r, (avail - 1).clamp(min=0)[:, None])
        r = r + (r >= self_pos[:, None]).long()
        valid = (avail > 0)[:, None].expand(-1, num)
    else:
        r = torch.floor(u * a_count[:, None].float()).long()
        r = torch.minimum(r, (a_count - 1)[:, None])
        valid = torch.ones_like(r, dtype=torch.bool)
    r = torch.minimum(r, (a_count - 1).clamp(min=0)[:, None])
    idx = order[a_start[:, None] + r]
    idx = torch.where(valid, idx, anchors[:, None].expand_as(idx))
    return idx, valid
