"""The one registry of upstream (self-supervised) models: name -> (config dataclass, model class).

Pretraining, fine-tuning, feature extraction, the release bundle and the converters all build an
upstream through :func:`build`, so adding a model is one :func:`register` call and every stage and
the hub know it. ::

    from audiocl import models
    models.names()                                   # ['cpc', 'wav2vec2']
    cfg = models.config_from_dict("wav2vec2", {"encoder_layers": 2})
    model = models.build("wav2vec2", cfg)            # or a preset name: models.build("wav2vec2", "tiny")
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from audiocl.errors import ConfigError


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows of one model."""

    name: str
    config_cls: type
    model_cls: type
    description: str = ""


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, config_cls: type, model_cls: type, description: str = "") -> None:
    """Add a model; a second registration of the same name with other classes is a bug."""
    entry = ModelEntry(name, config_cls, model_cls, description)
    old = _REGISTRY.get(name)
    if old is not None and (old.config_cls, old.model_cls) != (config_cls, model_cls):
        raise ValueError(f"model {name!r} is already registered with other classes")
    _REGISTRY[name] = entry


def names() -> list[str]:
    """Registered model names, sorted."""
    return sorted(_REGISTRY)


def entry(name: str) -> ModelEntry:
    """The registry entry of ``name``; an unknown name is a :class:`ConfigError` listing the known ones."""
    if name not in _REGISTRY:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(names())}")
    return _REGISTRY[name]


def config_class(name: str) -> type:
    return entry(name).config_cls


def model_class(name: str) -> type:
    return entry(name).model_cls


def config_from_dict(name: str, values: dict[str, Any] | None) -> Any:
    """The typed config of ``name`` from a plain dict (a saved ``config.yaml`` section); unknown keys
    and wrong types are :class:`ConfigError`."""
    from omegaconf import OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    cls = config_class(name)
    try:
        merged = OmegaConf.merge(OmegaConf.structured(cls), OmegaConf.create(dict(values or {})))
        return OmegaConf.to_object(merged)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid {name} model config: {exc}") from None


def make_config(name: str, cfg: Any = None) -> Any:
    """Normalise ``cfg`` into ``name``'s config dataclass.

    ``None`` gives the defaults, a string a named preset (``tiny``, ``base``) of configs that have
    ``preset()``, a dict goes through :func:`config_from_dict`, a dataclass instance is checked.
    """
    cls = config_class(name)
    if cfg is None:
        return cls()
    if isinstance(cfg, str):
        preset = getattr(cls, "preset", None)
        if preset is None:
            raise ConfigError(f"model {name!r} has no named presets (asked for {cfg!r})")
        return preset(cfg)
    if isinstance(cfg, dict):
        return config_from_dict(name, cfg)
    if dataclasses.is_dataclass(cfg) and not isinstance(cfg, cls):
        raise ConfigError(f"model {name!r} takes a {cls.__name__}, got a {type(cfg).__name__}")
    return cfg


def build(name: str, cfg: Any = None) -> Any:
    """A freshly initialised ``name`` model from ``cfg`` (see :func:`make_config` for what it accepts)."""
    return model_class(name)(make_config(name, cfg))
