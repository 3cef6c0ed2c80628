"""Fixtures shared by every test folder. Area-specific fixtures live in tests/<area>/conftest.py."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf


@pytest.fixture
def write_tone(tmp_path):
    """Factory: write a short harmonic tone with a little noise (speech-like spectrum) to a wav file."""

    def _write(name: str = "tone.wav", seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0,
               channels: int = 1, subtype: str = "PCM_16"):
        rng = np.random.default_rng(seed)
        t = np.arange(int(seconds * sample_rate)) / sample_rate
        f0 = 120 + 40 * rng.random()
        wav = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.random()) for k in range(1, 8))
        wav = wav + 0.01 * rng.standard_normal(t.shape)
        wav = (0.5 * wav / np.abs(wav).max()).astype(np.float32)
        if channels > 1:
            wav = np.stack([wav * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wav, sample_rate, subtype=subtype)
        return path

    return _write
