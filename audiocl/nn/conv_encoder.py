"""Strided 1-D convolution stack that turns raw audio into frames (wav2vec 2.0 / CPC encoders).

Layout default is fairseq wav2vec 2.0 BASE (Baevski et al., 2020; fairseq
``conv_feature_layers = [(512,10,5)] + [(512,3,2)]*4 + [(512,2,2)]*2``): 320x down-sampling,
25 ms receptive field (400 samples at 16 kHz), 20 ms hop.

Two normalisation modes, as in fairseq/HF:

- ``"group"`` ("default" in fairseq): a GroupNorm with one group per channel on the *first* layer
  only (it normalises each channel over time, including padded samples, exactly as the peers do);
- ``"layer"``: a LayerNorm over channels after every convolution (used by the LARGE "stable layer
  norm" models).
- ``"none"``: no normalisation.

The stack runs time-major: each layer is :func:`~audiocl.nn.strided_conv.strided_conv1d_tm` (GEMMs on
views of a ``(B, T, C)`` tensor, no im2col copy), so the per-channel GroupNorm, the LayerNorm and the
activation work on contiguous ``(T, C)`` rows and the output needs no transpose for the frame-wise
layers that follow. Parameters stay ``nn.Conv1d`` / ``nn.GroupNorm`` / ``nn.LayerNorm`` modules, so
state dicts match the peers' layout.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.nn.strided_conv import strided_conv1d_tm

ConvLayerSpec = Sequence[int]  # (channels, kernel, stride) or (channels, kernel, stride, padding)

WAV2VEC2_CONV_LAYERS: list[tuple[int, int, int]] = [(512, 10, 5)] + [(512, 3, 2)] * 4 + [(512, 2, 2)] * 2


def _spec(layer: ConvLayerSpec) -> tuple[int, int, int, int]:
    if len(layer) == 3:
        return int(layer[0]), int(layer[1]), int(layer[2]), 0
    if len(layer) == 4:
        return int(layer[0]), int(layer[1]), int(layer[2]), int(layer[3])
    raise ValueError(f"conv layer spec must be (dim, kernel, stride[, padding]), got {layer!r}")


def conv_output_lengths(lengths: Tensor, layers: Sequence[ConvLayerSpec]) -> Tensor:
    """Number of output frames for each input length (``floor((L + 2p - k) / s) + 1``, clamped at 0)."""
    out = lengths.long()
    for layer in layers:
        _, k, s, p = _spec(layer)
        out = torch.div(out + 2 * p - k, s, rounding_mode="floor") + 1
        out = out.clamp(min=0)
    return out


def receptive_field(layers: Sequence[ConvLayerSpec]) -> int:
    """Samples seen by one output frame (padding ignored): the shortest input worth encoding."""
    rf, jump = 1, 1
    for layer in layers:
        _, k, s, _ = _spec(layer)
        rf += (k - 1) * jump
        jump *= s
    return rf


def total_stride(layers: Sequence[ConvLayerSpec]) -> int:
    stride = 1
    for layer in layers:
        stride *= _spec(layer)[2]
    return stride


def _channel_norm_tm(norm: nn.GroupNorm, x: Tensor) -> Tensor:
    """GroupNorm with one group per channel on a time-major ``(B, T, C)`` tensor: each channel of each
    utterance normalised over time, which is batch norm (training statistics) over the ``(T, C)`` rows
    of one utterance. Statistics in fp32 (fairseq's Fp32GroupNorm): long bf16 utterances lose precision."""
    xf = x.float()
    out = [F.batch_norm(xf[i], None, None, norm.weight, norm.bias, True, 0.0, norm.eps) for i in range(x.shape[0])]
    return torch.stack(out).to(x.dtype)


class ConvFeatureEncoder(nn.Module):
    """``(B, T) -> (B, C, T')``: conv -> [norm] -> activation, per layer.

    The result is the transpose of a contiguous time-major ``(B, T', C)`` tensor, so
    ``out.transpose(1, 2)`` (what frame-wise callers want) is free.
    """

    def __init__(
        self,
        layers: Sequence[ConvLayerSpec] = WAV2VEC2_CONV_LAYERS,
        mode: str = "group",
        conv_bias: bool = False,
        activation: str = "gelu",
        dropout: float = 0.0,
    ):
        super().__init__()
        if mode not in ("group", "layer", "none"):
            raise ValueError(f"conv encoder mode must be 'group', 'layer' or 'none', got {mode!r}")
        self.layers_spec = [tuple(_spec(layer)) for layer in layers]
        self.mode = mode
        self.act = {"gelu": nn.GELU(), "relu": nn.ReLU()}[activation]
        self.dropout = dropout
        convs, norms = [], []
        in_dim = 1
        for i, (dim, k, s, p) in enumerate(self.layers_spec):
            conv = nn.Conv1d(in_dim, dim, k, stride=s, padding=p, bias=conv_bias)
            nn.init.kaiming_normal_(conv.weight)
            convs.append(conv)
            if mode == "layer":
                norms.append(nn.LayerNorm(dim))
            elif mode == "group" and i == 0:
                norms.append(nn.GroupNorm(dim, dim, affine=True))
            else:
                norms.append(nn.Identity())
            in_dim = dim
        self.convs = nn.ModuleList(convs)
        self.norms = nn.ModuleList(norms)
        self.output_dim = in_dim

    def output_lengths(self, lengths: Tensor) -> Tensor:
        return conv_output_lengths(lengths, self.layers_spec)

    @property
    def receptive_field(self) -> int:
        return receptive_field(self.layers_spec)

    def forward(self, wav: Tensor, lengths: Tensor | None = None) -> Tensor:
        """With ``lengths`` only the valid frames (``output_lengths``) are computed once no GroupNorm is
        left (its statistics span the padded length, as the peers'): the other output frames are then
        not the padded-batch values and must not be read (wav2vec 2.0 pretraining reads valid frames only)."""
        x = wav.unsqueeze(-1)
        group_norms = [i for i, norm in enumerate(self.norms) if norm.__class__ is nn.GroupNorm]
        trim_from = group_norms[-1] + 1 if group_norms else 0
        frames = None if lengths is None else lengths.long()
        for i, (conv, norm, layer) in enumerate(zip(self.convs, self.norms, self.layers_spec)):
            keep = None
            if frames is not None:
                frames = conv_output_lengths(frames, [layer])
                keep = frames.tolist() if i >= trim_from else None
            x = strided_conv1d_tm(x, conv.weight, conv.bias, layer[2], layer[3], keep)
            if self.dropout > 0:
                x = F.dropout(x, self.dropout, self.training)
            if norm.__class__ is nn.GroupNorm:
                x = _channel_norm_tm(norm, x)
            else:
                x = norm(x)
            x = self.act(x)
        return x.transpose(1, 2)
