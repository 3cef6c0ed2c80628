"""A small log-mel CNN audio encoder: the default audio tower of CLAP.

The layout follows the PANNs CNN family ("PANNs: Large-Scale Pretrained Audio Neural Networks for
Audio Pattern Recognition", Kong et al., 2020): a batch norm over mel bins, blocks of two 3x3
convolutions with batch norm and ReLU followed by 2x2 average pooling, then the mean over frequency
and the sum of the masked mean and masked max over time. It is far smaller than CNN14 so that the
mini_clap recipe trains on two CPU cores.

Mean and max over time forget *when* something sounded, so "a piano, then a snare" and "a snare, then a
piano" get one embedding and no caption can tell them apart. With ``time_segments = S > 1`` the output
also holds the masked mean of each of S equal parts of the clip's own (unpadded) length, in order, which
lets the projection tell an event at the start from one at the end (what CompA's order pairs test).

Input is a log-mel batch ``(B, T, n_mels)`` with a padding mask ``True = padded``; output is one
vector per clip ``(B, channels[-1])``. Padded frames never enter the pooling, and every block is
per-clip in eval mode, so a clip's output does not depend on its batch as long as its input frames
are the same (CLAP pads every chunk to one fixed length for that reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.errors import ConfigError


@dataclass
class AudioCNNConfig:
    """Widths of the convolution blocks; each block halves time and frequency."""

    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    dropout: float = 0.1
    """Dropout after each block (training only)."""
    first_block_convs: int = 2
    """3x3 convolutions of the first block (1 or 2; later blocks have 2). The first block runs at the full
    frame and mel resolution with few channels, so its second convolution, batch norm and ReLU are memory-bound
    and cost about a quarter of a CPU training update; 1 drops them (a cheaper layout for CPU budgets)."""
    time_segments: int = 1
    """1: mean + max over time (PANNs); S > 1: also the mean of each of S consecutive equal parts of the
    clip, concatenated in time order (output width ``channels[-1] * (1 + S)``)."""


class ConvBlock(nn.Module):
    """``convs`` (default two) 3x3 conv + batch norm + ReLU, then 2x2 average pooling."""

    def __init__(self, cin: int, cout: int, dropout: float, convs: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(convs):
            layers += [nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers, nn.AvgPool2d(2, ceil_mode=True), nn.Dropout(dropout))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class AudioCNN(nn.Module):
    """Log-mel CNN; ``forward(feats (B, T, F), padding (B, T) bool) -> (B, out_dim)``."""

    def __init__(self, n_mels: int, cfg: AudioCNNConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AudioCNNConfig()
        if not cfg.channels:
            raise ConfigError("AudioCNNConfig.channels must list at least one block width")
        if cfg.first_block_convs not in (1, 2):
            raise ConfigError(f"AudioCNNConfig.first_block_convs must be 1 or 2, got {cfg.first_block_convs}")
        if cfg.time_segments < 1:
            raise ConfigError(f"AudioCNNConfig.time_segments must be >= 1, got {cfg.time_segments}")
        self.bn0 = nn.BatchNorm1d(n_mels)
        widths = [1, *cfg.channels]
        self.blocks = nn.ModuleList(ConvBlock(a, b, cfg.dropout, cfg.first_block_convs if i == 0 else 2)
                                    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])))
        # oneDNN's 3x3 conv, batch norm and pooling run faster on channels-last (NHWC) activations and kernels
        # on CPU (fewer layout reorders, most of all in the backward); the values are the same
        self.blocks.to(memory_format=torch.channels_last)
        self.out_dim = cfg.channels[-1] * (1 + (cfg.time_segments if cfg.time_segments > 1 else 0))

    def forward(self, feats: Tensor, padding: Tensor | None = None) -> Tensor:
        b, t, _ = feats.shape
        if padding is None:
            padding = torch.zeros(b, t, dtype=torch.bool, device=feats.device)
        keep = (~padding).to(feats.dtype)
        x = self.bn0(feats.transpose(1, 2)).transpose(1, 2) * keep[..., None]
        x = x[:, None].contiguous(memory_format=torch.channels_last)  # (B, 1, T, F)
        lengths = keep.sum(1).long()
        for block in self.blocks:
            x = block(x)
            lengths = (lengths + 1) // 2  # ceil_mode pooling keeps the partial last frame
            frame_keep = torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]
            x = x * frame_keep[:, None, :, None].to(x.dtype)
        x = x.mean(dim=3)  # (B, C, T')
        lengths = lengths.clamp(min=1)
        frame_keep = (torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None])[:, None, :]
        mean = (x * frame_keep).sum(2) / frame_keep.sum(2).clamp(min=1)
        peak = x.masked_fill(~frame_keep, torch.finfo(x.dtype).min).amax(2)
        if self.cfg.time_segments == 1:
            return mean + peak
        return torch.cat([mean + peak, segment_means(x, lengths, self.cfg.time_segments)], dim=1)


def segment_means(x: Tensor, lengths: Tensor, segments: int) -> Tensor:
    """``(B, C, T)`` frames, valid lengths ``(B,)`` -> ``(B, C * segments)``: the mean of each of
    ``segments`` consecutive parts of a clip's first ``length`` frames, in time order. Frame ``t`` belongs
    to part ``floor(t * segments / length)``; a part with no frame (a clip shorter than ``segments``
    frames) takes the frame it would cover, so every part is defined."""
    b, c, t = x.shape
    pos = torch.arange(t, device=x.device)[None, :]
    part = torch.div(pos * segments, lengths[:, None], rounding_mode="floor")  # (B, T)
    valid = pos < lengths[:, None]
    onehot = F.one_hot(part.clamp(max=segments - 1), segments).to(x.dtype) * valid[..., None].to(x.dtype)
    count = onehot.sum(1)  # (B, S)
    sums = torch.bmm(x, onehot)  # (B, C, S)
    # an empty part (length < segments) takes its nearest frame: index floor(s * length / segments)
    nearest = torch.div(torch.arange(segments, device=x.device)[None, :] * lengths[:, None], segments,
                        rounding_mode="floor").clamp(max=t - 1)
    fallback = torch.gather(x, 2, nearest[:, None, :].expand(b, c, segments))
    means = torch.where(count[:, None, :] > 0, sums / count.clamp(min=1)[:, None, :], fallback)
    return means.transpose(1, 2).reshape(b, segments * c)
