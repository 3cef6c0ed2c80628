"""Negatives from every rank: all-gather *with gradient*, a no-op when not distributed.

Under DDP each rank only sees its own batch; contrasting against the candidates of all ranks needs
their embeddings, and the gradient has to flow back to the rank that produced each one.
``torch.distributed.nn.functional.all_gather`` does that (its backward sums the gradient every rank
computed for a slice and hands it to the slice's owner). With per-rank loss
``per_sample.sum() / global_batch`` the gradient each rank gets for its own embeddings equals the
single-process gradient of the mean loss over the combined batch (DDP then *averages* parameter
gradients across ranks, so multiply by ``world_size`` if you want the exact single-process scale).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` (same shape on every rank) from all ranks along dim 0, rank order; the result
    is differentiable w.r.t. every rank's ``x``. Returns ``x`` itself when not distributed."""
    if not is_distributed():
        return x
    from torch.distributed.nn.functional import all_gather

    return torch.cat(all_gather(x.contiguous()), dim=0)
