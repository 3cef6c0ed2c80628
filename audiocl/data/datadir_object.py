"""The in-memory Kaldi data dir, :class:`DataDir`: load (validated), look up audio, save sorted and atomically.

A data dir is the exchange format users already have: ``wav.scp`` (recording -> path or ``cmd |``), optional
``segments`` (utterance -> recording, start, end), ``utt2spk`` (mandatory, defines the utterances), ``text``,
``utt2dur``, ``spk2utt`` (always regenerated from ``utt2spk``) and any other per-utterance file (``utt2style``,
``feats.scp``, ...) kept verbatim in :attr:`DataDir.extra`. Relative paths in ``wav.scp`` are relative to
the current directory (Kaldi semantics: recipes run from ``egs/<corpus>/``), not to the data dir.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiocl.data.audio import audio_info, read_audio as _read_audio
from audiocl.data.datadir_scan import (
    COPY_MAX_BYTES, NOT_COPIED_SUFFIXES, RECORDING_FILES, SPEAKER_FILES, DataDirScan, Segment, format_time,
    is_utterance_file, scan_data_dir,
)
from audiocl.data.datadir_validation import check_scan
from audiocl.data.kaldi_files import c_sorted, write_keyed_file
from audiocl.errors import DataDirError
from audiocl.utils.io import atomic_path


@dataclass
class DataDir:
    """An in-memory Kaldi data dir. Mappings hold the first valid line of each key; save() sorts them."""

    path: Path | None = None
    wav_scp: dict[str, str] = field(default_factory=dict)
    utt2spk: dict[str, str] = field(default_factory=dict)
    text: dict[str, str] | None = None
    segments: dict[str, Segment] | None = None
    utt2dur: dict[str, float] | None = None
    extra: dict[str, dict[str, str]] = field(default_factory=dict)
    spk_extra: dict[str, dict[str, str]] = field(default_factory=dict)
    reco_extra: dict[str, dict[str, str]] = field(default_factory=dict)
    other_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # folder holding `other_files` (unparsed files such as frame_shift), copied along by save()
    source: Path | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path, validate: bool = True, *, check_audio: bool = False) -> "DataDir":
        """Read a data dir. With ``validate`` any problem raises :class:`DataDirError` listing all of them."""
        scan = scan_data_dir(path)
        if validate:
            report = check_scan(scan, check_audio=check_audio)
            if report.errors:
                raise DataDirError(
                    f"data directory {scan.path} has {len(report.errors)} problem(s) "
                    f"(run `audiocl validate-data {scan.path}` to list them, `audiocl fix-data` to repair)",
                    report.errors,
                )
            warnings = report.warnings
        else:
            warnings = list(scan.warnings)
        return cls.from_scan(scan, warnings)

    @classmethod
    def from_scan(cls, scan: DataDirScan, warnings: list[str]) -> "DataDir":
        f = scan.files
        dd = cls(path=scan.path, other_files=list(scan.other_files), warnings=list(warnings), source=scan.path)
        dd.wav_scp = dict(f["wav.scp"].entries) if "wav.scp" in f else {}
        dd.segments = dict(scan.segments) if "segments" in f else None
        if "utt2spk" in f:
            dd.utt2spk = dict(f["utt2spk"].entries)
        dd.text = dict(f["text"].entries) if "text" in f else None
        dd.utt2dur = dict(scan.utt2dur) if "utt2dur" in f else None
        for name, kf in f.items():
            if name in SPEAKER_FILES:
                dd.spk_extra[name] = dict(kf.entries)
            elif name in RECORDING_FILES:
                dd.reco_extra[name] = dict(kf.entries)
            elif is_utterance_file(name):
                dd.extra[name] = dict(kf.entries)
        return dd

    # ------------------------------------------------------------------ views
    @property
    def utt_ids(self) -> list[str]:
        """Utterance ids in C order: those of utt2spk (else segments, else wav.scp)."""
        if self.utt2spk:
            return c_sorted(self.utt2spk)
        if self.segments is not None:
            return c_sorted(self.segments)
        return c_sorted(self.wav_scp)

    @property
    def spk2utt(self) -> dict[str, list[str]]:
        """Generated from utt2spk: speaker -> sorted utterance ids, speakers in C order."""
        out: dict[str, list[str]] = {}
        for utt in c_sorted(self.utt2spk):
            out.setdefault(self.utt2spk[utt], []).append(utt)
        return {spk: out[spk] for spk in c_sorted(out)}

    def __len__(self) -> int:
        return len(self.utt_ids)

    def recording_of(self, utt_id: str) -> str:
        if self.segments is not None:
            seg = self.segments.get(utt_id)
            if seg is None:
                raise DataDirError(f"utterance {utt_id} has no entry in {self._where('segments')}")
            return seg.recording
        return utt_id

    def audio_spec(self, utt_id: str) -> str:
        rec = self.recording_of(utt_id)
        spec = self.wav_scp.get(rec)
        if spec is None:
            raise DataDirError(f"utterance {utt_id}: recording {rec} has no entry in {self._where('wav.scp')}")
        return spec

    def read_audio(self, utt_id: str, sample_rate: int | None = None, **kwargs) -> np.ndarray:
        """Samples of one utterance (its segment if there is a ``segments`` file); kwargs go to read_audio."""
        spec = self.audio_spec(utt_id)
        if self.segments is not None:
            seg = self.segments[utt_id]
            kwargs.setdefault("start", seg.start)
            kwargs.setdefault("end", None if seg.end < 0 else seg.end)
        return _read_audio(spec, sample_rate=sample_rate, utt_id=utt_id, **kwargs)

    def duration(self, utt_id: str) -> float:
        """Duration in seconds: utt2dur, else the segment, else the audio header."""
        if self.utt2dur is not None and utt_id in self.utt2dur:
            return self.utt2dur[utt_id]
        if self.segments is not None:
            seg = self.segments[utt_id]
            if seg.end >= 0:
                return seg.end - seg.start
            return audio_info(self.audio_spec(utt_id), utt_id=utt_id).duration - seg.start
        return audio_info(self.audio_spec(utt_id), utt_id=utt_id).duration

    def _where(self, name: str) -> str:
        return str(self.path / name) if self.path else name

    # ------------------------------------------------------------------ saving
    def file_contents(self) -> dict[str, dict[str, str]]:
        """Every keyed file this data dir consists of, as ``name -> {key: value}`` (spk2utt generated)."""
        out: dict[str, dict[str, str]] = {"wav.scp": dict(self.wav_scp)}
        if self.segments is not None:
            out["segments"] = {u: f"{s.recording} {format_time(s.start)} {format_time(s.end)}" for u, s in self.segments.items()}
        # Kaldi needs utt2spk; without speaker information each utterance is its own speaker
        out["utt2spk"] = dict(self.utt2spk) if self.utt2spk else {u: u for u in self.utt_ids}
        if out["utt2spk"]:
            spk2utt: dict[str, list[str]] = {}
            for utt in c_sorted(out["utt2spk"]):
                spk2utt.setdefault(out["utt2spk"][utt], []).append(utt)
            out["spk2utt"] = {spk: " ".join(utts) for spk, utts in spk2utt.items()}
        if self.text is not None:
            out["text"] = dict(self.text)
        if self.utt2dur is not None:
            out["utt2dur"] = {u: format_time(d) for u, d in self.utt2dur.items()}
        for group in (self.extra, self.spk_extra, self.reco_extra):
            for name, entries in group.items():
                out[name] = dict(entries)
        return out

    def save(self, path: str | Path | None = None) -> Path:
        """Write every file sorted and atomically; spk2utt is regenerated; unparsed files are copied along."""
        target = Path(path) if path is not None else self.path
        if target is None:
            raise ValueError("DataDir.save needs a path")
        target.mkdir(parents=True, exist_ok=True)
        contents = self.file_contents()
        for name, entries in contents.items():
            write_keyed_file(target / name, entries)
        for name in ("segments", "text", "utt2dur", "spk2utt"):
            if name not in contents and (target / name).exists():
                (target / name).unlink()
        if self.source is not None and Path(self.source).resolve() != target.resolve():
            for name in self.other_files:
                src = Path(self.source) / name
                if src.is_file() and not name.lower().endswith(NOT_COPIED_SUFFIXES) and src.stat().st_size <= COPY_MAX_BYTES:
                    with atomic_path(target / name) as tmp:
                        shutil.copyfile(src, tmp)
        self.path = target
        return target

    def subset(self, utt_ids) -> "DataDir":
        """A new DataDir holding only ``utt_ids`` (and the recordings/speakers they use); path is None."""
        keep = set(utt_ids)
        sub = DataDir(path=None, other_files=list(self.other_files), source=self.source)
        sub.utt2spk = {u: s for u, s in self.utt2spk.items() if u in keep}
        if self.segments is not None:
            sub.segments = {u: s for u, s in self.segments.items() if u in keep}
            recs = {s.recording for s in sub.segments.values()}
        else:
            recs = keep
        sub.wav_scp = {r: v for r, v in self.wav_scp.items() if r in recs}
        sub.text = None if self.text is None else {u: t for u, t in self.text.items() if u in keep}
        sub.utt2dur = None if self.utt2dur is None else {u: d for u, d in self.utt2dur.items() if u in keep}
        sub.extra = {n: {u: v for u, v in e.items() if u in keep} for n, e in self.extra.items()}
        spks = set(sub.utt2spk.values())
        sub.spk_extra = {n: {k: v for k, v in e.items() if k in spks} for n, e in self.spk_extra.items()}
        sub.reco_extra = {n: {k: v for k, v in e.items() if k in recs} for n, e in self.reco_extra.items()}
        return sub
