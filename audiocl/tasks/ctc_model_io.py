"""Saving and loading a fine-tuned CTC model: ``model.safetensors`` + ``config.yaml`` + ``upstream.yaml`` + tokenizer.

No pickle is involved: the model is rebuilt from its configs through the model registry
(:func:`audiocl.models.build` for the upstream architecture, :func:`~audiocl.models.ctc_asr.build_ctc_model`
around it) and the weights are read from safetensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from audiocl import models
from audiocl.config import config_to_dict, load_config, save_config
from audiocl.data.tokenizer import Tokenizer, load_tokenizer
from audiocl.errors import ConfigError
from audiocl.models.ctc_asr import CtcAsrModel, build_ctc_model
from audiocl.tasks.ctc_config import FinetuneCtcConfig
from audiocl.utils.io import atomic_path, atomic_write_text

MODEL_DIR = "model"
UPSTREAM_FILE = "upstream.yaml"


def save_ctc_model(model: CtcAsrModel, tokenizer: Tokenizer, cfg: FinetuneCtcConfig, upstream_cfg: Any,
                   directory: str | Path) -> Path:
    """``model.safetensors`` + ``config.yaml`` + ``upstream.yaml`` + tokenizer, each written atomically."""
    from omegaconf import OmegaConf
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer.save(directory)
    save_config(cfg, directory / "config.yaml")
    atomic_write_text(directory / UPSTREAM_FILE, OmegaConf.to_yaml(OmegaConf.create(
        {"model": cfg.upstream.model, "config": config_to_dict(upstream_cfg)})))
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(directory / "model.safetensors") as tmp:
        save_file(state, str(tmp))
    return directory


def load_ctc_model(directory: str | Path) -> tuple[CtcAsrModel, Tokenizer, FinetuneCtcConfig]:
    """Rebuild a fine-tuned model saved by :func:`save_ctc_model` (an exp dir or its ``model/``)."""
    from omegaconf import OmegaConf
    from safetensors.torch import load_file

    directory = Path(directory)
    if (directory / MODEL_DIR / "model.safetensors").is_file():
        directory = directory / MODEL_DIR
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise ConfigError(f"no fine-tuned CTC model in {directory} (model.safetensors missing)")
    cfg = load_config(FinetuneCtcConfig, directory / "config.yaml")
    up = OmegaConf.to_container(OmegaConf.load(directory / UPSTREAM_FILE), resolve=True)
    tokenizer = load_tokenizer(directory)
    upstream = models.build(up["model"], models.config_from_dict(up["model"], up["config"]))
    model = build_ctc_model(up["model"], upstream, len(tokenizer), cfg.model)
    missing, unexpected = model.load_state_dict(load_file(str(weights)), strict=False)
    if missing or unexpected:
        raise ConfigError(f"{weights}: weights do not match the model (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.eval()
    return model, tokenizer, cfg
