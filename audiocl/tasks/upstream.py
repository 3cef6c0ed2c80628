"""The one way every downstream task gets its upstream: pretrained, random, or fbank.

CTC fine-tuning, the CTC probe, utterance classification and ``audiocl extract --model`` all describe
their upstream with one :class:`UpstreamConfig` and build it with :func:`load_upstream`. Whatever the
kind, the result has ``extract_layers(wav, lengths) -> ([layer (B, T, C), ...], frame_lengths)``, so
the layer-taking code (:mod:`audiocl.tasks.upstream_layers`) does not care where the layers come from.

- ``kind=pretrained``: the model behind ``path`` (a release dir, ``model.safetensors``, a training
  checkpoint or an experiment dir, turned into a local path by :func:`audiocl.hub.resolver.resolve`,
  so registry names and URLs work once the resolver knows them), loaded without pickle.
- ``kind=random``: the same architecture with random weights; from ``path``'s config when given (so the
  baseline cannot drift from the pretrained model), else from ``model`` + ``preset``.
- ``kind=fbank``: Kaldi fbank normalised per utterance as a one-layer "upstream"
  (:class:`FbankUpstream`); the stage-2 ``feats.scp`` is used when it holds the same fbank.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from audiocl import models
from audiocl.errors import ConfigError
from audiocl.features.config import FbankConfig
from audiocl.features.normalized_fbank import min_samples, normalize_utterances, normalized_fbank, stored_fbank
from audiocl.hub.release import load_release
from audiocl.hub.resolver import resolve
from audiocl.tasks.pretrain_config import resolve_pretrain_config

log = logging.getLogger(__name__)

KINDS = ("pretrained", "random", "fbank")


@dataclass
class UpstreamConfig:
    """Where the upstream comes from and how the downstream treats it (see the module docstring)."""

    kind: str = "pretrained"
    """``pretrained`` | ``random`` | ``fbank``."""
    path: str = ""
    """Model reference for ``pretrained`` (and the architecture for ``random``); ignored by ``fbank``."""
    model: str = "wav2vec2"
    """Registry name (:func:`audiocl.models.names`) when there is no ``path``; a release knows its own."""
    preset: str = "tiny"
    """Model preset (``tiny``, ``base``, or a pretraining YAML file) for ``random`` without ``path``."""
    finetune: bool = False
    """Classification: train the upstream with the head instead of freezing it (no layer cache).
    CTC fine-tuning always trains the upstream, on the schedule of its ``model.freeze_*`` options."""
    reinit_top_layers: int = 0
    """Re-initialise the last k transformer blocks of a pretrained wav2vec 2.0 upstream. The top blocks of
    a contrastively pretrained model specialise in predicting its quantized targets and carry less of the
    spoken content than the middle ones (Pasad, Chou & Livescu, "Layer-wise analysis of a self-supervised
    speech representation model", ASRU 2021, who also re-initialise them for low-resource fine-tuning);
    the architecture stays the same, so the scratch baseline is unchanged."""
    fbank: FbankConfig = field(default_factory=FbankConfig)
    """Fbank options of ``kind=fbank`` (Kaldi option names, as ``conf/fbank.conf``)."""
    use_stored_features: bool = True
    """``kind=fbank``: read a data dir's ``feats.scp`` (recipe stage 2) when it holds exactly this fbank."""
    init: str = ""
    """Deprecated spelling of ``kind`` (``pretrained`` / ``random``) from CTC fine-tuning configs."""
    fbank_num_mel_bins: int = 0
    """Deprecated spelling of ``fbank.num_mel_bins``."""


def normalize_upstream_config(cfg: UpstreamConfig) -> UpstreamConfig:
    """Fold the deprecated keys into the current ones (with a warning) and check ``kind``; in place."""
    if cfg.init:
        if cfg.kind not in ("pretrained", cfg.init):
            raise ConfigError(f"upstream.init={cfg.init} contradicts upstream.kind={cfg.kind}; "
                              "upstream.init is deprecated: set only upstream.kind")
        log.warning("upstream.init is deprecated; use upstream.kind=%s", cfg.init)
        cfg.kind, cfg.init = cfg.init, ""
    if cfg.fbank_num_mel_bins:
        log.warning("upstream.fbank_num_mel_bins is deprecated; use upstream.fbank.num_mel_bins=%d",
                    cfg.fbank_num_mel_bins)
        cfg.fbank.num_mel_bins, cfg.fbank_num_mel_bins = cfg.fbank_num_mel_bins, 0
    if cfg.kind not in KINDS:
        raise ConfigError(f"upstream.kind must be one of {', '.join(KINDS)}, got {cfg.kind!r}")
    return cfg


class FbankUpstream(nn.Module):
    """Fbank as a one-layer upstream: ``extract_layers(wav, lengths) -> ([(B, T, D)], frames)``.

    Normalised per utterance by :func:`audiocl.features.normalized_fbank.normalized_fbank`, the same
    features the CTC model's fbank front-end sees.
    """

    def __init__(self, cfg: FbankConfig | None = None, use_stored_features: bool = True):
        super().__init__()
        self.cfg = cfg or FbankConfig()
        self.cfg.check()
        self.use_stored_features = use_stored_features
        self.min_samples = min_samples(self.cfg)
        self.output_dim = self.cfg.dim

    def extract_layers(self, wav: Tensor, lengths: Tensor) -> tuple[list[Tensor], Tensor]:
        feats, counts = normalized_fbank(wav, lengths, self.cfg)
        return [feats], counts

    def stored_features(self, data_dir: str | Path):
        """The stage-2 features of ``data_dir`` when they are this fbank (else ``None``)."""
        if not self.use_stored_features:
            return None
        return stored_fbank(data_dir, self.cfg)

    @staticmethod
    def normalize_stored(feats) -> Tensor:
        """One utterance's stored ``(frames, dim)`` fbank, normalised as :meth:`extract_layers` does."""
        return normalize_utterances(torch.from_numpy(np.array(feats, dtype=np.float32)))


def load_upstream(cfg: UpstreamConfig) -> tuple[nn.Module, Any, str]:
    """``(upstream with extract_layers, its config, its name)`` per ``cfg`` (see :class:`UpstreamConfig`).

    The name is the registry name of a neural upstream (a release knows its own; it wins over
    ``cfg.model``) or ``fbank``; the config is the typed model config or the :class:`FbankConfig`.
    """
    normalize_upstream_config(cfg)
    if cfg.kind == "fbank":
        if cfg.reinit_top_layers:
            raise ConfigError("upstream.reinit_top_layers needs a pretrained upstream, not fbank")
        return FbankUpstream(cfg.fbank, cfg.use_stored_features), cfg.fbank, "fbank"
    if cfg.path:
        model, info = load_release(resolve(cfg.path))
        name, mcfg = info.ssl_type, info.model
        if name != cfg.model:
            log.info("upstream %s is a %s model (upstream.model=%s ignored)", cfg.path, name, cfg.model)
        if cfg.kind == "random":
            model = models.build(name, mcfg)
        elif cfg.reinit_top_layers:
            reinit_top_layers(model, models.build(name, mcfg), cfg.reinit_top_layers)
        return model, mcfg, name
    if cfg.reinit_top_layers:
        raise ConfigError("upstream.reinit_top_layers needs a pretrained upstream (upstream.path)")
    if cfg.kind == "pretrained":
        raise ConfigError("upstream.path is empty: give a pretrained model, or set upstream.kind=random "
                          "(the from-scratch baseline)")
    mcfg = _preset_config(cfg.model, cfg.preset)
    return models.build(cfg.model, mcfg), mcfg, cfg.model


def _preset_config(name: str, preset: str) -> Any:
    """The model config of ``preset``: a pretraining YAML file, a named preset, or the defaults."""
    if preset and Path(preset).is_file():  # a pretraining YAML preset (configs/pretrain/tiny.yaml)
        return resolve_pretrain_config([preset], ssl_type=name).model
    if preset and getattr(models.config_class(name), "preset", None) is not None:
        return models.make_config(name, preset)
    return models.make_config(name, None)


def transformer_blocks(model: nn.Module) -> nn.ModuleList:
    """The transformer blocks of a wav2vec 2.0 pretraining model (or of its encoder)."""
    w2v = getattr(model, "wav2vec2", model)
    layers = getattr(getattr(w2v, "encoder", None), "layers", None)
    if not isinstance(layers, nn.ModuleList):
        raise ConfigError(f"upstream.reinit_top_layers supports wav2vec 2.0 upstreams; "
                          f"{type(model).__name__} has no transformer blocks")
    return layers


def reinit_top_layers(model: nn.Module, fresh: nn.Module, k: int) -> None:
    """Copy the last ``k`` blocks of ``fresh`` (a randomly initialised model of the same config) into
    ``model``, so the re-initialised blocks get exactly the constructor's initialisation."""
    blocks, new_blocks = transformer_blocks(model), transformer_blocks(fresh)
    if not 0 < k <= len(blocks):
        raise ConfigError(f"upstream.reinit_top_layers must be in 1..{len(blocks)}, got {k}")
    for i in range(len(blocks) - k, len(blocks)):
        blocks[i].load_state_dict(new_blocks[i].state_dict())
    log.info("re-initialised the top %d of %d transformer blocks of the upstream", k, len(blocks))
