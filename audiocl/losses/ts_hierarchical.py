"""TS2Vec's hierarchical contrastive loss, built on the shared objective contract.

Source: "TS2Vec: Towards Universal Representation of Time Series" (Yue et al., AAAI 2022), Sec. 3.3:
two overlapping crops of a series give per-timestep representations ``z1, z2`` ``(B, T, D)`` of the
overlap. At every level of a max-pool (kernel 2) hierarchy the loss adds

- *instance* contrast: at each timestep, the other view of the same series is the positive, the
  other ``2B-2`` series' representations at that timestep are negatives;
- *temporal* contrast: within each series, the same timestep in the other view is the positive,
  the other ``2T-2`` timesteps of both views are negatives;

weighted ``alpha`` / ``1 - alpha`` (paper: 0.5), and averages over the levels; at the top level
(length 1) only the instance term remains. The paper scores pairs by the dot product and uses
plain softmax cross-entropy, i.e. ``infonce`` with temperature 1, which is our default. Any objective
from :mod:`audiocl.losses` can be passed instead (``objective=audiocl.losses.get("dcl")``): each
term is expressed as ``objective(sim (N, M), pos, valid)`` with anchors as rows, so the contract's
``valid`` mask removes the anchor itself and padded / missing timesteps.

Besides the scalar loss it returns one loss per series ``(B,)``, the per-sample input that
:mod:`audiocl.losses.dbpm` (bad-pair mining) needs.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from audiocl.losses.base import ContrastiveObjective, LossOutput, get
from audiocl.losses.infonce import InfoNCE
from audiocl.losses.pairs import two_view_pairs


def _similarity(a: Tensor, b: Tensor, kind: str) -> Tensor:
    if kind == "cosine":
        a, b = F.normalize(a, dim=-1), F.normalize(b, dim=-1)
    elif kind != "dot":
        raise ValueError(f"similarity must be 'dot' or 'cosine', got {kind!r}")
    return a @ b.transpose(-1, -2)


def _pair_inputs(z: Tensor, valid: Tensor, half: int, similarity: str) -> tuple[Tensor, Tensor, Tensor]:
    """Rows of ``z`` ``(G, 2H, D)``: anchor ``k`` has positive ``(k + H) mod 2H``; self excluded.

    Returns ``sim, pos, valid`` flattened to ``(G * 2H, 2H)`` for the objective contract.
    """
    g, n, _ = z.shape
    sim = _similarity(z, z, similarity)
    idx = torch.arange(n, device=z.device)
    pos = torch.zeros(n, n, dtype=torch.bool, device=z.device)
    pos[idx, (idx + half) % n] = True
    eye = torch.eye(n, dtype=torch.bool, device=z.device)
    ok = valid.unsqueeze(2) & valid.unsqueeze(1) & ~eye
    return sim.reshape(g * n, n), pos.expand(g, n, n).reshape(g * n, n), ok.reshape(g * n, n)


def _run_objective(objective: ContrastiveObjective, sim: Tensor, pos: Tensor, ok: Tensor, with_logs: bool) -> tuple[Tensor, dict]:
    """Per-anchor losses (0 for anchors without a valid positive) without the contract's ranking logs.

    The logs (``acc``, mean pos/neg similarity) index the full ``(N, M)`` matrix with bool masks,
    which costs as much as the loss itself on ``(B*2T, 2T)`` temporal matrices; we only ask for
    them on the first hierarchy level when ``with_logs`` is set.
    """
    if with_logs:
        out = objective(sim, pos, ok)
        return out.per_sample, out.logs
    per = objective.per_anchor(sim, pos, ok)
    has = (pos & ok).any(1)
    return torch.where(has, per, torch.zeros_like(per)), {}


def _masked_mean(x: Tensor, w: Tensor, dim: int) -> Tensor:
    w = w.to(x.dtype)
    return (x * w).sum(dim) / w.sum(dim).clamp(min=1)


def instance_contrast(z1: Tensor, z2: Tensor, v1: Tensor, v2: Tensor, objective: ContrastiveObjective,
                      similarity: str = "dot", with_logs: bool = False) -> tuple[Tensor, dict]:
    """Per-series instance-contrast loss ``(B,)``: views of one series at one timestep are positives."""
    b, t, _ = z1.shape
    z = torch.cat([z1, z2], dim=0).transpose(0, 1)  # (T, 2B, D)
    v = torch.cat([v1, v2], dim=0).transpose(0, 1)  # (T, 2B)
    sim, pos, ok = _pair_inputs(z, v, b, similarity)
    per_flat, logs = _run_objective(objective, sim, pos, ok, with_logs)
    per = per_flat.reshape(t, 2 * b)
    has = (pos & ok).any(1).reshape(t, 2 * b)
    per_view = _masked_mean(per, has, dim=0)  # (2B,)
    has_view = has.any(0).to(per.dtype)
    return (per_view[:b] * has_view[:b] + per_view[b:] * has_view[b:]) / (has_view[:b] + has_view[b:]).clamp(min=1), logs


def temporal_contrast(z1: Tensor, z2: Tensor, v1: Tensor, v2: Tensor, objective: ContrastiveObjective,
                      similarity: str = "dot", with_logs: bool = False) -> tuple[Tensor, dict]:
    """Per-series temporal-contrast loss ``(B,)``: the same timestep in the two views is the positive."""
    b, t, _ = z1.shape
    z = torch.cat([z1, z2], dim=1)  # (B, 2T, D)
    v = torch.cat([v1, v2], dim=1)
    sim, pos, ok = _pair_inputs(z, v, t, similarity)
    per_flat, logs = _run_objective(objective, sim, pos, ok, with_logs)
    per = per_flat.reshape(b, 2 * t)
    has = (pos & ok).any(1).reshape(b, 2 * t)
    return _masked_mean(per, has, dim=1), logs


def masked_max_pool_steps(z: Tensor, valid: Tensor, kernel: int = 2) -> tuple[Tensor, Tensor]:
    """Max-pool ``z`` ``(B, T, D)`` over time with kernel = stride = ``kernel`` (a trailing remainder
    is dropped), ignoring invalid steps. A pooled step is valid if any of its inputs is; invalid
    pooled steps are 0. Returns ``(z_pooled, valid_pooled)``."""
    zz = z.masked_fill(~valid.unsqueeze(-1), float("-inf")).transpose(1, 2)
    zz = F.max_pool1d(zz, kernel_size=kernel).transpose(1, 2)
    vv = F.max_pool1d(valid.float().unsqueeze(1), kernel_size=kernel).squeeze(1) > 0
    return torch.nan_to_num(zz, neginf=0.0).masked_fill(~vv.unsqueeze(-1), 0.0), vv


def _tiles(n: int, tile: int) -> list[tuple[int, int]]:
    """``[start, end)`` of each ``tile``-long block of ``range(n)`` (the last one may be shorter)."""
    return [(i, min(i + tile, n)) for i in range(0, n, tile)]


def _gram(z: Tensor, tile: int = 256) -> Tensor:
    """``z @ z^T`` for ``z`` ``(G, N, D)``, computing each off-diagonal tile once.

    Why: the Gram matrix is symmetric, so each band of ``tile`` rows is multiplied only from its diagonal
    tile rightwards and the part below the diagonal is mirrored tile by tile; about half the products of
    one ``bmm`` (a third to a half less time on TS2Vec's level-0 temporal sizes, one thread)."""
    g, n, _ = z.shape
    if n <= tile:
        return z @ z.transpose(1, 2)
    out = z.new_empty(g, n, n)
    tiles = _tiles(n, tile)
    for a, (i0, i1) in enumerate(tiles):
        band = z[:, i0:i1] @ z[:, i0:].transpose(1, 2)
        out[:, i0:i1, i0:] = band
        for j0, j1 in tiles[a + 1:]:
            out[:, j0:j1, i0:i1] = band[:, :, j0 - i0: j1 - i0].transpose(1, 2)
    return out


def _add_transpose_(g: Tensor, tile: int = 256) -> Tensor:
    """``g + g^T`` over the last two dims of a square ``(G, N, N)``, in place, tile by tile.

    Why: the plain ``g + g.transpose(1, 2)`` reads one operand a column at a time, a cache miss per
    element; at TS2Vec's level-0 temporal size (``N`` = twice the crop, up to a few thousand) it cost
    about four times this (``tile`` x ``tile``) blocking, and it needs another ``N x N`` buffer."""
    tiles = _tiles(g.shape[-1], tile)
    for a, (i0, i1) in enumerate(tiles):
        diag = g[:, i0:i1, i0:i1]
        diag.copy_(diag + diag.transpose(1, 2))
        for j0, j1 in tiles[a + 1:]:
            upper = g[:, i0:i1, j0:j1].add_(g[:, j0:j1, i0:i1].transpose(1, 2))
            g[:, j0:j1, i0:i1].copy_(upper.transpose(1, 2))
    return g


_EXP_FLOOR = -40.0


class _TwoViewInfoNCERows(torch.autograd.Function):
    """InfoNCE per anchor for rows of ``z`` ``(G, 2H, D)`` where every step is valid: anchor ``k``'s
    positive is ``(k + H) mod 2H``, itself excluded. ``(G, 2H)``; the dense form of
    :func:`_pair_inputs` + ``InfoNCE.per_anchor`` without the ``(G * 2H, 2H)`` masks.

    Forward and backward by hand, so the ``(G, 2H, 2H)`` logits are made once and every later pass
    over them is in place (on long series these passes cost as much as the products): the forward
    turns them into ``exp(logit - row max)`` and keeps the row sums, the backward scales that into
    ``softmax - onehot(positive)`` (the gradient of ``logsumexp - positive``), and the gradient of the
    Gram matrix ``z z^T`` is ``(g + g^T) z``, one product instead of autograd's two."""

    @staticmethod
    def forward(ctx, z: Tensor, half: int, temperature: float) -> Tensor:
        logits = _gram(z)
        if temperature != 1.0:
            logits.div_(temperature)
        logits.diagonal(0, 1, 2).fill_(float("-inf"))
        pos = torch.cat([logits.diagonal(half, 1, 2), logits.diagonal(-half, 1, 2)], dim=1)
        top = logits.amax(-1, keepdim=True)
        # in the logits' memory; the floor keeps exp's results normal floats: below about -87 they are
        # subnormal, which the CPU computes about ten times slower, and every term under e^-40 is far
        # below one rounding step of a row sum that is at least 1 (the row's maximum contributes e^0)
        shifted_exp = logits.sub_(top).clamp_(min=_EXP_FLOOR).exp_()
        shifted_exp.diagonal(0, 1, 2).zero_()  # the anchor itself, -inf before the floor
        total = shifted_exp.sum(-1)
        ctx.save_for_backward(z, shifted_exp, total)
        ctx.half, ctx.temperature = half, temperature
        return top.squeeze(-1) + total.log() - pos

    @staticmethod
    @once_differentiable
    def backward(ctx, g: Tensor):
        z, shifted_exp, total = ctx.saved_tensors
        half, temp = ctx.half, ctx.temperature
        # in place: a second backward through this graph fails autograd's saved-tensor version check
        grad = shifted_exp.mul_((g / (temp * total)).unsqueeze(-1))
        grad.diagonal(half, 1, 2).sub_(g[:, :half] / temp)
        grad.diagonal(-half, 1, 2).sub_(g[:, half:] / temp)
        return _add_transpose_(grad) @ z, None, None


def _two_view_infonce_rows(z: Tensor, half: int, temperature: float | Tensor) -> Tensor:
    """See :class:`_TwoViewInfoNCERows`; a learnable (tensor) temperature goes through autograd."""
    if not isinstance(temperature, Tensor):
        return _TwoViewInfoNCERows.apply(z, half, float(temperature))
    logits = (z @ z.transpose(1, 2)) / temperature
    eye = torch.eye(z.shape[1], dtype=torch.bool, device=z.device)
    lse = torch.logsumexp(logits.masked_fill(eye, float("-inf")), dim=-1)
    return lse - torch.cat([logits.diagonal(half, 1, 2), logits.diagonal(-half, 1, 2)], dim=1)


def _dense_hierarchical_infonce(z1: Tensor, z2: Tensor, temperature, alpha: float, temporal_unit: int,
                                similarity: str) -> tuple[Tensor, int]:
    """Per-series hierarchical loss ``(B,)`` and level count when every step is valid and the objective
    is InfoNCE: what the masked path computes, with fewer, larger ops.

    The instance term is independent per timestep, so the steps of every level are stacked and
    scored in one batched product (one softmax over ``sum_l T_l`` groups) instead of one call per
    level; each level then contributes its own mean over its steps."""
    b = z1.shape[0]
    inst_rows, inst_weights, temporal = [], [], z1.new_zeros(b)
    levels = 0
    while True:
        t = z1.shape[1]
        a, c = (F.normalize(z1, dim=-1), F.normalize(z2, dim=-1)) if similarity == "cosine" else (z1, z2)
        if alpha != 0:
            inst_rows.append(torch.cat([a, c], dim=0).transpose(0, 1))  # (T, 2B, D)
            inst_weights.append(z1.new_full((t,), 1.0 / t))
        if t > 1 and levels >= temporal_unit and alpha != 1:
            per = _two_view_infonce_rows(torch.cat([a, c], dim=1), t, temperature)  # (B, 2T)
            temporal = temporal + (1 - alpha) * per.mean(1)
        levels += 1
        if t <= 1:
            break
        z1 = F.max_pool1d(z1.transpose(1, 2), kernel_size=2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), kernel_size=2).transpose(1, 2)
    if not inst_rows:
        return temporal / levels, levels
    per = _two_view_infonce_rows(torch.cat(inst_rows, 0), b, temperature)  # (sum T_l, 2B)
    per_view = (per * torch.cat(inst_weights)[:, None]).sum(0)  # sum over levels of each level's mean
    return (temporal + alpha * 0.5 * (per_view[:b] + per_view[b:])) / levels, levels


def hierarchical_contrastive_loss(
    z1: Tensor,
    z2: Tensor,
    valid1: Tensor | None = None,
    valid2: Tensor | None = None,
    *,
    objective: ContrastiveObjective | None = None,
    alpha: float = 0.5,
    temporal_unit: int = 0,
    similarity: str = "dot",
    with_logs: bool = False,
) -> LossOutput:
    """TS2Vec's loss over the max-pool hierarchy (defaults: the paper's ``alpha=0.5``, unit 0).

    ``valid1/2`` ``(B, T)`` bool, ``True`` = a real (not padded / missing) step. ``objective``
    defaults to ``infonce`` with temperature 1 on dot products, exactly the paper's loss.
    """
    if z1.shape != z2.shape:
        raise ValueError(f"views must have equal shape, got {tuple(z1.shape)} and {tuple(z2.shape)}")
    if objective is None:
        objective = get("infonce", temperature=1.0)
    b, t, _ = z1.shape
    if (not with_logs and type(objective) is InfoNCE and similarity in ("dot", "cosine") and t >= 1
            and (valid1 is None or bool(valid1.all())) and (valid2 is None or bool(valid2.all()))):
        per, levels = _dense_hierarchical_infonce(z1, z2, objective.temperature, alpha, temporal_unit, similarity)
        return LossOutput(loss=per.mean(), per_sample=per, logs={"levels": float(levels)})
    v1 = torch.ones(b, t, dtype=torch.bool, device=z1.device) if valid1 is None else valid1
    v2 = torch.ones(b, t, dtype=torch.bool, device=z1.device) if valid2 is None else valid2
    per = z1.new_zeros(b)
    levels = 0
    logs: dict[str, float] = {}
    while z1.shape[1] > 1:
        if alpha != 0:
            inst, lg = instance_contrast(z1, z2, v1, v2, objective, similarity, with_logs and levels == 0)
            per = per + alpha * inst
            if lg:
                logs["instance_acc"] = lg.get("acc", float("nan"))
        if levels >= temporal_unit and alpha != 1:
            temp, lg = temporal_contrast(z1, z2, v1, v2, objective, similarity, with_logs and levels == 0)
            per = per + (1 - alpha) * temp
            if lg:
                logs["temporal_acc"] = lg.get("acc", float("nan"))
        levels += 1
        z1, v1 = masked_max_pool_steps(z1, v1)
        z2, v2 = masked_max_pool_steps(z2, v2)
    if z1.shape[1] == 1:
        if alpha != 0:
            inst, _ = instance_contrast(z1, z2, v1, v2, objective, similarity)
            per = per + alpha * inst
        levels += 1
    per = per / max(levels, 1)
    logs["levels"] = float(levels)
    return LossOutput(loss=per.mean(), per_sample=per, logs=logs)


def nt_xent_inputs(h1: Tensor, h2: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """SimCLR's NT-Xent as contract inputs: ``2B`` anchors, cosine similarity, self excluded.

    Source: "A Simple Framework for Contrastive Learning of Visual Representations" (Chen et al.,
    2020): each of the ``2B`` views has the other view of its sample as positive. Pair with
    ``infonce`` (temperature 0.5 in the paper's CIFAR setting; we default to 0.2 for time series as
    TS-TCC's contextual contrasting does) to get NT-Xent. The layout is the loss library's
    :func:`~audiocl.losses.pairs.two_view_pairs`.
    """
    sim, pos, valid = two_view_pairs(h1, h2)
    return sim, pos, valid


def nt_xent_loss(h1: Tensor, h2: Tensor, objective: ContrastiveObjective | None = None) -> LossOutput:
    """NT-Xent with per-sample losses ``(B,)`` (mean of the two views' anchor losses)."""
    if objective is None:
        objective = get("infonce", temperature=0.2)
    b = h1.shape[0]
    out = objective(*nt_xent_inputs(h1, h2))
    per = 0.5 * (out.per_sample[:b] + out.per_sample[b:])
    return LossOutput(loss=per.mean(), per_sample=per, logs=out.logs)


__all__ = ["hierarchical_contrastive_loss", "instance_contrast", "masked_max_pool_steps", "temporal_contrast", "nt_xent_inputs", "nt_xent_loss"]
