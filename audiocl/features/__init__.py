"""Kaldi-compatible acoustic features (fbank, MFCC, log-mel), CMVN and feature writers.

Library entry points: :func:`compute_features` (one waveform) and :func:`compute_features_batch`
(a list of unequal-length waveforms on CPU or GPU). Configs: :class:`FbankConfig`,
:class:`MfccConfig`, :class:`LogMelConfig`.
"""

from audiocl.features.compute import FeatureBatch, compute_features, compute_features_batch, compute_padded
from audiocl.features.config import FEATURE_CONFIGS, FbankConfig, LogMelConfig, MfccConfig, feature_type

__all__ = [
    "FEATURE_CONFIGS",
    "FbankConfig",
    "FeatureBatch",
    "LogMelConfig",
    "MfccConfig",
    "compute_features",
    "compute_features_batch",
    "compute_padded",
    "feature_type",
]
