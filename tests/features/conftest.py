"""Fixtures of the features tests: real LibriVox/CMU speech from Debian's pocketsphinx-testdata and
speech synthesized with espeak-ng (resampled 22.05 -> 16 kHz through audiocl's own audio reader)."""

from __future__ import annotations

import glob
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

PS_DATA = Path("/usr/share/pocketsphinx/test/data")


def _real_speech() -> list[tuple[str, np.ndarray]]:
    import soundfile as sf

    out = []
    files = sorted(glob.glob(str(PS_DATA / "cards" / "*.wav")))[:3] + [
        str(PS_DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav")
    ]
    for f in files:
        if Path(f).is_file():
            out.append((Path(f).name, sf.read(f, dtype="float32")[0]))
    raw = PS_DATA / "goforward.raw"
    if raw.is_file():  # headerless 16 kHz signed 16-bit little-endian
        out.append((raw.name, np.fromfile(raw, dtype="<i2").astype(np.float32) / 32768.0))
    return out


@pytest.fixture(scope="session")
def real_speech():
    """Real recorded speech, 16 kHz, float32 in [-1, 1]."""
    utts = _real_speech()
    if len(utts) < 3:
        pytest.fail(f"pocketsphinx-testdata is missing under {PS_DATA}: install the Debian package")
    return utts


@pytest.fixture(scope="session")
def synth_speech(tmp_path_factory):
    """Two espeak-ng utterances (22.05 kHz wav) read back at 16 kHz with audiocl.data.audio.read_audio."""
    from audiocl.data.audio import read_audio

    exe = shutil.which("espeak-ng")
    if exe is None:
        pytest.fail("espeak-ng is not installed (Debian package espeak-ng)")
    folder = tmp_path_factory.mktemp("espeak")
    out = []
    for i, (voice, text) in enumerate([("en-us", "The quick brown fox jumps over the lazy dog."),
                                       ("en+f3", "Seven silver seals swam slowly south.")]):
        path = folder / f"synth{i}.wav"
        subprocess.run([exe, "-v", voice, "-s", "160", "-w", str(path), text], check=True, capture_output=True)
        out.append((path.name, read_audio(str(path), sample_rate=16000)))
    return out
