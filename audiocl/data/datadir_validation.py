"""Validating a Kaldi data dir: every problem named with its file, line number and utterance id.

Cross-file checks on a :class:`~audiocl.data.datadir_scan.DataDirScan`: each per-utterance file covers
exactly the utterances of ``utt2spk``, segments point to known recordings, ``spk2utt`` agrees with
``utt2spk``, audio exists (or, with ``check_audio``, every header is read). Problems are listed up to
a limit per kind and then counted, so a broken 100k-line data dir still gives a readable report.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from audiocl.data.audio import MAX_SEGMENT_OVERSHOOT_S, AudioInfo, ark_path, audio_info, is_pipe
from audiocl.data.datadir_scan import (
    RECORDING_FILES, SPEAKER_FILES, DataDirScan, is_utterance_file, scan_data_dir,
)
from audiocl.data.kaldi_files import c_sorted
from audiocl.errors import AudioReadError

# Listed problems per kind of cross-file mismatch before they are only counted.
MAX_LISTED = 10


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


def check_scan(scan: DataDirScan, *, check_audio: bool = False, sample_rate: int | None = None) -> ValidationReport:
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


def _check_durations(scan: DataDirScan, rec_dur: dict[str, float], rep: ValidationReport) -> None:
    """With audio headers read: segments must lie inside their recording, utt2dur must match the audio."""
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
    return check_scan(scan_data_dir(path), check_audio=check_audio, sample_rate=sample_rate)


def validate_data_dir(path: str | Path, *, check_audio: bool = False) -> list[str]:
    """Problems of a data dir, one line each naming file, line and utterance; empty when it is valid."""
    return check_data_dir(path, check_audio=check_audio).errors
