"""Typed configuration of self-supervised speech pretraining (wav2vec 2.0 or CPC).

Every default lives in a dataclass; the defaults are fairseq's wav2vec 2.0 BASE recipe
(``examples/wav2vec/config/pretraining/wav2vec2_base_librispeech.yaml``): Adam(W) betas (0.9, 0.98),
eps 1e-6, weight decay 0.01, peak lr 5e-4, polynomial decay with 32k warm-up updates, 400k updates,
``max_tokens`` 1.4M samples (87.5 s) per GPU on 64 GPUs, crops of at most 250k samples (15.6 s),
utterances shorter than 32k samples (2 s) skipped. YAML presets in ``configs/pretrain/`` override
them, ``key=value`` overrides win.

The ``model`` section's type depends on ``ssl_type`` (``Wav2Vec2Config`` or ``CPCConfig`` from
:mod:`audiocl.models.registry`), so it is resolved in a second pass against that dataclass:
unknown model keys and wrong types are still errors that name the preset file or override.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from audiocl import models
from audiocl.errors import ConfigError
from audiocl.tasks.trainer_config import TrainerConfig
from audiocl.tasks.schedules import ScheduleConfig


@dataclass
class OptimConfig:
    """AdamW (decoupled weight decay, as fairseq's ``adam`` applies it); fairseq BASE values."""

    lr: float = 5e-4
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-6
    weight_decay: float = 0.01


@dataclass
class PretrainDataConfig:
    """Batching of raw audio; fairseq BASE values converted to seconds at 16 kHz."""

    sample_rate: int = 16000
    max_batch_seconds: float = 87.5
    """Padded seconds per device and batch (fairseq ``max_tokens`` 1 400 000 samples)."""
    crop_seconds: float | None = 15.625
    """Random crop of longer utterances (fairseq ``max_sample_size`` 250 000 samples)."""
    min_seconds: float = 2.0
    """Shorter utterances are skipped (fairseq ``min_sample_size`` 32 000); never below the receptive field."""
    crop_to_shortest: bool = True
    """Crop every batch to its shortest utterance (fairseq pretraining's ``enable_padding=False``)."""
    normalize: bool = False
    """Per-utterance zero mean / unit variance (fairseq LARGE: true)."""
    num_buckets: int = 10
    max_batch_size: int = 0
    """Cap on utterances per device and batch; 0 = none."""
    skip_bad: bool = True
    """Drop unreadable utterances from their batch (warned and counted) instead of stopping."""


def _default_trainer() -> TrainerConfig:
    # fairseq BASE: 400k updates on 64 GPUs (8 nodes x 8); checkpoint often, nothing lost when a job dies.
    return TrainerConfig(max_steps=400000, devices="8", num_nodes=8, strategy="ddp_find_unused_parameters_true",
                         checkpoint_every_n_steps=1000, log_every_n_steps=100, num_workers=6)


@dataclass
class PretrainConfig:
    ssl_type: str = "wav2vec2"
    """A key of :mod:`audiocl.models.registry` (``wav2vec2`` or ``cpc``)."""
    model: Any = None
    """The model's own config dataclass (``Wav2Vec2Config`` / ``CPCConfig``)."""
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    data: PretrainDataConfig = field(default_factory=PretrainDataConfig)
    trainer: TrainerConfig = field(default_factory=_default_trainer)


def _load_yaml(path: str | Path) -> DictConfig:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config preset not found: {path}")
    try:
        node = OmegaConf.load(path)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except Exception as exc:  # yaml.YAMLError and friends
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(node, DictConfig):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return node


def resolve_pretrain_config(presets: Sequence[str | Path] = (), overrides: Sequence[str] = (),
                            ssl_type: str | None = None) -> PretrainConfig:
    """Defaults <- presets (in order) <- ``key=value`` overrides; ``ssl_type`` (the CLI flag) must agree.

    Each layer is merged against the typed schema as it is applied, so an error names its source.
    """
    layers: list[tuple[str, DictConfig]] = [(str(p), _load_yaml(p)) for p in presets]
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            layers.append((f"override {item!r}", OmegaConf.from_dotlist([item])))
        except OmegaConfBaseException as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None

    declared = [(src, str(node["ssl_type"])) for src, node in layers if "ssl_type" in node]
    chosen = ssl_type or (declared[-1][1] if declared else "wav2vec2")
    for src, kind in declared:
        if ssl_type and kind != ssl_type and not src.startswith("override"):
            raise ConfigError(f"{src} is a {kind} config but --ssl-type {ssl_type} was given; "
                              f"pass a {ssl_type} preset (e.g. configs/pretrain/cpc_tiny.yaml for cpc)")
    top = OmegaConf.structured(PretrainConfig)
    model = OmegaConf.structured(models.config_class(chosen))
    for src, node in layers:
        node = node.copy()
        model_part = node.pop("model", None)
        try:
            top = OmegaConf.merge(top, node)
            if model_part is not None:
                model = OmegaConf.merge(model, model_part)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"{src}: {exc}") from None
    try:
        cfg: PretrainConfig = OmegaConf.to_object(top)  # type: ignore[assignment]
        cfg.model = OmegaConf.to_object(model)
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc)) from None
    cfg.ssl_type = chosen
    validate = getattr(cfg.model, "validate", None)
    if callable(validate):
        validate()
    if cfg.data.max_batch_seconds <= 0:
        raise ConfigError(f"data.max_batch_seconds must be > 0, got {cfg.data.max_batch_seconds}")
    return cfg


def pretrain_config_from_dict(d: dict) -> PretrainConfig:
    """Rebuild a :class:`PretrainConfig` from the plain dict saved in ``config.yaml`` or a checkpoint."""
    d = dict(d)
    ssl_type = d.get("ssl_type", "wav2vec2")
    model = d.pop("model", None) or {}
    try:
        top = OmegaConf.merge(OmegaConf.structured(PretrainConfig), d)
        cfg: PretrainConfig = OmegaConf.to_object(top)  # type: ignore[assignment]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"saved pretraining config is invalid: {exc}") from None
    cfg.model = models.config_from_dict(ssl_type, model)
    return cfg
