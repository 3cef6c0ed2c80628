"""TS-TCC as a time-series pretraining method (``method: ts_tcc``): views, learnable head, model.

"Time-Series Representation Learning via Temporal and Contextual Contrasting" (Eldele et al., IJCAI
2021). The loss is :func:`audiocl.losses.ts_tcc.tstcc_loss`; this module adds the weak / strong
views and the learnable head, and plugs them into the training loop of
:class:`audiocl.ts.model.TSContrastiveModel` (same ``fit`` / ``encode`` / ``save`` / ``load``, same
DBPM wrapper, same ``pair_hook`` for corruption experiments). Settings and their sources:
:class:`audiocl.ts.config.TSTCCConfig`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.errors import ConfigError, TimeSeriesInputError
from audiocl.losses import get as get_objective
from audiocl.losses.base import LossOutput
from audiocl.losses.ts_hierarchical import masked_max_pool_steps
from audiocl.losses.ts_tcc import tstcc_loss
from audiocl.nn.ts_encoders import ContextTransformer, empty_steps, missing_mask
from audiocl.ts.augment import jitter, permutation, scaling
from audiocl.ts.config import TSPretrainConfig, TSTCCConfig
from audiocl.ts.data import series_lengths
from audiocl.ts.model import TSContrastiveModel


class TSTCCHead(nn.Module):
    """Context transformer, the K future predictors ``W_k`` and the contextual projection head."""

    def __init__(self, repr_dim: int, cfg: TSTCCConfig):
        super().__init__()
        self.timesteps = cfg.timesteps
        self.context = ContextTransformer(repr_dim, cfg.hidden, cfg.depth, cfg.heads, cfg.mlp_dim, cfg.dropout)
        self.predict = nn.Linear(cfg.hidden, cfg.timesteps * repr_dim)  # W_1..W_K side by side
        half, quarter = max(repr_dim // 2, 1), max(repr_dim // 4, 1)
        self.project = nn.Sequential(nn.Linear(cfg.hidden, half), nn.BatchNorm1d(half), nn.ReLU(), nn.Linear(half, quarter))
        self.repr_dim = repr_dim

    def predictions(self, c: Tensor, k: int) -> Tensor:
        """``(B, hidden) -> (k, B, D)``: ``W_1 c .. W_k c``."""
        return self.predict(c).reshape(c.shape[0], self.timesteps, self.repr_dim)[:, :k].transpose(0, 1)


def tstcc_views(x: Tensor, x_strong: Tensor, lengths: Tensor, cfg: TSTCCConfig, gen: torch.Generator) -> tuple[Tensor, Tensor]:
    """Weak view (scaling + jitter) of ``x`` and strong view (permutation + jitter) of ``x_strong``."""
    weak = jitter(scaling(x, cfg.scale_sigma, gen), cfg.weak_jitter, gen)
    strong = jitter(permutation(x_strong, lengths, cfg.max_segments, gen), cfg.strong_jitter, gen)
    return weak, strong


def _pool_steps(z: Tensor, miss: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Max-pool the latents by ``k`` over time (``miss`` = missing steps, pooled: all inputs missing)."""
    if k <= 1:
        return z, miss
    if z.shape[1] < k:
        return z[:, :1], miss[:, :1]
    zp, valid = masked_max_pool_steps(z, ~miss, k)
    return zp, ~valid


class TSTCCModel(TSContrastiveModel):
    """:class:`TSContrastiveModel` trained with TS-TCC's objective (``cfg.method == "ts_tcc"``)."""

    config_class = TSPretrainConfig
    methods = ("ts_tcc",)

    def __init__(self, cfg: TSPretrainConfig, in_channels: int):
        t = cfg.tstcc
        if t.timesteps < 1 or t.pool < 1:
            raise ConfigError(f"tstcc.timesteps and tstcc.pool must be >= 1, got {t.timesteps} and {t.pool}")
        super().__init__(cfg, in_channels)  # checks the method, builds the (seeded) encoder
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed + 1)
            self.tc_head = TSTCCHead(cfg.encoder.repr_dim, t)
        self.tc_objective = get_objective("infonce", temperature=1.0)

    def default_temperature(self) -> float:
        """Contextual contrasting's NT-Xent temperature (``tstcc.temperature``)."""
        return self.cfg.tstcc.temperature

    def fit(self, X: np.ndarray, **kw) -> "TSTCCModel":
        self._check_channels(X, "fit")
        if X.shape[0] < 2:
            raise TimeSeriesInputError("fit: TS-TCC needs at least 2 series (its negatives are the other series of a batch)")
        lengths = series_lengths(X, minimum=1)
        short = np.flatnonzero(lengths < 2)
        if short.size:
            raise TimeSeriesInputError(
                f"fit: TS-TCC's temporal contrasting needs series of at least 2 steps; series {short[:10].tolist()} "
                f"{'(and more) ' if short.size > 10 else ''}have {int(lengths[short[0]])}"
            )
        return super().fit(X, **kw)

    def loss_output(self, xb: Tensor, rng: np.random.Generator, gen: torch.Generator, xb2: Tensor | None = None) -> LossOutput:
        """TS-TCC's loss on one batch ``(B, T, C)`` (view 2's source is ``xb2`` when given)."""
        t_cfg = self.cfg.tstcc
        b = xb.shape[0]
        if b < 2:
            raise TimeSeriesInputError("TS-TCC needs batches of at least 2 series")
        lengths = torch.as_tensor(series_lengths(xb.numpy(), minimum=1))
        weak, strong = tstcc_views(xb, xb if xb2 is None else xb2, lengths, t_cfg, gen)
        zs, misses = [], []
        for v in (strong, weak):
            pad = empty_steps(v)
            z = F.normalize(self.encoder(v, pad), dim=-1)  # TS-TCC L2-normalises the latents per step
            z, miss = _pool_steps(z, missing_mask(v, pad), t_cfg.pool)
            zs.append(z)
            misses.append(miss)
        (z_s, z_w), (m_s, m_w) = zs, misses
        lmin = int(lengths.min()) // t_cfg.pool  # steps every series of the batch has (after pooling)
        k = min(t_cfg.timesteps, lmin - 1)
        if k < 1:
            raise TimeSeriesInputError(
                f"TS-TCC: the shortest series in the batch has {int(lengths.min())} steps; temporal contrasting "
                f"with pool={t_cfg.pool} needs at least {2 * t_cfg.pool}"
            )
        t = int(rng.integers(0, lmin - k))  # context = steps 0..t, targets t+1..t+k
        c_s = self.tc_head.context(z_s[:, : t + 1], m_s[:, : t + 1])
        c_w = self.tc_head.context(z_w[:, : t + 1], m_w[:, : t + 1])
        fut = slice(t + 1, t + 1 + k)
        return tstcc_loss(
            self.tc_head.predictions(c_s, k), z_w[:, fut].transpose(0, 1), ~m_w[:, fut].T,
            self.tc_head.predictions(c_w, k), z_s[:, fut].transpose(0, 1), ~m_s[:, fut].T,
            self.tc_head.project(c_s), self.tc_head.project(c_w),
            lambda_tc=t_cfg.lambda_tc, lambda_cc=t_cfg.lambda_cc,
            tc_objective=self.tc_objective, cc_objective=self.objective,
        )


__all__ = ["TSTCCHead", "TSTCCModel", "tstcc_views"]
