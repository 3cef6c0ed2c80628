"""Kaldi-compatible acoustic features (fbank, MFCC, log-mel), CMVN and feature writers.

Library entry points: :func:`compute_features` (one waveform) and :func:`compute_features_batch`
(a list of unequal-length waveforms on CPU or GPU). Configs: :class:`FbankConfig`,
:class:`MfccConfig`, :class:`LogMelConfig`.

Names are resolved lazily, so ``audiocl --help`` and commands that only need configs do not pay
for importing torch.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "FeatureBatch": "audiocl.features.compute",
    "compute_features": "audiocl.features.compute",
    "compute_features_batch": "audiocl.features.compute",
    "compute_padded": "audiocl.features.compute",
    "FEATURE_CONFIGS": "audiocl.features.config",
    "FbankConfig": "audiocl.features.config",
    "LogMelConfig": "audiocl.features.config",
    "MfccConfig": "audiocl.features.config",
    "feature_type": "audiocl.features.config",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'audiocl.features' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
