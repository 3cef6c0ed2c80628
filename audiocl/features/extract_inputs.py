"""What ``audiocl extract`` reads: utterances named by a data dir, a ``wav.scp``, audio files or folders.

:func:`collect_inputs` turns the inputs into :class:`ExtractItem` s in C-sorted id order. Inside a
folder every entry whose name has an audio extension is an utterance, whatever it is on disk: a
broken symbolic link, a directory named ``x.wav`` or a file that cannot be read then fails when it
is read and is reported as a bad input with its path and reason, instead of silently not being
counted. :func:`split_items` cuts the list into the contiguous parts of parallel jobs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from audiocl.data.datadir import DataDir
from audiocl.data.kaldi_files import c_sorted, read_keyed_file
from audiocl.errors import DataDirError, FeatureError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".opus", ".sph", ".aiff", ".aif", ".au")


@dataclass(frozen=True)
class ExtractItem:
    """One utterance to extract: where its audio is and which part of the recording."""

    utt_id: str
    spec: str  # path or `cmd |` pipe
    start: float = 0.0
    end: float | None = None


def collect_inputs(paths: Sequence[str | Path]) -> tuple[list[ExtractItem], Path | None]:
    """Utterances named by ``paths`` (sorted by id) and the data dir they came from, if one."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise FeatureError("no input given: pass a data dir, a wav.scp, audio files or folders")
    datadirs = [p for p in paths if p.is_dir() and (p / "wav.scp").is_file()]
    if datadirs:
        if len(paths) > 1:
            raise FeatureError(f"a data dir ({datadirs[0]}) must be the only input; run extract once per data dir")
        return items_from_datadir(datadirs[0]), datadirs[0]
    items: dict[str, ExtractItem] = {}
    origin: dict[str, str] = {}

    def add(item: ExtractItem, where: str) -> None:
        if item.utt_id in items:
            raise FeatureError(
                f"utterance id {item.utt_id} is given twice ({origin[item.utt_id]} and {where}); "
                "rename one of the files or use a wav.scp with unique ids"
            )
        items[item.utt_id] = item
        origin[item.utt_id] = where

    for p in paths:
        if p.is_dir():
            for item in items_from_folder(p):
                add(item, item.spec)
        elif p.suffix == ".scp" or p.name == "wav.scp":
            for item in items_from_scp(p):
                add(item, f"{p}")
        else:  # an audio file; a missing one becomes a bad input with its reason
            add(ExtractItem(p.stem, str(p)), str(p))
    return [items[u] for u in c_sorted(items)], None


def items_from_folder(folder: Path) -> list[ExtractItem]:
    """Every entry under ``folder`` named like audio, id = its relative path without extension, '-'-joined.

    Entries are not filtered by what they are (``Path.is_file`` is False for a broken link): a bad
    one must be counted and named when it is read, not vanish from the run.
    """
    found = sorted(f for f in folder.rglob("*") if f.suffix.lower() in AUDIO_EXTENSIONS)
    if not found:
        raise FeatureError(f"folder {folder} holds no audio files ({', '.join(AUDIO_EXTENSIONS)})")
    return [ExtractItem("-".join(f.relative_to(folder).with_suffix("").parts), str(f)) for f in found]


def items_from_scp(path: Path) -> list[ExtractItem]:
    if not path.is_file():
        raise FeatureError(f"wav.scp not found: {path}")
    kf = read_keyed_file(path, min_fields=2, key_kind="utterance")
    if kf.problems:
        raise DataDirError(f"{path} cannot be used", kf.problems)
    return [ExtractItem(u, spec) for u, spec in kf.entries.items()]


def items_from_datadir(path: Path) -> list[ExtractItem]:
    dd = DataDir.load(path, validate=True)
    items = []
    for utt in dd.utt_ids:
        spec = dd.audio_spec(utt)
        if dd.segments is not None:
            seg = dd.segments[utt]
            items.append(ExtractItem(utt, spec, seg.start, None if seg.end < 0 else seg.end))
        else:
            items.append(ExtractItem(utt, spec))
    return items


def split_items(items: Sequence[ExtractItem], nj: int) -> list[list[ExtractItem]]:
    """``nj`` contiguous, near-equal parts (Kaldi's split: order kept, so merged output stays sorted)."""
    nj = max(1, min(nj, len(items))) if items else 1
    base, extra = divmod(len(items), nj)
    parts, start = [], 0
    for k in range(nj):
        stop = start + base + (1 if k < extra else 0)
        parts.append(list(items[start:stop]))
        start = stop
    return parts
