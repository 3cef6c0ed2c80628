"""Contrastive Predictive Coding for audio (van den Oord et al., 2018; defaults from Rivière et al.,
2020, "Unsupervised pretraining transfers well across languages", facebookresearch/CPC_audio).

Strided conv encoder (5 layers, kernels 10/8/4/4/4, strides 5/4/2/2/2, padding 3/2/1/1/1, 256
channels, per-frame channel norm, ReLU: 10 ms frames at 16 kHz) -> causal context network (GRU
by default; LSTM or a causal transformer) -> one linear prediction head per future step k = 1..12.
Each prediction ``W_k c_t`` is scored against the true ``z_{t+k}`` and 128 negatives drawn from
frames of the same speaker (CPC_audio's default sampling), through any objective of
:mod:`audiocl.losses` (default InfoNCE). As in CPC_audio the score is the dot product averaged
over dimensions, with InfoNCE temperature 1.

Negatives: ``same_speaker`` uses the optional ``speakers (B,)`` ids given to ``forward`` (the
batch sampler knows them) and falls back to ``within_utterance`` when absent; ``any`` samples
across the whole batch (CPC_audio's "across speakers").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl import losses
from audiocl.errors import ConfigError
from audiocl.models.pretrain_common import PretrainOutput, check_waveforms
from audiocl.nn.conv_encoder import ConvFeatureEncoder
from audiocl.nn.masking import lengths_to_padding_mask
from audiocl.nn.negatives import sample_in_groups
from audiocl.nn.transformer import TransformerLayer


@dataclass
class CPCConfig:
    """CPC hyper-parameters; defaults = CPC_audio (see module docstring)."""

    sample_rate: int = 16000
    encoder_dim: int = 256
    encoder_kernels: list[int] = field(default_factory=lambda: [10, 8, 4, 4, 4])
    encoder_strides: list[int] = field(default_factory=lambda: [5, 4, 2, 2, 2])
    encoder_paddings: list[int] = field(default_factory=lambda: [3, 2, 1, 1, 1])
    encoder_norm: str = "layer"
    """``layer`` (CPC_audio's ChannelNorm: per-frame norm over channels) or ``none``."""
    context: str = "gru"
    """``gru``, ``lstm`` or ``transformer`` (causal self-attention)."""
    context_dim: int = 256
    context_layers: int = 1
    context_heads: int = 4
    dropout: float = 0.0
    num_predicts: int = 12
    num_negatives: int = 128
    negatives: str = "same_speaker"
    """``same_speaker`` (falls back to ``within_utterance`` without speaker ids), ``within_utterance``, ``any``."""
    similarity: str = "dot"
    """``dot`` (dot product / dim, CPC_audio) or ``cosine``."""
    loss: str = "infonce"
    loss_kwargs: dict[str, Any] = field(default_factory=lambda: {"temperature": 1.0})
    drop_short: bool = False

    def validate(self) -> None:
        n = len(self.encoder_kernels)
        if len(self.encoder_strides) != n or len(self.encoder_paddings) != n:
            raise ConfigError("encoder_kernels, encoder_strides and encoder_paddings must have equal length")
        if self.context not in ("gru", "lstm", "transformer"):
            raise ConfigError(f"context must be gru, lstm or transformer, got {self.context!r}")
        if self.negatives not in ("same_speaker", "within_utterance", "any"):
            raise ConfigError(f"negatives must be same_speaker, within_utterance or any, got {self.negatives!r}")
        if self.similarity not in ("dot", "cosine"):
            raise ConfigError(f"similarity must be dot or cosine, got {self.similarity!r}")
        if self.encoder_norm not in ("layer", "none"):
            raise ConfigError(f"encoder_norm must be layer or none, got {self.encoder_norm!r}")
        if self.num_predicts < 1 or self.num_negatives < 1:
            raise ConfigError("num_predicts and num_negatives must be >= 1")


def _sinusoidal(t: int, dim: int, device, dtype) -> Tensor:
    pos = torch.arange(t, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(t, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: dim // 2])
    return pe.to(dtype)


class CausalTransformerContext(nn.Module):
    """Causal pre-LN transformer over encoder frames (sinusoidal positions); padding is at the end,
    so causal attention never lets a valid frame see it."""

    def __init__(self, in_dim: int, dim: int, layers: int, heads: int, dropout: float):
        super().__init__()
        self.proj = nn.Linear(in_dim, dim)
        self.layers = nn.ModuleList(
            TransformerLayer(dim, 4 * dim, heads, dropout, dropout, 0.0, layer_norm_first=True) for _ in range(layers))
        self.norm = nn.LayerNorm(dim)

    def forward(self, z: Tensor) -> Tensor:
        x = self.proj(z)
        x = x + _sinusoidal(x.shape[1], x.shape[2], x.device, x.dtype)
        for layer in self.layers:
            x = layer(x, None, is_causal=True)
        return self.norm(x)


class CPCForPretraining(nn.Module):
    def __init__(self, cfg: CPCConfig | None = None):
        super().__init__()
        cfg = cfg or CPCConfig()
        cfg.validate()
        self.cfg = cfg
        layers = [[cfg.encoder_dim, k, s, p] for k, s, p in
                  zip(cfg.encoder_kernels, cfg.encoder_strides, cfg.encoder_paddings)]
        self.encoder = ConvFeatureEncoder(layers, "layer" if cfg.encoder_norm == "layer" else "none",
                                          conv_bias=True, activation="relu")
        if cfg.context == "gru":
            self.context = nn.GRU(cfg.encoder_dim, cfg.context_dim, cfg.context_layers, batch_first=True)
        elif cfg.context == "lstm":
            self.context = nn.LSTM(cfg.encoder_dim, cfg.context_dim, cfg.context_layers, batch_first=True)
        else:
            self.context = CausalTransformerContext(cfg.encoder_dim, cfg.context_dim, cfg.context_layers,
                                                    cfg.context_heads, cfg.dropout)
        self.predictor = nn.Linear(cfg.context_dim, cfg.num_predicts * cfg.encoder_dim)
        self.objective = losses.get(cfg.loss, **dict(cfg.loss_kwargs))

    @property
    def min_samples(self) -> int:
        """Receptive field of one encoder frame (465 samples for the CPC_audio encoder)."""
        return self.encoder.receptive_field

    def set_num_updates(self, num_updates: int) -> None:
        """No schedule in CPC (kept for the common interface)."""

    def _encode(self, wav: Tensor, lengths: Tensor):
        z = self.encoder(wav).transpose(1, 2)
        flen = self.encoder.output_lengths(lengths).clamp(max=z.shape[1])
        return z, flen

    def _context(self, z: Tensor) -> Tensor:
        if isinstance(self.context, (nn.GRU, nn.LSTM)):
            return self.context(z)[0]
        return self.context(z)

    def extract_layers(self, wav: Tensor, lengths: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        """``[encoder frames z (input of the context network), context c]``, frame lengths."""
        wav, lengths, _ = check_waveforms(wav, lengths, self.min_samples, drop_short=self.cfg.drop_short)
        z, flen = self._encode(wav, lengths)
        return [z, self._context(z)], flen

    def forward(self, wav: Tensor, lengths: Tensor | None = None, speakers: Tensor | None = None,
                utt_ids: list[str] | None = None) -> PretrainOutput:
        cfg = self.cfg
        wav, lengths, keep = check_waveforms(wav, lengths, self.min_samples, cfg.drop_short, utt_ids)
        z, flen = self._encode(wav, lengths)
        flen = torch.where(keep, flen, torch.zeros_like(flen))
        c = self._context(z)
        bsz, tlen, dim = z.shape
        kmax = cfg.num_predicts
        valid = ~lengths_to_padding_mask(flen, tlen)

        pb, pt = valid.nonzero(as_tuple=True)
        pool_index = torch.full((bsz, tlen), -1, dtype=torch.long, device=z.device)
        pool_index[pb, pt] = torch.arange(pb.numel(), device=z.device)
        anchor = valid & (torch.arange(tlen, device=z.device)[None, :] + 1 < flen[:, None])
        ab, at = anchor.nonzero(as_tuple=True)
        logs: dict[str, float | Tensor] = {"dropped_short": float((~keep).sum()), "num_anchors": float(ab.numel())}
        if ab.numel() == 0:
            loss = 0.0 * (c.sum() + z.sum()) + 0.0 * self.predictor.weight.sum()
            logs["loss"] = loss.detach()
            return PretrainOutput(loss=loss, logs=logs, per_sample=torch.zeros(bsz, device=z.device))

        zpool = z[pb, pt]
        pred = self.predictor(c[ab, at]).view(-1, kmax, dim)
        steps = torch.arange(1, kmax + 1, device=z.device)
        tgt_t = at[:, None] + steps[None, :]
        step_ok = tgt_t < flen[ab][:, None]
        tgt = pool_index[ab[:, None], tgt_t.clamp(max=tlen - 1)].clamp(min=0)

        if cfg.negatives == "any":
            groups = torch.zeros_like(pb)
        elif cfg.negatives == "same_speaker" and speakers is not None:
            groups = speakers.to(z.device).long()[pb]
        else:
            groups = pb
        neg, neg_ok = sample_in_groups(groups, cfg.num_negatives, exclude_self=False,
                                       anchors=pool_index[ab, at])

        with torch.autocast(device_type=z.device.type, enabled=False):  # scores in fp32 under bf16 autocast
            if cfg.similarity == "cosine":
                pred_s = F.normalize(pred.float(), dim=-1, eps=1e-6)
                zs = F.normalize(zpool.float(), dim=-1, eps=1e-6)
            else:
                pred_s = pred.float() / dim
                zs = zpool.float()
            pos_sim = (pred_s * zs[tgt]).sum(-1)                            # (A, K)
            neg_sim = torch.einsum("akd,ajd->akj", pred_s, zs[neg])        # (A, K, J)
        sim = torch.cat([pos_sim.unsqueeze(-1), neg_sim], dim=-1)
        cand_ok = torch.cat([torch.ones_like(step_ok).unsqueeze(-1),
                             neg_ok[:, None, :] & (neg[:, None, :] != tgt[:, :, None])], dim=-1)
        rows_sim = sim[step_ok]
        rows_ok = cand_ok[step_ok]
        pos = torch.zeros_like(rows_ok)
        pos[:, 0] = True
        out = self.objective(rows_sim, pos, rows_ok)

        row_utt = ab[:, None].expand(-1, kmax)[step_ok]
        counts = torch.zeros(bsz, device=z.device).index_add_(0, row_utt, torch.ones_like(row_utt, dtype=torch.float))
        per_sample = torch.zeros(bsz, device=z.device).index_add_(
            0, row_utt, out.per_sample.detach().float()) / counts.clamp(min=1)
        with torch.no_grad():
            hit = sim.masked_fill(~cand_ok, float("-inf")).argmax(-1) == 0
            for k in (1, kmax):
                ok = step_ok[:, k - 1]
                logs[f"acc_step{k}"] = hit[:, k - 1][ok].float().mean() if bool(ok.any()) else float("nan")
        logs.update({"loss": out.loss.detach(), "contrastive": out.loss.detach()})
        logs.update(out.logs)
        return PretrainOutput(loss=out.loss, logs=logs, per_sample=per_sample)
