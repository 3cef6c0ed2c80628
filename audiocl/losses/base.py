"""The common contract of every contrastive objective, and the name registry.

Every objective in :mod:`audiocl.losses` is called the same way, so any pipeline (wav2vec 2.0 /
CPC heads, CLAP, time series) can switch objectives by name::

    out = objective(sim, pos, valid)

- ``sim``   ``(N, M)`` float: similarity of anchor ``i`` to candidate ``j`` (e.g. cosine), *not*
  divided by a temperature; objectives apply their own temperature.
- ``pos``   ``(N, M)`` bool marking positives (several per row allowed), or float soft targets in
  ``[0, 1]`` for objectives that accept them (``cwcl``).
- ``valid`` ``(N, M)`` bool or ``None``: ``False`` excludes a candidate entirely (self-similarity,
  padded negatives, a negative that equals the positive).

The result is a :class:`LossOutput` with the scalar loss, the per-anchor losses ``(N,)`` (so bad-pair
mining and other reweighting can wrap any objective) and a dict of scalar logs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn


@dataclass
class LossOutput:
    """What every objective returns."""

    loss: Tensor
    """Scalar: the mean of ``per_sample`` over anchors that have at least one positive."""
    per_sample: Tensor
    """``(N,)`` loss of each anchor (0 where the anchor has no positive)."""
    logs: dict[str, float] = field(default_factory=dict)
    """Scalars for logging (accuracy, mean positive similarity, ...)."""


class ContrastiveObjective(nn.Module):
    """Base class: subclasses implement :meth:`per_anchor` and get masking and reduction for free."""

    name: str = "base"

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, sim: Tensor, pos: Tensor, valid: Tensor | None = None) -> LossOutput:
        check_inputs(sim, pos, valid)
        if valid is None:
            valid = torch.ones_like(sim, dtype=torch.bool)
        has_pos = (pos.bool() & valid).any(dim=1) if pos.dtype == torch.bool else ((pos > 0) & valid).any(dim=1)
        per = self.per_anchor(sim, pos, valid)
        per = torch.where(has_pos, per, torch.zeros_like(per))
        n = has_pos.sum().clamp(min=1)
        loss = per.sum() / n
        return LossOutput(loss=loss, per_sample=per, logs=ranking_logs(sim, pos, valid))


def check_inputs(sim: Tensor, pos: Tensor, valid: Tensor | None) -> None:
    """Shape checks with messages that say which argument is wrong."""
    if sim.dim() != 2:
        raise ValueError(f"sim must be (N, M), got shape {tuple(sim.shape)}")
    if pos.shape != sim.shape:
        raise ValueError(f"pos shape {tuple(pos.shape)} != sim shape {tuple(sim.shape)}")
    if valid is not None and valid.shape != sim.shape:
        raise ValueError(f"valid shape {tuple(valid.shape)} != sim shape {tuple(sim.shape)}")


@torch.no_grad()
def ranking_logs(sim: Tensor, pos: Tensor, valid: Tensor) -> dict[str, float]:
    """Accuracy = fraction of anchors whose highest-scoring valid candidate is a positive."""
    masked = sim.masked_fill(~valid, float("-inf"))
    top = masked.argmax(dim=1)
    posb = pos.bool() if pos.dtype == torch.bool else pos > 0
    hit = posb.gather(1, top[:, None]).squeeze(1).float()
    has_pos = (posb & valid).any(dim=1)
    acc = hit[has_pos].mean().item() if has_pos.any() else float("nan")
    return {"acc": acc}


_REGISTRY: dict[str, Callable[..., ContrastiveObjective]] = {}


def register(name: str) -> Callable:
    """Class decorator: make an objective available as ``audiocl.losses.get(name)``."""

    def deco(cls):
        if name in _REGISTRY:
            raise ValueError(f"objective {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return deco


def get(name: str, **kwargs) -> ContrastiveObjective:
    """Instantiate the objective registered as ``name`` with its keyword arguments."""
    from audiocl.errors import ConfigError

    if name not in _REGISTRY:
        raise ConfigError(f"unknown contrastive objective {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"objective {name!r}: {exc}") from None


def available() -> list[str]:
    return sorted(_REGISTRY)
