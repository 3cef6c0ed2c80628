"""CLAP releases: ``model.safetensors`` + ``config.yaml`` (``model_type: clap``), and loading them back.

The same two-file layout as the speech releases (:mod:`audiocl.hub.release`), so the hub resolves and
caches both alike. A frozen text tower is not in the weights: it is the bundled all-MiniLM-L6-v2 named
by the config. A training checkpoint (``last.ckpt`` or its experiment dir) loads too, read with
``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf
from omegaconf.errors import OmegaConfBaseException

from audiocl.config import config_to_dict
from audiocl.errors import AudioclError, ConfigError
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.utils.io import atomic_path, atomic_write_text

WEIGHTS = "model.safetensors"
CONFIG = "config.yaml"
MODEL_TYPE = "clap"
CKPT_CONFIG_KEY = "audiocl_clap_config"


def clap_config_from_dict(values: dict[str, Any]) -> CLAPConfig:
    try:
        merged = OmegaConf.merge(OmegaConf.structured(CLAPConfig), OmegaConf.create(dict(values)))
        return OmegaConf.to_object(merged)  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid clap model config: {exc}") from None


def save_clap_release(model: CLAPModel, out_dir: str | Path) -> Path:
    """Write ``out_dir/model.safetensors`` and ``out_dir/config.yaml`` atomically."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    with atomic_path(out_dir / WEIGHTS) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "pt", "model_type": MODEL_TYPE})
    doc = {"model_type": MODEL_TYPE, "model": config_to_dict(model.cfg)}
    atomic_write_text(out_dir / CONFIG, OmegaConf.to_yaml(OmegaConf.create(doc)))
    return out_dir


def _from_checkpoint(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, foreign pickle
        raise AudioclError(f"{path}: cannot read checkpoint with weights_only=True ({exc})") from None
    if not isinstance(ckpt, dict) or CKPT_CONFIG_KEY not in ckpt:
        raise AudioclError(f"{path}: not a CLAP training checkpoint (no {CKPT_CONFIG_KEY})")
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    return state, ckpt[CKPT_CONFIG_KEY]


def load_clap(path: str | Path, map_location: str | torch.device = "cpu") -> CLAPModel:
    """A CLAP model in eval mode from a release dir, its ``model.safetensors``, a ``.ckpt`` or an exp dir."""
    path = Path(path)
    if path.is_dir() and (path / "checkpoints" / "last.ckpt").is_file() and not (path / WEIGHTS).is_file():
        path = path / "checkpoints" / "last.ckpt"
    if path.is_dir() or path.suffix == ".safetensors":
        from safetensors.torch import load_file

        root = path if path.is_dir() else path.parent
        for f in (root / WEIGHTS, root / CONFIG):
            if not f.is_file():
                raise AudioclError(f"{root}: not a CLAP release ({f.name} missing); export one with "
                                   f"`audiocl clap export --exp EXP --out DIR`")
        doc = OmegaConf.to_container(OmegaConf.load(root / CONFIG), resolve=True)
        if not isinstance(doc, dict) or doc.get("model_type") != MODEL_TYPE:
            raise AudioclError(f"{root / CONFIG}: not a CLAP release (model_type is not '{MODEL_TYPE}')")
        raw = doc.get("model") or {}
        try:
            state = load_file(str(root / WEIGHTS))
        except Exception as exc:
            raise AudioclError(f"{root / WEIGHTS}: cannot read safetensors file ({exc})") from None
    elif path.is_file():
        state, raw = _from_checkpoint(path)
    else:
        raise AudioclError(f"{path}: no such CLAP release or checkpoint")
    model = CLAPModel(clap_config_from_dict(raw))
    missing, unexpected = model.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise AudioclError(f"{path}: weights do not match the CLAP config "
                           f"(missing: {missing[:5]}, unexpected: {unexpected[:5]})")
    return model.to(map_location).eval()
