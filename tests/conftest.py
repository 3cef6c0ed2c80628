"""Fixtures shared by every test folder. Area-specific fixtures live in tests/<area>/conftest.py.

``write_tone`` writes one speech-like wav; ``build_data_dir`` writes a whole Kaldi data dir of them
(the one data-dir builder of the test suite; session-scoped, so session fixtures can use it too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import pytest
import soundfile as sf


def speech_like_tone(num_samples: int, sample_rate: int, rng: np.random.Generator, f0: float | None = None,
                     harmonics: int = 7, noise: float = 0.01) -> np.ndarray:
    """A harmonic tone plus a little noise (a speech-like spectrum), float32 peaking at 0.5."""
    t = np.arange(num_samples) / sample_rate
    f0 = 120 + 40 * rng.random() if f0 is None else f0
    wav = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t + rng.random()) for k in range(1, harmonics + 1))
    wav = wav + noise * rng.standard_normal(t.shape)
    return (0.5 * wav / max(1e-6, float(np.abs(wav).max()))).astype(np.float32)


@pytest.fixture
def write_tone(tmp_path):
    """Factory: write a short harmonic tone with a little noise (speech-like spectrum) to a wav file."""

    def _write(name: str = "tone.wav", seconds: float = 1.0, sample_rate: int = 16000, seed: int = 0,
               channels: int = 1, subtype: str = "PCM_16"):
        wav = speech_like_tone(int(seconds * sample_rate), sample_rate, np.random.default_rng(seed))
        if channels > 1:
            wav = np.stack([wav * (0.5 + 0.5 * c / channels) for c in range(channels)], axis=1)
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, wav, sample_rate, subtype=subtype)
        return path

    return _write


def _keyed(path: Path, entries: Mapping[str, str]) -> None:
    """A Kaldi keyed file, C-sorted by key (the order every data dir file must have)."""
    path.write_text("".join(f"{k} {entries[k]}".rstrip() + "\n" for k in sorted(entries)), encoding="utf-8")


def _grid(num_spk: int, per_spk: int) -> dict[str, dict]:
    """``spk{s}-utt{k}`` utterances of 0.5 s + 0.1 s * i, texts ``HELLO WORLD i``, styles slow/fast alternating."""
    utts, i = {}, 0
    for s in range(num_spk):
        for k in range(per_spk):
            utts[f"spk{s}-utt{k}"] = dict(spk=f"spk{s}", seconds=0.5 + 0.1 * i, text=f"HELLO WORLD {i}",
                                          style="fast" if i % 2 else "slow")
            i += 1
    return utts


def build_data_dir(root: str | Path, utts: Mapping[str, Mapping] | None = None, *, num_spk: int = 2,
                   per_spk: int = 3, sample_rate: int = 16000, seed: int = 0,
                   files: tuple[str, ...] = ("text", "utt2style"), recordings: Mapping[str, str | Path] | None = None,
                   segments: Mapping[str, tuple[str, float, float]] | None = None,
                   audio: Callable[[str, Mapping, np.random.Generator], np.ndarray] | None = None) -> Path:
    """Write a valid Kaldi data dir at ``root`` and return it.

    ``utts``: utterance id -> any of ``spk`` (default ``spk1``), ``seconds`` (1.0), ``text`` ("HELLO"),
    ``style`` (written to ``utt2style``), ``f0`` (Hz of the tone); default: ``num_spk`` x ``per_spk``
    utterances ``spk{s}-utt{k}``. ``files``: optional files to write, of ``text``, ``utt2style``,
    ``utt2dur``; ``wav.scp``, ``utt2spk`` and ``spk2utt`` are always written. The audio of each
    utterance is a speech-like tone in the folder ``<root>_wav`` beside the data dir (Kaldi data dirs
    hold no audio), or ``audio(utt, spec, rng)`` samples if given. ``recordings`` (recording -> existing
    audio path) writes no audio: ``wav.scp`` lists them, and the utterances are the recordings or, with
    ``segments`` (utterance -> (recording, start, end)), the segments.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    if utts is None:
        utts = dict.fromkeys(segments or recordings, {}) if (segments or recordings) else _grid(num_spk, per_spk)
    spec = {u: {"spk": "spk1", "seconds": 1.0, "text": "HELLO", "style": None, "f0": None, **utts[u]} for u in utts}
    durations: dict[str, float] = {}
    if recordings is not None:
        wav_scp = {rec: str(path) for rec, path in recordings.items()}
    else:
        wav_dir = root.parent / f"{root.name}_wav"
        wav_dir.mkdir(parents=True, exist_ok=True)
        wav_scp = {}
        for utt in sorted(spec):
            s = spec[utt]
            n = int(s["seconds"] * sample_rate)
            wav = audio(utt, s, rng) if audio else speech_like_tone(n, sample_rate, rng, s["f0"], noise=0.02)
            sf.write(wav_dir / f"{utt}.wav", wav, sample_rate, subtype="PCM_16")
            wav_scp[utt] = str(wav_dir / f"{utt}.wav")
            durations[utt] = len(wav) / sample_rate
    _keyed(root / "wav.scp", wav_scp)
    if segments:
        _keyed(root / "segments", {u: f"{r} {start} {end}" for u, (r, start, end) in segments.items()})
    _keyed(root / "utt2spk", {u: s["spk"] for u, s in spec.items()})
    spk2utt: dict[str, list[str]] = {}
    for utt in sorted(spec):
        spk2utt.setdefault(spec[utt]["spk"], []).append(utt)
    _keyed(root / "spk2utt", {spk: " ".join(us) for spk, us in spk2utt.items()})
    if "text" in files:
        _keyed(root / "text", {u: s["text"] for u, s in spec.items()})
    if "utt2style" in files and any(s["style"] is not None for s in spec.values()):
        _keyed(root / "utt2style", {u: s["style"] for u, s in spec.items() if s["style"] is not None})
    if "utt2dur" in files:
        _keyed(root / "utt2dur", {u: f"{d:.4f}" for u, d in durations.items()})
    return root


@pytest.fixture(scope="session")
def data_dir_builder():
    """The one data-dir builder: ``data_dir_builder(tmp_path / "train", utts={...}, files=(...))``.

    See :func:`build_data_dir` for the arguments. Session-scoped so that session fixtures (a data dir
    shared by many tests) can use it with ``tmp_path_factory``.
    """
    return build_data_dir


@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs when this process may mount one (root on Linux), else ``None`` (tests then make the
    write fail with ENOSPC themselves)."""
    import shutil
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        yield None
        return
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        yield None
        return
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
