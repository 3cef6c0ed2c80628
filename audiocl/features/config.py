"""Typed configs of the three feature types: Kaldi fbank, Kaldi MFCC and librosa-style log-mel.

Option names are Kaldi's (``compute-fbank-feats --help``) with dashes turned into underscores, so a
Kaldi ``conf/fbank.conf`` carries over line by line (see :func:`audiocl.features.extractors.parse_kaldi_conf`).

Defaults are Kaldi's, with these deliberate exceptions (each says why):

* ``dither = 0.0`` (Kaldi: 1.0). Features are deterministic, as in ``torchaudio.compliance.kaldi``;
  with dither off, ``energy_floor = 1.0`` keeps the log energy of digital silence finite (Kaldi's
  own advice for ``--dither=0``).
* ``FbankConfig.num_mel_bins = 80`` (Kaldi: 23): the size ESPnet, WeNet and s3prl use for SSL/ASR.
* ``waveform_scale = 32768.0``: audiocl audio is float32 in [-1, 1]; Kaldi reads int16 samples.
  Scaling by 2**15 reproduces the numbers Kaldi's ``compute-fbank-feats`` writes (and what
  ``torchaudio.compliance.kaldi.fbank(wav * 32768)`` returns). Set 1.0 to work on the raw scale.

Not supported (as Kaldi options): VTLN warping (``--vtln-warp``), ``--min-duration``, ``--channel``
(channel selection happens when reading audio: ``audiocl extract --channel``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Union

from audiocl.errors import FeatureError

WINDOW_TYPES = ("povey", "hamming", "hanning", "rectangular", "blackman")


@dataclass
class KaldiFrameConfig:
    """Framing and windowing options shared by fbank and MFCC (Kaldi's ``FrameExtractionOptions``)."""

    sample_frequency: float = 16000.0
    frame_length: float = 25.0  # milliseconds
    frame_shift: float = 10.0  # milliseconds
    dither: float = 0.0
    preemphasis_coefficient: float = 0.97
    remove_dc_offset: bool = True
    window_type: str = "povey"
    round_to_power_of_two: bool = True
    blackman_coeff: float = 0.42
    snip_edges: bool = True
    waveform_scale: float = 32768.0

    @property
    def window_size(self) -> int:
        """Samples per frame (Kaldi truncates, it does not round)."""
        return int(self.sample_frequency * self.frame_length * 0.001)

    @property
    def window_shift(self) -> int:
        return int(self.sample_frequency * self.frame_shift * 0.001)

    @property
    def padded_window_size(self) -> int:
        size = self.window_size
        if self.round_to_power_of_two:
            return 1 if size <= 1 else 2 ** (size - 1).bit_length()
        return size

    def check(self) -> None:
        """Raise :class:`FeatureError` for option values Kaldi would also refuse."""
        name = type(self).__name__
        if self.sample_frequency <= 0:
            raise FeatureError(f"{name}: sample_frequency must be > 0, got {self.sample_frequency}")
        if self.window_size < 2:
            raise FeatureError(f"{name}: frame_length {self.frame_length} ms gives fewer than 2 samples")
        if self.window_shift < 1:
            raise FeatureError(f"{name}: frame_shift {self.frame_shift} ms gives less than 1 sample")
        if self.padded_window_size % 2:
            raise FeatureError(
                f"{name}: the FFT size {self.padded_window_size} is odd; set round_to_power_of_two=true "
                "or choose a frame_length with an even number of samples"
            )
        if not 0.0 <= self.preemphasis_coefficient <= 1.0:
            raise FeatureError(f"{name}: preemphasis_coefficient must be in [0, 1], got {self.preemphasis_coefficient}")
        if self.window_type not in WINDOW_TYPES:
            raise FeatureError(f"{name}: window_type {self.window_type!r} is not one of {', '.join(WINDOW_TYPES)}")


@dataclass
class FbankConfig(KaldiFrameConfig):
    """Kaldi ``compute-fbank-feats``: log mel filterbank energies (+ optional log energy column)."""

    num_mel_bins: int = 80
    low_freq: float = 20.0
    high_freq: float = 0.0  # <= 0: offset from Nyquist
    use_energy: bool = False
    energy_floor: float = 1.0
    raw_energy: bool = True
    htk_compat: bool = False
    use_log_fbank: bool = True
    use_power: bool = True
    subtract_mean: bool = False

    @property
    def dim(self) -> int:
        return self.num_mel_bins + int(self.use_energy)

    def check(self) -> None:
        super().check()
        _check_mel_range(self, self.num_mel_bins, self.low_freq, self.high_freq)


@dataclass
class MfccConfig(KaldiFrameConfig):
    """Kaldi ``compute-mfcc-feats``: DCT of log mel energies, liftered; C0 replaced by log energy."""

    num_mel_bins: int = 23
    num_ceps: int = 13
    cepstral_lifter: float = 22.0
    low_freq: float = 20.0
    high_freq: float = 0.0
    use_energy: bool = True
    energy_floor: float = 1.0
    raw_energy: bool = True
    htk_compat: bool = False
    subtract_mean: bool = False

    @property
    def dim(self) -> int:
        return self.num_ceps

    def check(self) -> None:
        super().check()
        _check_mel_range(self, self.num_mel_bins, self.low_freq, self.high_freq)
        if not 1 <= self.num_ceps <= self.num_mel_bins:
            raise FeatureError(f"MfccConfig: num_ceps {self.num_ceps} must be in [1, num_mel_bins={self.num_mel_bins}]")


@dataclass
class LogMelConfig:
    """Natural-log mel power spectrogram, exactly ``log(max(librosa.feature.melspectrogram(...), floor))``.

    That is: centred STFT (``center=True``, zero padding of ``n_fft // 2`` on both sides), periodic
    Hann window of ``win_length`` zero-padded to ``n_fft``, power spectrum (``power=2``), Slaney mel
    filterbank (``htk=False``, ``norm='slaney'``, librosa's default), then natural log with a floor
    of ``log_floor``. Defaults are Whisper's front end (25 ms / 10 ms at 16 kHz, 80 bins), but without
    Whisper's log10 / dynamic-range clamp / rescaling, which are model-specific. Input is the [-1, 1]
    waveform, unscaled. Frames: ``1 + len(wav) // hop_length``.
    """

    sample_rate: int = 16000
    n_fft: int = 400
    win_length: int = 0  # 0: n_fft
    hop_length: int = 160
    n_mels: int = 80
    fmin: float = 0.0
    fmax: float = 0.0  # <= 0: offset from Nyquist (0 = Nyquist)
    power: float = 2.0
    log_floor: float = 1e-10
    center: bool = True

    @property
    def dim(self) -> int:
        return self.n_mels

    @property
    def sample_frequency(self) -> float:
        return float(self.sample_rate)

    def check(self) -> None:
        win = self.win_length or self.n_fft
        if self.n_fft < 2 or not 1 <= win <= self.n_fft:
            raise FeatureError(f"LogMelConfig: need 2 <= n_fft and 1 <= win_length <= n_fft, got {self.n_fft}, {win}")
        if self.hop_length < 1:
            raise FeatureError(f"LogMelConfig: hop_length must be >= 1, got {self.hop_length}")
        if self.log_floor <= 0:
            raise FeatureError(f"LogMelConfig: log_floor must be > 0, got {self.log_floor}")
        nyquist = self.sample_rate / 2
        fmax = self.fmax if self.fmax > 0 else nyquist + self.fmax
        if not 0 <= self.fmin < fmax <= nyquist:
            raise FeatureError(f"LogMelConfig: need 0 <= fmin < fmax <= {nyquist}, got fmin={self.fmin} fmax={fmax}")


FeatureConfig = Union[FbankConfig, MfccConfig, LogMelConfig]

FEATURE_CONFIGS: dict[str, type] = {"fbank": FbankConfig, "mfcc": MfccConfig, "logmel": LogMelConfig}


def feature_type(cfg: FeatureConfig) -> str:
    """Name of the feature type of ``cfg`` (key of :data:`FEATURE_CONFIGS`)."""
    for name, cls in FEATURE_CONFIGS.items():
        if type(cfg) is cls:
            return name
    raise TypeError(f"not a feature config: {type(cfg).__name__}")


def config_key(cfg: FeatureConfig) -> tuple:
    """Hashable identity of a config (caches of mel banks and windows are keyed on it)."""
    return (type(cfg).__name__,) + dataclasses.astuple(cfg)


def _check_mel_range(cfg, num_bins: int, low: float, high: float) -> None:
    name = type(cfg).__name__
    nyquist = 0.5 * cfg.sample_frequency
    high = high if high > 0 else high + nyquist
    if num_bins < 3:
        raise FeatureError(f"{name}: num_mel_bins must be >= 3, got {num_bins}")
    if not (0.0 <= low < nyquist and 0.0 < high <= nyquist and low < high):
        raise FeatureError(
            f"{name}: bad low_freq {low} / high_freq {high} for Nyquist {nyquist} "
            f"(sample_frequency {cfg.sample_frequency})"
        )
