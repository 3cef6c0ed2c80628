"""TS-TCC as a third time-series pretraining method (``method: ts_tcc``), plus the model factory.

"Time-Series Representation Learning via Temporal and Contextual Contrasting" (Eldele et al., IJCAI
2021). The loss is :func:`audiocl.losses.ts_tcc.tstcc_loss`; this module adds the views and the
learnable head, and plugs them into the training loop of
:class:`audiocl.models.ts_contrastive.TSContrastiveModel` (same ``fit`` / ``encode`` / ``save`` /
``load``, same DBPM wrapper, same ``pair_hook`` for corruption experiments).

Defaults and their sources (TS-TCC code, ``config_files/HAR_Configs.py``, ``trainer/trainer.py``):

- weak view: scaling (sigma 1.1) + jitter; strong view: permutation (up to 8 segments) + jitter
  (sigma 0.8). The paper calls the weak view "jitter-and-scale"; the code only scales. We scale and
  add a mild jitter (``weak_jitter`` 0.1, the library's SimCLR jitter, on z-normalised data). Our
  ``scaling`` draws ``1 + 0.55 N(0, 1)`` per (series, channel) instead of the code's ``N(2, 1.1)``
  (see :mod:`audiocl.ts.augment`).
- temporal contrasting: ``timesteps`` K = 6, context transformer hidden 100, 4 layers, 4 heads,
  feed-forward 64; contextual contrasting: projection ``D -> D/2 -> D/4`` with batch norm, NT-Xent
  at temperature 0.2; ``lambda_tc`` = 1, ``lambda_cc`` = 0.7.
- Encoder: any of :mod:`audiocl.nn.ts_encoders` (default TS2Vec's dilated CNN, so the UCR table
  compares objectives on one encoder), not TS-TCC's 3-block CNN. That CNN shortens the series about
  7x (HAR: 128 -> 18 steps) before the context model; ours keep one latent per step, so ``pool``
  (max-pool of the latents before temporal contrasting, default 1 = off) is there for long series.
  Optimiser, batch size and iterations are the shared ones of :class:`TSContrastiveConfig`
  (TS-TCC itself: Adam lr 3e-4, batch 128, 40 epochs).

Use :func:`build_model` / :func:`load_model` (they pick the class from ``method``) and
:class:`TSPretrainConfig` (every setting of all three methods) to resolve configs.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.errors import ConfigError, TimeSeriesInputError
from audiocl.losses import get as get_objective
from audiocl.losses.base import LossOutput
from audiocl.losses.ts_tcc import tstcc_loss
from audiocl.models.ts_contrastive import TSContrastiveConfig, TSContrastiveModel
from audiocl.nn.ts_encoders import ContextTransformer, missing_mask
from audiocl.ts.augment import jitter, permutation, scaling

METHODS = ("ts2vec", "simclr", "ts_tcc")


@dataclass
class TSTCCConfig:
    """TS-TCC's settings (sources in the module docstring)."""

    timesteps: int = 6
    """K: future steps predicted from each context (shortened to ``length - 1`` for short batches)."""
    hidden: int = 100
    depth: int = 4
    heads: int = 4
    mlp_dim: int = 64
    dropout: float = 0.1
    lambda_tc: float = 1.0
    lambda_cc: float = 0.7
    temperature: float = 0.2
    """Contextual contrasting (NT-Xent) temperature."""
    scale_sigma: float = 1.1
    weak_jitter: float = 0.1
    strong_jitter: float = 0.8
    max_segments: int = 8
    pool: int = 1
    """Max-pool the latents by this factor before temporal contrasting (1 = off)."""


@dataclass
class TSPretrainConfig(TSContrastiveConfig):
    """:class:`TSContrastiveConfig` plus the ``ts_tcc`` section; ``method`` is ``ts2vec``, ``simclr``
    or ``ts_tcc``."""

    tstcc: TSTCCConfig = field(default_factory=TSTCCConfig)


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
    if k <= 1:
        return z, miss
    t = z.shape[1] // k * k
    if t == 0:
        return z[:, :1], miss[:, :1]
    b, _, d = z.shape
    zp = z[:, :t].masked_fill(miss[:, :t, None], float("-inf")).reshape(b, t // k, k, d).max(2).values
    mp = miss[:, :t].reshape(b, t // k, k).all(2)
    return zp.masked_fill(mp[..., None], 0.0), mp


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
        kw = dict(cfg.loss_kwargs) if cfg.loss_kwargs else ({"temperature": t.temperature} if cfg.loss == "infonce" else {})
        self.objective = get_objective(cfg.loss, **kw)
        self.tc_objective = get_objective("infonce", temperature=1.0)
        self.last_logs: dict = {}

    def fit(self, X: np.ndarray, **kw) -> "TSTCCModel":
        self._check_channels(X, "fit")
        from audiocl.models.ts_contrastive import _lengths_np

        if X.shape[0] < 2:
            raise TimeSeriesInputError("fit: TS-TCC needs at least 2 series (its negatives are the other series of a batch)")
        lengths = _lengths_np(X)
        short = np.flatnonzero(lengths < 2)
        if short.size:
            raise TimeSeriesInputError(
                f"fit: TS-TCC's temporal contrasting needs series of at least 2 steps; series {short[:10].tolist()} "
                f"{'(and more) ' if short.size > 10 else ''}have {int(lengths[short[0]])}"
            )
        return super().fit(X, **kw)

    def _loss_step(self, xb: Tensor, ids: Tensor, rng: np.random.Generator, gen: torch.Generator,
                   xb2: Tensor | None = None) -> tuple[Tensor, Tensor, dict]:
        out = self.tstcc_output(xb, rng, gen, xb2)
        self.last_logs = out.logs
        loss = self.dbpm(out.per_sample, ids) if self.dbpm is not None else out.loss
        return loss, out.per_sample, out.logs

    def tstcc_output(self, xb: Tensor, rng: np.random.Generator, gen: torch.Generator, xb2: Tensor | None = None) -> LossOutput:
        """TS-TCC's loss on one batch ``(B, T, C)`` (view 2's source is ``xb2`` when given)."""
        from audiocl.models.ts_contrastive import _lengths_np

        t_cfg = self.cfg.tstcc
        b = xb.shape[0]
        if b < 2:
            raise TimeSeriesInputError("TS-TCC needs batches of at least 2 series")
        lengths = torch.as_tensor(_lengths_np(xb.numpy()))
        weak, strong = tstcc_views(xb, xb if xb2 is None else xb2, lengths, t_cfg, gen)
        zs, misses = [], []
        for v in (strong, weak):
            pad = torch.isnan(v).all(-1)
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


def base_config(cfg: TSPretrainConfig) -> TSContrastiveConfig:
    """The :class:`TSContrastiveConfig` part of ``cfg`` (for the ts2vec / simclr model class)."""
    return TSContrastiveConfig(**{f.name: copy.deepcopy(getattr(cfg, f.name)) for f in dataclasses.fields(TSContrastiveConfig)})


def build_model(cfg: TSContrastiveConfig, in_channels: int) -> TSContrastiveModel:
    """The model class for ``cfg.method``: TS-TCC -> :class:`TSTCCModel`, else :class:`TSContrastiveModel`."""
    if cfg.method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}; got {cfg.method!r}")
    if cfg.method == "ts_tcc":
        if not isinstance(cfg, TSPretrainConfig):
            cfg = TSPretrainConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(TSContrastiveConfig)})
        return TSTCCModel(cfg, in_channels)
    if isinstance(cfg, TSPretrainConfig):
        cfg = base_config(cfg)
    return TSContrastiveModel(cfg, in_channels)


def load_model(directory: str | Path) -> tuple[TSContrastiveModel, dict]:
    """Load a model saved by ``save`` whatever its method."""
    from omegaconf import OmegaConf

    d = Path(directory)
    method = "ts2vec"
    if (d / "config.yaml").is_file():
        method = str(OmegaConf.load(d / "config.yaml").get("method", "ts2vec"))
    return (TSTCCModel if method == "ts_tcc" else TSContrastiveModel).load(d)


__all__ = ["METHODS", "TSTCCConfig", "TSPretrainConfig", "TSTCCHead", "TSTCCModel", "tstcc_views", "build_model",
           "load_model", "base_config"]
