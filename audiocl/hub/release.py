"""Released pretrained models: ``model.safetensors`` + ``config.yaml``, and loading them back.

A release is what users share and what fine-tuning loads: weights in safetensors (no pickle, so a
downloaded model cannot run code) and the fully resolved pretraining config as YAML. A Lightning
training checkpoint (``last.ckpt``) can be loaded directly too; it is read with
``torch.load(weights_only=True)``, which also refuses arbitrary pickled objects.

Loading needs only two keys of the saved config: ``ssl_type`` (a name in the model registry,
:mod:`audiocl.models.registry`) and ``model`` (that model's config). The rest (optimiser, data,
trainer) is training history: it is handed back untouched in :attr:`ReleaseInfo.raw`, so the hub
never depends on the training tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from audiocl.config import config_to_dict
from audiocl.errors import AudioclError, ConfigError
from audiocl.utils.io import atomic_path, atomic_write_text

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"


@dataclass
class ReleaseInfo:
    """What a release says about its model: registry name, typed model config, the whole saved config."""

    ssl_type: str
    model: Any
    """The model's config dataclass (:func:`audiocl.models.config_from_dict`)."""
    raw: dict = field(default_factory=dict)
    """The saved config as a plain dict, with ``model`` normalised to the typed config's values."""


def release_info_from_dict(raw: dict, source: str | Path = "") -> ReleaseInfo:
    """Parse ``ssl_type`` + ``model`` of a saved config through the model registry."""
    from audiocl import models

    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a mapping")
    name = str(raw.get("ssl_type") or "wav2vec2")
    try:
        model_cfg = models.config_from_dict(name, raw.get("model") or {})
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return ReleaseInfo(name, model_cfg, {**raw, "ssl_type": name, "model": config_to_dict(model_cfg)})


def save_release(model: torch.nn.Module, cfg: Any, out_dir: str | Path) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/config.yaml`` (atomically); returns ``out_dir``.

    ``cfg``: the pretraining config (a dataclass or plain dict with ``ssl_type`` and ``model``) or the
    :class:`ReleaseInfo` of a loaded release.
    """
    from safetensors.torch import save_file

    import audiocl

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cfg_dict = dict(cfg.raw) if isinstance(cfg, ReleaseInfo) else config_to_dict(cfg)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "audiocl_version": audiocl.__version__, "ssl_type": str(cfg_dict.get("ssl_type", ""))}
    with atomic_path(out_dir / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    atomic_write_text(out_dir / CONFIG, OmegaConf.to_yaml(OmegaConf.create(cfg_dict)))
    return out_dir


def _checkpoint_state(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, foreign pickle, not a checkpoint
        raise AudioclError(f"{path}: cannot read checkpoint with weights_only=True ({exc})") from None
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "audiocl_config" not in ckpt:
        raise AudioclError(f"{path}: not an audiocl pretraining checkpoint (no state_dict/audiocl_config)")
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return state, ckpt["audiocl_config"]


def resolve_checkpoint(path: str | Path) -> Path:
    """An experiment dir means its ``checkpoints/last.ckpt``."""
    path = Path(path)
    if path.is_dir() and (path / "checkpoints" / "last.ckpt").is_file():
        return path / "checkpoints" / "last.ckpt"
    return path


def load_release(path: str | Path, *, map_location: str | torch.device = "cpu") -> tuple[torch.nn.Module, ReleaseInfo]:
    """``(model, ReleaseInfo)`` from a release dir, its ``model.safetensors``, a ``.ckpt`` or an exp dir.

    The model is built through the model registry and returned in eval mode.
    """
    from audiocl import models

    path = resolve_checkpoint(path)
    if path.is_dir() or path.suffix == ".safetensors":
        from safetensors.torch import load_file

        root = path if path.is_dir() else path.parent
        weights, cfg_path = root / WEIGHTS, root / CONFIG
        for f in (weights, cfg_path):
            if not f.is_file():
                raise AudioclError(f"{root}: not a model release ({f.name} missing); export one with "
                                   f"`audiocl export --ckpt EXP/checkpoints/last.ckpt --out DIR`")
        info = release_info_from_dict(OmegaConf.to_container(OmegaConf.load(cfg_path), resolve=True), cfg_path)
        try:
            state = load_file(str(weights), device=str(map_location))
        except Exception as exc:
            raise AudioclError(f"{weights}: cannot read safetensors file ({exc})") from None
    elif path.is_file():
        state, raw = _checkpoint_state(path)
        info = release_info_from_dict(raw, path)
    else:
        raise AudioclError(f"{path}: no such model release or checkpoint")
    model = models.build(info.ssl_type, info.model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise AudioclError(f"{path}: weights do not match the {info.ssl_type} config "
                           f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})")
    model.to(map_location)
    model.eval()
    return model, info


def export_checkpoint(ckpt: str | Path, out_dir: str | Path) -> Path:
    """Turn a training checkpoint (or exp dir) into a release dir."""
    model, cfg = load_release(ckpt)
    out = save_release(model, cfg, out_dir)
    atomic_write_text(Path(out_dir) / "source.json", json.dumps({"checkpoint": str(resolve_checkpoint(ckpt))}) + "\n")
    return out
