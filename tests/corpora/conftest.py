"""Small folders in the published layouts of Clotho, AudioCaps and ESC-50 (tiny sine wavs), shared by the
preparation tests and the prepare-then-evaluate tests of this folder.

``caption_layouts`` hands out :class:`CaptionLayouts`; its defaults are the folders the preparation tests
expect (2 + 1 Clotho clips, 2 + 1 AudioCaps clips, ESC-50 with 2 classes in 2 folds); the evaluation tests
ask for more clips and classes so that retrieval and top-5 scores are not trivially perfect.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Sequence

import numpy as np
import pytest
import soundfile as sf

CLOTHO_HEADER = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]
CLOTHO_CLIPS = {"development": ("Rain on a tin roof.wav", "birds, morning.wav"), "evaluation": ("Door creak 01.wav",)}
AUDIOCAPS_HEADER = ["audiocap_id", "youtube_id", "start_time", "caption"]
ESC50_HEADER = ["filename", "fold", "target", "category", "esc10", "src_file", "take"]
ESC50_CATEGORIES = ("dog", "chirping_birds")


class CaptionLayouts:
    """Writers of the corpora's published layouts and of their parts (a wav, a CSV)."""

    @staticmethod
    def wav(path: Path, sr: int = 44100, seconds: float = 0.5, channels: int = 1, freq: float = 440.0) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(sr * seconds)) / sr
        x = 0.3 * np.sin(2 * np.pi * freq * t)
        sf.write(str(path), np.stack([x] * channels, axis=1) if channels > 1 else x, sr, subtype="PCM_16")

    @staticmethod
    def csv(path: Path, header: list[str], rows: list[list]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)

    def clotho(self, root: Path, clips: dict[str, Sequence[str]] = CLOTHO_CLIPS) -> Path:
        """``clotho_captions_<split>.csv`` and ``<split>/<file_name>``; five captions per clip that name it."""
        for split, names in clips.items():
            rows = []
            for k, name in enumerate(names):
                self.wav(root / split / name, freq=300 + 100 * k)
                rows.append([name] + [f"{name[:-4].lower()} caption {i}, with a comma" for i in range(1, 6)])
            self.csv(root / f"clotho_captions_{split}.csv", CLOTHO_HEADER, rows)
        return root

    def audiocaps(self, root: Path, test_clips: int = 1) -> Path:
        """``train.csv`` (one caption per clip, two file-name conventions, a stereo 32 kHz source) and
        ``test.csv`` with five captions per clip in rows out of ``audiocap_id`` order."""
        self.csv(root / "train.csv", AUDIOCAPS_HEADER,
                 [[10, "abc-DEF_123", 30, "A dog barks twice"], [11, "zzz", 0, "Wind blows hard"]])
        ids = ["tst1"] + [f"tst{k + 1}" for k in range(1, test_clips)]
        rows = [[100 * (k + 1) + 5 - i, ytid, 20, f"caption {5 - i}" + (f" of clip {k + 1}" if k else "")]
                for k, ytid in enumerate(ids) for i in range(5)]
        self.csv(root / "test.csv", AUDIOCAPS_HEADER, rows)
        self.wav(root / "audio" / "train" / "abc-DEF_123.wav", sr=32000, channels=2)
        self.wav(root / "audio" / "train" / "Yzzz.wav", sr=16000, freq=880.0)
        for k, ytid in enumerate(ids):
            self.wav(root / "audio" / "test" / f"{ytid}_20.wav", sr=48000, freq=440.0 + 150 * k)
        return root

    def esc50(self, root: Path, sr: int = 44100, categories: Sequence[str] = ESC50_CATEGORIES,
              folds: Sequence[int] = (1, 2)) -> Path:
        """``meta/esc50.csv`` and ``audio/<fold>-<src>-A-<target>.wav``: one clip per class and fold."""
        rows = []
        for fold in folds:
            for target, category in enumerate(categories):
                name = f"{fold}-1000{target}-A-{target}.wav"
                self.wav(root / "audio" / name, sr=sr, freq=200 + 300 * target + 40 * fold)
                rows.append([name, fold, target, category, "True", 1000 + target, "A"])
        self.csv(root / "meta" / "esc50.csv", ESC50_HEADER, rows)
        return root


@pytest.fixture(scope="session")
def caption_layouts() -> CaptionLayouts:
    return CaptionLayouts()
