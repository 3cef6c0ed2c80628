"""CLAP: contrastive language-audio pretraining ("CLAP: Learning Audio Concepts from Natural Language
Supervision", Elizalde et al., 2023; "Large-scale Contrastive Language-Audio Pretraining", Wu et al., 2023).

Two towers map a clip and a caption into one L2-normalised space:

- **audio**: a log-mel CNN (:class:`audiocl.nn.audio_cnn.AudioCNN`, the default) or a self-supervised
  upstream of the model registry (``wav2vec2`` / ``cpc``, masked mean over one layer's frames), so that
  pretraining can initialise CLAP;
- **text**: the all-MiniLM-L6-v2 sentence encoder (:mod:`audiocl.nn.text_tower`), frozen by default
  (then it is not part of the model's weights and its embeddings can be cached) or fine-tuned; its
  sentence embedding (``text.pooling: mean``) or a trainable, order-aware pooling of its token states
  (``attention``, :mod:`audiocl.nn.token_pooling`, part of the model's weights);
- each tower is followed by a two-layer MLP projection (LAION-CLAP's ``mlp`` head: Linear, ReLU, Linear);
- a learnable logit scale ``s = exp(t)`` with ``t`` initialised at ``log(1/0.07)`` and ``s`` clamped at
  100 (CLIP's rule), so ``similarity * s`` are the logits.

**Deterministic audio embeddings.** The audio tower always sees chunks of exactly ``chunk_seconds``
(shorter audio is zero-padded and the padding masked), so a clip's embedding does not depend on the
other clips of its batch. A clip longer than one chunk is cut into consecutive chunks from its start;
a tail shorter than ``min_tail_seconds`` is dropped unless it is the whole clip; the clip's embedding
is the L2-normalised mean of its chunks' embeddings. No random crop happens at inference.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.errors import ConfigError
from audiocl.features.config import LogMelConfig
from audiocl.features.logmel import logmel_batch
from audiocl.nn.audio_cnn import AudioCNN, AudioCNNConfig
from audiocl.nn.text_tower import MINILM_DIM, SentenceEncoder, TextTowerConfig
from audiocl.nn.token_pooling import TextFeatures, TokenPooler, TokenStates


def _default_logmel() -> LogMelConfig:
    return LogMelConfig(sample_rate=16000, n_fft=512, win_length=400, hop_length=160, n_mels=64)


@dataclass
class CLAPConfig:
    sample_rate: int = 16000
    chunk_seconds: float = 10.0
    """Length of the audio tower's input; LAION-CLAP uses 10 s."""
    min_tail_seconds: float = 1.0
    """A last chunk shorter than this is dropped when the clip has other chunks."""
    audio_tower: str = "cnn"
    """``cnn`` (log-mel CNN) or ``upstream`` (a registered self-supervised model)."""
    logmel: LogMelConfig = field(default_factory=_default_logmel)
    cnn: AudioCNNConfig = field(default_factory=AudioCNNConfig)
    upstream_type: str = ""
    """Registry name of the upstream (``wav2vec2`` / ``cpc``) when ``audio_tower=upstream``."""
    upstream_model: dict[str, Any] = field(default_factory=dict)
    """The upstream's model config (copied from its release, so a CLAP release rebuilds it alone)."""
    upstream_layer: int = -1
    """Which layer of ``extract_layers`` to pool (-1 = last)."""
    freeze_upstream: bool = False
    text: TextTowerConfig = field(default_factory=TextTowerConfig)
    text_dim: int = MINILM_DIM
    """Width of the text tower's output (384 for all-MiniLM-L6-v2)."""
    embed_dim: int = 512
    proj_hidden: int = 512
    proj_dropout: float = 0.1
    init_temperature: float = 0.07
    max_logit_scale: float = 100.0

    def check(self) -> None:
        self.text.check()
        if self.audio_tower not in ("cnn", "upstream"):
            raise ConfigError(f"clap audio_tower must be 'cnn' or 'upstream', got {self.audio_tower!r}")
        if self.audio_tower == "upstream" and not self.upstream_type:
            raise ConfigError("clap audio_tower=upstream needs upstream_type (wav2vec2 or cpc) and its model config")
        if self.chunk_seconds <= 0:
            raise ConfigError(f"clap chunk_seconds must be > 0, got {self.chunk_seconds}")
        if self.logmel.sample_rate != self.sample_rate:
            raise ConfigError(f"clap logmel.sample_rate {self.logmel.sample_rate} != sample_rate {self.sample_rate}")
        if not (self.init_temperature > 0 and 1.0 / self.init_temperature <= self.max_logit_scale):
            raise ConfigError("clap init_temperature must be > 0 with 1/init_temperature <= max_logit_scale")

    @property
    def chunk_samples(self) -> int:
        return int(round(self.chunk_seconds * self.sample_rate))


def logmel_valid_frames(lengths: Tensor, cfg: LogMelConfig) -> Tensor:
    """Frames of a chunk that belong to its clip (centred framing: ``length // hop + 1``); later frames of the
    fixed-length chunk are padding, masked out of the CNN's pooling."""
    return torch.div(lengths, cfg.hop_length, rounding_mode="floor") + 1


def pool_chunks(per_chunk: Tensor, owner: Tensor, num_clips: int) -> Tensor:
    """Clip embeddings ``(num_clips, E)``: the L2-normalised mean of each clip's chunk embeddings."""
    summed = torch.zeros(num_clips, per_chunk.shape[1], device=per_chunk.device, dtype=per_chunk.dtype)
    summed.index_add_(0, owner.to(per_chunk.device), per_chunk)
    return F.normalize(summed, dim=-1)


class Projection(nn.Module):
    """LAION-CLAP's projection head: Linear, ReLU, (dropout), Linear."""

    def __init__(self, din: int, hidden: int, dout: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(din, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, dout))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class UpstreamPooler(nn.Module):
    """A registered self-supervised model as audio tower: masked mean over one layer's frames."""

    def __init__(self, cfg: CLAPConfig):
        super().__init__()
        from audiocl.models.registry import build

        self.upstream = build(cfg.upstream_type, dict(cfg.upstream_model))
        self.layer = cfg.upstream_layer
        if cfg.freeze_upstream:
            self.upstream.requires_grad_(False)
        with torch.no_grad():  # the layer width, from one short probe in eval mode
            probe = torch.zeros(1, max(int(getattr(self.upstream, "min_samples", 400)) * 2, 3200))
            self.upstream.eval()
            layers, _ = self.upstream.extract_layers(probe, torch.tensor([probe.shape[1]]))
            self.upstream.train()
        self.out_dim = int(layers[self.layer].shape[-1])

    def forward(self, wav: Tensor, lengths: Tensor) -> Tensor:
        layers, flen = self.upstream.extract_layers(wav, lengths)
        h = layers[self.layer]
        keep = (torch.arange(h.shape[1], device=h.device)[None, :] < flen.to(h.device)[:, None]).to(h.dtype)
        return (h * keep[..., None]).sum(1) / keep.sum(1, keepdim=True).clamp(min=1)


class CLAPModel(nn.Module):
    """Audio and text towers with projections and a clamped learnable logit scale (module docstring)."""

    def __init__(self, cfg: CLAPConfig | None = None, text_encoder: SentenceEncoder | None = None):
        super().__init__()
        self.cfg = cfg = cfg or CLAPConfig()
        cfg.check()
        if cfg.audio_tower == "cnn":
            self.audio_encoder: nn.Module = AudioCNN(cfg.logmel.n_mels, cfg.cnn)
            audio_dim = self.audio_encoder.out_dim
        else:
            self.audio_encoder = UpstreamPooler(cfg)
            audio_dim = self.audio_encoder.out_dim
        self.audio_proj = Projection(audio_dim, cfg.proj_hidden, cfg.embed_dim, cfg.proj_dropout)
        if cfg.text.pooling == "attention":
            self.text_pooler = TokenPooler(cfg.text_dim, cfg.text.pooler)
        self.text_proj = Projection(cfg.text_dim, cfg.proj_hidden, cfg.embed_dim, cfg.proj_dropout)
        self.log_logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / cfg.init_temperature)))
        # a frozen text tower stays outside the module tree: not in state_dict, parameters or releases
        self._frozen_text: list[SentenceEncoder] = []
        if not cfg.text.freeze:
            self.text_encoder = text_encoder or SentenceEncoder(cfg.text)
        elif text_encoder is not None:
            self._frozen_text.append(text_encoder)

    # ----------------------------------------------------------------- text
    def text_tower(self) -> SentenceEncoder:
        """The sentence encoder (built on first use when frozen)."""
        if not self.cfg.text.freeze:
            return self.text_encoder
        if not self._frozen_text:
            self._frozen_text.append(SentenceEncoder(self.cfg.text))
        enc = self._frozen_text[0]
        device = self.log_logit_scale.device
        if next(enc.parameters()).device != device:
            enc.to(device)
        return enc

    def text_features(self, texts: str | Sequence[str]) -> TextFeatures:
        """The text tower's outputs, what the cache holds when the tower is frozen: sentence embeddings
        ``(N, text_dim)`` for ``mean`` pooling, token states for ``attention`` pooling (kept in float16 when
        frozen, the cache's precision, so cached and freshly encoded captions embed alike)."""
        tower = self.text_tower()
        if self.cfg.text.pooling == "mean":
            return tower.encode(texts)
        tokens = tower.encode_tokens(texts)
        return tokens.to(dtype=torch.float16) if self.cfg.text.freeze else tokens

    def embed_text_features(self, feats: TextFeatures) -> Tensor:
        """Projected, L2-normalised text embeddings from :meth:`text_features` outputs (pooled first when
        they are token states)."""
        if isinstance(feats, TokenStates):
            if self.cfg.text.pooling != "attention":
                raise ConfigError("token states given to a CLAP model with text.pooling=mean; "
                                  "its text features are sentence embeddings")
            feats = self.text_pooler(feats.to(self.log_logit_scale.device))
        return F.normalize(self.text_proj(feats), dim=-1)

    def embed_text(self, texts: str | Sequence[str]) -> Tensor:
        return self.embed_text_features(self.text_features(texts))

    # ----------------------------------------------------------------- audio
    def chunk_logmel(self, wav: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """Log-mel of fixed-length chunks ``(B, chunk_samples)`` with true ``lengths``: the CNN's input
        ``(B, frames, n_mels)`` and its padding mask ``(B, frames)`` (``True`` = after the clip's end).
        Every chunk is framed over its full (zero-padded) length, so its features do not depend on its batch;
        :func:`logmel_valid_frames` frames count as the clip's."""
        full = torch.full_like(lengths, wav.shape[1])
        feats, _ = logmel_batch(wav, full, self.cfg.logmel)
        valid = logmel_valid_frames(lengths, self.cfg.logmel).clamp(max=feats.shape[1])
        return feats, torch.arange(feats.shape[1], device=feats.device)[None, :] >= valid[:, None]

    def audio_features(self, wav: Tensor, lengths: Tensor) -> Tensor:
        """Audio-tower output for fixed-length chunks ``(B, chunk_samples)`` with true ``lengths``."""
        if self.cfg.audio_tower == "upstream":
            return self.audio_encoder(wav, lengths)
        return self.audio_encoder(*self.chunk_logmel(wav, lengths))

    def embed_audio_chunks(self, wav: Tensor, lengths: Tensor) -> Tensor:
        """Projected, L2-normalised embedding of each chunk of a ``(B, chunk_samples)`` batch."""
        return F.normalize(self.audio_proj(self.audio_features(wav, lengths)), dim=-1)

    def embed_logmel_chunks(self, feats: Tensor, padding: Tensor) -> Tensor:
        """The same embedding from precomputed :meth:`chunk_logmel` features (log-mel CNN tower only): training
        reads them from a cache, and evaluating several models frames the test audio once."""
        if self.cfg.audio_tower != "cnn":
            raise ConfigError("log-mel input needs the log-mel CNN audio tower (model.audio_tower=cnn)")
        return F.normalize(self.audio_proj(self.audio_encoder(feats, padding)), dim=-1)

    def chunk(self, clips: Sequence[Tensor]) -> tuple[Tensor, Tensor, Tensor]:
        """Cut 1-D clips into padded fixed chunks: ``(chunks (K, L), lengths (K,), owner (K,))``."""
        size = self.cfg.chunk_samples
        tail = int(self.cfg.min_tail_seconds * self.cfg.sample_rate)
        pieces, lengths, owner = [], [], []
        for i, clip in enumerate(clips):
            n = int(clip.shape[0])
            starts = list(range(0, max(n, 1), size))
            if len(starts) > 1 and n - starts[-1] < tail:
                starts.pop()
            for s in starts:
                piece = clip[s:s + size]
                lengths.append(int(piece.shape[0]))
                pieces.append(F.pad(piece, (0, size - piece.shape[0])))
                owner.append(i)
        device = self.log_logit_scale.device
        return (torch.stack(pieces).to(device), torch.tensor(lengths, device=device),
                torch.tensor(owner, device=device))

    def embed_audio(self, clips: Sequence[Tensor], batch_size: int = 32) -> Tensor:
        """Deterministic clip embeddings ``(N, embed_dim)``: the normalised mean over fixed chunks."""
        chunks, lengths, owner = self.chunk(clips)
        out = []
        for s in range(0, chunks.shape[0], batch_size):
            out.append(self.embed_audio_chunks(chunks[s:s + batch_size], lengths[s:s + batch_size]))
        return pool_chunks(torch.cat(out, 0), owner, len(clips))

    # ----------------------------------------------------------------- scale
    def logit_scale(self) -> Tensor:
        """``exp(t)`` clamped at ``max_logit_scale`` (the gradient stops at the clamp, as in CLIP)."""
        return self.log_logit_scale.clamp(max=math.log(self.cfg.max_logit_scale)).exp()

    def clamp_logit_scale_(self) -> None:
        """Keep the stored parameter within the clamp too (CLIP clamps the parameter after each step)."""
        with torch.no_grad():
            self.log_logit_scale.clamp_(0.0, math.log(self.cfg.max_logit_scale))

    def param_groups(self, weight_decay: float) -> list[dict[str, Any]]:
        """AdamW groups: weight decay on matrices and conv kernels only; biases, norms and the logit
        scale get none (CLIP / LAION-CLAP exclude gains, biases and the temperature)."""
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "log_logit_scale" in name else decay).append(p)
        return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
