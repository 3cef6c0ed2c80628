"""CTC speech recogniser: a front-end, a context network, fine-tuning masks and a linear CTC head.

The model is split in the three parts wav2vec 2.0 fine-tuning treats differently (fairseq
``Wav2VecCtc`` / "wav2vec 2.0: A Framework for Self-Supervised Learning of Speech
Representations", Baevski et al., 2020, section 4.2):

1. **front-end** ``(wav, lengths) -> (frames (B, T, C), frame_lengths)``: the pretrained conv
   feature encoder + its projection (frozen: fairseq ``feature_grad_mult = 0.0``), or, for the
   from-scratch baseline, :class:`FbankFrontend` (Kaldi fbank, utterance CMVN, 2 frames stacked to
   the same 20 ms hop, LayerNorm + linear projection to ``C``; trained).
2. **context network** (the transformer, or CPC's autoregressive network): frozen for the first
   ``freeze_finetune_updates`` updates so the randomly initialised head does not wreck it, then
   trained.
3. **head**: dropout + linear ``C -> vocab`` (blank = 0), log-softmax.

Between 1 and 2 the fine-tuning masks are applied at training time: time spans replaced by the
model's learned mask embedding (``mask_prob``, ``mask_length``) and channel spans zeroed over the
whole utterance (``mask_channel_prob``, ``mask_channel_length``), as fairseq's ``apply_mask``.

**"Same architecture" for the baseline** means: the context network and head are built from the
*same config* as the pretrained model (same class, layers, width, heads, positional conv) but
randomly initialised, the fine-tuning masks and schedule are identical, and only the front-end
differs (fbank instead of a frozen pretrained conv encoder, which would be random without
pretraining). The parameter count of both models is logged so the comparison is visible.

Utterances whose frame count is below what CTC needs for their label sequence (labels + one per
repeated label) are dropped from the loss and counted (``num_too_short``), never giving an
infinite loss; any remaining non-finite per-utterance loss is zeroed and counted too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.errors import ConfigError
from audiocl.features.normalized_fbank import min_samples as min_fbank_samples
from audiocl.features.normalized_fbank import normalize_utterances, normalized_fbank


@dataclass
class CtcModelConfig:
    """Fine-tuning knobs. Defaults: fairseq ``examples/wav2vec/config/finetuning/base_10m.yaml``
    (mask_prob 0.65, mask_length 10, mask_channel_prob 0.25, mask_channel_length 64, layerdrop 0.1,
    activation_dropout 0.1, feature_grad_mult 0.0, freeze_finetune_updates 10000)."""

    frontend: str = "pretrained"
    """``pretrained`` (the upstream's own front-end, frozen) or ``fbank`` (from-scratch baseline)."""
    apply_mask: bool = True
    mask_prob: float = 0.65
    mask_length: int = 10
    mask_min_masks: int = 2
    mask_channel_prob: float = 0.25
    mask_channel_length: int = 64
    layerdrop: float = 0.1
    activation_dropout: float = 0.1
    final_dropout: float = 0.0
    freeze_feature_encoder: bool = True
    freeze_finetune_updates: int = 10000
    layer: int = -1
    """Which context-network output feeds the head (-1 = last)."""
    fbank_num_mel_bins: int = 80
    fbank_stack: int = 2
    """Fbank frames stacked per model frame: 2 x 10 ms = the 20 ms hop of wav2vec 2.0 / CPC."""


def _frames_needed(targets: Tensor, target_lengths: Tensor) -> Tensor:
    """Minimum CTC input length per utterance: labels + one blank between each repeated pair."""
    needed = target_lengths.clone()
    offset = 0
    for i, n in enumerate(target_lengths.tolist()):
        seq = targets[offset:offset + n]
        if n > 1:
            needed[i] += int((seq[1:] == seq[:-1]).sum())
        offset += n
    return needed


def ctc_loss_skipping_short(
    log_probs: Tensor, frame_lengths: Tensor, targets: Tensor, target_lengths: Tensor, blank: int = 0
) -> tuple[Tensor, Tensor, Tensor, dict[str, int]]:
    """Sentence-averaged CTC loss (fairseq ``sentence_avg``) over utterances that *can* be aligned.

    ``log_probs (B, T, V)``, ``targets`` 1-D concatenated labels. Returns ``(loss, per_utt (B,),
    used (B,) bool, counts)``; ``counts = {"num_too_short", "num_nonfinite", "num_used"}``. A batch where nothing is
    usable gives a zero loss that still has a graph (so DDP and Lightning stay happy).
    """
    needed = _frames_needed(targets.cpu(), target_lengths.cpu()).to(frame_lengths.device)
    ok = frame_lengths >= needed
    per = log_probs.new_zeros(log_probs.shape[0], dtype=torch.float32)
    finite = torch.ones_like(ok)
    if bool(ok.any()):
        # only alignable rows enter ctc_loss: an infinite row would put NaN into the shared gradient
        starts = torch.cumsum(target_lengths, 0) - target_lengths
        keep_idx = ok.nonzero().flatten()
        sel_targets = torch.cat([targets[int(starts[i]):int(starts[i]) + int(target_lengths[i])] for i in keep_idx])
        sub = F.ctc_loss(log_probs[keep_idx].transpose(0, 1).float(), sel_targets, frame_lengths[keep_idx],
                         target_lengths[keep_idx], blank=blank, reduction="none", zero_infinity=True)
        sub_finite = torch.isfinite(sub)
        finite[keep_idx] = sub_finite
        per = per.index_put((keep_idx,), torch.where(sub_finite, sub, torch.zeros_like(sub)))
    use = ok & finite
    n_used = int(use.sum())
    loss = per.sum() / max(n_used, 1) + 0.0 * log_probs.sum()
    counts = {"num_too_short": int((~ok).sum()), "num_nonfinite": int((ok & ~finite).sum()), "num_used": n_used}
    return loss, per, use, counts


class FbankFrontend(nn.Module):
    """Kaldi fbank (80 bins, 25/10 ms) -> utterance CMVN -> stack ``stack`` frames -> LN -> Linear(C).

    Mirrors wav2vec 2.0's ``feature_norm + feature_proj`` after its conv encoder, so the context
    network sees the same frame rate and width from either front-end. Everything here is trained. The
    fbank and its normalisation are :mod:`audiocl.features.normalized_fbank`, shared with the fbank
    baselines of classification and the CTC probe.
    """

    def __init__(self, out_dim: int, num_mel_bins: int = 80, stack: int = 2, dropout: float = 0.1):
        super().__init__()
        from audiocl.features.config import FbankConfig

        self.fbank_cfg = FbankConfig(num_mel_bins=num_mel_bins)
        self.stack = stack
        in_dim = self.fbank_cfg.dim * stack
        self.layer_norm = nn.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)
        self.dropout = nn.Dropout(dropout)
        self.out_dim = out_dim
        self.min_samples = min_fbank_samples(self.fbank_cfg, stack)

    def forward(self, wav: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``wav (B, samples)``, or fbank frames computed beforehand ``(B, frames, D)`` with ``lengths`` in
        frames (recipe stage 2's features): only normalised here."""
        if wav.dim() == 3:
            counts = lengths.to(wav.device)
            feats = normalize_utterances(wav.float(), counts)
        else:
            feats, counts = normalized_fbank(wav, lengths, self.fbank_cfg, self.stack)
        b, t, d = feats.shape
        t2 = t // self.stack
        x = feats[:, : t2 * self.stack].reshape(b, t2, d * self.stack)
        frame_lengths = torch.div(counts, self.stack, rounding_mode="floor")
        return self.dropout(self.proj(self.layer_norm(x))), frame_lengths


class Wav2Vec2Frontend(nn.Module):
    """A wav2vec 2.0 model's conv encoder (frozen when ``freeze``, fairseq ``feature_grad_mult=0``)
    followed by its feature LayerNorm and projection (trained, as in fairseq fine-tuning)."""

    def __init__(self, w2v: nn.Module, freeze: bool = True):
        super().__init__()
        self.feature_extractor = w2v.feature_extractor
        self.feature_norm = w2v.feature_norm
        self.feature_proj = w2v.feature_proj
        self.dropout_input = float(w2v.cfg.dropout_input)
        self.freeze = freeze
        self.min_samples = int(w2v.min_samples)
        if freeze:
            for p in self.feature_extractor.parameters():
                p.requires_grad_(False)

    def forward(self, wav: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if wav.shape[1] < self.min_samples:
            wav = F.pad(wav, (0, self.min_samples - wav.shape[1]))
        pad = torch.arange(wav.shape[1], device=wav.device)[None, :] >= lengths[:, None]
        wav = wav.masked_fill(pad, 0.0)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            raw = self.feature_extractor(wav)
        flen = self.feature_extractor.output_lengths(lengths).clamp(min=0, max=raw.shape[-1])
        x = self.feature_proj(self.feature_norm(raw.transpose(1, 2)))
        return F.dropout(x, self.dropout_input, self.training), flen


class TransformerContext(nn.Module):
    """Adapter: a :class:`~audiocl.nn.transformer.TransformerEncoder` as ``(x, padding_mask) -> layers``.

    With ``all_layers=False`` only the last output is computed (LayerDrop stays active in training).
    """

    def __init__(self, encoder: nn.Module, layerdrop: float | None = None, activation_dropout: float | None = None):
        super().__init__()
        self.encoder = encoder
        if layerdrop is not None:
            encoder.layerdrop = layerdrop
        if activation_dropout is not None:
            for m in encoder.modules():
                if hasattr(m, "activation_dropout") and isinstance(getattr(m, "activation_dropout"), float):
                    m.activation_dropout = activation_dropout

    @property
    def num_layers(self) -> int:
        return len(self.encoder.layers) + 1

    def forward(self, x: Tensor, padding_mask: Tensor, all_layers: bool = False) -> list[Tensor]:
        if all_layers:
            return self.encoder(x, padding_mask, return_all=True)
        return [self.encoder(x, padding_mask)]


class CPCFrontend(nn.Module):
    """A CPC model's conv encoder (frozen when ``freeze``): ``(B, T) -> (B, T', encoder_dim)``."""

    def __init__(self, cpc: nn.Module, freeze: bool = True):
        super().__init__()
        self.encoder = cpc.encoder
        self.freeze = freeze
        self.min_samples = int(cpc.min_samples)
        if freeze:
            for p in self.encoder.parameters():
                p.requires_grad_(False)

    def forward(self, wav: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        if wav.shape[1] < self.min_samples:
            wav = F.pad(wav, (0, self.min_samples - wav.shape[1]))
        pad = torch.arange(wav.shape[1], device=wav.device)[None, :] >= lengths[:, None]
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.freeze):
            z = self.encoder(wav.masked_fill(pad, 0.0)).transpose(1, 2)
        return z, self.encoder.output_lengths(lengths).clamp(min=0, max=z.shape[1])


class CPCContext(nn.Module):
    """Adapter: CPC's autoregressive network (GRU / LSTM / causal transformer) as ``(x, mask) -> layers``."""

    def __init__(self, cpc: nn.Module):
        super().__init__()
        self.context = cpc.context

    def forward(self, x: Tensor, padding_mask: Tensor, all_layers: bool = False) -> list[Tensor]:
        x = x.masked_fill(padding_mask.unsqueeze(-1), 0.0)
        c = self.context(x)[0] if isinstance(self.context, (nn.GRU, nn.LSTM)) else self.context(x)
        return [x, c] if all_layers else [c]


class CtcAsrModel(nn.Module):
    """``forward(wav, lengths) -> (log_probs (B, T, V), frame_lengths (B,))``.

    ``frontend(wav, lengths) -> (frames (B, T, C_in), frame_lengths)``; ``context(x, padding_mask,
    all_layers) -> list of (B, T, C)`` (every layer with ``all_layers``, else just the last);
    ``mask_emb`` (``C_in``) is the learned time-mask vector (the upstream's, or a fresh one).
    """

    def __init__(self, frontend: nn.Module, context: nn.Module, dim: int, vocab_size: int, cfg: CtcModelConfig,
                 mask_emb: nn.Parameter | None = None, frontend_dim: int | None = None):
        super().__init__()
        self.cfg = cfg
        self.frontend = frontend
        self.context = context
        self.dim = dim
        in_dim = frontend_dim or dim
        self.mask_emb = mask_emb if mask_emb is not None else nn.Parameter(torch.empty(in_dim).uniform_())
        self.final_dropout = nn.Dropout(cfg.final_dropout)
        self.head = nn.Linear(dim, vocab_size)
        nn.init.xavier_uniform_(self.head.weight)  # fairseq Wav2VecCtc: Linear with xavier_uniform
        nn.init.zeros_(self.head.bias)
        self.num_updates = 0

    @property
    def min_samples(self) -> int:
        return int(getattr(self.frontend, "min_samples", 400))

    def set_num_updates(self, step: int) -> None:
        self.num_updates = int(step)

    @property
    def context_frozen(self) -> bool:
        return self.num_updates < self.cfg.freeze_finetune_updates

    def apply_finetune_masks(self, x: Tensor, frame_lengths: Tensor) -> Tensor:
        from audiocl.nn.masking import compute_span_mask

        cfg = self.cfg
        b, t, c = x.shape
        if cfg.mask_prob > 0:
            tmask = compute_span_mask(frame_lengths, t, cfg.mask_prob, cfg.mask_length, min_masks=cfg.mask_min_masks)
            x = torch.where(tmask.unsqueeze(-1), self.mask_emb.to(x.dtype).view(1, 1, -1), x)
        if cfg.mask_channel_prob > 0:
            clen = torch.full((b,), c, dtype=torch.long, device=x.device)
            cmask = compute_span_mask(clen, c, cfg.mask_channel_prob, min(cfg.mask_channel_length, c))
            x = x.masked_fill(cmask.unsqueeze(1), 0.0)
        return x

    def encode(self, wav: Tensor, lengths: Tensor, all_layers: bool = False) -> tuple[list[Tensor], Tensor]:
        """Context-network outputs (all layers, or just the last) ``(B, T, C)`` and frame lengths."""
        from audiocl.nn.masking import lengths_to_padding_mask

        x, frame_lengths = self.frontend(wav, lengths)
        frame_lengths = frame_lengths.to(x.device).clamp(max=x.shape[1])
        if self.training and self.cfg.apply_mask:
            x = self.apply_finetune_masks(x, frame_lengths)
        padding_mask = lengths_to_padding_mask(frame_lengths, x.shape[1])
        need_all = all_layers or self.cfg.layer != -1
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.context_frozen):
            layers = self.context(x, padding_mask, all_layers=need_all)
        return layers, frame_lengths

    def forward(self, wav: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        layers, frame_lengths = self.encode(wav, lengths)
        h = layers[self.cfg.layer] if len(layers) > 1 else layers[-1]
        logits = self.head(self.final_dropout(h))
        return logits.float().log_softmax(dim=-1), frame_lengths

    def parameter_counts(self) -> dict[str, int]:
        def count(m: nn.Module) -> int:
            return sum(p.numel() for p in m.parameters())

        return {"frontend": count(self.frontend), "context": count(self.context), "head": count(self.head),
                "trainable": sum(p.numel() for p in self.parameters() if p.requires_grad)}


def build_ctc_model(upstream_name: str, upstream: nn.Module, vocab_size: int, cfg: CtcModelConfig) -> CtcAsrModel:
    """Wrap a pretraining model (or a freshly initialised one, for ``frontend="fbank"``) for CTC.

    ``upstream`` is the pretraining model (``Wav2Vec2ForPretraining``) or its encoder
    (``Wav2Vec2Model``). With ``frontend="fbank"`` only its context network (same config, random
    weights when the caller built it fresh) and mask embedding are used.
    """
    check_frontend_kind(cfg.frontend)
    if upstream_name == "wav2vec2":
        w2v = getattr(upstream, "wav2vec2", upstream)
        dim = int(w2v.cfg.encoder_embed_dim)
        context = TransformerContext(w2v.encoder, layerdrop=cfg.layerdrop, activation_dropout=cfg.activation_dropout)
        if cfg.frontend == "pretrained":
            frontend: nn.Module = Wav2Vec2Frontend(w2v, freeze=cfg.freeze_feature_encoder)
        else:
            frontend = FbankFrontend(dim, cfg.fbank_num_mel_bins, cfg.fbank_stack, float(w2v.cfg.dropout_input))
        return CtcAsrModel(frontend, context, dim, vocab_size, cfg, mask_emb=w2v.mask_emb)
    if upstream_name == "cpc":
        c = upstream.cfg
        enc_dim, ctx_dim = int(c.encoder_dim), int(c.context_dim)
        if cfg.frontend == "pretrained":
            frontend = CPCFrontend(upstream, freeze=cfg.freeze_feature_encoder)
        else:
            hop = 1
            for s_ in c.encoder_strides:
                hop *= int(s_)
            frontend = FbankFrontend(enc_dim, cfg.fbank_num_mel_bins, max(1, hop // 160), 0.0)
        return CtcAsrModel(frontend, CPCContext(upstream), ctx_dim, vocab_size, cfg, frontend_dim=enc_dim)
    raise ConfigError(f"CTC fine-tuning supports upstream models wav2vec2 and cpc; got {upstream_name!r}")


def check_frontend_kind(kind: str) -> None:
    if kind not in ("pretrained", "fbank"):
        raise ConfigError(f"CTC front-end must be 'pretrained' or 'fbank', got {kind!r}")
