"""wav2vec 2.0 (Baevski et al., 2020, "wav2vec 2.0: A Framework for Self-Supervised Learning of
Speech Representations"): conv feature encoder -> span masking -> transformer context network,
trained to pick the quantized latent of each masked frame among distractors.

Defaults are fairseq's BASE pre-training values (``wav2vec2_base_librispeech.yaml``): 7-layer conv
encoder ``[(512,10,5)] + [(512,3,2)]*4 + [(512,2,2)]*2`` with group norm, 12 x 768 post-LN
transformer (12 heads, FFN 3072), conv positional embedding 128/16, dropout 0.1 (input, features,
attention, hidden), LayerDrop 0.05, feature_grad_mult 0.1, mask_prob 0.65 / mask_length 10 /
min_masks 2, quantizer 2 x 320 with temperature (2, 0.5, 0.999995), final_dim 256, 100 negatives
from the same utterance, logit temperature 0.1, diversity loss weight 0.1, feature penalty 10.

The contrastive objective is any name registered in :mod:`audiocl.losses` (``loss``,
``loss_kwargs``); with the default ``infonce`` at temperature 0.1 the loss equals fairseq's
cross-entropy over ``[positive, negatives]`` divided by the number of masked frames.

Differences from the peers, on purpose:

- only masked frames are quantized and scored (as fairseq; HF quantizes every frame), and the last
  transformer block computes queries / feed-forward for the masked frames only (keys and values still
  from every frame, so the result is exact);
- similarities come from one batched matmul per utterance instead of materialising
  ``(negatives, frames, dim)`` copies of the targets;
- the feature penalty is averaged over valid (non-padded) frames only;
- a negative equal to the positive is recognised by its code indices and excluded through
  the objective's ``valid`` mask (fairseq/HF set its logit to -inf).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl import losses
from audiocl.errors import ConfigError
from audiocl.models.pretrain_common import PretrainOutput, check_waveforms
from audiocl.nn.context_augment import add_white_noise, check_context_augment, uniform
from audiocl.nn.conv_encoder import WAV2VEC2_CONV_LAYERS, ConvFeatureEncoder, total_stride
from audiocl.nn.fbank_frontend import FbankFrameEncoder
from audiocl.nn.grad import grad_multiply
from audiocl.nn.masking import compute_span_mask, lengths_to_padding_mask
from audiocl.nn.negatives import sample_in_groups
from audiocl.nn.quantizer import GumbelVectorQuantizer
from audiocl.nn.transformer import RowIndex, TransformerEncoder


def _default_conv_layers() -> list[list[int]]:
    return [list(x) for x in WAV2VEC2_CONV_LAYERS]


@dataclass
class Wav2Vec2Config:
    """Every wav2vec 2.0 hyper-parameter; defaults = fairseq BASE (see module docstring)."""

    sample_rate: int = 16000
    # feature encoder
    frontend: str = "conv"
    """``conv`` (raw waveform, the paper's) or ``fbank`` (Kaldi 80-bin fbank -> stride-2 conv,
    :class:`~audiocl.nn.fbank_frontend.FbankFrameEncoder`; same 20 ms frames). ``fbank`` is for
    small models that must learn fast (the ``tiny`` preset); peers' checkpoints are ``conv``."""
    fbank_dim: int = 512
    """Channels of the fbank front-end's output (``frontend=fbank`` only)."""
    fbank_num_mel_bins: int = 80
    conv_layers: list[list[int]] = field(default_factory=_default_conv_layers)
    """``[dim, kernel, stride]`` per conv layer."""
    extractor_mode: str = "group"
    """``group`` (GroupNorm on layer 1, BASE) or ``layer`` (LayerNorm on every layer, LARGE-LV60)."""
    conv_bias: bool = False
    feature_grad_mult: float = 0.1
    # context network
    encoder_embed_dim: int = 768
    encoder_ffn_dim: int = 3072
    encoder_layers: int = 12
    encoder_attention_heads: int = 12
    layer_norm_first: bool = False
    """False = post-LN (BASE); True = pre-LN ("stable layer norm", LARGE-LV60)."""
    dropout: float = 0.1
    attention_dropout: float = 0.1
    activation_dropout: float = 0.0
    encoder_layerdrop: float = 0.05
    dropout_input: float = 0.1
    dropout_features: float = 0.1
    conv_pos: int = 128
    conv_pos_groups: int = 16
    layer_norm_eps: float = 1e-5
    # masking
    mask_prob: float = 0.65
    mask_length: int = 10
    mask_min_masks: int = 2
    # quantizer
    latent_vars: int = 320
    latent_groups: int = 2
    latent_dim: int = 0
    """Codeword dim (summed over groups); 0 = ``final_dim`` (fairseq)."""
    latent_temp: list[float] = field(default_factory=lambda: [2.0, 0.5, 0.999995])
    final_dim: int = 256
    # contrastive task
    num_negatives: int = 100
    cross_sample_negatives: int = 0
    loss: str = "infonce"
    loss_kwargs: dict[str, Any] = field(default_factory=lambda: {"temperature": 0.1})
    diversity_weight: float = 0.1
    feature_penalty_weight: float = 10.0
    context_warp: float = 0.0
    """Pretraining only, ``frontend=fbank``: the context network reads the utterance with every frequency
    scaled by a factor drawn per utterance from ``[1 - w, 1 + w]``; the quantized targets come from the
    clean utterance (:mod:`audiocl.nn.context_augment`, WavAugment-style). 0 = off (the paper)."""
    context_noise_snr: list[float] = field(default_factory=list)
    """Pretraining only: ``[lo, hi]`` dB, white noise at an SNR drawn per utterance is added to what the
    context network reads (targets stay clean). ``[]`` = off (the paper)."""
    drop_short: bool = False
    """Drop (and count in ``logs['dropped_short']``) utterances shorter than the receptive field
    instead of raising :class:`~audiocl.models.pretrain_common.InputTooShortError`."""

    @classmethod
    def preset(cls, name: str, **overrides) -> "Wav2Vec2Config":
        if name not in WAV2VEC2_PRESETS:
            raise ConfigError(f"unknown wav2vec2 preset {name!r}; available: {', '.join(WAV2VEC2_PRESETS)}")
        return cls(**{**WAV2VEC2_PRESETS[name], **overrides})

    @property
    def frame_shift(self) -> int:
        """Samples between consecutive frames (320 = 20 ms at 16 kHz for both front-ends)."""
        if self.frontend == "fbank":
            return FbankFrameEncoder.frame_shift_for(self.sample_rate)
        return total_stride(self.conv_layers)

    def validate(self) -> None:
        if self.frontend not in ("conv", "fbank"):
            raise ConfigError(f"frontend must be 'conv' or 'fbank', got {self.frontend!r}")
        if self.extractor_mode not in ("group", "layer"):
            raise ConfigError(f"extractor_mode must be 'group' or 'layer', got {self.extractor_mode!r}")
        if self.encoder_embed_dim % self.encoder_attention_heads:
            raise ConfigError(
                f"encoder_embed_dim {self.encoder_embed_dim} not divisible by "
                f"encoder_attention_heads {self.encoder_attention_heads}")
        if self.encoder_embed_dim % self.conv_pos_groups:
            raise ConfigError(f"encoder_embed_dim {self.encoder_embed_dim} not divisible by conv_pos_groups "
                              f"{self.conv_pos_groups}")
        vq = self.latent_dim or self.final_dim
        if vq % self.latent_groups:
            raise ConfigError(f"latent dim {vq} not divisible by latent_groups {self.latent_groups}")
        if not 0.0 <= self.mask_prob <= 1.0:
            raise ConfigError(f"mask_prob must be in [0, 1], got {self.mask_prob}")
        if self.num_negatives < 1 and self.cross_sample_negatives < 1:
            raise ConfigError("need num_negatives or cross_sample_negatives >= 1")
        check_context_augment(self.context_warp, list(self.context_noise_snr))
        if self.context_warp > 0 and self.frontend != "fbank":
            raise ConfigError("context_warp warps the mel filterbank: it needs frontend=fbank")

    @property
    def context_augment(self) -> bool:
        """Whether pretraining gives the context network a perturbed copy of each utterance."""
        return self.context_warp > 0 or bool(self.context_noise_snr)


WAV2VEC2_PRESETS: dict[str, dict[str, Any]] = {
    # Same values as configs/pretrain/tiny.yaml (our setting, not a paper one; learns in minutes on 2 CPU
    # cores): fbank front-end (128 channels, 20 ms frames), 4 x 128 post-LN transformer, 2 x 32 codebook,
    # 50 negatives, shorter masks (0.4 x 3) and a stronger diversity term (0.3). Each differs from BASE
    # because BASE's value keeps a model this small at chance on CPU: docs/experiments/mini-tts-tiny-preset.md.
    "tiny": dict(
        frontend="fbank", fbank_dim=128,
        conv_layers=[[64, 10, 5]] + [[64, 3, 2]] * 4 + [[64, 2, 2]] * 2,
        encoder_embed_dim=128, encoder_ffn_dim=512, encoder_layers=4, encoder_attention_heads=4,
        conv_pos=32, conv_pos_groups=8, encoder_layerdrop=0.0, latent_vars=32, final_dim=64,
        latent_temp=[2.0, 0.5, 0.98], num_negatives=50, mask_prob=0.4, mask_length=3, diversity_weight=0.3,
    ),
    "base": {},
    # fairseq wav2vec2_large_librivox (LV-60): pre-LN, layer-norm conv encoder with bias, 24 x 1024.
    "large": dict(
        extractor_mode="layer", conv_bias=True, layer_norm_first=True, feature_grad_mult=1.0,
        encoder_embed_dim=1024, encoder_ffn_dim=4096, encoder_layers=24, encoder_attention_heads=16,
        final_dim=768, encoder_layerdrop=0.0, dropout=0.0, attention_dropout=0.1,
        latent_temp=[2.0, 0.1, 0.999995],
    ),
}


@dataclass
class Wav2Vec2EncoderOutput:
    last_hidden_state: Tensor
    """``(B, T', C)`` output of the context network."""
    padding_mask: Tensor
    """``(B, T')`` bool, True = padded frame."""
    frame_lengths: Tensor
    """``(B,)`` valid frames per utterance."""


class Wav2Vec2Model(nn.Module):
    """The encoder alone (feature encoder + context network): for fine-tuning and feature extraction."""

    def __init__(self, cfg: Wav2Vec2Config | None = None):
        super().__init__()
        cfg = cfg or Wav2Vec2Config()
        cfg.validate()
        self.cfg = cfg
        if cfg.frontend == "fbank":
            self.feature_extractor = FbankFrameEncoder(cfg.fbank_dim, cfg.fbank_num_mel_bins, cfg.sample_rate)
        else:
            self.feature_extractor = ConvFeatureEncoder(cfg.conv_layers, cfg.extractor_mode, cfg.conv_bias)
        feat_dim = self.feature_extractor.output_dim
        self.feature_dim = feat_dim
        self.feature_norm = nn.LayerNorm(feat_dim, eps=cfg.layer_norm_eps)
        self.feature_proj = nn.Linear(feat_dim, cfg.encoder_embed_dim)
        self.mask_emb = nn.Parameter(torch.empty(cfg.encoder_embed_dim).uniform_())
        self.encoder = TransformerEncoder(
            dim=cfg.encoder_embed_dim, ffn_dim=cfg.encoder_ffn_dim, num_layers=cfg.encoder_layers,
            num_heads=cfg.encoder_attention_heads, dropout=cfg.dropout, attention_dropout=cfg.attention_dropout,
            activation_dropout=cfg.activation_dropout, layer_norm_first=cfg.layer_norm_first,
            layerdrop=cfg.encoder_layerdrop, conv_pos=cfg.conv_pos, conv_pos_groups=cfg.conv_pos_groups,
            layer_norm_eps=cfg.layer_norm_eps,
        )

    @property
    def min_samples(self) -> int:
        """Receptive field of one frame in samples (400 = 25 ms for BASE); shorter input is an error."""
        return self.feature_extractor.receptive_field

    def frame_lengths(self, lengths: Tensor) -> Tensor:
        return self.feature_extractor.output_lengths(lengths)

    def encode_features(self, wav: Tensor, lengths: Tensor, warp: Tensor | None = None, valid_only: bool = False):
        """Conv features: ``(normed (B,T',C), raw (B,C,T'), padding_mask, frame_lengths)``.

        ``warp (B,)`` (fbank front-end only) scales each utterance's frequency axis first. ``valid_only``
        lets the conv front-end skip padded frames: their features are then not the padded-batch values,
        for callers that read valid frames only."""
        mult = self.cfg.feature_grad_mult
        extract = self.feature_extractor if warp is None else partial(self.feature_extractor, warp=warp)
        if valid_only and isinstance(self.feature_extractor, ConvFeatureEncoder):
            extract = partial(self.feature_extractor, lengths=lengths)
        if mult > 0 or not self.training:
            raw = extract(wav)
            if self.training:
                raw = grad_multiply(raw, mult)
        else:
            with torch.no_grad():
                raw = extract(wav)
        flen = self.frame_lengths(lengths).clamp(max=raw.shape[-1])
        padding = lengths_to_padding_mask(flen, raw.shape[-1])
        normed = self.feature_norm(raw.transpose(1, 2))
        return normed, raw, padding, flen

    def _dropout(self, x: Tensor, p: float) -> Tensor:
        return F.dropout(x, p, self.training) if p > 0 else x

    def forward(self, wav: Tensor, lengths: Tensor | None = None, mask: Tensor | None = None) -> Wav2Vec2EncoderOutput:
        """``mask (B, T')`` bool (optional) replaces those frames by the learned mask embedding."""
        wav, lengths, _ = check_waveforms(wav, lengths, self.min_samples, drop_short=self.cfg.drop_short)
        normed, _, padding, flen = self.encode_features(wav, lengths)
        x = self._dropout(self.feature_proj(normed), self.cfg.dropout_input)
        if mask is not None:
            x = torch.where(mask.unsqueeze(-1), self.mask_emb.to(x.dtype), x)
        x = self.encoder(x, padding)
        return Wav2Vec2EncoderOutput(x, padding, flen)

    def extract_layers(self, wav: Tensor, lengths: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        """All context-network layers: index 0 = input of the first transformer block (after the
        positional conv, and its LayerNorm in post-LN), index i = output of block i (the last one
        after the final LayerNorm in pre-LN). Returns ``(layers, frame_lengths)``."""
        wav, lengths, _ = check_waveforms(wav, lengths, self.min_samples, drop_short=self.cfg.drop_short)
        normed, _, padding, flen = self.encode_features(wav, lengths)
        x = self._dropout(self.feature_proj(normed), self.cfg.dropout_input)
        return self.encoder(x, padding, return_all=True), flen


class Wav2Vec2ForPretraining(nn.Module):
    """wav2vec 2.0 with quantizer and contrastive head; ``model(wav, lengths) -> PretrainOutput``."""

    def __init__(self, cfg: Wav2Vec2Config | None = None):
        super().__init__()
        cfg = cfg or Wav2Vec2Config()
        self.cfg = cfg
        self.wav2vec2 = Wav2Vec2Model(cfg)
        vq_dim = cfg.latent_dim or cfg.final_dim
        if len(cfg.latent_temp) != 3:
            raise ConfigError(f"latent_temp must be [max, min, decay], got {cfg.latent_temp}")
        self.quantizer = GumbelVectorQuantizer(
            self.wav2vec2.feature_dim, cfg.latent_groups, cfg.latent_vars, vq_dim, tuple(cfg.latent_temp))
        self.project_q = nn.Linear(vq_dim, cfg.final_dim)
        self.final_proj = nn.Linear(cfg.encoder_embed_dim, cfg.final_dim)
        self.objective = losses.get(cfg.loss, **dict(cfg.loss_kwargs))

    @property
    def min_samples(self) -> int:
        return self.wav2vec2.min_samples

    def set_num_updates(self, num_updates: int) -> None:
        """Advance the Gumbel temperature schedule to optimizer step ``num_updates``."""
        self.quantizer.set_num_updates(num_updates)

    def extract_layers(self, wav: Tensor, lengths: Tensor | None = None) -> tuple[list[Tensor], Tensor]:
        return self.wav2vec2.extract_layers(wav, lengths)

    def context_view(self, wav: Tensor, lengths: Tensor) -> Tensor:
        """Normalised features of a perturbed copy of ``wav`` (``context_warp`` / ``context_noise_snr``),
        frame-aligned with the clean ones: the context network's input, never the targets'."""
        cfg, n = self.cfg, wav.shape[0]
        if cfg.context_noise_snr:
            wav = add_white_noise(wav, lengths, uniform(n, *cfg.context_noise_snr, device=wav.device))
        warp = uniform(n, 1 - cfg.context_warp, 1 + cfg.context_warp, wav.device) if cfg.context_warp > 0 else None
        return self.wav2vec2.encode_features(wav, lengths, warp)[0]

    def forward(
        self,
        wav: Tensor,
        lengths: Tensor | None = None,
        speakers: Tensor | None = None,
        utt_ids: list[str] | None = None,
        mask: Tensor | None = None,
    ) -> PretrainOutput:
        """``wav (B, T)`` float, ``lengths (B,)``; ``speakers`` is accepted and unused (negatives come
        from the same utterance). ``mask (B, T')`` overrides the random span mask (tests, analysis)."""
        cfg = self.cfg
        w2v = self.wav2vec2
        wav, lengths, keep = check_waveforms(wav, lengths, w2v.min_samples, cfg.drop_short, utt_ids)
        # padded frames are never read below (penalty, quantizer and loss use valid frames; the context
        # network zeroes padded input): the conv front-end skips them
        normed, raw, padding, flen = w2v.encode_features(wav, lengths, valid_only=True)
        bsz, tlen = padding.shape
        flen = torch.where(keep, flen, torch.zeros_like(flen))
        valid = ~padding & keep[:, None]

        # feature penalty: mean square of the conv features over valid frames (fairseq weight 10)
        sq = raw.float().pow(2).mean(1)
        feature_pen = (sq * valid).sum() / valid.sum().clamp(min=1)

        ctx_normed = self.context_view(wav, lengths) if self.training and cfg.context_augment else normed
        x = w2v._dropout(w2v.feature_proj(ctx_normed), cfg.dropout_input)
        if mask is None:
            mask = compute_span_mask(flen, tlen, cfg.mask_prob, cfg.mask_length, cfg.mask_min_masks)
        mask = mask & valid
        x = torch.where(mask.unsqueeze(-1), w2v.mask_emb.to(x.dtype), x)
        rows = RowIndex(mask)  # masked frames, row-major: grouped by utterance
        b_idx, t_idx = rows.b, rows.t
        n = b_idx.numel()
        # context vectors at the masked frames only (the last block skips the other frames' queries)
        x = w2v.encoder.forward_rows(x, padding, rows)
        logs: dict[str, float | Tensor] = {
            "feature_pen": feature_pen.detach(),
            "gumbel_temperature": self.quantizer.curr_temp,
            "num_masked": float(n),
            "dropped_short": float((~keep).sum()),
        }
        if n == 0:
            loss = cfg.feature_penalty_weight * feature_pen + 0.0 * x.sum()
            logs["loss"] = loss.detach()
            return PretrainOutput(loss=loss, logs=logs, per_sample=torch.zeros(bsz, device=wav.device))

        pred = self.final_proj(x)
        # dropout_features on the quantizer input, applied to the masked frames only (the only ones used)
        q = self.quantizer(w2v._dropout(normed[b_idx, t_idx], cfg.dropout_features))
        target = self.project_q(q.quantized)
        with torch.autocast(device_type=pred.device.type, enabled=False):  # cosine logits in fp32
            sim, pos, cand_valid = self._similarities(pred, target, q.codes, b_idx, mask.sum(1), bsz)
        out = self.objective(sim, pos, cand_valid)

        num_vars = cfg.latent_groups * cfg.latent_vars
        diversity = (num_vars - q.prob_perplexity) / num_vars
        loss = out.loss + cfg.diversity_weight * diversity + cfg.feature_penalty_weight * feature_pen
        counts = mask.sum(1)
        per_sample = torch.zeros(bsz, device=wav.device, dtype=torch.float32).index_add_(
            0, b_idx, out.per_sample.detach().float()) / counts.clamp(min=1)
        logs.update({
            "loss": loss.detach(),
            "contrastive": out.loss.detach(),
            "diversity": diversity.detach(),
            "prob_perplexity": q.prob_perplexity.detach(),
            "code_perplexity": q.code_perplexity.detach(),
            # distractors left after removing those with the positive's codes: chance accuracy is
            # about 1 / (1 + this), not 1 / (1 + num_negatives), once the codebook is coarse
            "valid_negatives": cand_valid[:, 1:].sum(1).float().mean().detach(),
        })
        logs.update(out.logs)
        return PretrainOutput(loss=loss, logs=logs, per_sample=per_sample)

    def _similarities(self, pred: Tensor, target: Tensor, codes: Tensor, b_idx: Tensor, counts: Tensor, bsz: int):
        """Cosine similarities ``(N, 1 + K + K_cross)``: column 0 is the positive.

        Within-utterance negatives are read from one ``(B, M, M)`` matrix of all masked-frame pairs of
        each utterance (a batched matmul), instead of gathering ``N * K`` target copies.
        """
        cfg = self.cfg
        n = pred.shape[0]
        pn = F.normalize(pred.float(), dim=-1, eps=1e-6)
        tn = F.normalize(target.float(), dim=-1, eps=1e-6)
        sims, valids = [], []
        cand = []
        if cfg.num_negatives > 0:
            start = torch.cumsum(counts, 0) - counts
            pos_in = torch.arange(n, device=pred.device) - start[b_idx]
            m = int(counts.max())
            d = pn.shape[1]
            pp = pn.new_zeros(bsz, m, d).index_put((b_idx, pos_in), pn)
            tp = tn.new_zeros(bsz, m, d).index_put((b_idx, pos_in), tn)
            rows = torch.bmm(pp, tp.transpose(1, 2))[b_idx, pos_in]  # (N, M)
            neg, neg_valid = sample_in_groups(b_idx, cfg.num_negatives, exclude_self=True)
            cols = torch.cat([pos_in[:, None], neg - start[b_idx][:, None]], dim=1)
            sims.append(rows.gather(1, cols))
            valids.append(torch.cat([torch.ones_like(neg_valid[:, :1]), neg_valid], dim=1))
            cand.append(torch.cat([torch.arange(n, device=pred.device)[:, None], neg], dim=1))
        else:
            sims.append((pn * tn).sum(-1, keepdim=True))
            valids.append(torch.ones(n, 1, dtype=torch.bool, device=pred.device))
            cand.append(torch.arange(n, device=pred.device)[:, None])
        if cfg.cross_sample_negatives > 0:
            cross, cross_valid = sample_in_groups(torch.zeros_like(b_idx), cfg.cross_sample_negatives)
            sims.append(torch.einsum("nd,nkd->nk", pn, tn[cross]))
            valids.append(cross_valid)
            cand.append(cross)
        sim = torch.cat(sims, dim=1)
        valid = torch.cat(valids, dim=1)
        cand_idx = torch.cat(cand, dim=1)
        # a negative whose codes equal the positive's is the same target: exclude it (never the positive)
        same = (codes[cand_idx] == codes[:, None, :]).all(-1)
        same[:, 0] = False
        valid = valid & ~same
        pos = torch.zeros_like(valid)
        pos[:, 0] = True
        return sim, pos, valid


def config_dict(cfg: Wav2Vec2Config) -> dict[str, Any]:
    return asdict(cfg)
