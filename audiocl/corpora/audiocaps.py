"""AudioCaps -> CLAP data dirs ``train``, ``val``, ``test``.

Layout read: the published CSVs ``{train,val,test}.csv`` with columns
``audiocap_id,youtube_id,start_time,caption`` (one row per caption; val/test have five captions per clip,
train one), and the audio the user downloaded from YouTube, 10 s from ``start_time``, under
``audio/<split>/`` named by any common convention: ``<youtube_id>.wav``, ``Y<youtube_id>.wav``,
``<youtube_id>_<start_time>.wav`` (also ``.flac``).

A clip is ``(youtube_id, start_time)``; its captions are ordered by ``audiocap_id``, the first is ``text``.
Many YouTube videos are gone, so a missing clip is an error naming it by default and, with
``skip_missing``, left out and listed in ``OUT/<split>/missing_clips.txt``.
"""

from __future__ import annotations

from pathlib import Path

from audiocl.corpora.caption_corpus import (CaptionedClip, check_caption, read_csv_rows, require_columns,
                                            safe_id, write_sets)
from audiocl.errors import DataDirError
from audiocl.utils.io import atomic_write_text

SPLITS = ("train", "val", "test")
COLUMNS = ("audiocap_id", "youtube_id", "start_time", "caption")
EXTENSIONS = (".wav", ".flac")


def _start_label(start: str) -> str:
    try:
        value = float(start)
    except ValueError:
        return start
    return str(int(value)) if value == int(value) else str(value)


def find_audio(audio_dir: Path, youtube_id: str, start: str) -> Path | None:
    stems = (youtube_id, f"Y{youtube_id}", f"{youtube_id}_{start}", f"{youtube_id}_{_start_label(start)}")
    for stem in stems:
        for ext in EXTENSIONS:
            path = audio_dir / f"{stem}{ext}"
            if path.is_file():
                return path
    return None


def read_audiocaps_split(root: str | Path, split: str, skip_missing: bool = False) -> tuple[list[CaptionedClip], list[str]]:
    """Clips of one split and the ``youtube_id start`` of clips left out for missing audio."""
    root = Path(root)
    csv_path = root / f"{split}.csv"
    grouped: dict[tuple[str, str], list[tuple[int, str, str]]] = {}
    for line, row in read_csv_rows(csv_path):
        require_columns(csv_path, row, COLUMNS)
        where = f"{csv_path} line {line}"
        if not row["youtube_id"]:
            raise DataDirError(f"{where}: empty youtube_id")
        clip = (row["youtube_id"], row["start_time"])
        caption = check_caption(row["caption"], where, f"{clip[0]} at {clip[1]} s")
        key = int(row["audiocap_id"]) if row["audiocap_id"].isdigit() else line
        grouped.setdefault(clip, []).append((key, caption, where))
    clips, missing = [], []
    for (ytid, start), rows in grouped.items():
        rows.sort()
        path = find_audio(root / "audio" / split, ytid, start)
        if path is None:
            if skip_missing:
                missing.append(f"{ytid} {start}")
                continue
            raise DataDirError(f"{rows[0][2]}: clip {ytid} at {start} s: no audio under {root / 'audio' / split} "
                               f"(looked for {ytid}.wav, Y{ytid}.wav, {ytid}_{start}.wav, .flac); "
                               f"pass --skip-missing to leave unavailable clips out")
        clips.append(CaptionedClip(safe_id("audiocaps", split, ytid, _start_label(start)), path,
                                   [c for _, c, _ in rows]))
    if not clips:
        raise DataDirError(f"{csv_path}: no clip with audio")
    return clips, missing


def prepare_audiocaps(root: str | Path, out: str | Path, splits: tuple[str, ...] = SPLITS, nj: int = 2,
                      skip_missing: bool = False, strict_sample_rate: bool = False) -> dict[str, int]:
    """Write ``out/<split>`` for each split whose CSV exists; returns clips per data dir."""
    root, out = Path(root), Path(out)
    present = [s for s in splits if (root / f"{s}.csv").is_file()]
    if not present:
        raise DataDirError(f"{root}: none of {', '.join(s + '.csv' for s in splits)} (expected the AudioCaps CSVs)")
    read = {split: read_audiocaps_split(root, split, skip_missing) for split in present}
    counts = write_sets({split: clips for split, (clips, _) in read.items()}, out, nj=nj,
                        strict_sample_rate=strict_sample_rate)
    for split, (_, missing) in read.items():
        if missing:
            atomic_write_text(out / split / "missing_clips.txt", "\n".join(missing) + "\n")
    return counts
