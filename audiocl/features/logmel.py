"""Batched natural-log mel spectrogram equal to ``log(max(librosa.feature.melspectrogram(...), floor))``.

See :class:`audiocl.features.config.LogMelConfig` for the exact definition. Batched the same way as
the Kaldi features: the zero ``center`` padding is the same for every row, so a zero-padded batch
is framed with one ``unfold``; row ``b`` has ``1 + len_b // hop_length`` valid frames.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch

from audiocl.features.config import LogMelConfig


def slaney_mel(freq: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox mel scale (librosa's default): linear to 1 kHz, logarithmic above."""
    freq = np.asarray(freq, dtype=np.float64)
    f_sp = 200.0 / 3  # 3 mels per 200 Hz on the linear part
    min_log_hz, logstep = 1000.0, math.log(6.4) / 27.0
    linear = freq / f_sp
    return np.where(freq >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(freq, 1e-10) / min_log_hz) / logstep, linear)


def slaney_mel_to_hz(mels: np.ndarray) -> np.ndarray:
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, math.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(mels >= min_log_mel, min_log_hz * np.exp(logstep * (mels - min_log_mel)), f_sp * mels)


def slaney_mel_filters(sample_rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Area-normalised triangular filters on the Slaney mel scale, shape ``(n_fft // 2 + 1, n_mels)``.

    Edges are ``n_mels + 2`` points equally spaced in mel between ``fmin`` and ``fmax``; each triangle
    is scaled by ``2 / (right_hz - left_hz)`` so that every filter has (about) unit area (Slaney norm).
    """
    fft_freqs = np.linspace(0.0, sample_rate / 2.0, 1 + n_fft // 2)
    edges_hz = slaney_mel_to_hz(np.linspace(slaney_mel(fmin), slaney_mel(fmax), n_mels + 2))
    left, center, right = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (fft_freqs[None, :] - left) / (center - left)
    falling = (right - fft_freqs[None, :]) / (right - center)
    weights = np.maximum(0.0, np.minimum(rising, falling)) * (2.0 / (right - left))
    return weights.T.astype(np.float32)


@functools.lru_cache(maxsize=32)
def _filters_cached(sample_rate, n_fft, n_mels, fmin, fmax, device: str) -> torch.Tensor:
    return torch.from_numpy(slaney_mel_filters(sample_rate, n_fft, n_mels, fmin, fmax)).to(device)


@functools.lru_cache(maxsize=32)
def _window_cached(n_fft: int, win_length: int, device: str) -> torch.Tensor:
    """Periodic Hann of ``win_length`` centred in ``n_fft`` zeros (librosa's ``pad_center``)."""
    n = torch.arange(win_length, dtype=torch.float64)
    hann = 0.5 - 0.5 * torch.cos(2 * math.pi * n / win_length)
    left = (n_fft - win_length) // 2
    window = torch.zeros(n_fft, dtype=torch.float64)
    window[left:left + win_length] = hann
    return window.to(torch.float32).to(device)


def logmel_num_frames(lengths: torch.Tensor, cfg: LogMelConfig) -> torch.Tensor:
    if cfg.center:
        return torch.div(lengths, cfg.hop_length, rounding_mode="floor") + 1
    frames = torch.div(lengths - cfg.n_fft, cfg.hop_length, rounding_mode="floor") + 1
    return frames.clamp(min=0)


def _logmel_rows(frames: torch.Tensor, cfg: LogMelConfig) -> torch.Tensor:
    """``(N, n_fft)`` raw frames -> ``(N, n_mels)`` log-mel."""
    device = str(frames.device)
    spectrum = torch.fft.rfft(frames * _window_cached(cfg.n_fft, cfg.win_length or cfg.n_fft, device))
    if cfg.power == 2.0:
        spectrum = spectrum.real.square() + spectrum.imag.square()
    else:
        spectrum = spectrum.abs()
        if cfg.power != 1.0:
            spectrum = spectrum.pow(cfg.power)
    nyquist = cfg.sample_rate / 2
    fmax = cfg.fmax if cfg.fmax > 0 else nyquist + cfg.fmax
    mel = spectrum @ _filters_cached(cfg.sample_rate, cfg.n_fft, cfg.n_mels, float(cfg.fmin), float(fmax), device)
    return mel.clamp(min=cfg.log_floor).log()


def logmel_batch(wavs: torch.Tensor, lengths: torch.Tensor, cfg: LogMelConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Log-mel of a padded batch ``(B, T)``: ``(B, F, n_mels)`` (padded frames zero) and ``num_frames``.

    On the CPU only valid frames are computed, in cache-sized pieces (as for the Kaldi features).
    """
    from audiocl.features.kaldi import CPU_CHUNK_FRAMES

    wavs = wavs.to(torch.float32)
    counts = logmel_num_frames(lengths.to(wavs.device), cfg)
    max_frames = int(counts.max()) if counts.numel() else 0
    batch = wavs.shape[0]
    if max_frames == 0:
        return wavs.new_zeros(batch, 0, cfg.n_mels), counts
    half = cfg.n_fft // 2 if cfg.center else 0
    span = (max_frames - 1) * cfg.hop_length + cfg.n_fft
    signal = torch.nn.functional.pad(wavs, (half, max(0, span - half - wavs.shape[1])))[:, :span]
    frames = signal.unfold(1, cfg.n_fft, cfg.hop_length)
    if frames.device.type == "cpu":
        out = frames.new_zeros(batch, max_frames, cfg.n_mels)
        for b, n in enumerate(counts.tolist()):
            for start in range(0, n, CPU_CHUNK_FRAMES):
                stop = min(n, start + CPU_CHUNK_FRAMES)
                out[b, start:stop] = _logmel_rows(frames[b, start:stop], cfg)
        return out, counts
    feats = _logmel_rows(frames.reshape(batch * max_frames, cfg.n_fft), cfg).view(batch, max_frames, cfg.n_mels)
    mask = torch.arange(max_frames, device=wavs.device).unsqueeze(0) >= counts.unsqueeze(1)
    return feats.masked_fill(mask.unsqueeze(-1), 0.0), counts
