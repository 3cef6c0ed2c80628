"""Clotho (v2.x) audio captioning -> CLAP data dirs ``development``, ``validation``, ``evaluation``.

Layout read (as published on Zenodo, archives unpacked into one folder)::

    clotho_captions_{development,validation,evaluation}.csv   file_name,caption_1,...,caption_5
    {development,validation,evaluation}/<file_name>            44.1 kHz wav (names contain blanks)

Each clip has five captions: ``text`` holds caption_1, ``captions.jsonl`` all five (in CSV order), which
is what the multi-caption retrieval metrics (each caption a query; a clip is matched by any of its five)
need. Utterance ids are ``clotho-<split>-<file name made safe>``; audio is converted once to 16 kHz.
"""

from __future__ import annotations

from pathlib import Path

from audiocl.corpora.caption_corpus import (CaptionedClip, check_caption, check_source, read_csv_rows,
                                            require_columns, safe_id, write_sets)
from audiocl.errors import DataDirError

SPLITS = ("development", "validation", "evaluation")
CAPTION_COLUMNS = tuple(f"caption_{i}" for i in range(1, 6))


def read_clotho_split(root: str | Path, split: str) -> list[CaptionedClip]:
    """The clips of one split with their five captions; bad rows name the CSV line and the clip."""
    root = Path(root)
    csv_path = root / f"clotho_captions_{split}.csv"
    clips: list[CaptionedClip] = []
    seen: dict[str, str] = {}
    for line, row in read_csv_rows(csv_path):
        require_columns(csv_path, row, ("file_name",) + CAPTION_COLUMNS)
        name = row["file_name"]
        where = f"{csv_path} line {line}"
        if not name:
            raise DataDirError(f"{where}: empty file_name")
        captions = [check_caption(row[c], f"{where} ({c})", name) for c in CAPTION_COLUMNS]
        utt = safe_id("clotho", split, Path(name).stem)
        if utt in seen:
            raise DataDirError(f"{where}: clip {name}: its id {utt} collides with clip {seen[utt]}")
        seen[utt] = name
        clips.append(CaptionedClip(utt, check_source(root / split / name, where, name), captions))
    if not clips:
        raise DataDirError(f"{csv_path}: no clips")
    return clips


def prepare_clotho(root: str | Path, out: str | Path, splits: tuple[str, ...] = SPLITS, nj: int = 2,
                   strict_sample_rate: bool = False) -> dict[str, int]:
    """Write ``out/<split>`` for each split present; returns clips per data dir."""
    root, out = Path(root), Path(out)
    present = [s for s in splits if (root / f"clotho_captions_{s}.csv").is_file()]
    if not present:
        raise DataDirError(f"{root}: no clotho_captions_<split>.csv (expected the Clotho release layout)")
    sets = {split: read_clotho_split(root, split) for split in present}
    return write_sets(sets, out, nj=nj, strict_sample_rate=strict_sample_rate)
