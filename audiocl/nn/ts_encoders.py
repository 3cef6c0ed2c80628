"""Time-series encoders with per-timestep outputs: ``(B, T, C_in) -> (B, T, D)``.

All three encoders share one calling convention so the contrastive models can swap them by name::

    z = encoder(x, padding_mask=None, timestamp_mask=None)

- ``x`` ``(B, T, C_in)`` float; may contain NaN (missing values). A timestep where *any* channel is
  NaN is treated as missing: its input is zeroed after the input projection (TS2Vec's handling), and
  NaN never reaches a weight.
- ``padding_mask`` ``(B, T)`` bool, ``True`` = padded (variable-length batches). Padded steps are
  zeroed at the input and at the output, so pooling helpers can ignore them.
- ``timestamp_mask`` ``(B, T)`` bool, ``True`` = hide this step (TS2Vec's timestamp masking
  augmentation, applied to the projected input during training only).

Encoders:

- :class:`DilatedConvEncoder` — TS2Vec's encoder ("TS2Vec: Towards Universal Representation of
  Time Series", Yue et al., AAAI 2022): linear input projection, ``depth`` residual blocks of two
  dilated (2**i) kernel-3 convolutions with GELU, a final block to ``repr_dim``, dropout 0.1 on the
  output. Paper defaults: hidden 64, depth 10, repr 320.
- :class:`ResNet1DEncoder` — the ResNet baseline of "Time Series Classification from Scratch with
  Deep Neural Networks" (Wang et al., 2017): three residual blocks of kernels 8/5/3, here with
  'same' padding so the output keeps one vector per timestep.
- :class:`TransformerTSEncoder` — a small pre-norm transformer with sinusoidal positions and a key
  padding mask, for users who want attention over long context.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.errors import ConfigError
from audiocl.nn.same_dilated_conv import same_dilated_conv


def empty_steps(x: Tensor) -> Tensor:
    """``(B, T)`` bool, ``True`` where every channel is NaN: padding after a series' end, or a step
    with no observation at all (what the contrastive models pass as ``padding_mask``)."""
    return torch.isnan(x).all(dim=-1)


def missing_mask(x: Tensor, padding_mask: Tensor | None = None) -> Tensor:
    """``(B, T)`` bool, ``True`` where a step is missing (any NaN channel) or padded."""
    miss = torch.isnan(x).any(dim=-1)
    if padding_mask is not None:
        miss = miss | padding_mask
    return miss


class _MaskedInput(nn.Module):
    """Linear input projection that zeroes missing / padded / timestamp-masked steps."""

    def __init__(self, in_channels: int, hidden: int):
        super().__init__()
        self.in_channels = in_channels
        self.proj = nn.Linear(in_channels, hidden)

    def forward(self, x: Tensor, padding_mask: Tensor | None, timestamp_mask: Tensor | None) -> tuple[Tensor, Tensor]:
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f"expected input (B, T, {self.in_channels}), got {tuple(x.shape)}")
        miss = missing_mask(x, padding_mask)
        h = self.proj(torch.nan_to_num(x, nan=0.0))
        hide = miss if timestamp_mask is None else (miss | timestamp_mask)
        h = h.masked_fill(hide.unsqueeze(-1), 0.0)
        pad = padding_mask if padding_mask is not None else torch.zeros_like(miss)
        return h, pad


class _DilatedBlock(nn.Module):
    def __init__(self, cin: int, cout: int, dilation: int, final: bool):
        super().__init__()
        self.dilation = dilation
        self.conv1 = nn.Conv1d(cin, cout, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(cout, cout, 3, padding=dilation, dilation=dilation)
        self.skip = nn.Conv1d(cin, cout, 1) if (cin != cout or final) else None

    def forward(self, h: Tensor, keep: Tensor | None = None) -> Tensor:
        """The block on ``(B, C, 1, T)`` in channels-last memory (each step's channels adjacent, which
        oneDNN convolves without the reorders a ``(B, C, T)`` tensor costs on every call, and which the
        convolutions' backward reads as time-major matrices).

        ``keep`` ``(B, 1, 1, T)``, 0 past each row's own length: every convolution's input is then
        zero there, as the 'same' padding of that row's length would be, so each row gets what the
        block gives on the row cut to its length."""
        res = h if self.skip is None else F.conv2d(h, self.skip.weight.unsqueeze(2), self.skip.bias)
        h = same_dilated_conv(F.gelu(h), self.conv1.weight, self.conv1.bias, self.dilation)
        if keep is not None:
            h = h.mul_(keep)  # in place: a convolution's backward needs its input, not its output
        h = same_dilated_conv(F.gelu(h), self.conv2.weight, self.conv2.bias, self.dilation).add_(res)
        return h if keep is None else h.mul_(keep)

    def forward_pointwise(self, h: Tensor) -> Tensor:
        """The block on ``(..., C)`` rows when its dilation is at least the sequence length: every
        outer tap reads padding, so each convolution is a linear map with the centre tap."""
        # contiguous taps: a strided weight would be copied inside every product, forward and backward
        res = h if self.skip is None else F.linear(h, self.skip.weight[:, :, 0].contiguous(), self.skip.bias)
        h = F.linear(F.gelu(h), self.conv1.weight[:, :, 1].contiguous(), self.conv1.bias)
        return F.linear(F.gelu(h), self.conv2.weight[:, :, 1].contiguous(), self.conv2.bias) + res


class DilatedConvEncoder(nn.Module):
    """TS2Vec's dilated residual CNN (see module docstring for the source of the defaults)."""

    def __init__(self, in_channels: int, hidden: int = 64, repr_dim: int = 320, depth: int = 10, dropout: float = 0.1):
        super().__init__()
        self.input = _MaskedInput(in_channels, hidden)
        chans = [hidden] * depth + [repr_dim]
        blocks = []
        cin = hidden
        for i, cout in enumerate(chans):
            blocks.append(_DilatedBlock(cin, cout, dilation=2**i, final=(i == len(chans) - 1)))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.dropout = nn.Dropout(dropout)
        self.repr_dim = repr_dim

    def forward(self, x: Tensor, padding_mask: Tensor | None = None, timestamp_mask: Tensor | None = None) -> Tensor:
        h, pad = self.input(x, padding_mask, timestamp_mask)
        h = h.transpose(1, 2).unsqueeze(2)  # (B, C, 1, T), channels-last in memory
        for block in self.blocks:
            h = block(h)
        z = self.dropout(h.squeeze(2).transpose(1, 2))
        return z.masked_fill(pad.unsqueeze(-1), 0.0)

    def encode_crops(self, views: list[tuple[Tensor, Tensor | None, Tensor | None]], starts: list[int],
                     length: int) -> Tensor:
        """``self(x_i, pad_i, mask_i)[:, s_i : s_i + length]`` for every view, as one ``(V * B, length, D)``.

        What TS2Vec's training step needs (both crops, only their overlap), in fewer and larger calls:
        the views are stacked along the batch, the shorter ones padded and re-zeroed past their end
        after every convolution (so each row sees the zero 'same' padding of its own length), and
        once a block's dilation reaches the stacked length the rest of the network is pointwise,
        so it runs on the overlap steps only, as linear maps on ``(rows, length, C)``. Equal to the
        per-view calls up to floating-point summation order; dropout draws its mask for the overlap
        only."""
        lens = [v[0].shape[1] for v in views]
        p = max(lens)

        def padded(t: Tensor | None, fill) -> Tensor | None:
            if t is None or t.shape[1] == p:
                return t
            shape = (t.shape[0], p - t.shape[1], *t.shape[2:])
            return torch.cat([t, t.new_full(shape, fill)], 1)

        x = torch.cat([padded(v[0], float("nan")) for v in views])
        pads = [v[1] if v[1] is not None else torch.zeros(v[0].shape[:2], dtype=torch.bool, device=x.device)
                for v in views]
        pad = torch.cat([padded(t, True) for t in pads])
        masks = [v[2] for v in views]
        tmask = None if all(m is None for m in masks) else torch.cat(
            [padded(m if m is not None else torch.zeros_like(t), False) for m, t in zip(masks, pads)])
        h, _ = self.input(x, pad, tmask)
        h = h.transpose(1, 2).unsqueeze(2)  # (rows, C, 1, p), channels-last in memory
        keep = None
        if min(lens) < p:
            steps = torch.arange(p, device=x.device)
            keep = torch.cat([(steps < n).to(h.dtype).expand(v[0].shape[0], 1, 1, p) for v, n in zip(views, lens)])
        blocks = list(self.blocks)
        i = 0
        while i < len(blocks) and blocks[i].dilation < p:
            h = blocks[i](h, keep)
            i += 1
        parts = h.squeeze(2).split([v[0].shape[0] for v in views])
        h = torch.cat([part[:, :, s: s + length].transpose(1, 2) for part, s in zip(parts, starts)])
        for block in blocks[i:]:
            h = block.forward_pointwise(h)
        z = self.dropout(h)
        pad_crop = torch.cat([t[:, s: s + length] for t, s in zip(pads, starts)])
        return z.masked_fill(pad_crop.unsqueeze(-1), 0.0) if bool(pad_crop.any()) else z


class _ResBlock1D(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        layers = []
        c = cin
        for k in (8, 5, 3):
            # 'same' padding for even kernels: pad left k//2, right (k-1)//2
            layers += [nn.ConstantPad1d((k // 2, (k - 1) // 2), 0.0), nn.Conv1d(c, cout, k), nn.BatchNorm1d(cout)]
            layers.append(nn.ReLU())
            c = cout
        layers.pop()  # no ReLU before the residual sum
        self.body = nn.Sequential(*layers)
        self.skip = nn.Sequential(nn.Conv1d(cin, cout, 1), nn.BatchNorm1d(cout))

    def forward(self, h: Tensor) -> Tensor:
        return F.relu(self.body(h) + self.skip(h))


class ResNet1DEncoder(nn.Module):
    """ResNet-1D of Wang et al. (2017): blocks of 64, 128, 128 channels; per-timestep output.

    Its BatchNorm statistics include the zeroed padded steps of a variable-length batch (as in the
    original, which only saw equal lengths); use ``dilated_cnn`` or ``transformer`` for sets with very
    unequal lengths."""

    def __init__(self, in_channels: int, hidden: int = 64, repr_dim: int = 320, channels: tuple[int, ...] = (64, 128, 128)):
        super().__init__()
        self.input = _MaskedInput(in_channels, hidden)
        blocks, c = [], hidden
        for cout in channels:
            blocks.append(_ResBlock1D(c, cout))
            c = cout
        self.blocks = nn.Sequential(*blocks)
        self.out = nn.Linear(c, repr_dim)
        self.repr_dim = repr_dim

    def forward(self, x: Tensor, padding_mask: Tensor | None = None, timestamp_mask: Tensor | None = None) -> Tensor:
        h, pad = self.input(x, padding_mask, timestamp_mask)
        z = self.out(self.blocks(h.transpose(1, 2)).transpose(1, 2))
        return z.masked_fill(pad.unsqueeze(-1), 0.0)


def sinusoidal_positions(length: int, dim: int, device=None) -> Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, device=device, dtype=torch.float32)
    angle = pos / (10000 ** (i / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle[:, : dim // 2])
    return pe


class TransformerTSEncoder(nn.Module):
    """Small pre-norm transformer encoder; padded steps are excluded from attention."""

    def __init__(self, in_channels: int, hidden: int = 64, repr_dim: int = 320, depth: int = 3, heads: int = 4, dropout: float = 0.1):
        super().__init__()
        self.input = _MaskedInput(in_channels, hidden)
        layer = nn.TransformerEncoderLayer(hidden, heads, 4 * hidden, dropout, batch_first=True, norm_first=True, activation="gelu")
        self.encoder = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, repr_dim)
        self.repr_dim = repr_dim
        self.hidden = hidden

    def forward(self, x: Tensor, padding_mask: Tensor | None = None, timestamp_mask: Tensor | None = None) -> Tensor:
        h, pad = self.input(x, padding_mask, timestamp_mask)
        h = h + sinusoidal_positions(h.shape[1], self.hidden, h.device)
        # a row with every key padded would give NaN attention: let such rows attend to themselves
        key_pad = pad & ~pad.all(dim=1, keepdim=True)
        h = self.encoder(h, src_key_padding_mask=key_pad)
        z = self.out(self.norm(h))
        return z.masked_fill(pad.unsqueeze(-1), 0.0)


class ContextTransformer(nn.Module):
    """Summarise a sequence of latents ``(B, T, D)`` into one context vector ``(B, hidden)``.

    TS-TCC's autoregressive model ("Time-Series Representation Learning via Temporal and Contextual
    Contrasting", Eldele et al., IJCAI 2021, Sec. 3.2; sizes from its code: hidden 100, 4 layers,
    4 heads, feed-forward 64): a linear map of each latent to ``hidden``, a learnable context token
    prepended, pre-norm transformer layers, and the token's output is the context ``c_t``. It is fed
    only the past (steps ``<= t``), so no causal mask is needed. As in the source there is no
    positional encoding. ``padding_mask`` ``(B, T)`` (``True`` = padded / missing) keeps such steps
    out of attention; the context token is always attended, so a row with no valid step still gives
    a finite context.
    """

    def __init__(self, in_dim: int, hidden: int = 100, depth: int = 4, heads: int = 4, mlp_dim: int = 64,
                 dropout: float = 0.1):
        super().__init__()
        if hidden % heads:
            raise ConfigError(f"context transformer: hidden ({hidden}) must be divisible by heads ({heads})")
        self.proj = nn.Linear(in_dim, hidden)
        self.token = nn.Parameter(torch.randn(1, 1, hidden))
        layer = nn.TransformerEncoderLayer(hidden, heads, mlp_dim, dropout, batch_first=True, norm_first=True)
        self.layers = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.hidden = hidden

    def forward(self, z: Tensor, padding_mask: Tensor | None = None) -> Tensor:
        b = z.shape[0]
        h = torch.cat([self.token.expand(b, -1, -1), self.proj(z)], dim=1)
        key_pad = None
        if padding_mask is not None:
            key_pad = torch.cat([torch.zeros(b, 1, dtype=torch.bool, device=z.device), padding_mask], dim=1)
        return self.layers(h, src_key_padding_mask=key_pad)[:, 0]


@dataclass
class TSEncoderConfig:
    """Which encoder and its sizes. Defaults: TS2Vec's (hidden 64, depth 10, repr 320)."""

    name: str = "dilated_cnn"
    """``dilated_cnn`` (TS2Vec), ``resnet1d`` or ``transformer``."""
    hidden: int = 64
    repr_dim: int = 320
    depth: int = 10
    """Residual blocks for ``dilated_cnn``; layers for ``transformer`` (use 2-4 there)."""
    dropout: float = 0.1
    heads: int = 4


ENCODERS = {"dilated_cnn", "resnet1d", "transformer"}


def build_ts_encoder(cfg: TSEncoderConfig, in_channels: int) -> nn.Module:
    """Factory: the encoder named in ``cfg`` for ``in_channels`` input channels."""
    if cfg.name == "dilated_cnn":
        return DilatedConvEncoder(in_channels, cfg.hidden, cfg.repr_dim, cfg.depth, cfg.dropout)
    if cfg.name == "resnet1d":
        return ResNet1DEncoder(in_channels, cfg.hidden, cfg.repr_dim)
    if cfg.name == "transformer":
        return TransformerTSEncoder(in_channels, cfg.hidden, cfg.repr_dim, cfg.depth, cfg.heads, cfg.dropout)
    raise ConfigError(f"unknown time-series encoder {cfg.name!r}; available: {', '.join(sorted(ENCODERS))}")


def masked_max_pool(z: Tensor, padding_mask: Tensor | None = None) -> Tensor:
    """``(B, T, D) -> (B, D)`` max over non-padded steps (TS2Vec's full-series 'instance' pooling)."""
    if padding_mask is None:
        return z.max(dim=1).values
    out = z.masked_fill(padding_mask.unsqueeze(-1), float("-inf")).max(dim=1).values
    return torch.nan_to_num(out, neginf=0.0)


def masked_mean_pool(z: Tensor, padding_mask: Tensor | None = None) -> Tensor:
    """``(B, T, D) -> (B, D)`` mean over non-padded steps."""
    if padding_mask is None:
        return z.mean(dim=1)
    keep = (~padding_mask).unsqueeze(-1).to(z.dtype)
    return (z * keep).sum(1) / keep.sum(1).clamp(min=1)


__all__ = [
    "ContextTransformer",
    "DilatedConvEncoder",
    "ResNet1DEncoder",
    "TransformerTSEncoder",
    "TSEncoderConfig",
    "build_ts_encoder",
    "empty_steps",
    "masked_max_pool",
    "masked_mean_pool",
    "missing_mask",
]
