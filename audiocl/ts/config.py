"""Typed configs of the time-series contrastive methods (``ts2vec``, ``simclr``, ``ts_tcc``).

:class:`TSContrastiveConfig` holds what every method shares (encoder, objective, optimiser, budget,
DBPM); :class:`TSPretrainConfig` adds TS-TCC's section, so one config (and one YAML preset,
``configs/ts/*.yaml``) describes any of the three methods. Defaults and their sources:

- ``ts2vec``: "TS2Vec: Towards Universal Representation of Time Series" (Yue et al., AAAI 2022) and
  its code: repr 320, hidden 64, depth 10, batch 8, lr 1e-3 (AdamW), 200 iterations for sets with
  <= 100 000 values (N * T * C), else 600; max train length 3000; timestamp masking p = 0.5.
- ``simclr``: "A Simple Framework for Contrastive Learning of Visual Representations" (Chen et al.,
  2020): NT-Xent at temperature 0.2 through a 2-layer projection head.
- ``ts_tcc``: "Time-Series Representation Learning via Temporal and Contextual Contrasting" (Eldele
  et al., IJCAI 2021), code ``config_files/HAR_Configs.py`` and ``trainer/trainer.py``; see
  :class:`TSTCCConfig`.
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audiocl.losses.dbpm import DBPMConfig
from audiocl.nn.ts_encoders import TSEncoderConfig

METHODS = ("ts2vec", "simclr", "ts_tcc")
"""The pretraining methods; :func:`audiocl.ts.factory.build_model` picks the model class from them."""


@dataclass
class TSContrastiveConfig:
    """Every default of the ``ts2vec`` / ``simclr`` model (sources in the module docstring)."""

    encoder: TSEncoderConfig = field(default_factory=TSEncoderConfig)
    method: str = "ts2vec"
    """``ts2vec`` or ``simclr`` (``ts_tcc`` needs :class:`TSPretrainConfig`)."""
    loss: str = "infonce"
    loss_kwargs: dict[str, Any] = field(default_factory=dict)
    """Empty = the method's default: temperature 1.0 for ts2vec (paper: plain softmax on dot
    products), 0.2 for simclr."""
    similarity: str = "dot"
    """ts2vec pair score: ``dot`` (paper) or ``cosine``."""
    alpha: float = 0.5
    temporal_unit: int = 0
    mask_prob: float = 0.5
    batch_size: int = 8
    lr: float = 1e-3
    iters: int = 0
    """0 = TS2Vec's rule: 200 if N * T * C <= 100 000 else 600."""
    max_train_length: int = 3000
    proj_dim: int = 128
    """SimCLR projection-head output size."""
    simclr_mask_prob: float = 0.1
    """SimCLR: timestamp-masking probability per view (milder than TS2Vec's 0.5 because SimCLR's
    views are already jittered, scaled and permuted)."""
    weight_averaging: bool = False
    """Release the mean of the encoder's weights over the initial and every later iterate
    (``torch.optim.swa_utils.AveragedModel``, as TS2Vec's code does) instead of the last iterate."""
    averaging_start: float = 0.0
    """With ``weight_averaging``: the fraction of the iterations after which iterates enter the average
    (0 = from the initial weights on, as TS2Vec's code; 0.5 = the second half of training only)."""
    dbpm: bool = False
    """Wrap the per-sample losses in Dynamic Bad Pair Mining (:mod:`audiocl.losses.dbpm`)."""
    dbpm_cfg: DBPMConfig = field(default_factory=DBPMConfig)
    seed: int = 0
    num_threads: int = 0
    """>0: call ``torch.set_num_threads`` in ``fit``/``encode`` (0 = leave torch's setting alone)."""


@dataclass
class TSTCCConfig:
    """TS-TCC's settings.

    - weak view: scaling (sigma 1.1) + jitter; strong view: permutation (up to 8 segments) + jitter
      (sigma 0.8). The paper calls the weak view "jitter-and-scale"; its code only scales. We scale
      and add a mild jitter (``weak_jitter`` 0.1, the SimCLR jitter, on z-normalised data); scaling
      draws ``1 + 0.55 N(0, 1)`` instead of the code's ``N(2, 1.1)`` (:func:`audiocl.ts.augment.scaling`).
    - temporal contrasting: ``timesteps`` K = 6, context transformer hidden 100, 4 layers, 4 heads,
      feed-forward 64; contextual contrasting: projection ``D -> D/2 -> D/4`` with batch norm,
      NT-Xent at temperature 0.2; ``lambda_tc`` = 1, ``lambda_cc`` = 0.7.
    - The encoder is any of :mod:`audiocl.nn.ts_encoders` (default TS2Vec's dilated CNN, so methods
      are compared on one encoder), not TS-TCC's 3-block CNN. That CNN shortens the series about 7x
      before the context model; ours keep one latent per step, so ``pool`` max-pools the latents
      before temporal contrasting on long series. Optimiser, batch size and iterations are the
      shared ones of :class:`TSContrastiveConfig` (TS-TCC itself: Adam lr 3e-4, batch 128, 40 epochs).
    """

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
    """:class:`TSContrastiveConfig` plus the ``tstcc`` section; ``method`` is any of :data:`METHODS`."""

    tstcc: TSTCCConfig = field(default_factory=TSTCCConfig)


def base_config(cfg: TSContrastiveConfig) -> TSContrastiveConfig:
    """The :class:`TSContrastiveConfig` part of ``cfg`` (what the ``ts2vec`` / ``simclr`` model saves)."""
    return TSContrastiveConfig(**{f.name: copy.deepcopy(getattr(cfg, f.name)) for f in dataclasses.fields(TSContrastiveConfig)})


def default_iters(X: np.ndarray) -> int:
    """TS2Vec's iteration rule (``train.py``): 200 for data with <= 100 000 values, else 600."""
    return 200 if X.size <= 100_000 else 600


__all__ = ["METHODS", "TSContrastiveConfig", "TSTCCConfig", "TSPretrainConfig", "base_config", "default_iters"]
