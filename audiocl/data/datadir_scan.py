"""Reading a Kaldi data dir's files into a :class:`DataDirScan`: every keyed file with its line numbers.

Which file holds what (utterance, speaker or recording keys), ``segments`` and ``utt2dur`` parsed into
numbers, and every malformed line recorded as a problem naming its file and line. Nothing here
decides whether the files agree with each other: that is :mod:`audiocl.data.datadir_validation`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiocl.data.kaldi_files import KeyedFile, read_keyed_file
from audiocl.errors import DataDirError

# Files with a fixed meaning; anything else named utt2* or *.scp is a per-utterance file kept in `extra`.
SPEAKER_FILES = ("spk2gender", "spk2warp", "cmvn.scp")
RECORDING_FILES = ("reco2dur", "reco2num_samples", "reco2file_and_channel", "reco2channel")
CORE_FILES = ("wav.scp", "segments", "utt2spk", "spk2utt", "text", "utt2dur")
# Unparsed files copied along by save() (e.g. frame_shift, feats_type): small text files, never audio/features.
COPY_MAX_BYTES = 1 << 20
NOT_COPIED_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".sph", ".m4a", ".ark", ".npy", ".pt", ".ckpt")
# Line problems listed per file (the rest are counted), so a broken 100k-line file stays readable.
MAX_PROBLEMS_PER_FILE = 50



@dataclass(frozen=True)
class Segment:
    """A Kaldi ``segments`` entry; ``end`` < 0 means "to the end of the recording"."""

    recording: str
    start: float
    end: float

    @property
    def duration(self) -> float | None:
        return None if self.end < 0 else self.end - self.start


def is_utterance_file(name: str) -> bool:
    """Per-utterance files kept in ``DataDir.extra``: ``utt2*`` and ``*.scp`` other than wav.scp and cmvn.scp."""
    if name in CORE_FILES or name in SPEAKER_FILES or name in RECORDING_FILES or name.startswith("."):
        return False
    return name.startswith("utt2") or (name.endswith(".scp") and name not in ("wav.scp", "cmvn.scp"))


@dataclass
class DataDirScan:
    """Everything parsed from a data dir, with line numbers, before cross-file checks."""

    path: Path
    files: dict[str, KeyedFile] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    utt2dur: dict[str, float] = field(default_factory=dict)
    other_files: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.files


def _parse_segments(kf: KeyedFile) -> dict[str, Segment]:
    out = {}
    for utt, value in list(kf.entries.items()):
        rec, start_s, end_s = value.split()
        line = kf.where(utt)
        try:
            start, end = float(start_s), float(end_s)
        except ValueError:
            kf.problems.append(f"{line}: utterance {utt}: start/end '{start_s} {end_s}' are not numbers")
            kf.bad_keys[utt] = "segments start/end are not numbers"
            continue
        if not (np.isfinite(start) and np.isfinite(end)):
            kf.problems.append(f"{line}: utterance {utt}: start/end must be finite")
            kf.bad_keys[utt] = "segments start/end not finite"
            continue
        if start < 0:
            kf.problems.append(f"{line}: utterance {utt}: start {start_s} is negative")
            kf.bad_keys[utt] = "segments start is negative"
            continue
        if end != -1 and end <= start:
            kf.problems.append(f"{line}: utterance {utt}: end {end_s} <= start {start_s}")
            kf.bad_keys[utt] = f"segment end {end_s} <= start {start_s}"
            continue
        out[utt] = Segment(rec, start, end)
    for utt in kf.bad_keys:
        kf.entries.pop(utt, None)
    return out


def _parse_utt2dur(kf: KeyedFile) -> dict[str, float]:
    out = {}
    for utt, value in list(kf.entries.items()):
        try:
            dur = float(value)
        except ValueError:
            dur = float("nan")
        if not np.isfinite(dur) or dur <= 0:
            kf.problems.append(f"{kf.where(utt)}: utterance {utt}: duration '{value}' is not a positive number")
            kf.bad_keys[utt] = f"utt2dur value '{value}' is not a positive number"
            continue
        out[utt] = dur
    for utt in kf.bad_keys:
        kf.entries.pop(utt, None)
    return out


def scan_data_dir(path: str | Path) -> DataDirScan:
    path = Path(path)
    if not path.exists():
        raise DataDirError(f"data directory {path} does not exist")
    if not path.is_dir():
        raise DataDirError(f"{path} is not a directory (expected a Kaldi data dir)")
    scan = DataDirScan(path=path)
    for entry in sorted(os.listdir(path)):
        p = path / entry
        if entry.startswith(".") or not p.is_file():
            continue
        if entry == "wav.scp":
            scan.files[entry] = read_keyed_file(p, min_fields=2, key_kind="recording")
        elif entry == "segments":
            kf = read_keyed_file(p, min_fields=4, max_fields=4)
            scan.segments = _parse_segments(kf)
            scan.files[entry] = kf
        elif entry in ("utt2spk", "utt2dur"):
            kf = read_keyed_file(p, min_fields=2, max_fields=2)
            if entry == "utt2dur":
                scan.utt2dur = _parse_utt2dur(kf)
            scan.files[entry] = kf
        elif entry == "text":
            scan.files[entry] = read_keyed_file(p, min_fields=2, allow_empty_value=True)
        elif entry == "spk2utt":
            scan.files[entry] = read_keyed_file(p, min_fields=2, key_kind="speaker")
        elif entry in SPEAKER_FILES:
            scan.files[entry] = read_keyed_file(p, min_fields=2, key_kind="speaker")
        elif entry in RECORDING_FILES:
            scan.files[entry] = read_keyed_file(p, min_fields=2, key_kind="recording")
        elif is_utterance_file(entry):
            scan.files[entry] = read_keyed_file(p, min_fields=2, allow_empty_value=False)
        else:
            scan.other_files.append(entry)
    for kf in scan.files.values():
        scan.problems.extend(kf.problems[:MAX_PROBLEMS_PER_FILE])
        if len(kf.problems) > MAX_PROBLEMS_PER_FILE:
            scan.problems.append(f"{kf.name}: {len(kf.problems) - MAX_PROBLEMS_PER_FILE} more problem line(s) not listed")
        scan.warnings.extend(kf.warnings)
    return scan


def format_time(x: float) -> str:
    """Seconds with up to 6 decimals and no trailing zeros (``-1`` stays ``-1``)."""
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"
