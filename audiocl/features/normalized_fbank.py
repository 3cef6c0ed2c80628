"""Fbank with per-utterance mean and variance normalisation: the input of every fbank baseline.

The fbank baselines (the classification head and the CTC probe on ``upstream.kind=fbank``, and the CTC
model's fbank front-end) all see the same thing: Kaldi fbank (:func:`audiocl.features.kaldi.fbank_batch`)
normalised by the statistics of its own utterance over the valid frames only
(:func:`audiocl.features.cmvn.utterance_cmvn`, variance offset :data:`VARIANCE_OFFSET`), so padding
never leaks into the statistics. This module is the one place that combines the two.

Recipe stage 2 (``audiocl extract``) already writes fbank to ``feats.scp``. :func:`stored_fbank` finds
those features for a data dir and accepts them only when ``feature_info.yaml`` beside them records
``type: fbank`` with exactly the requested :class:`~audiocl.features.config.FbankConfig`; otherwise it
returns ``None`` (with an info log saying why) and the caller computes fbank from the audio, so
mismatched features are never used silently. Whether stage 2 normalised each utterance itself
(``--utt-cmvn``) does not matter: per-utterance normalisation is invariant to a per-dimension shift and
scale, so applying it again gives the same features.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import Tensor

from audiocl.config import config_to_dict
from audiocl.features.cmvn import utterance_cmvn
from audiocl.features.config import FbankConfig
from audiocl.features.kaldi import fbank_batch
from audiocl.features.writers import FeatureReader

log = logging.getLogger(__name__)

VARIANCE_OFFSET = 1e-5
"""Added to each dimension's variance before the square root (damps near-constant mel bins)."""

FEATURE_INFO = "feature_info.yaml"


def normalize_utterances(feats: Tensor, lengths: Tensor | None = None) -> Tensor:
    """Per-utterance CMVN of fbank frames ``(T, D)`` or a padded batch ``(B, T, D)`` with ``lengths``."""
    return utterance_cmvn(feats, lengths, norm_means=True, norm_vars=True, eps=0.0, variance_offset=VARIANCE_OFFSET)


def min_samples(cfg: FbankConfig, stack: int = 1) -> int:
    """Samples needed for ``stack`` fbank frames (shorter input is zero-padded to this)."""
    return cfg.window_size + (stack - 1) * cfg.window_shift


def normalized_fbank(wav: Tensor, lengths: Tensor, cfg: FbankConfig, stack: int = 1) -> tuple[Tensor, Tensor]:
    """``(feats (B, T, D), frames (B,))``: fbank of a padded batch, normalised per utterance.

    Input shorter than ``stack`` frames is zero-padded so every utterance yields at least that many.
    Computed without gradient: nothing before the normalisation is trained.
    """
    need = min_samples(cfg, stack)
    if wav.shape[1] < need:
        wav = F.pad(wav, (0, need - wav.shape[1]))
    with torch.no_grad():
        feats, counts = fbank_batch(wav.float(), lengths, cfg)
        counts = counts.to(feats.device)
        return normalize_utterances(feats, counts), counts


# --------------------------------------------------------------------------- stage-2 features
def _feature_info_candidates(data_dir: Path, first_location: str) -> list[Path]:
    """Where ``feature_info.yaml`` may be: the data dir, then the folders of the feature files."""
    target = Path(first_location.rsplit(":", 1)[0] if not first_location.endswith(".npy") else first_location)
    return [data_dir / FEATURE_INFO, target.parent / FEATURE_INFO, target.parent.parent / FEATURE_INFO]


def stored_fbank(data_dir: str | Path, cfg: FbankConfig):
    """A mapping ``utt -> (frames, dim)`` over ``data_dir/feats.scp`` when those are fbank computed with
    ``cfg``; ``None`` (logged at info level) when there are none, or they cannot be shown to match."""
    data_dir = Path(data_dir)
    scp = data_dir / "feats.scp"
    if not scp.is_file():
        return None
    first_line = next((line for line in scp.read_text(encoding="utf-8").splitlines() if line.strip()), "")
    if len(first_line.split(maxsplit=1)) != 2:
        return None
    first = first_line.split(maxsplit=1)[1]
    info_path = next((p for p in _feature_info_candidates(data_dir, first) if p.is_file()), None)
    if info_path is None:
        log.info("%s: no %s records how these features were computed; computing fbank from the audio",
                 scp, FEATURE_INFO)
        return None
    info = OmegaConf.to_container(OmegaConf.load(info_path), resolve=True) or {}
    wanted = config_to_dict(cfg)
    if info.get("type") != "fbank" or info.get("config") != wanted:
        differ = sorted(k for k in wanted if (info.get("config") or {}).get(k) != wanted[k])
        log.info("%s: features are %s with other options (%s) than the requested fbank; computing fbank from "
                 "the audio", scp, info.get("type", "?"), ", ".join(differ) or "type")
        return None
    log.info("%s: using the stage-2 fbank features (%s)", scp, info_path)
    return FeatureReader(scp)
