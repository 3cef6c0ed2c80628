"""SpecAugment-style masks for the cached log-mel of CLAP training (:mod:`audiocl.tasks.clap_audio_cache`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import Tensor


@dataclass
class LogMelMaskConfig:
    """SpecAugment-style masking of the cached training log-mel ("SpecAugment", Park et al., 2019; PANNs mask
    their log-mel the same way): a few bands of frames and of mel bins are set to the clip's mean log-mel, so
    the audio tower cannot lean on one moment or one band of a clip. Training only; 0 masks = off."""

    time_masks: int = 0
    time_width: int = 10
    """Longest time mask in frames (each mask's width is uniform in 0..time_width)."""
    freq_masks: int = 0
    freq_width: int = 4
    """Widest frequency mask in mel bins."""


def mask_logmel(feats: Tensor, valid: int, cfg: LogMelMaskConfig, rng: np.random.Generator) -> Tensor:
    """``feats (frames, n_mels)`` with ``cfg``'s masks drawn from ``rng`` inside the first ``valid`` frames
    (a copy; the cache is never written)."""
    if cfg.time_masks <= 0 and cfg.freq_masks <= 0:
        return feats
    out = feats.clone()
    fill = feats[:valid].mean()
    for count, width, size, dim in ((cfg.time_masks, cfg.time_width, valid, 0),
                                    (cfg.freq_masks, cfg.freq_width, feats.shape[1], 1)):
        for _ in range(count):
            w = int(rng.integers(0, min(width, size) + 1))
            start = int(rng.integers(0, size - w + 1))
            out.narrow(dim, start, w).fill_(fill)
    return out
