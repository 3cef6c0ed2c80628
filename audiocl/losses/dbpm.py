"""Dynamic Bad Pair Mining (DBPM): down-weight positive pairs whose loss history is abnormal.

Source: "Towards Enhancing Time Series Contrastive Learning: A Dynamic Bad Pair Mining Approach"
(Lan, Yan, Hong, Feng; ICLR 2024), Sec. 3.4:

- a memory ``M`` records each pair's (= each training sample's) contrastive loss in every epoch;
- at epoch ``e`` the statistic of pair ``i`` is its mean loss over the previous epochs,
  ``m_i = mean_{e' < e} L(i, e')``; over all pairs it has mean ``mu_e`` and std ``sigma_e``;
- pairs with ``m_i < mu_e - k_noisy * sigma_e`` are *noisy* (the views agree on noise: abnormally
  small loss), pairs with ``m_i > mu_e + k_faulty * sigma_e`` are *faulty* (the augmentation broke
  the shared meaning: abnormally large loss). The cuts default to the paper code's 2 and 3 sigma;
- a flagged pair's loss is multiplied by ``w = T(L(i, e); mu_e, sigma_e)``, unflagged pairs keep 1.

**Weighting choice.** The paper's ``T`` is the Gaussian *density*
``1 / (sigma sqrt(2 pi)) * exp(-(L - mu)^2 / (2 sigma^2))``. Its prefactor is unnormalised: with a
loss spread of ``sigma = 0.05`` a flagged pair gets weight ~8, *up*-weighting the pair it meant to
suppress, and the weight depends on the scale of the loss. We drop the prefactor:
``w = exp(-(L - mu)^2 / (2 sigma^2))``, which lies in ``(0, 1]``, equals 1 at the population mean,
is invariant to the loss scale, and always down-weights; ``weighting="paper"`` keeps the density
for comparison. ``weighting="drop"`` (ours) removes flagged pairs from the loss instead: the bounded
weight of a pair flagged just past a low cut stays near 1 (``z = 1`` keeps 0.61), so with the low
cuts that large corrupted fractions need it barely suppresses anything.
Weights are constants (no gradient through ``w``), as in the paper.

The wrapper needs only per-sample losses and the samples' ids, so it works for any objective in
:mod:`audiocl.losses` (speech, CLAP and time series alike)::

    dbpm = DynamicBadPairMining(num_samples=len(dataset))
    out = objective(sim, pos, valid)                    # per_sample (B,)
    loss = dbpm(out.per_sample, batch_ids)              # weighted mean; records the losses
    ...
    dbpm.end_epoch()                                    # once per epoch

or :class:`DBPMObjective`, which wraps an objective and takes ``sample_ids`` as a fourth argument.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from audiocl.errors import ConfigError
from audiocl.losses.base import ContrastiveObjective, LossOutput


@dataclass
class DBPMConfig:
    """Defaults from the DBPM paper's code: noisy cut 2 sigma, faulty cut 3 sigma."""

    k_noisy: float = 2.0
    k_faulty: float = 3.0
    warmup_epochs: int = 5
    """Epochs with plain (unweighted) training while the memory fills. Our default; the memory
    statistic needs a few epochs before a pair's mean loss means anything."""
    weighting: str = "bounded"
    """``bounded`` (ours, in (0, 1]), ``paper`` (the Gaussian density) or ``drop`` (weight 0: a
    flagged pair leaves the loss, which is then the mean over the remaining pairs); see the module
    docstring."""
    mine_noisy: bool = True
    mine_faulty: bool = True
    batch_relative: bool = False
    """Record ``loss / batch mean loss`` instead of the raw loss (our option, not the paper's).
    With TS2Vec's random crop lengths every batch has its own loss level, and that shared
    batch-level swing drowns a pair's own deviation; dividing by the batch mean removes it. The
    paper's setting (fixed-length views) has no such swing, so the default keeps the raw loss."""


class DynamicBadPairMining(nn.Module):
    """Memory of per-sample losses across epochs + flagging + down-weighting (see module docstring).

    The memory keeps, for every sample, the running sum and count of its per-epoch mean loss
    (``O(N)`` memory instead of the paper's ``N x E`` table; the statistic ``m_i`` is the same).
    """

    def __init__(self, num_samples: int, cfg: DBPMConfig | None = None, **overrides):
        super().__init__()
        cfg = cfg or DBPMConfig()
        for k, v in overrides.items():
            if not hasattr(cfg, k):
                raise ConfigError(f"DBPM: unknown option {k!r}")
            setattr(cfg, k, v)
        if num_samples < 2:
            raise ConfigError(f"DBPM needs at least 2 training samples, got {num_samples}")
        if cfg.weighting not in ("bounded", "paper", "drop"):
            raise ConfigError(f"DBPM weighting must be 'bounded', 'paper' or 'drop', got {cfg.weighting!r}")
        self.cfg = cfg
        self.num_samples = num_samples
        self.register_buffer("hist_sum", torch.zeros(num_samples, dtype=torch.float64))
        self.register_buffer("hist_count", torch.zeros(num_samples, dtype=torch.long))
        self.register_buffer("epoch_sum", torch.zeros(num_samples, dtype=torch.float64))
        self.register_buffer("epoch_count", torch.zeros(num_samples, dtype=torch.long))
        self.register_buffer("epoch", torch.zeros((), dtype=torch.long))
        self.register_buffer("flag_counts", torch.zeros(num_samples, dtype=torch.long))
        self._thresholds: tuple[float, float, float, float] | None = None  # mu, sigma, t_np, t_fp
        self.last_weights: Tensor | None = None
        self.last_flags: Tensor | None = None

    # -- memory -----------------------------------------------------------------------------
    @property
    def active(self) -> bool:
        return int(self.epoch) >= self.cfg.warmup_epochs and self._thresholds is not None

    def statistic(self) -> Tensor:
        """``m_i``: mean historical loss per sample (NaN where a sample has no history yet)."""
        m = self.hist_sum / self.hist_count.clamp(min=1)
        return torch.where(self.hist_count > 0, m, torch.full_like(m, float("nan")))

    def end_epoch(self) -> None:
        """Commit this epoch's mean loss per sample to the memory and recompute the thresholds."""
        seen = self.epoch_count > 0
        self.hist_sum[seen] += self.epoch_sum[seen] / self.epoch_count[seen]
        self.hist_count[seen] += 1
        self.epoch_sum.zero_()
        self.epoch_count.zero_()
        self.epoch += 1
        m = self.statistic()
        m = m[~torch.isnan(m)]
        if m.numel() >= 2:
            mu, sigma = m.mean().item(), m.std(unbiased=False).item()
            self._thresholds = (mu, sigma, mu - self.cfg.k_noisy * sigma, mu + self.cfg.k_faulty * sigma)

    def flagged(self, sample_ids: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """``(noisy, faulty)`` bool masks for ``sample_ids`` (all samples if ``None``) at this epoch."""
        ids = torch.arange(self.num_samples, device=self.hist_sum.device) if sample_ids is None else sample_ids
        m = self.statistic()[ids]
        if not self.active:
            z = torch.zeros_like(m, dtype=torch.bool)
            return z, z
        _, sigma, t_np, t_fp = self._thresholds  # type: ignore[misc]
        has = ~torch.isnan(m)
        noisy = has & (m < t_np) if self.cfg.mine_noisy and sigma > 0 else torch.zeros_like(has)
        faulty = has & (m > t_fp) if self.cfg.mine_faulty and sigma > 0 else torch.zeros_like(has)
        return noisy, faulty

    # -- weighting ----------------------------------------------------------------------------
    def weights(self, per_sample: Tensor, sample_ids: Tensor) -> tuple[Tensor, Tensor]:
        """Per-sample weights (1 for unflagged pairs) and the flag mask; no gradient."""
        with torch.no_grad():
            noisy, faulty = self.flagged(sample_ids)
            flag = (noisy | faulty).to(per_sample.device)
            w = torch.ones_like(per_sample)
            if flag.any():
                mu, sigma, _, _ = self._thresholds  # type: ignore[misc]
                z2 = ((per_sample.detach().double() - mu) / sigma) ** 2
                t = torch.exp(-0.5 * z2)
                if self.cfg.weighting == "paper":
                    t = t / (sigma * math.sqrt(2 * math.pi))
                elif self.cfg.weighting == "drop":
                    t = torch.zeros_like(t)
                w = torch.where(flag, t.to(per_sample.dtype), w)
        return w, flag

    def forward(self, per_sample: Tensor, sample_ids: Tensor, valid: Tensor | None = None) -> Tensor:
        """Record the batch's losses and return the DBPM-weighted mean loss.

        ``sample_ids`` ``(B,)`` long: each pair's index in ``[0, num_samples)``, stable across epochs.
        ``valid`` ``(B,)`` bool excludes anchors without a positive from the mean and the memory.
        """
        if per_sample.dim() != 1 or sample_ids.shape != per_sample.shape:
            raise ValueError(f"per_sample {tuple(per_sample.shape)} and sample_ids {tuple(sample_ids.shape)} must be equal-length 1-D")
        ids = sample_ids.to(self.hist_sum.device).long()
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= self.num_samples):
            raise ValueError(f"sample ids must lie in [0, {self.num_samples}); got range [{int(ids.min())}, {int(ids.max())}]")
        keep = torch.ones_like(ids, dtype=torch.bool) if valid is None else valid.to(ids.device)
        with torch.no_grad():
            score = per_sample.detach()
            if self.cfg.batch_relative:
                kept = score[keep.to(score.device)]
                score = score / kept.mean().clamp(min=1e-8) if kept.numel() else score
            self.epoch_sum.index_add_(0, ids[keep], score[keep.to(score.device)].double().to(self.epoch_sum.device))
            self.epoch_count.index_add_(0, ids[keep], torch.ones_like(ids[keep]))
        w, flag = self.weights(score, ids)
        self.last_weights, self.last_flags = w, flag
        if flag.any():
            self.flag_counts.index_add_(0, ids[flag.to(ids.device)], torch.ones_like(ids[flag.to(ids.device)]))
        kf = keep.to(per_sample.device).to(per_sample.dtype)
        # drop: the mean over the pairs that stay, as if the flagged ones were not in the batch;
        # a mean over all pairs would also shrink the step size by the dropped fraction
        denom = (w * kf).sum() if self.cfg.weighting == "drop" else kf.sum()
        return (w * per_sample * kf).sum() / denom.clamp(min=1)

    def state(self) -> dict[str, Tensor]:
        return {k: v.clone() for k, v in self.state_dict().items()}


class DBPMObjective(nn.Module):
    """Any contrastive objective with DBPM applied to its per-anchor losses.

    ``forward(sim, pos, valid, sample_ids)`` returns a :class:`LossOutput` whose ``loss`` is the
    DBPM-weighted mean; ``per_sample`` stays unweighted (it is what the memory records).
    """

    def __init__(self, objective: ContrastiveObjective, num_samples: int, cfg: DBPMConfig | None = None, **overrides):
        super().__init__()
        self.objective = objective
        self.dbpm = DynamicBadPairMining(num_samples, cfg, **overrides)

    def forward(self, sim: Tensor, pos: Tensor, valid: Tensor | None, sample_ids: Tensor) -> LossOutput:
        out = self.objective(sim, pos, valid)
        posb = pos.bool() if pos.dtype == torch.bool else pos > 0
        has_pos = (posb & (valid if valid is not None else torch.ones_like(posb))).any(1)
        loss = self.dbpm(out.per_sample, sample_ids, has_pos)
        logs = dict(out.logs)
        if self.dbpm.last_flags is not None:
            logs["dbpm_flagged"] = float(self.dbpm.last_flags.float().mean())
        return LossOutput(loss=loss, per_sample=out.per_sample, logs=logs)

    def end_epoch(self) -> None:
        self.dbpm.end_epoch()


def flag_precision_recall(flagged: Tensor, corrupted: Tensor) -> tuple[float, float]:
    """Precision and recall of flagged sample ids against the known corrupted ones (bool masks)."""
    flagged, corrupted = flagged.bool(), corrupted.bool()
    tp = (flagged & corrupted).sum().item()
    prec = tp / max(int(flagged.sum()), 1) if flagged.any() else float("nan")
    rec = tp / max(int(corrupted.sum()), 1)
    return prec, rec


__all__ = ["DBPMConfig", "DynamicBadPairMining", "DBPMObjective", "flag_precision_recall"]
