"""Filterbank frame encoder: an alternative to the raw-waveform conv stack for small models.

Why it exists: a randomly initialised raw-waveform conv encoder gives phase-dependent frames (at
init the cosine between adjacent 20 ms frames of synthetic speech is 0.30, the same as between
frames of *different* utterances; ``docs/experiments/mini-tts-w2v2-plateau.md``), so wav2vec 2.0's quantized targets
carry no structure until the encoder has learned a magnitude-like representation, which takes
thousands of large-batch updates. Log-mel filterbanks are phase-invariant from the first step, so a
small model has something to predict at once. Filterbank front-ends for contrastive/masked
pretraining are common practice (w2v-BERT, BEST-RQ, and ESPnet/SpeechBrain conformer encoders use
80-bin fbank with convolutional subsampling).

Layout: Kaldi fbank (25 ms window, 10 ms hop, ``snip_edges``, no dither: the batched implementation
in :mod:`audiocl.features.kaldi`) -> LayerNorm over the mel bins of each frame (gain invariance; no
statistics over time, so padding never leaks into valid frames) -> Conv1d over time (kernel 3,
stride 2: 20 ms frames, the conv encoder's rate) -> GELU. It has the :class:`ConvFeatureEncoder`
interface (``(B, T) -> (B, C, T')``, ``output_lengths``, ``receptive_field``, ``output_dim``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from audiocl.features.config import FbankConfig
from audiocl.features.kaldi import fbank_batch, resolve_high_freq
from audiocl.nn.context_augment import mel_warp


class FbankFrameEncoder(nn.Module):
    def __init__(self, dim: int, num_mel_bins: int = 80, sample_rate: int = 16000, kernel: int = 3, stride: int = 2):
        super().__init__()
        self.fbank_cfg = FbankConfig(sample_frequency=float(sample_rate), num_mel_bins=num_mel_bins, dither=0.0,
                                     snip_edges=True)
        self.mel_norm = nn.LayerNorm(num_mel_bins)
        self.conv = nn.Conv1d(num_mel_bins, dim, kernel, stride=stride)
        self.kernel, self.stride = kernel, stride
        self.output_dim = dim

    @staticmethod
    def frame_shift_for(sample_rate: int, stride: int = 2) -> int:
        """Samples per output frame: the fbank hop (10 ms) times the conv stride."""
        return FbankConfig(sample_frequency=float(sample_rate)).window_shift * stride

    def _fbank_frames(self, lengths: Tensor) -> Tensor:
        size, shift = self.fbank_cfg.window_size, self.fbank_cfg.window_shift
        frames = torch.div(lengths.long() - size, shift, rounding_mode="floor") + 1
        return frames.clamp(min=0)

    def output_lengths(self, lengths: Tensor) -> Tensor:
        frames = self._fbank_frames(lengths)
        out = torch.div(frames - self.kernel, self.stride, rounding_mode="floor") + 1
        return out.clamp(min=0)

    @property
    def receptive_field(self) -> int:
        return self.fbank_cfg.window_size + (self.kernel - 1) * self.fbank_cfg.window_shift

    def mel_range(self) -> tuple[float, float]:
        """``(low, high)`` Hz of the mel filterbank (``high_freq <= 0`` is an offset from Nyquist, as Kaldi)."""
        cfg = self.fbank_cfg
        return cfg.low_freq, resolve_high_freq(cfg.sample_frequency, cfg.high_freq)

    def forward(self, wav: Tensor, warp: Tensor | None = None) -> Tensor:
        """``warp (B,)``: optional frequency scale per utterance
        (:func:`~audiocl.nn.context_augment.mel_warp`), for context-only augmentation in pretraining."""
        # every utterance is framed over the full padded width: with snip_edges a valid frame never
        # reads padding, and the frames past an utterance's end are dropped by output_lengths.
        full = torch.full((wav.shape[0],), wav.shape[1], dtype=torch.long, device=wav.device)
        with torch.no_grad():
            feats, _ = fbank_batch(wav.float(), full, self.fbank_cfg)
            if warp is not None:
                feats = mel_warp(feats, warp, *self.mel_range())
        x = self.mel_norm(feats.to(wav.dtype))
        return F.gelu(self.conv(x.transpose(1, 2)))
