"""Time-series augmentations on batches ``(B, T, C)`` (torch), NaN-aware.

Sources of the defaults:
- jitter (sigma 0.8 is TS-TCC's strong-augmentation setting; we default to a milder 0.1 on
  z-normalised data), scaling (sigma 1.1 in TS-TCC's weak augmentation, drawn per channel),
  permutation (up to 8 segments, TS-TCC's ``max_seg``): "Time-Series Representation Learning via
  Temporal and Contextual Contrasting" (Eldele et al., IJCAI 2021);
- random cropping with overlap and timestamp masking (p = 0.5): TS2Vec (Yue et al., AAAI 2022).

Every function takes a ``torch.Generator`` so runs are reproducible. NaN (missing / padding) stays
NaN: jitter and scaling of NaN is NaN, permutation only moves observed steps of each series.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor


def jitter(x: Tensor, sigma: float = 0.1, gen: torch.Generator | None = None) -> Tensor:
    return x + sigma * torch.randn(x.shape, generator=gen, device=x.device)


def scaling(x: Tensor, sigma: float = 1.1, gen: torch.Generator | None = None) -> Tensor:
    """Multiply each (series, channel) by a random factor ``1 + (sigma / 2) * N(0, 1)``.

    TS-TCC's weak augmentation draws the factor from N(2, 1.1); we centre it at 1 (and halve the
    spread) so z-normalised data keeps its scale on average."""
    f = 1.0 + sigma * 0.5 * torch.randn(x.shape[0], 1, x.shape[2], generator=gen, device=x.device)
    return x * f


def permutation(x: Tensor, lengths: Tensor, max_segments: int = 8, gen: torch.Generator | None = None) -> Tensor:
    """Split each series' observed part into 1..max_segments pieces and shuffle them."""
    out = x.clone()
    for i in range(x.shape[0]):
        n = int(lengths[i])
        k = int(torch.randint(1, max_segments + 1, (1,), generator=gen))
        k = min(k, n)
        if k <= 1:
            continue
        cuts = torch.sort(torch.randperm(n - 1, generator=gen)[: k - 1] + 1).values.tolist()
        bounds = [0, *cuts, n]
        pieces = [x[i, bounds[j]: bounds[j + 1]] for j in range(k)]
        order = torch.randperm(k, generator=gen).tolist()
        out[i, :n] = torch.cat([pieces[j] for j in order], 0)
    return out


def timestamp_mask(shape: tuple[int, int], p: float = 0.5, gen: torch.Generator | None = None, device=None) -> Tensor:
    """``(B, T)`` bool, ``True`` = hide the step (Bernoulli p; TS2Vec's 'binomial' mask)."""
    return torch.rand(shape, generator=gen, device=device) < p


def take_windows(x: Tensor, starts: Tensor, length: int) -> Tensor:
    """Per-row windows ``x[i, starts[i] : starts[i] + length]``; out-of-range steps become NaN."""
    b, t, c = x.shape
    idx = starts[:, None] + torch.arange(length, device=x.device)[None, :]
    inside = (idx >= 0) & (idx < t)
    g = x.gather(1, idx.clamp(0, t - 1)[:, :, None].expand(b, length, c))
    return g.masked_fill(~inside[:, :, None], float("nan"))


@dataclass
class OverlapCrop:
    """TS2Vec's random overlapping crops: two windows whose overlap (length ``crop_len``) is contrasted.

    Returns ``(view1, view2, crop_len)``; the overlap is ``view1[:, -crop_len:]`` and
    ``view2[:, :crop_len]``. A per-series random offset shifts both windows (out-of-range = NaN).
    """

    temporal_unit: int = 0

    def __call__(self, x: Tensor, rng: np.random.Generator, x_other: Tensor | None = None) -> tuple[Tensor, Tensor, int]:
        """``x_other`` (same shape as ``x``): take view 2 from it at the same window positions
        (used to corrupt known pairs in the DBPM experiment); default ``x``."""
        b, t, _ = x.shape
        lo = 2 ** (self.temporal_unit + 1)
        if t < lo:
            raise ValueError(f"series of length {t} are too short for crops of at least {lo} steps")
        crop_l = int(rng.integers(lo, t + 1))
        left = int(rng.integers(0, t - crop_l + 1))
        right = left + crop_l
        eleft = int(rng.integers(0, left + 1))
        eright = int(rng.integers(right, t + 1))
        offset = torch.as_tensor(rng.integers(-eleft, t - eright + 1, size=b), device=x.device)
        v1 = take_windows(x, offset + eleft, right - eleft)
        v2 = take_windows(x if x_other is None else x_other, offset + left, eright - left)
        return v1, v2, crop_l


@dataclass
class SimCLRAugment:
    """Two random views for SimCLR / NT-Xent: jitter + scaling + permutation (+ timestamp masking in the model)."""

    jitter_sigma: float = 0.1
    scale_sigma: float = 1.1
    max_segments: int = 8
    p_jitter: float = 1.0
    p_scale: float = 0.8
    p_permute: float = 0.5

    def __call__(self, x: Tensor, lengths: Tensor, gen: torch.Generator) -> Tensor:
        def coin(p: float) -> bool:
            return bool(torch.rand((), generator=gen) < p)

        if coin(self.p_permute):
            x = permutation(x, lengths, self.max_segments, gen)
        if coin(self.p_scale):
            x = scaling(x, self.scale_sigma, gen)
        if coin(self.p_jitter):
            x = jitter(x, self.jitter_sigma, gen)
        return x


__all__ = ["jitter", "scaling", "permutation", "timestamp_mask", "take_windows", "OverlapCrop", "SimCLRAugment"]
