"""Build or load the time-series model of any method: the one place that maps ``method`` to a class.

``ts2vec`` and ``simclr`` train :class:`~audiocl.ts.model.TSContrastiveModel`, ``ts_tcc`` trains
:class:`~audiocl.ts.tstcc.TSTCCModel`. Resolve configs into :class:`~audiocl.ts.config.TSPretrainConfig`
(every setting of all methods); each class saves only the config it reads.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from audiocl.errors import ConfigError
from audiocl.ts.config import METHODS, TSContrastiveConfig, TSPretrainConfig, base_config
from audiocl.ts.data import Normalizer, check_series
from audiocl.ts.model import TSContrastiveModel
from audiocl.ts.tstcc import TSTCCModel


def build_model(cfg: TSContrastiveConfig, in_channels: int) -> TSContrastiveModel:
    """The untrained model for ``cfg.method`` with ``in_channels`` input channels."""
    if cfg.method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}; got {cfg.method!r}")
    if cfg.method == "ts_tcc":
        if not isinstance(cfg, TSPretrainConfig):  # TS-TCC's own section at its defaults
            cfg = TSPretrainConfig(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(TSContrastiveConfig)})
        return TSTCCModel(cfg, in_channels)
    if isinstance(cfg, TSPretrainConfig):
        cfg = base_config(cfg)
    return TSContrastiveModel(cfg, in_channels)


def fit_model(cfg: TSContrastiveConfig, X: np.ndarray, *, what: str = "X", normalize: bool = True,
              verbose: bool = False) -> tuple[TSContrastiveModel, Normalizer]:
    """Check ``X (N, T, C)``, fit the per-dataset normaliser on it (identity if ``normalize`` is false)
    and train the model of ``cfg.method`` on the normalised series; returns ``(model, normaliser)``,
    the pair that encodes new data (``model.encode(normaliser.transform(X_new))``)."""
    check_series(X, what=what)
    norm = Normalizer().fit(X) if normalize else Normalizer.identity(X.shape[2])
    model = build_model(cfg, X.shape[2]).fit(norm.transform(X), verbose=verbose)
    return model, norm


def load_model(directory: str | Path) -> tuple[TSContrastiveModel, dict]:
    """Load a model folder written by ``save`` whatever its method; returns ``(model, meta)``."""
    from omegaconf import OmegaConf

    d = Path(directory)
    method = "ts2vec"
    if (d / "config.yaml").is_file():
        method = str(OmegaConf.load(d / "config.yaml").get("method", "ts2vec"))
    return (TSTCCModel if method == "ts_tcc" else TSContrastiveModel).load(d)


__all__ = ["build_model", "fit_model", "load_model"]
