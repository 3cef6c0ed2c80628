"""One entry point for every feature type: a single waveform or a batch of unequal-length ones.

``compute_features(wav, cfg)`` is the library call (numpy in -> numpy out, tensor in -> tensor out);
``compute_features_batch(wavs, cfg, device=...)`` pads a list of waveforms, computes all of them in
one pass on ``device`` (CPU or CUDA) and returns padded ``(B, F, D)`` features with ``lengths`` and a
``True = padded`` mask, the layout every audiocl model consumes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from audiocl.errors import FeatureError
from audiocl.features.config import FbankConfig, FeatureConfig, LogMelConfig, MfccConfig
from audiocl.features.kaldi import fbank_batch, mfcc_batch
from audiocl.features.logmel import logmel_batch


@dataclass
class FeatureBatch:
    """Padded features ``(B, F, D)``, frame counts ``lengths (B,)`` and ``mask (B, F)`` (True = padded)."""

    feats: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor

    def unpad(self) -> list[np.ndarray]:
        """Per-utterance float32 numpy arrays ``(frames, dim)``."""
        feats = self.feats.detach().cpu().numpy()
        return [feats[i, : int(n)].copy() for i, n in enumerate(self.lengths.tolist())]


def _as_tensor(wav) -> torch.Tensor:
    if isinstance(wav, torch.Tensor):
        return wav
    return torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32))


def pad_waveforms(wavs: Sequence, device: torch.device | str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D waveforms (numpy or torch) into a zero-padded ``(B, T)`` float32 tensor + ``lengths``."""
    tensors = [_as_tensor(w).to(torch.float32).reshape(-1) for w in wavs]
    lengths = torch.tensor([t.numel() for t in tensors], dtype=torch.long)
    longest = int(lengths.max()) if tensors else 0
    batch = torch.zeros(len(tensors), longest, dtype=torch.float32)
    for i, t in enumerate(tensors):
        batch[i, : t.numel()] = t.cpu()
    if device is not None:
        batch, lengths = batch.to(device), lengths.to(device)
    return batch, lengths


def compute_padded(
    wavs: torch.Tensor, lengths: torch.Tensor, cfg: FeatureConfig, generator: torch.Generator | None = None
) -> FeatureBatch:
    """Features of an already padded batch ``(B, T)`` on whatever device it lives on."""
    cfg.check()
    if wavs.dim() != 2:
        raise FeatureError(f"expected a (batch, time) waveform tensor, got shape {tuple(wavs.shape)}")
    lengths = lengths.to(wavs.device)
    with torch.no_grad():
        if isinstance(cfg, FbankConfig):
            feats, counts = fbank_batch(wavs, lengths, cfg, generator)
        elif isinstance(cfg, MfccConfig):
            feats, counts = mfcc_batch(wavs, lengths, cfg, generator)
        elif isinstance(cfg, LogMelConfig):
            feats, counts = logmel_batch(wavs, lengths, cfg)
        else:
            raise TypeError(f"unsupported feature config {type(cfg).__name__}")
    mask = torch.arange(feats.shape[1], device=feats.device).unsqueeze(0) >= counts.unsqueeze(1)
    return FeatureBatch(feats, counts, mask)


def compute_features_batch(
    wavs: Sequence, cfg: FeatureConfig, device: torch.device | str | None = None,
    generator: torch.Generator | None = None,
) -> FeatureBatch:
    """Features of a list of 1-D waveforms (float in [-1, 1]) computed together on ``device``."""
    batch, lengths = pad_waveforms(wavs, device)
    return compute_padded(batch, lengths, cfg, generator)


def min_samples(cfg: FeatureConfig) -> int:
    """Shortest input that yields at least one frame."""
    if isinstance(cfg, LogMelConfig):
        return 0 if cfg.center else cfg.n_fft
    return cfg.window_size if cfg.snip_edges else (cfg.window_shift + 1) // 2


def compute_features(wav, cfg: FeatureConfig, device: torch.device | str | None = None):
    """Features ``(frames, dim)`` of one waveform; numpy in gives numpy out, a tensor gives a tensor.

    Raises :class:`FeatureError` when the waveform is too short for a single frame.
    """
    is_tensor = isinstance(wav, torch.Tensor)
    tensor = _as_tensor(wav)
    if tensor.dim() != 1:
        raise FeatureError(f"expected a 1-D waveform, got shape {tuple(tensor.shape)}")
    if device is not None:
        tensor = tensor.to(device)
    out = compute_padded(tensor.to(torch.float32).unsqueeze(0), torch.tensor([tensor.numel()]), cfg)
    if int(out.lengths[0]) == 0:
        raise FeatureError(
            f"audio of {tensor.numel()} samples is shorter than one frame ({min_samples(cfg)} samples needed)"
        )
    feats = out.feats[0]
    return feats if is_tensor else feats.cpu().numpy()
