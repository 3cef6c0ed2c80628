"""Kaldi data directories: load, save, validate (plus fix/split/subset/utt2dur, re-exported from datadir_ops).

A data dir is the exchange format users already have: ``wav.scp`` (recording -> path or ``cmd |``), optional
``segments`` (utterance -> recording, start, end), ``utt2spk`` (mandatory, defines the utterances), ``text``,
``utt2dur``, ``spk2utt`` (always regenerated from ``utt2spk``) and any other per-utterance file (``utt2style``,
``feats.scp``, ...) kept verbatim in :attr:`DataDir.extra`.

Files are sorted in C locale and written atomically. Validation lists every problem with the file, line
number and utterance id; the speaker-prefix convention is only a warning because Kaldi merely recommends it.
Relative paths in ``wav.scp`` are relative to the current directory (Kaldi semantics: recipes run from
``egs/<corpus>/``), not to the data dir.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from audiocl.data.audio import AudioInfo, ark_path, audio_info, is_pipe, read_audio as _read_audio
from audiocl.data.kaldi_files import KeyedFile, c_sorted, read_keyed_file, write_keyed_file
from audiocl.errors import AudioReadError, DataDirError
from audiocl.utils.io import atomic_path

__all__ = [
    "DataDir",
    "Segment",
    "ValidationReport",
    "check_data_dir",
    "validate_data_dir",
    "fix_data_dir",
    "split_data_dir",
    "subset_data_dir",
    "compute_utt2dur",
    "FixReport",
]

log = logging.getLogger(__name__)

# Files with a fixed meaning; anything else named utt2* or *.scp is a per-utterance file kept in `extra`.
SPEAKER_FILES = ("spk2gender", "spk2warp", "cmvn.scp")
RECORDING_FILES = ("reco2dur", "reco2num_samples", "reco2file_and_channel", "reco2channel")
CORE_FILES = ("wav.scp", "segments", "utt2spk", "spk2utt", "text", "utt2dur")
# Unparsed files copied along by save() (e.g. frame_shift, feats_type): small text files, never audio/features.
COPY_MAX_BYTES = 1 << 20
NOT_COPIED_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".opus", ".sph", ".m4a", ".ark", ".npy", ".pt", ".ckpt")
# Line problems listed per file (the rest are counted), so a broken 100k-line file stays readable.
MAX_PROBLEMS_PER_FILE = 50
# Listed problems per kind of cross-file mismatch before they are only counted.
MAX_LISTED = 10


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
class _Scan:
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


def _scan(path: str | Path) -> _Scan:
    path = Path(path)
    if not path.exists():
        raise DataDirError(f"data directory {path} does not exist")
    if not path.is_dir():
        raise DataDirError(f"{path} is not a directory (expected a Kaldi data dir)")
    scan = _Scan(path=path)
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
        scan = _scan(path)
        if validate:
            report = _check_scan(scan, check_audio=check_audio)
            if report.errors:
                raise DataDirError(
                    f"data directory {scan.path} has {len(report.errors)} problem(s) "
                    f"(run `audiocl validate-data {scan.path}` to list them, `audiocl fix-data` to repair)",
                    report.errors,
                )
            warnings = report.warnings
        else:
            warnings = list(scan.warnings)
        return cls._from_scan(scan, warnings)

    @classmethod
    def _from_scan(cls, scan: _Scan, warnings: list[str]) -> "DataDir":
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
            out["segments"] = {u: f"{s.recording} {_fmt_time(s.start)} {_fmt_time(s.end)}" for u, s in self.segments.items()}
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
            out["utt2dur"] = {u: _fmt_time(d) for u, d in self.utt2dur.items()}
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


def _fmt_time(x: float) -> str:
    """Seconds with up to 6 decimals and no trailing zeros (``-1`` stays ``-1``)."""
    s = f"{x:.6f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


# ---------------------------------------------------------------------- validation
@dataclass
class ValidationReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _listed(problems: list[str], items: list[str], more_msg: str) -> None:
    problems.extend(items[:MAX_LISTED])
    if len(items) > MAX_LISTED:
        problems.append(more_msg.format(n=len(items) - MAX_LISTED))


def _check_scan(scan: _Scan, *, check_audio: bool = False, sample_rate: int | None = None) -> ValidationReport:
    rep = ValidationReport(errors=list(scan.problems), warnings=list(scan.warnings))
    f = scan.files
    if "utt2spk" not in f:
        rep.errors.append(
            f"{scan.path}: utt2spk is missing (mandatory; without speakers use one speaker per utterance: "
            f"awk '{{print $1, $1}}' wav.scp > utt2spk)"
        )
    if "wav.scp" not in f and "feats.scp" not in f:
        rep.errors.append(f"{scan.path}: neither wav.scp nor feats.scp exists")
    if "utt2spk" not in f:
        return rep
    u2s = f["utt2spk"]
    utts = set(u2s.entries) | set(u2s.bad_keys)

    # every per-utterance file covers exactly the utterances of utt2spk
    utt_files = [n for n in f if n in ("text", "utt2dur", "segments") or is_utterance_file(n)]
    if "segments" not in f and "wav.scp" in f:
        utt_files.append("wav.scp")
    for name in sorted(utt_files):
        kf = f[name]
        present = set(kf.entries) | set(kf.bad_keys)
        missing = c_sorted(utts - present)
        extra = c_sorted(present - utts)
        _listed(
            rep.errors,
            [f"{name}: utterance {u} (utt2spk line {u2s.lineno.get(u, '?')}) is missing from {name}" for u in missing],
            f"{name}: {{n}} more utterance(s) of utt2spk missing from {name}",
        )
        _listed(
            rep.errors,
            [f"{kf.where(u)}: utterance {u} is not in utt2spk" for u in extra],
            f"{name}: {{n}} more utterance(s) not in utt2spk",
        )

    # segments -> recordings
    if "segments" in f and "wav.scp" in f:
        recs = set(f["wav.scp"].entries) | set(f["wav.scp"].bad_keys)
        seg_kf = f["segments"]
        bad = [
            f"{seg_kf.where(u)}: utterance {u}: recording {s.recording} is not in wav.scp"
            for u, s in sorted(scan.segments.items())
            if s.recording not in recs
        ]
        _listed(rep.errors, bad, "segments: {n} more utterance(s) pointing to unknown recordings")
        used = {s.recording for s in scan.segments.values()}
        unused = c_sorted(set(f["wav.scp"].entries) - used)
        if unused:
            rep.warnings.append(
                f"wav.scp: {len(unused)} recording(s) have no segment (e.g. {', '.join(unused[:3])}); "
                f"fix-data drops them"
            )

    # spk2utt agrees with utt2spk
    spk_to_utts: dict[str, list[str]] = {}
    for u in c_sorted(u2s.entries):
        spk_to_utts.setdefault(u2s.entries[u], []).append(u)
    if "spk2utt" in f:
        s2u = f["spk2utt"]
        bad = []
        for spk in c_sorted(set(spk_to_utts) | set(s2u.entries)):
            listed = s2u.entries.get(spk)
            if listed is None:
                if spk not in s2u.bad_keys:
                    bad.append(f"spk2utt: speaker {spk} (from utt2spk) is missing")
                continue
            got = listed.split()
            if spk not in spk_to_utts:
                bad.append(f"{s2u.where(spk)}: speaker {spk} is not in utt2spk")
            elif sorted(got) != spk_to_utts[spk]:
                diff = c_sorted(set(got) ^ set(spk_to_utts[spk]))
                if diff:
                    bad.append(
                        f"{s2u.where(spk)}: speaker {spk}: utterances differ from utt2spk "
                        f"(e.g. {', '.join(diff[:3])}); fix-data regenerates spk2utt"
                    )
                else:
                    bad.append(f"{s2u.where(spk)}: speaker {spk}: utterances repeated or not sorted")
        _listed(rep.errors, bad, "spk2utt: {n} more mismatch(es) with utt2spk")
    else:
        rep.warnings.append("spk2utt is missing; it is generated from utt2spk (fix-data writes it)")

    # Kaldi recommends speaker ids as utterance-id prefixes (so both sort orders agree): warning only
    not_prefix = [u for u in c_sorted(u2s.entries) if not u.startswith(u2s.entries[u])]
    if not_prefix:
        rep.warnings.append(
            f"utt2spk: {len(not_prefix)} utterance id(s) do not start with their speaker id "
            f"(e.g. {not_prefix[0]} -> {u2s.entries[not_prefix[0]]}); Kaldi recommends speaker-id prefixes "
            f"so that sorting by utterance also groups speakers"
        )

    # per-speaker and per-recording files name known keys
    for name in SPEAKER_FILES:
        if name in f:
            unknown = c_sorted(set(f[name].entries) - set(spk_to_utts))
            _listed(rep.errors, [f"{f[name].where(s)}: speaker {s} is not in utt2spk" for s in unknown],
                    f"{name}: {{n}} more unknown speaker(s)")
    if "wav.scp" in f:
        recs = set(f["wav.scp"].entries)
        for name in RECORDING_FILES:
            if name in f:
                unknown = c_sorted(set(f[name].entries) - recs)
                _listed(rep.errors, [f"{f[name].where(r)}: recording {r} is not in wav.scp" for r in unknown],
                        f"{name}: {{n}} more unknown recording(s)")

    if "text" in f:
        empty = [u for u, t in f["text"].entries.items() if not t.strip()]
        if empty:
            rep.warnings.append(f"text: {len(empty)} utterance(s) have an empty transcript (e.g. {empty[0]})")

    # audio: files exist (cheap); with check_audio every header is read and every pipe run
    if "wav.scp" in f:
        wkf = f["wav.scp"]
        audio_problems = []
        rates: dict[int, int] = {}
        rec_dur: dict[str, float] = {}
        for rec in c_sorted(wkf.entries):
            spec = wkf.entries[rec]
            if check_audio:
                try:
                    info: AudioInfo = audio_info(spec, utt_id=rec)
                    rates[info.sample_rate] = rates.get(info.sample_rate, 0) + 1
                    rec_dur[rec] = info.duration
                    if info.num_frames == 0:
                        audio_problems.append(f"{wkf.where(rec)}: recording {rec}: audio has zero samples: {spec}")
                except AudioReadError as exc:
                    audio_problems.append(f"{wkf.where(rec)}: recording {rec}: {exc.reason}: {spec}")
            elif not is_pipe(spec) and not os.path.isfile(ark_path(spec) or spec):
                audio_problems.append(
                    f"{wkf.where(rec)}: recording {rec}: file not found: {spec}"
                    + (" (relative paths are resolved from the current directory)" if not os.path.isabs(spec) else "")
                )
        _listed(rep.errors, audio_problems, "wav.scp: {n} more unreadable recording(s)")
        if rec_dur:
            _check_durations(scan, rec_dur, rep)
        if sample_rate is not None:
            other = {r: n for r, n in rates.items() if r != sample_rate}
            if other:
                rep.warnings.append(
                    f"wav.scp: recordings at other sample rates than {sample_rate} Hz will be resampled: "
                    + ", ".join(f"{n} at {r} Hz" for r, n in sorted(other.items()))
                )
    return rep


def _check_durations(scan: _Scan, rec_dur: dict[str, float], rep: ValidationReport) -> None:
    """With audio headers read: segments must lie inside their recording, utt2dur must match the audio."""
    from audiocl.data.audio import MAX_SEGMENT_OVERSHOOT_S

    seg_kf = scan.files.get("segments")
    bad = []
    for utt, seg in sorted(scan.segments.items()):
        dur = rec_dur.get(seg.recording)
        if dur is None:
            continue
        if seg.start >= dur:
            bad.append(f"{seg_kf.where(utt)}: utterance {utt}: starts at {seg.start} s, after the end of recording "
                       f"{seg.recording} ({dur:.3f} s)")
        elif seg.end > dur + MAX_SEGMENT_OVERSHOOT_S:
            bad.append(f"{seg_kf.where(utt)}: utterance {utt}: ends at {seg.end} s, more than "
                       f"{MAX_SEGMENT_OVERSHOOT_S} s after the end of recording {seg.recording} ({dur:.3f} s)")
    _listed(rep.errors, bad, "segments: {n} more segment(s) outside their recording")
    u2d = scan.files.get("utt2dur")
    if u2d is not None and "segments" not in scan.files:
        stale = [u for u, d in sorted(scan.utt2dur.items()) if u in rec_dur and abs(d - rec_dur[u]) > 0.05]
        if stale:
            u = stale[0]
            rep.warnings.append(
                f"utt2dur: {len(stale)} duration(s) differ from the audio by more than 50 ms (e.g. {u2d.where(u)}: "
                f"{u} says {scan.utt2dur[u]} s, audio has {rec_dur[u]:.3f} s); `audiocl compute-utt2dur` rewrites it"
            )


def check_data_dir(path: str | Path, *, check_audio: bool = False, sample_rate: int | None = None) -> ValidationReport:
    """All errors and warnings of a data dir (raises DataDirError only when the dir itself is missing)."""
    return _check_scan(_scan(path), check_audio=check_audio, sample_rate=sample_rate)


def validate_data_dir(path: str | Path, *, check_audio: bool = False) -> list[str]:
    """Problems of a data dir, one line each naming file, line and utterance; empty when it is valid."""
    return check_data_dir(path, check_audio=check_audio).errors


_OPS = ("FixReport", "compute_utt2dur", "fix_data_dir", "split_data_dir", "subset_data_dir")


def __getattr__(name: str):
    """Re-export the whole-dir operations of datadir_ops lazily (they import this module)."""
    if name in _OPS:
        from audiocl.data import datadir_ops

        return getattr(datadir_ops, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
