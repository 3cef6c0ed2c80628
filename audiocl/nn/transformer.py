"""Transformer context network of wav2vec 2.0: conv positional embedding + pre/post-LN blocks.

Follows fairseq's ``TransformerEncoder`` (Baevski et al., 2020): padded frames are zeroed, a
grouped convolution (kernel 128, 16 groups, weight norm over the kernel axis) adds relative
position information, then ``post-LN`` (BASE: LayerNorm after the positional add and after each
residual) or ``pre-LN`` (LARGE-LV60 "stable layer norm": LayerNorm before each sub-block and once
at the end). Attention runs through :func:`torch.nn.functional.scaled_dot_product_attention`
(fused kernels on CPU and GPU) with one fused q/k/v projection. LayerDrop (Fan et al., 2019)
skips whole blocks at training time.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.nn.grouped_conv import grouped_conv1d


class SelfAttention(nn.Module):
    """Multi-head self-attention through SDPA; ``key_padding_mask`` is ``(B, T)`` bool, True = padded."""

    def __init__(self, dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"attention dim {dim} is not divisible by num_heads {num_heads}")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.dropout = dropout
        self.qkv = nn.Linear(dim, 3 * dim, bias=bias)
        self.out_proj = nn.Linear(dim, dim, bias=bias)

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, dropout_p=self.dropout if self.training else 0.0, is_causal=is_causal
        )
        return self.out_proj(y.transpose(1, 2).reshape(b, t, c))

    def forward_rows(self, x: Tensor, attn_mask: Tensor | None, rows: "RowIndex") -> Tensor:
        """Attention output ``(N, C)`` for the query frames in ``rows`` against all frames of their utterance."""
        b, t, c = x.shape
        w, bias = self.qkv.weight, self.qkv.bias
        kv = F.linear(x, w[c:], None if bias is None else bias[c:])
        k, v = kv.view(b, t, 2, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
        q_rows = F.linear(x[rows.b, rows.t], w[:c], None if bias is None else bias[:c])
        q = q_rows.new_zeros(b, rows.max_per_row, c).index_put((rows.b, rows.pos), q_rows)
        q = q.view(b, rows.max_per_row, self.num_heads, self.head_dim).transpose(1, 2)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        y = y.transpose(1, 2).reshape(b, rows.max_per_row, c)[rows.b, rows.pos]
        return self.out_proj(y)


class RowIndex:
    """Selected frames of a ``(B, T)`` batch, grouped by utterance: ``b``/``t`` (N,) as from
    ``mask.nonzero()``, ``pos`` = rank of each frame among its utterance's selected frames."""

    def __init__(self, mask: Tensor):
        self.b, self.t = mask.nonzero(as_tuple=True)
        counts = mask.sum(1)
        start = torch.cumsum(counts, 0) - counts
        self.pos = torch.arange(self.b.numel(), device=mask.device) - start[self.b]
        self.max_per_row = int(counts.max()) if counts.numel() else 0


class FeedForward(nn.Module):
    def __init__(self, dim: int, ffn_dim: int, activation_dropout: float = 0.0, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, ffn_dim)
        self.fc2 = nn.Linear(ffn_dim, dim)
        self.activation_dropout = activation_dropout
        self.dropout = dropout

    def forward(self, x: Tensor) -> Tensor:
        x = F.gelu(self.fc1(x))
        if self.activation_dropout > 0:
            x = F.dropout(x, self.activation_dropout, self.training)
        x = self.fc2(x)
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        return x


class TransformerLayer(nn.Module):
    """One block; ``layer_norm_first`` picks pre-LN, otherwise post-LN (BERT/fairseq BASE order)."""

    def __init__(
        self,
        dim: int,
        ffn_dim: int,
        num_heads: int,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        activation_dropout: float = 0.0,
        layer_norm_first: bool = False,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.attention = SelfAttention(dim, num_heads, attention_dropout)
        self.attn_layer_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.feed_forward = FeedForward(dim, ffn_dim, activation_dropout, dropout)
        self.final_layer_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.dropout = dropout
        self.layer_norm_first = layer_norm_first

    def _drop(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.dropout, self.training) if self.dropout > 0 else x

    def forward(self, x: Tensor, attn_mask: Tensor | None = None, is_causal: bool = False) -> Tensor:
        if self.layer_norm_first:
            x = x + self._drop(self.attention(self.attn_layer_norm(x), attn_mask, is_causal))
            return x + self.feed_forward(self.final_layer_norm(x))
        x = self.attn_layer_norm(x + self._drop(self.attention(x, attn_mask, is_causal)))
        return self.final_layer_norm(x + self.feed_forward(x))

    def forward_rows(self, x: Tensor, attn_mask: Tensor | None, rows: "RowIndex") -> Tensor:
        """The block's output at the selected frames only, ``(N, C)``: keys and values come from every
        frame, but queries, the output projection and the feed-forward run on the selected rows."""
        h = self.attn_layer_norm(x) if self.layer_norm_first else x
        residual = x[rows.b, rows.t]
        attn = self.attention.forward_rows(h, attn_mask, rows)
        if self.layer_norm_first:
            y = residual + self._drop(attn)
            return y + self.feed_forward(self.final_layer_norm(y))
        y = self.attn_layer_norm(residual + self._drop(attn))
        return self.final_layer_norm(y + self.feed_forward(y))


class ConvPositionalEmbedding(nn.Module):
    """Grouped conv over time with weight normalisation (Salimans & Kingma, 2016) along the kernel axis.

    Weight norm is written out (``weight = g * v / ||v||`` with the norm over all axes but the kernel
    axis, torch's ``dim=2``) rather than through ``torch.nn.utils`` parametrisations, so the state dict
    holds two plain tensors ``weight_g (1, 1, K)`` and ``weight_v (C, C/groups, K)``.
    Init as fairseq: ``v ~ N(0, sqrt(4 / (K * C)))`` (dropout 0 in the formula), ``g = ||v||``.
    An even kernel gives one frame too many, which is removed ("same" padding).
    """

    def __init__(self, dim: int, kernel_size: int = 128, groups: int = 16):
        super().__init__()
        if dim % groups:
            raise ValueError(f"positional conv: dim {dim} not divisible by groups {groups}")
        self.kernel_size = kernel_size
        self.groups = groups
        std = math.sqrt(4.0 / (kernel_size * dim))
        v = torch.randn(dim, dim // groups, kernel_size) * std
        self.weight_v = nn.Parameter(v)
        self.weight_g = nn.Parameter(v.norm(dim=(0, 1), keepdim=True).clone())
        self.bias = nn.Parameter(torch.zeros(dim))

    def weight(self) -> Tensor:
        # torch's fused kernel for g * v / ||v|| (norm over every axis but 2), as nn.utils.weight_norm uses
        return torch._weight_norm(self.weight_v, self.weight_g, 2)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, T, C) -> (B, T, C)`` positional term (to be added to ``x``)."""
        y = grouped_conv1d(x.transpose(1, 2), self.weight().to(x.dtype), self.bias.to(x.dtype),
                           self.kernel_size // 2, self.groups)
        if self.kernel_size % 2 == 0:
            y = y[:, :, :-1]
        return F.gelu(y).transpose(1, 2)


def key_padding_to_attn_mask(padding_mask: Tensor | None) -> Tensor | None:
    """``(B, T)`` True=padded -> SDPA boolean mask ``(B, 1, 1, T)`` True=attend (None if nothing padded).

    The first frame always stays attendable so an empty (length-0) row yields finite values instead of
    NaN (a NaN there would poison gradients even though the row never reaches the loss).
    """
    if padding_mask is None or not bool(padding_mask.any()):
        return None
    keep = ~padding_mask
    keep[:, 0] = True
    return keep[:, None, None, :]


class TransformerEncoder(nn.Module):
    """``(B, T, C)`` frames + padding mask -> contextual frames (and optionally every layer's output)."""

    def __init__(
        self,
        dim: int = 768,
        ffn_dim: int = 3072,
        num_layers: int = 12,
        num_heads: int = 12,
        dropout: float = 0.1,
        attention_dropout: float = 0.1,
        activation_dropout: float = 0.0,
        layer_norm_first: bool = False,
        layerdrop: float = 0.05,
        conv_pos: int = 128,
        conv_pos_groups: int = 16,
        layer_norm_eps: float = 1e-5,
    ):
        super().__init__()
        self.pos_conv = ConvPositionalEmbedding(dim, conv_pos, conv_pos_groups)
        self.layer_norm = nn.LayerNorm(dim, eps=layer_norm_eps)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, ffn_dim, num_heads, dropout, attention_dropout, activation_dropout,
                             layer_norm_first, layer_norm_eps)
            for _ in range(num_layers)
        )
        self.dropout = dropout
        self.layer_norm_first = layer_norm_first
        self.layerdrop = layerdrop
        self.apply(_init_bert_params)

    def _prepare(self, x: Tensor, padding_mask: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """Zero the padding, add the positional convolution, (post-LN) normalise, dropout; the attention mask."""
        if padding_mask is not None:
            x = x.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        x = x + self.pos_conv(x)
        if not self.layer_norm_first:
            x = self.layer_norm(x)
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        return x, key_padding_to_attn_mask(padding_mask)

    def _active_layers(self, layerdrop: bool = True) -> list[nn.Module]:
        """The blocks this step runs: LayerDrop skips each with probability ``layerdrop`` in training."""
        layers = list(self.layers)
        if layerdrop and self.training and self.layerdrop > 0:
            keep = (torch.rand(len(layers)) >= self.layerdrop).tolist()
            layers = [layer for layer, k in zip(layers, keep) if k]
        return layers

    def forward_rows(self, x: Tensor, padding_mask: Tensor | None, rows: RowIndex) -> Tensor:
        """Same as ``forward(x, padding_mask)[rows.b, rows.t]`` (``(N, C)``) but the last executed block
        computes only the selected frames: wav2vec 2.0 scores only masked frames, so the rest of the
        last block's work is skipped (exact: keys/values still come from every frame)."""
        x, attn_mask = self._prepare(x, padding_mask)
        layers = self._active_layers()
        if rows.max_per_row == 0:
            out = x[rows.b, rows.t]
        else:
            for layer in layers[:-1]:
                x = layer(x, attn_mask)
            out = layers[-1].forward_rows(x, attn_mask, rows) if layers else x[rows.b, rows.t]
        return self.layer_norm(out) if self.layer_norm_first else out

    def forward(self, x: Tensor, padding_mask: Tensor | None = None, return_all: bool = False):
        """Returns the last output, or with ``return_all`` the list ``[input of layer 1, out 1, ..., out L]``.

        With ``return_all`` LayerDrop is not applied (every layer must produce an output). For pre-LN
        the final LayerNorm is applied to the last entry (so it equals the normal output; HF transformers
        5.x keeps the un-normalised block output in its ``hidden_states`` instead).
        """
        x, attn_mask = self._prepare(x, padding_mask)
        hidden = [x]
        for layer in self._active_layers(layerdrop=not return_all):
            x = layer(x, attn_mask)
            if return_all:
                hidden.append(x)
        if self.layer_norm_first:
            x = self.layer_norm(x)
            if return_all:
                hidden[-1] = x
        return hidden if return_all else x


def _init_bert_params(module: nn.Module) -> None:
    """BERT init as fairseq's ``init_bert_params``: N(0, 0.02) linear weights, zero biases."""
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
