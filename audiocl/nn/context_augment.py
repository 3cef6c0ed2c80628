"""Perturb what the context network sees, never what it has to predict.

Why: on a small corpus of few voices, wav2vec 2.0's context network can solve its task with
voice-specific cues, and a CTC model fine-tuned on it then fails on unseen voices. Kharitonov et
al., "Data Augmenting Contrastive Learning of Speech Representations in the Time Domain" (SLT
2021, WavAugment) found for CPC that augmenting only the segments the prediction is made *from*
(the past), not the targets, works better than augmenting both, with pitch modification the most
useful single augmentation, and that it lowers phone error in the 10 min / 1 h / 10 h Libri-light
fine-tuning settings by about 15 % relative. In wav2vec 2.0 terms: the masked context network gets
a perturbed copy of the utterance, the quantized targets (and negatives) come from the clean one.
Both copies share frames one to one, because neither perturbation changes the duration.
Both perturbations are off by default: on ``egs/mini_tts`` neither setting tried lowered the ``tiny``
model's CTC error (``docs/experiments/mini-tts-context-augmentation.md``).

Two perturbations, each drawn per utterance:

* **frequency warp** of the log-mel filterbank (fbank front-end only): the utterance is read as if
  every frequency were scaled by ``alpha`` in ``[1 - w, 1 + w]``, which moves formants and
  harmonics together, as a different vocal tract and pitch would (vocal tract length perturbation,
  Jaitly & Hinton 2013, use ``w = 0.1`` on the linear axis; here the warp is exact on the mel axis:
  bin ``k`` takes the value at mel(f_k / alpha), linearly interpolated).
* **additive white noise** at an SNR drawn uniformly in ``[lo, hi]`` dB over the valid samples.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from audiocl.errors import ConfigError
from audiocl.features.kaldi import mel_scale


def mel_bin_centres(num_bins: int, low_freq: float, high_freq: float) -> Tensor:
    """Centre frequencies (Hz) of Kaldi's triangular mel bins: equally spaced in mel, edges excluded."""
    lo, hi = (mel_scale(torch.tensor(f, dtype=torch.float64)) for f in (low_freq, high_freq))
    mel = lo + (hi - lo) * torch.arange(1, num_bins + 1, dtype=torch.float64) / (num_bins + 1)
    return 700.0 * torch.expm1(mel / 1127.0)


def mel_warp(feats: Tensor, alpha: Tensor, low_freq: float, high_freq: float) -> Tensor:
    """``feats (B, T, M)`` log-mel -> the same utterances with every frequency scaled by ``alpha (B,)``.

    Bin ``k`` of the output reads the input at frequency ``f_k / alpha`` (linear interpolation
    between neighbouring bins; beyond the first or last bin the edge value is repeated).
    """
    b, t, m = feats.shape
    if m < 2:
        return feats
    lo, hi = (mel_scale(torch.tensor(f, dtype=torch.float64)) for f in (low_freq, high_freq))
    centres = mel_bin_centres(m, low_freq, high_freq).to(feats.device)
    src = centres[None, :] / alpha.to(centres)[:, None]  # (B, M) Hz read by each output bin
    pos = ((mel_scale(src) - lo) / (hi - lo) * (m + 1) - 1).clamp(0, m - 1)  # fractional input bin
    left = pos.floor().long().clamp(max=m - 2)
    frac = (pos - left).to(feats.dtype)[:, None, :]
    below = feats.gather(2, left[:, None, :].expand(b, t, m))
    above = feats.gather(2, (left + 1)[:, None, :].expand(b, t, m))
    return below * (1 - frac) + above * frac


def add_white_noise(wav: Tensor, lengths: Tensor, snr_db: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """``wav (B, N)`` + Gaussian noise at ``snr_db (B,)`` relative to each utterance's valid-sample power."""
    valid = (torch.arange(wav.shape[1], device=wav.device)[None, :] < lengths[:, None]).to(wav.dtype)
    power = (wav.pow(2) * valid).sum(1) / valid.sum(1).clamp(min=1)
    scale = torch.sqrt(power.clamp(min=1e-10) / torch.pow(10.0, snr_db.to(wav.dtype) / 10.0))
    noise = torch.randn(wav.shape, generator=generator, device=wav.device, dtype=wav.dtype)
    return wav + noise * scale[:, None] * valid


def uniform(n: int, lo: float, hi: float, device: torch.device | str = "cpu") -> Tensor:
    return lo + (hi - lo) * torch.rand(n, device=device)


def check_context_augment(warp: float, noise_snr: list[float]) -> None:
    """Raise :class:`~audiocl.errors.ConfigError` for a warp outside ``[0, 0.5)`` or an SNR range that is not ``[]`` or ``[lo, hi]``."""
    if not 0.0 <= warp < 0.5:
        raise ConfigError(f"context_warp must be in [0, 0.5), got {warp}")
    bad_range = bool(noise_snr) and (noise_snr[0] > noise_snr[1] or not all(map(math.isfinite, noise_snr)))
    if len(noise_snr) not in (0, 2) or bad_range:
        raise ConfigError(f"context_noise_snr must be [] or [lo_db, hi_db] with lo <= hi, got {list(noise_snr)}")
