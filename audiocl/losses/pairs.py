"""Builders for ``(sim, pos, valid)``: two augmented views, a cross-modal batch, labels, soft targets.

Every objective takes the same ``(sim, pos, valid)``; these helpers produce it for the usual batch
layouts, optionally with candidates gathered from all ranks (:mod:`audiocl.losses.distributed`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, LossOutput
from audiocl.losses.distributed import gather_with_grad, rank, world_size


@dataclass
class Pairs:
    """Inputs of an objective: ``objective(*pairs)`` or ``objective(pairs.sim, pairs.pos, pairs.valid)``."""

    sim: Tensor
    pos: Tensor
    valid: Tensor | None

    def __iter__(self):
        return iter((self.sim, self.pos, self.valid))


def cosine_similarity(a: Tensor, b: Tensor, eps: float = 1e-8) -> Tensor:
    """``(N, D) x (M, D) -> (N, M)`` cosine similarity."""
    return F.normalize(a, dim=-1, eps=eps) @ F.normalize(b, dim=-1, eps=eps).T


def two_view_pairs(z1: Tensor, z2: Tensor, *, normalize: bool = True, gather: bool = False) -> Pairs:
    """SimCLR / NT-Xent layout: anchors ``[z1; z2]`` (2B) against candidates ``[z1; z2]``.

    The positive of ``z1[i]`` is ``z2[i]`` and vice versa; the anchor itself is invalid. With
    ``gather=True`` the candidates are ``[all z1 of all ranks; all z2 of all ranks]`` (gradient flows
    back to every rank) and the anchors stay local, so ``sim`` is ``(2B, 2B * world_size)``.
    One objective over this matrix is the symmetric (two-sided) NT-Xent.
    """
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"two views must both be (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if normalize:
        z1, z2 = F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)
    b = z1.shape[0]
    w, r = (world_size(), rank()) if gather else (1, 0)
    g1, g2 = (gather_with_grad(z1), gather_with_grad(z2)) if gather else (z1, z2)
    anchors = torch.cat([z1, z2], 0)
    cands = torch.cat([g1, g2], 0)
    sim = anchors @ cands.T
    i = torch.arange(b, device=z1.device)
    self_col = torch.cat([r * b + i, w * b + r * b + i])
    pos_col = torch.cat([w * b + r * b + i, r * b + i])
    rows = torch.arange(2 * b, device=z1.device)
    pos = torch.zeros_like(sim, dtype=torch.bool)
    pos[rows, pos_col] = True
    valid = torch.ones_like(sim, dtype=torch.bool)
    valid[rows, self_col] = False
    return Pairs(sim, pos, valid)


def cross_modal_pairs(a: Tensor, b: Tensor, *, normalize: bool = True, gather: bool = False) -> Pairs:
    """CLIP / CLAP layout: ``a[i]`` (e.g. audio) is paired with ``b[i]`` (e.g. text); ``sim`` is ``(B, B)``
    (``(B, B * world_size)`` with ``gather=True``), positives on the (rank-shifted) diagonal."""
    if a.dim() != 2 or b.dim() != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"cross-modal batch must be (B, D) and (B, D'), got {tuple(a.shape)} and {tuple(b.shape)}")
    if normalize:
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    n = a.shape[0]
    r = rank() if gather else 0
    cands = gather_with_grad(b) if gather else b
    sim = a @ cands.T
    pos = torch.zeros_like(sim, dtype=torch.bool)
    i = torch.arange(n, device=a.device)
    pos[i, r * n + i] = True
    return Pairs(sim, pos, None)


def cross_modal_loss(objective: ContrastiveObjective, a: Tensor, b: Tensor, *, two_sided: bool = True,
                     weights: Tensor | None = None, normalize: bool = True) -> LossOutput:
    """Cross-modal objective, one-sided (``a -> b``) or two-sided (mean of ``a -> b`` and ``b -> a``,
    the CLIP/CLAP loss). ``weights`` ``(B, B)`` replaces the diagonal positives by soft targets
    (``cwcl``; use a symmetric matrix such as :func:`cwcl_weights`). Not distributed: gather
    yourself and pass the full batch, or use :func:`cross_modal_pairs` with ``gather=True``."""
    p = cross_modal_pairs(a, b, normalize=normalize)
    pos = p.pos if weights is None else weights
    ab = objective(p.sim, pos, None)
    if not two_sided:
        return ab
    ba = objective(p.sim.T, pos.T, None)
    logs = {k: (ab.logs[k] + ba.logs.get(k, ab.logs[k])) / 2 for k in ab.logs}
    return LossOutput(loss=(ab.loss + ba.loss) / 2, per_sample=(ab.per_sample + ba.per_sample) / 2, logs=logs)


def label_pairs(labels: Tensor, *, exclude_self: bool = True) -> tuple[Tensor, Tensor]:
    """``(pos, valid)`` for a batch with class labels (``supcon``, ``multi_similarity``): same label =
    positive; the diagonal (self) is invalid when ``exclude_self``."""
    labels = labels.reshape(-1)
    pos = labels[:, None] == labels[None, :]
    valid = torch.ones_like(pos)
    if exclude_self:
        valid.fill_diagonal_(False)
        pos = pos & valid
    return pos, valid


def cwcl_weights(frozen: Tensor) -> Tensor:
    """CWCL soft targets from the embeddings of the frozen pretrained tower: ``(1 + cos) / 2`` in [0, 1]."""
    with torch.no_grad():
        return ((1.0 + cosine_similarity(frozen, frozen)) / 2).clamp(0.0, 1.0)
