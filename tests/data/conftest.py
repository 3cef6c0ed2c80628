"""Fixtures of the data tests: a small valid Kaldi data dir built from tones the test writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf


def write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


@pytest.fixture
def make_datadir(tmp_path):
    """Factory: a valid data dir with ``num_spk`` speakers x ``per_spk`` utterances (0.5 s + 0.1 s * i)."""

    def _make(name: str = "data", num_spk: int = 2, per_spk: int = 3, sample_rate: int = 16000,
              with_text: bool = True, extra: bool = True) -> Path:
        d = tmp_path / name
        wavs = tmp_path / f"{name}_wav"
        d.mkdir(parents=True)
        wavs.mkdir(parents=True)
        rng = np.random.default_rng(0)
        wav_scp, u2s, text, style = [], [], [], []
        i = 0
        for s in range(num_spk):
            for k in range(per_spk):
                utt = f"spk{s}-utt{k}"
                n = int((0.5 + 0.1 * i) * sample_rate)
                x = (0.1 * rng.standard_normal(n)).astype(np.float32)
                p = wavs / f"{utt}.wav"
                sf.write(p, x, sample_rate)
                wav_scp.append(f"{utt} {p}")
                u2s.append(f"{utt} spk{s}")
                text.append(f"{utt} HELLO WORLD {i}")
                style.append(f"{utt} {'fast' if i % 2 else 'slow'}")
                i += 1
        write_lines(d / "wav.scp", sorted(wav_scp))
        write_lines(d / "utt2spk", sorted(u2s))
        if with_text:
            write_lines(d / "text", sorted(text))
        if extra:
            write_lines(d / "utt2style", sorted(style))
        spk2utt = [f"spk{s} " + " ".join(f"spk{s}-utt{k}" for k in range(per_spk)) for s in range(num_spk)]
        write_lines(d / "spk2utt", spk2utt)
        return d

    return _make
