"""Typed configuration: dataclass defaults, YAML presets on top, ``key=value`` overrides last.

Every default lives in a dataclass so that it is documented and type-checked in one place; YAML
presets only override. The fully resolved config is saved next to the experiment so a run can be
reproduced from ``exp/<tag>/config.yaml`` alone.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Sequence, TypeVar

from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from audiocl.errors import ConfigError

T = TypeVar("T")


def resolve_config(
    cls: type[T],
    presets: Sequence[str | Path] = (),
    overrides: Sequence[str] = (),
    base: T | None = None,
) -> T:
    """Build a ``cls`` instance from its defaults, YAML ``presets`` (in order) and dotted ``overrides``.

    ``overrides`` are ``key=value`` strings (``model.encoder_layers=4``). Unknown keys and values of
    the wrong type raise :class:`ConfigError` naming the offending file or override.
    """
    cfg = OmegaConf.structured(base if base is not None else cls)
    for preset in presets:
        path = Path(preset)
        if not path.is_file():
            raise ConfigError(f"config preset not found: {path}")
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.load(path))
        except OmegaConfBaseException as exc:
            raise ConfigError(f"{path}: {exc}") from None
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        try:
            cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist([item]))
        except OmegaConfBaseException as exc:
            raise ConfigError(f"override {item!r}: {exc}") from None
    try:
        return OmegaConf.to_object(cfg)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(str(exc)) from None


def config_to_dict(cfg: Any) -> dict:
    """Plain nested dict of a dataclass config (for logging, checkpoints and YAML)."""
    if dataclasses.is_dataclass(cfg):
        return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]
    return dict(cfg)


def save_config(cfg: Any, path: str | Path) -> None:
    """Write the resolved config as YAML (atomically: a crash never leaves half a file)."""
    from audiocl.utils.io import atomic_write_text

    atomic_write_text(Path(path), OmegaConf.to_yaml(OmegaConf.create(config_to_dict(cfg))))


def load_config(cls: type[T], path: str | Path) -> T:
    """Read a config saved by :func:`save_config` back into its dataclass."""
    return resolve_config(cls, presets=[path])
