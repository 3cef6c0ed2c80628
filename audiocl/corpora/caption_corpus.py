"""Shared by the real captioned corpora (Clotho, AudioCaps, ESC-50): audio at 16 kHz and the data-dir writer.

The data dirs follow the mini_clap contract (:mod:`audiocl.corpora.mini_clap`): ``wav.scp`` of 16 kHz mono
PCM16 wavs, ``text`` = the first caption, ``utt2spk`` utt -> utt, ``utt2dur``, ``captions.jsonl`` with all
captions of a clip, plus any per-clip label files (``utt2category``, ``utt2fold``).

Audio that is already 16 kHz mono 16-bit wav is used in place; anything else is read through
:func:`audiocl.data.audio.read_audio` (channels averaged, resampled with soxr, as every data-dir tool
does) and written once under ``OUT/wav/``; a re-run finds it and does not convert again. With
``strict_sample_rate`` a clip at another rate is an error instead (:class:`SampleRateError`).
"""

from __future__ import annotations

import csv
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import soundfile as sf

from audiocl.data.audio import audio_info, read_audio, write_audio
from audiocl.data.datadir import DataDir
from audiocl.errors import DataDirError, SampleRateError
from audiocl.utils.io import atomic_write_text

SAMPLE_RATE = 16000
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class CaptionedClip:
    """One clip of a real corpus: its id, source audio, captions and per-clip labels."""

    utt: str
    source: Path
    captions: list[str]
    labels: dict[str, str] = field(default_factory=dict)


def safe_id(*parts: str) -> str:
    """An utterance id without blanks or shell-special characters (file names of Clotho have both)."""
    return "-".join(_UNSAFE.sub("_", p).strip("_") or "x" for p in parts)


def read_csv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV with a header; a missing file or column is a DataDirError."""
    if not path.is_file():
        raise DataDirError(f"{path} not found (expected the corpus' published CSV)")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            yield reader.line_num, {k.strip(): (v or "").strip() for k, v in row.items() if k is not None}


def require_columns(path: Path, row: dict[str, str], columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in row]
    if missing:
        raise DataDirError(f"{path}: missing column(s) {', '.join(missing)} (found {', '.join(row)})")


def check_caption(caption: str, where: str, clip: str) -> str:
    caption = " ".join(caption.split())
    if not caption:
        raise DataDirError(f"{where}: clip {clip}: empty caption")
    return caption


def _is_ready(path: Path) -> bool:
    try:
        info = sf.info(str(path))
    except RuntimeError:
        return False
    return info.format == "WAV" and info.subtype == "PCM_16" and info.samplerate == SAMPLE_RATE and info.channels == 1


def audio_at_16k(clip: CaptionedClip, wav_dir: Path, strict_sample_rate: bool = False) -> tuple[Path, float]:
    """The clip's 16 kHz mono wav (the source itself when it already is one) and its duration."""
    if _is_ready(clip.source):
        return clip.source, sf.info(str(clip.source)).duration
    target = wav_dir / f"{clip.utt}.wav"
    if not _is_ready(target):
        info = audio_info(str(clip.source), utt_id=clip.utt)
        if strict_sample_rate and info.sample_rate != SAMPLE_RATE:
            raise SampleRateError(f"sample rate is {info.sample_rate} Hz, {SAMPLE_RATE} Hz is required "
                                  f"(strict_sample_rate)", path=str(clip.source), utt_id=clip.utt)
        wav = read_audio(str(clip.source), sample_rate=SAMPLE_RATE, utt_id=clip.utt)
        write_audio(target, wav.clip(-1.0, 1.0), SAMPLE_RATE)
    return target, sf.info(str(target)).duration


def write_captioned_dir(clips: list[CaptionedClip], out: Path, wav_dir: Path, *, nj: int = 2,
                        strict_sample_rate: bool = False) -> DataDir:
    """Convert the clips' audio where needed and write the data dir ``out`` with ``captions.jsonl``."""
    if not clips:
        raise DataDirError(f"{out}: no clips to write")
    with ThreadPoolExecutor(max_workers=max(1, nj)) as pool:
        audio = list(pool.map(lambda c: audio_at_16k(c, wav_dir, strict_sample_rate), clips))
    label_names = sorted({name for c in clips for name in c.labels})
    data = DataDir(
        path=out,
        wav_scp={c.utt: str(p.absolute()) for c, (p, _) in zip(clips, audio)},
        text={c.utt: c.captions[0] for c in clips},
        utt2spk={c.utt: c.utt for c in clips},
        utt2dur={c.utt: round(d, 4) for c, (_, d) in zip(clips, audio)},
        extra={f"utt2{name}": {c.utt: c.labels[name] for c in clips} for name in label_names},
    )
    data.save(out)
    rows = sorted(({"utt": c.utt, "captions": c.captions} for c in clips), key=lambda r: r["utt"])
    atomic_write_text(out / "captions.jsonl", "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return data


def write_sets(sets: dict[str, list[CaptionedClip]], out: Path, *, nj: int = 2,
               strict_sample_rate: bool = False) -> dict[str, int]:
    """Write ``out/<name>`` per set; converted audio is shared under ``out/wav`` (ids are unique across sets)."""
    for name, clips in sets.items():
        write_captioned_dir(clips, out / name, out / "wav", nj=nj, strict_sample_rate=strict_sample_rate)
    return {name: len(clips) for name, clips in sets.items()}


def check_source(path: Path, where: str, clip: str) -> Path:
    if not path.is_file():
        raise DataDirError(f"{where}: clip {clip}: audio file {path} is missing")
    return path
