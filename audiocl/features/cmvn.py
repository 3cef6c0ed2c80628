"""Cepstral mean and variance normalisation: Kaldi-layout global statistics and per-utterance CMVN.

Global statistics use the matrix layout of Kaldi's ``compute-cmvn-stats`` so they can be exchanged with
Kaldi/ESPnet tools (``apply-cmvn``, ``copy-matrix``): a ``2 x (D+1)`` float64 matrix whose first row
holds the per-dimension sums and, in its last column, the frame count; the second row holds the sums
of squares (last column 0). Stored as a Kaldi binary matrix with kaldiio, atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from audiocl.errors import FeatureError
from audiocl.utils.io import atomic_path

# Kaldi's apply-cmvn floors the variance at this value (and warns) before taking 1/sqrt.
VARIANCE_FLOOR = 1.0e-20


class CmvnStats:
    """Accumulator of Kaldi CMVN statistics for features of one dimension."""

    def __init__(self, dim: int | None = None):
        self.stats: np.ndarray | None = None if dim is None else np.zeros((2, dim + 1), dtype=np.float64)

    @property
    def dim(self) -> int | None:
        return None if self.stats is None else self.stats.shape[1] - 1

    @property
    def count(self) -> float:
        return 0.0 if self.stats is None else float(self.stats[0, -1])

    def accumulate(self, feats, utt_id: str | None = None) -> None:
        """Add the frames ``(T, D)`` of one utterance."""
        x = np.asarray(feats.detach().cpu().numpy() if isinstance(feats, torch.Tensor) else feats, dtype=np.float64)
        if x.ndim != 2:
            raise FeatureError(f"{_who(utt_id)}CMVN needs (frames, dim) features, got shape {x.shape}")
        if self.stats is None:
            self.stats = np.zeros((2, x.shape[1] + 1), dtype=np.float64)
        if x.shape[1] != self.dim:
            raise FeatureError(f"{_who(utt_id)}feature dim {x.shape[1]} differs from the CMVN stats dim {self.dim}")
        self.stats[0, :-1] += x.sum(0)
        self.stats[1, :-1] += np.square(x).sum(0)
        self.stats[0, -1] += x.shape[0]

    def merge(self, other: "CmvnStats") -> None:
        """Add another accumulator (parallel jobs sum their statistics)."""
        if other.stats is None:
            return
        if self.stats is None:
            self.stats = other.stats.copy()
            return
        if other.dim != self.dim:
            raise FeatureError(f"cannot merge CMVN stats of dim {other.dim} into dim {self.dim}")
        self.stats += other.stats

    def mean_std(self, norm_vars: bool = True) -> tuple[np.ndarray, np.ndarray]:
        return stats_to_mean_std(self._require(), norm_vars)

    def write(self, path: str | Path) -> Path:
        return write_cmvn_stats(path, self._require())

    def _require(self) -> np.ndarray:
        if self.stats is None or self.count <= 0:
            raise FeatureError("no frames were accumulated: cannot compute CMVN statistics")
        return self.stats


def compute_cmvn_stats(feats: Iterable) -> np.ndarray:
    """Kaldi ``compute-cmvn-stats`` over an iterable of ``(T, D)`` feature matrices: a ``2 x (D+1)`` matrix."""
    acc = CmvnStats()
    for x in feats:
        acc.accumulate(x)
    return acc._require().copy()


def stats_to_mean_std(stats: np.ndarray, norm_vars: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (ones if not ``norm_vars``) from Kaldi-layout stats."""
    stats = np.asarray(stats, dtype=np.float64)
    if stats.ndim != 2 or stats.shape[0] != 2 or stats.shape[1] < 2:
        raise FeatureError(f"CMVN stats must be a 2 x (dim+1) matrix, got shape {stats.shape}")
    count = stats[0, -1]
    if count < 1:
        raise FeatureError(f"CMVN stats hold a frame count of {count}; need at least 1")
    mean = stats[0, :-1] / count
    if not norm_vars:
        return mean, np.ones_like(mean)
    var = np.maximum(stats[1, :-1] / count - mean**2, VARIANCE_FLOOR)
    return mean, np.sqrt(var)


def apply_cmvn(feats, stats: np.ndarray, norm_vars: bool = False):
    """Kaldi ``apply-cmvn``: subtract the mean (and divide by the std if ``norm_vars``).

    ``feats`` is ``(T, D)`` or ``(B, T, D)``, numpy or torch (returned in the same kind and dtype).
    """
    mean, std = stats_to_mean_std(stats, norm_vars)
    if isinstance(feats, torch.Tensor):
        if feats.shape[-1] != mean.shape[0]:
            raise FeatureError(f"features of dim {feats.shape[-1]} but CMVN stats of dim {mean.shape[0]}")
        m = torch.as_tensor(mean, dtype=feats.dtype, device=feats.device)
        s = torch.as_tensor(std, dtype=feats.dtype, device=feats.device)
        return (feats - m) / s if norm_vars else feats - m
    x = np.asarray(feats)
    if x.shape[-1] != mean.shape[0]:
        raise FeatureError(f"features of dim {x.shape[-1]} but CMVN stats of dim {mean.shape[0]}")
    out = (x - mean) / std if norm_vars else x - mean
    return out.astype(x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32)


def utterance_cmvn(feats, lengths=None, norm_means: bool = True, norm_vars: bool = False, eps: float = 1e-10,
                   variance_offset: float = 0.0):
    """Per-utterance CMVN (statistics of each utterance applied to itself).

    ``feats``: ``(T, D)`` numpy/torch, or a padded batch ``(B, T, D)`` tensor with ``lengths (B,)``;
    padded frames are left out of the statistics and stay zero. With ``norm_vars`` each dimension is
    divided by ``sqrt(max(var, eps) + variance_offset)``: ``eps`` only guards against a zero variance,
    while a ``variance_offset`` (the fbank baselines use 1e-5) also damps near-constant dimensions.
    """
    if not isinstance(feats, torch.Tensor):
        x = torch.from_numpy(np.asarray(feats, dtype=np.float32))
        return utterance_cmvn(x, None, norm_means, norm_vars, eps, variance_offset).numpy()
    squeeze = feats.dim() == 2
    x = feats.unsqueeze(0) if squeeze else feats
    if lengths is None:
        lengths = torch.full((x.shape[0],), x.shape[1], dtype=torch.long, device=x.device)
    valid = (torch.arange(x.shape[1], device=x.device).unsqueeze(0) < lengths.to(x.device).unsqueeze(1)).unsqueeze(-1)
    count = lengths.to(x.device).clamp(min=1).to(x.dtype).view(-1, 1, 1)
    xv = x.masked_fill(~valid, 0.0)
    mean = xv.sum(1, keepdim=True) / count
    out = xv - mean if norm_means else xv
    if norm_vars:
        var = ((xv - mean).masked_fill(~valid, 0.0) ** 2).sum(1, keepdim=True) / count
        out = out / torch.sqrt(var.clamp(min=eps) + variance_offset)
    out = out.masked_fill(~valid, 0.0)
    return out.squeeze(0) if squeeze else out


def write_cmvn_stats(path: str | Path, stats: np.ndarray) -> Path:
    """Write Kaldi-layout stats as a Kaldi binary matrix (``copy-matrix`` readable), atomically."""
    import kaldiio

    path = Path(path)
    with atomic_path(path) as tmp:
        kaldiio.save_mat(str(tmp), np.asarray(stats, dtype=np.float64))
    return path


def read_cmvn_stats(path: str | Path) -> np.ndarray:
    """Read stats written by :func:`write_cmvn_stats` or Kaldi's ``compute-cmvn-stats`` (global)."""
    import kaldiio

    path = Path(path)
    if not path.is_file():
        raise FeatureError(f"CMVN stats file not found: {path}")
    try:
        stats = np.asarray(kaldiio.load_mat(str(path)), dtype=np.float64)
    except Exception as exc:  # kaldiio raises plain ValueError/struct errors on bad input
        raise FeatureError(f"{path}: not a Kaldi matrix file ({exc})") from None
    stats_to_mean_std(stats, norm_vars=False)  # shape/count check with a clear message
    return stats


def _who(utt_id: str | None) -> str:
    return f"utterance {utt_id}: " if utt_id else ""
