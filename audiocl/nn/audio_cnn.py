"""A small log-mel CNN audio encoder: the default audio tower of CLAP.

The layout follows the PANNs CNN family ("PANNs: Large-Scale Pretrained Audio Neural Networks for
Audio Pattern Recognition", Kong et al., 2020): a batch norm over mel bins, blocks of two 3x3
convolutions with batch norm and ReLU followed by 2x2 average pooling, then the mean over frequency
and the sum of the masked mean and masked max over time. It is far smaller than CNN14 so that the
mini_clap recipe trains on two CPU cores.

Input is a log-mel batch ``(B, T, n_mels)`` with a padding mask ``True = padded``; output is one
vector per clip ``(B, channels[-1])``. Padded frames never enter the pooling, and every block is
per-clip in eval mode, so a clip's output does not depend on its batch as long as its input frames
are the same (CLAP pads every chunk to one fixed length for that reason).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn


@dataclass
class AudioCNNConfig:
    """Widths of the convolution blocks; each block halves time and frequency."""

    channels: list[int] = field(default_factory=lambda: [32, 64, 128, 256])
    dropout: float = 0.1
    """Dropout after each block (training only)."""


class ConvBlock(nn.Module):
    """Two 3x3 conv + batch norm + ReLU, then 2x2 average pooling."""

    def __init__(self, cin: int, cout: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
            nn.AvgPool2d(2, ceil_mode=True),
            nn.Dropout(dropout),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class AudioCNN(nn.Module):
    """Log-mel CNN; ``forward(feats (B, T, F), padding (B, T) bool) -> (B, out_dim)``."""

    def __init__(self, n_mels: int, cfg: AudioCNNConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or AudioCNNConfig()
        if not cfg.channels:
            from audiocl.errors import ConfigError

            raise ConfigError("AudioCNNConfig.channels must list at least one block width")
        self.bn0 = nn.BatchNorm1d(n_mels)
        widths = [1, *cfg.channels]
        self.blocks = nn.ModuleList(ConvBlock(a, b, cfg.dropout) for a, b in zip(widths[:-1], widths[1:]))
        self.out_dim = cfg.channels[-1]

    def forward(self, feats: Tensor, padding: Tensor | None = None) -> Tensor:
        b, t, _ = feats.shape
        if padding is None:
            padding = torch.zeros(b, t, dtype=torch.bool, device=feats.device)
        keep = (~padding).to(feats.dtype)
        x = self.bn0(feats.transpose(1, 2)).transpose(1, 2) * keep[..., None]
        x = x[:, None]  # (B, 1, T, F)
        lengths = keep.sum(1).long()
        for block in self.blocks:
            x = block(x)
            lengths = (lengths + 1) // 2  # ceil_mode pooling keeps the partial last frame
            frame_keep = torch.arange(x.shape[2], device=x.device)[None, :] < lengths[:, None]
            x = x * frame_keep[:, None, :, None].to(x.dtype)
        x = x.mean(dim=3)  # (B, C, T')
        frame_keep = (torch.arange(x.shape[2], device=x.device)[None, :] < lengths.clamp(min=1)[:, None])[:, None, :]
        mean = (x * frame_keep).sum(2) / frame_keep.sum(2).clamp(min=1)
        peak = x.masked_fill(~frame_keep, torch.finfo(x.dtype).min).amax(2)
        return mean + peak
