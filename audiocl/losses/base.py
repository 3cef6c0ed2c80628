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

Inside an objective the valid candidates of a row split into *positives* ``P_i = pos & valid`` and
*negatives* ``N_i = valid & ~pos``.

The result is a :class:`LossOutput` with the scalar loss, the per-anchor losses ``(N,)`` (so bad-pair
mining and other reweighting can wrap any objective) and a dict of scalar logs.
"""

from __future__ import annotations

import math
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
    """Base class: subclasses implement :meth:`per_anchor` and get checks, masking and reduction.

    ``per_anchor(sim, pos, valid)`` receives ``valid`` already filled in (never ``None``) and ``pos``
    as a bool tensor, unless the class sets ``accepts_soft_targets = True`` (then ``pos`` keeps its
    float weights). Rows without any valid positive are set to 0 afterwards and left out of the mean,
    so ``per_anchor`` only has to be finite there (values *and* gradients: use
    :func:`masked_logsumexp` rather than ``-inf`` fills).
    """

    name: str = "base"
    accepts_soft_targets: bool = False

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def forward(self, sim: Tensor, pos: Tensor, valid: Tensor | None = None) -> LossOutput:
        check_inputs(sim, pos, valid)
        if valid is None:
            valid = torch.ones_like(sim, dtype=torch.bool)
        valid = valid.bool()
        if pos.dtype != torch.bool:
            if not self.accepts_soft_targets:
                from audiocl.errors import ConfigError

                raise ConfigError(
                    f"objective {self.name!r} needs a bool `pos` mask, got dtype {pos.dtype}; "
                    "only objectives that accept soft targets (cwcl) take float weights"
                )
            if torch.is_floating_point(pos) and bool(((pos < 0) | (pos > 1)).any()):
                raise ValueError("soft targets in `pos` must lie in [0, 1]")
        has_pos = positive_mask(pos, valid).any(dim=1)
        per = self.per_anchor(sim, pos, valid)
        per = torch.where(has_pos, per, torch.zeros_like(per))
        n = has_pos.sum().clamp(min=1)
        loss = per.sum() / n
        logs = ranking_logs(sim, pos, valid)
        if isinstance(self, TemperatureMixin):
            logs["temperature"] = temperature_value(self)
        return LossOutput(loss=loss, per_sample=per, logs=logs)


class TemperatureMixin:
    """Adds a fixed or learnable temperature; a learnable one is stored as its log (stays positive)."""

    def _init_temperature(self, temperature: float, learnable: bool) -> None:
        if not temperature > 0:
            from audiocl.errors import ConfigError

            raise ConfigError(f"objective {self.name!r}: temperature must be > 0, got {temperature}")
        self.learnable_temperature = learnable
        self.fixed_temperature = float(temperature)
        if learnable:
            self.log_temperature = nn.Parameter(torch.tensor(math.log(temperature), dtype=torch.float32))

    @property
    def temperature(self) -> Tensor | float:
        """A python float when fixed (exact in any dtype), a positive tensor when learnable."""
        if self.learnable_temperature:
            return self.log_temperature.exp()
        return self.fixed_temperature


def temperature_value(obj: TemperatureMixin) -> float:
    t = obj.temperature
    return float(t.detach()) if isinstance(t, Tensor) else float(t)


def positive_mask(pos: Tensor, valid: Tensor) -> Tensor:
    """Bool ``(N, M)``: valid candidates that are positives (soft targets: weight > 0)."""
    posb = pos if pos.dtype == torch.bool else pos > 0
    return posb & valid


def masked_logsumexp(x: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """``log sum_{mask} exp(x)`` along ``dim``, finite in value and gradient even for empty rows.

    Masked entries are replaced by the most negative finite number instead of ``-inf``; an empty
    row then gives a huge negative (finite) value that callers zero out with their own row mask.
    """
    filled = x.masked_fill(~mask, torch.finfo(x.dtype).min)
    return torch.logsumexp(filled, dim=dim)


def masked_mean(x: Tensor, mask: Tensor, dim: int = -1) -> Tensor:
    """Mean of ``x`` over ``mask`` along ``dim`` (0 for empty rows)."""
    m = mask.to(x.dtype)
    return (x.masked_fill(~mask, 0.0) * m).sum(dim) / m.sum(dim).clamp(min=1)


def check_inputs(sim: Tensor, pos: Tensor, valid: Tensor | None) -> None:
    """Shape checks with messages that say which argument is wrong."""
    if sim.dim() != 2:
        raise ValueError(f"sim must be (N, M), got shape {tuple(sim.shape)}")
    if pos.shape != sim.shape:
        raise ValueError(f"pos shape {tuple(pos.shape)} != sim shape {tuple(sim.shape)}")
    if valid is not None and valid.shape != sim.shape:
        raise ValueError(f"valid shape {tuple(valid.shape)} != sim shape {tuple(sim.shape)}")
    if not torch.is_floating_point(sim):
        raise ValueError(f"sim must be a float tensor, got dtype {sim.dtype}")


@torch.no_grad()
def ranking_logs(sim: Tensor, pos: Tensor, valid: Tensor) -> dict[str, float]:
    """``acc``: fraction of anchors whose highest-scoring valid candidate is a positive;
    ``pos_sim`` / ``neg_sim``: mean similarity of positives / negatives."""
    masked = sim.masked_fill(~valid, float("-inf"))
    top = masked.argmax(dim=1)
    posb = positive_mask(pos, valid)
    negb = valid & ~posb
    hit = posb.gather(1, top[:, None]).squeeze(1).float()
    has_pos = posb.any(dim=1)
    logs = {"acc": hit[has_pos].mean().item() if has_pos.any() else float("nan")}
    logs["pos_sim"] = sim[posb].float().mean().item() if posb.any() else float("nan")
    logs["neg_sim"] = sim[negb].float().mean().item() if negb.any() else float("nan")
    return logs


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
    """Instantiate the objective registered as ``name`` with its keyword arguments.

    Unknown names and bad keyword arguments raise :class:`audiocl.errors.ConfigError` naming the
    available objectives / the objective, so a typo in a config is a clear message.
    """
    from audiocl.errors import ConfigError

    if name not in _REGISTRY:
        raise ConfigError(f"unknown contrastive objective {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    try:
        return _REGISTRY[name](**kwargs)
    except TypeError as exc:
        raise ConfigError(f"objective {name!r}: {exc}") from None


def available() -> list[str]:
    return sorted(_REGISTRY)
