"""Operations on whole data dirs: fix, split, subset, utt2dur (also importable from ``audiocl.data.datadir``).

``fix_data_dir`` follows Kaldi's ``utils/fix_data_dir.sh`` (sort, keep the utterances present in every
per-utterance file, regenerate spk2utt, back originals up to ``.backup/``) and adds two things Kaldi lacks:
it says which utterance was dropped and why, and it is crash-safe: a journal in ``.backup/`` lets the next
run roll back a half-applied fix before redoing it, so the original files are never lost.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import numpy as np

from audiocl.data.audio import audio_info
from audiocl.data.datadir_object import DataDir
from audiocl.data.datadir_scan import RECORDING_FILES, SPEAKER_FILES, format_time, is_utterance_file, scan_data_dir
from audiocl.data.kaldi_files import c_sorted, format_keyed
from audiocl.errors import AudioReadError, DataDirError
from audiocl.utils.io import atomic_path, atomic_write_text

log = logging.getLogger(__name__)

BACKUP_DIR = ".backup"
JOURNAL = "FIX_IN_PROGRESS"


@dataclass
class FixReport:
    """What fix_data_dir did: utterance -> why it was dropped, and which files it rewrote."""

    path: Path
    kept: int = 0
    dropped: dict[str, str] = field(default_factory=dict)
    dropped_recordings: list[str] = field(default_factory=list)
    dropped_speakers: list[str] = field(default_factory=list)
    files_written: list[str] = field(default_factory=list)
    rolled_back: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.files_written)

    def summary(self) -> str:
        lines = [f"{self.path}: kept {self.kept} utterance(s), dropped {len(self.dropped)}"]
        for utt in c_sorted(self.dropped):
            lines.append(f"  dropped utterance {utt}: {self.dropped[utt]}")
        if self.dropped_recordings:
            lines.append(f"  dropped {len(self.dropped_recordings)} recording(s) without utterances: "
                         + ", ".join(self.dropped_recordings[:10]) + (" ..." if len(self.dropped_recordings) > 10 else ""))
        if self.rolled_back:
            lines.append("  rolled back a previous fix-data run that was interrupted")
        if self.files_written:
            lines.append(f"  rewrote {', '.join(self.files_written)} (originals in {self.path / BACKUP_DIR})")
        else:
            lines.append("  nothing to change")
        return "\n".join(lines)


def _rollback(path: Path) -> bool:
    """Undo a fix that died midway, using the journal and the backups written before any change."""
    journal = path / BACKUP_DIR / JOURNAL
    if not journal.exists():
        return False
    for line in journal.read_text(encoding="utf-8").splitlines():
        action, _, name = line.partition(" ")
        if action == "restore":
            with atomic_path(path / name) as tmp:
                shutil.copyfile(path / BACKUP_DIR / name, tmp)
        elif action == "remove" and (path / name).exists():
            (path / name).unlink()
    journal.unlink()
    log.warning("%s: rolled back an interrupted fix-data run", path)
    return True


def _write_file(path: Path, text: str) -> None:
    """One file write of fix_data_dir (a separate function so tests can interrupt it)."""
    atomic_write_text(path, text)


def fix_data_dir(path: str | Path) -> FixReport:
    """Sort files, drop utterances missing in any per-utterance file (or with bad lines), regenerate spk2utt.

    Originals of every rewritten file are copied to ``path/.backup/`` first. Returns what was dropped and why.
    """
    path = Path(path)
    report = FixReport(path=path)
    report.rolled_back = _rollback(path)
    scan = scan_data_dir(path)
    f = scan.files
    if "utt2spk" not in f:
        raise DataDirError(f"{path}: utt2spk is missing; fix-data cannot tell which utterances exist")
    if "wav.scp" not in f and "feats.scp" not in f:
        raise DataDirError(f"{path}: neither wav.scp nor feats.scp exists")

    utt_files = [n for n in f if n in ("text", "utt2dur", "segments") or is_utterance_file(n)]
    if "segments" not in f and "wav.scp" in f:
        utt_files.append("wav.scp")
    u2s = f["utt2spk"]
    candidates: set[str] = set(u2s.entries) | set(u2s.bad_keys)
    for name in utt_files:
        candidates |= set(f[name].entries) | set(f[name].bad_keys)

    reasons: dict[str, str] = {}
    for utt in c_sorted(candidates):
        if utt in u2s.bad_keys:
            reasons[utt] = u2s.bad_keys[utt]
            continue
        if utt not in u2s.entries:
            holders = [n for n in sorted(utt_files) if utt in f[n].entries or utt in f[n].bad_keys]
            reasons[utt] = f"not in utt2spk (only in {', '.join(holders)})"
            continue
        for name in sorted(utt_files):
            kf = f[name]
            if utt in kf.bad_keys:
                reasons[utt] = f"{kf.bad_keys[utt]} ({name})" if name not in kf.bad_keys[utt] else kf.bad_keys[utt]
                break
            if utt not in kf.entries:
                reasons[utt] = f"missing from {name}"
                break
    if "segments" in f and "wav.scp" in f:
        wav = f["wav.scp"]
        for utt, seg in scan.segments.items():
            if utt in reasons:
                continue
            if seg.recording in wav.bad_keys:
                reasons[utt] = f"its recording {seg.recording} has a bad wav.scp line ({wav.bad_keys[seg.recording]})"
            elif seg.recording not in wav.entries:
                reasons[utt] = f"its recording {seg.recording} is not in wav.scp"
    keep = [u for u in c_sorted(candidates) if u not in reasons]
    report.dropped = reasons
    report.kept = len(keep)

    full = DataDir.from_scan(scan, [])
    fixed = full.subset(keep)
    report.dropped_recordings = c_sorted(set(full.wav_scp) - set(fixed.wav_scp))
    report.dropped_speakers = c_sorted(set(full.utt2spk.values()) - set(fixed.utt2spk.values()))

    new_text = {name: format_keyed(entries) for name, entries in fixed.file_contents().items()}
    changed = []
    for name, text in new_text.items():
        p = path / name
        if not p.exists() or p.read_bytes() != text.encode("utf-8"):
            changed.append(name)
    if not changed:
        return report

    backup = path / BACKUP_DIR
    backup.mkdir(exist_ok=True)
    journal_lines = []
    for name in changed:
        if (path / name).exists():
            with atomic_path(backup / name) as tmp:
                shutil.copyfile(path / name, tmp)
            journal_lines.append(f"restore {name}")
        else:
            journal_lines.append(f"remove {name}")
    atomic_write_text(backup / JOURNAL, "\n".join(journal_lines) + "\n")
    for name in changed:
        _write_file(path / name, new_text[name])
    (backup / JOURNAL).unlink()
    report.files_written = changed
    return report


# ---------------------------------------------------------------------- split
def _contiguous_groups(weights: list[int], n: int) -> list[tuple[int, int]]:
    """Split items (in order) into n non-empty contiguous ranges with near-equal total weight."""
    total = sum(weights)
    bounds = []
    start = 0
    cum = 0
    for k in range(n):
        if k == n - 1:
            bounds.append((start, len(weights)))
            break
        target = total * (k + 1) / n
        end = start
        # take at least one item, leave at least one for each remaining part
        while end < len(weights) - (n - k - 1):
            if end > start and cum + weights[end] / 2 > target:
                break
            cum += weights[end]
            end += 1
        bounds.append((start, end))
        start = end
    return bounds


def split_data_dir(path: str | Path, n: int, *, per_utt: bool = False) -> list[Path]:
    """Split into ``path/split<n>/<k>`` (k = 1..n) by speaker, or ``path/split<n>utt/<k>`` by utterance.

    Kaldi's ``split_data.sh`` semantics: by default all utterances of a speaker stay in one part (needed for
    per-speaker CMVN), parts are contiguous in sorted order and balanced by utterance count.
    """
    path = Path(path)
    if n < 1:
        raise DataDirError(f"cannot split {path} into {n} parts (need at least 1)")
    dd = DataDir.load(path, validate=True)
    if per_utt:
        units = [[u] for u in dd.utt_ids]
        out_root = path / f"split{n}utt"
        what = "utterances"
    else:
        units = list(dd.spk2utt.values())
        out_root = path / f"split{n}"
        what = "speakers"
    if n > len(units):
        raise DataDirError(
            f"cannot split {path} into {n} parts: it has only {len(units)} {what}"
            + ("" if per_utt else " (split per utterance instead, or use fewer jobs)")
        )
    parts = []
    for k, (a, b) in enumerate(_contiguous_groups([len(u) for u in units], n), start=1):
        utts = [u for unit in units[a:b] for u in unit]
        parts.append(dd.subset(utts).save(out_root / str(k)))
    return parts


# ---------------------------------------------------------------------- subset
def _read_id_list(utt_list: str | Path | Iterable[str]) -> list[str]:
    if isinstance(utt_list, (str, Path)):
        p = Path(utt_list)
        if not p.is_file():
            raise DataDirError(f"utterance list {p} does not exist")
        ids = []
        for i, line in enumerate(p.read_bytes().split(b"\n"), start=1):
            try:
                fields = line.decode("utf-8").split()
            except UnicodeDecodeError as exc:
                raise DataDirError(f"{p} line {i}: not valid UTF-8 (byte offset {exc.start})") from exc
            if fields:
                ids.append(fields[0])
        return ids
    return [str(u) for u in utt_list]


def subset_data_dir(
    src: str | Path,
    dst: str | Path,
    *,
    num: int | None = None,
    utt_list: str | Path | Iterable[str] | None = None,
    seed: int = 0,
    first: bool = False,
    missing_ok: bool = False,
) -> DataDir:
    """Write a subset of ``src`` to ``dst``: ``num`` random utterances (``seed``), the ``first`` num, or a list.

    Ids in ``utt_list`` that ``src`` lacks are an error unless ``missing_ok``.
    """
    src, dst = Path(src), Path(dst)
    if (num is None) == (utt_list is None):
        raise DataDirError("subset needs exactly one of num or utt_list")
    if dst.exists() and dst.resolve() == src.resolve():
        raise DataDirError(f"subset destination {dst} is the source directory")
    dd = DataDir.load(src, validate=True)
    ids = dd.utt_ids
    if num is not None:
        if num < 1 or num > len(ids):
            raise DataDirError(f"cannot take {num} utterance(s) from {src}: it has {len(ids)}")
        if first:
            chosen = ids[:num]
        else:
            rng = np.random.default_rng(seed)
            chosen = [ids[i] for i in sorted(rng.choice(len(ids), size=num, replace=False))]
    else:
        wanted = _read_id_list(utt_list)  # type: ignore[arg-type]
        known = set(ids)
        unknown = [u for u in wanted if u not in known]
        if unknown and not missing_ok:
            raise DataDirError(
                f"{len(unknown)} utterance(s) of the list are not in {src}",
                [f"utterance {u}" for u in unknown[:10]] + ([f"... and {len(unknown) - 10} more"] if len(unknown) > 10 else []),
            )
        chosen = [u for u in dict.fromkeys(wanted) if u in known]
        if not chosen:
            raise DataDirError(f"none of the listed utterances are in {src}")
    sub = dd.subset(chosen)
    sub.save(dst)
    return sub


# ---------------------------------------------------------------------- utt2dur
def compute_utt2dur(path: str | Path, *, write: bool = True) -> dict[str, float]:
    """Durations from segments (end - start, like Kaldi's get_utt2dur.sh) or audio headers; writes utt2dur.

    Every unreadable utterance is listed in one DataDirError, and then nothing is written.
    """
    path = Path(path)
    dd = DataDir.load(path, validate=False)
    if not dd.utt2spk:
        raise DataDirError(f"{path}: utt2spk is missing or empty")
    cache: dict[str, float] = {}
    durs: dict[str, float] = {}
    problems = []
    for utt in dd.utt_ids:
        try:
            seg = dd.segments.get(utt) if dd.segments is not None else None
            if dd.segments is not None and seg is None:
                raise DataDirError(f"utterance {utt} has no entry in segments")
            if seg is not None and seg.end >= 0:
                durs[utt] = seg.end - seg.start
                continue
            rec = dd.recording_of(utt)
            if rec not in cache:
                cache[rec] = audio_info(dd.audio_spec(utt), utt_id=utt).duration
            durs[utt] = cache[rec] - (seg.start if seg is not None else 0.0)
            if durs[utt] <= 0:
                raise DataDirError(f"utterance {utt}: duration {durs[utt]:.3f} s is not positive")
        except (AudioReadError, DataDirError) as exc:
            problems.append(str(exc))
    if problems:
        raise DataDirError(f"cannot compute utt2dur for {len(problems)} utterance(s) of {path}; nothing written", problems)
    if write:
        atomic_write_text(path / "utt2dur", format_keyed({u: format_time(d) for u, d in durs.items()}))
    return durs


__all__ = ["FixReport", "fix_data_dir", "split_data_dir", "subset_data_dir", "compute_utt2dur",
           "SPEAKER_FILES", "RECORDING_FILES"]
