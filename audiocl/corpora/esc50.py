"""ESC-50 environmental sounds -> CLAP data dirs ``all`` and ``fold1`` ... ``fold5``.

Layout read (the GitHub release): ``meta/esc50.csv`` with columns
``filename,fold,target,category,esc10,src_file,take`` and ``audio/<filename>`` (5 s, 44.1 kHz).

ESC-50 has class labels, not captions: ``text`` is the class name (``chirping_birds`` -> "chirping birds")
so every CLAP tool can read the data dir, and ``utt2category`` holds the same class name for zero-shot
classification, with the 50 class names (in ``target`` order) in ``OUT/zeroshot_labels.json`` under
``category``; ``utt2fold`` holds the fold. Zero-shot results are reported on ``fold1`` (400 clips, the
usual held-out fold) and on ``all`` (2,000 clips, as CLAP papers report); say which one a number is on.
"""

from __future__ import annotations

import json
from pathlib import Path

from audiocl.corpora.caption_corpus import (CaptionedClip, check_caption, check_source, read_csv_rows,
                                            require_columns, safe_id, write_sets)
from audiocl.errors import DataDirError
from audiocl.utils.io import atomic_write_text

COLUMNS = ("filename", "fold", "target", "category")


def class_name(category: str) -> str:
    return " ".join(category.replace("_", " ").split())


def read_esc50(root: str | Path) -> tuple[list[CaptionedClip], list[str]]:
    """Every clip and the class names in ``target`` order."""
    root = Path(root)
    csv_path = root / "meta" / "esc50.csv"
    clips: list[CaptionedClip] = []
    classes: dict[int, str] = {}
    for line, row in read_csv_rows(csv_path):
        require_columns(csv_path, row, COLUMNS)
        where = f"{csv_path} line {line}"
        name = row["filename"]
        if not (row["fold"].isdigit() and row["target"].isdigit()):
            raise DataDirError(f"{where}: clip {name}: fold '{row['fold']}' and target '{row['target']}' must be integers")
        label = check_caption(class_name(row["category"]), where, name)
        target = int(row["target"])
        if classes.setdefault(target, label) != label:
            raise DataDirError(f"{where}: clip {name}: target {target} is '{label}' here but '{classes[target]}' before")
        source = check_source(root / "audio" / name, where, name)
        clips.append(CaptionedClip(safe_id("esc50", Path(name).stem), source, [label],
                                   {"category": label, "fold": row["fold"]}))
    if not clips:
        raise DataDirError(f"{csv_path}: no clips")
    return clips, [classes[t] for t in sorted(classes)]


def prepare_esc50(root: str | Path, out: str | Path, nj: int = 2, strict_sample_rate: bool = False) -> dict[str, int]:
    """Write ``out/all`` and ``out/fold<k>`` plus ``out/zeroshot_labels.json``; returns clips per data dir."""
    out = Path(out)
    clips, classes = read_esc50(root)
    sets = {"all": clips}
    for fold in sorted({c.labels["fold"] for c in clips}, key=int):
        sets[f"fold{fold}"] = [c for c in clips if c.labels["fold"] == fold]
    counts = write_sets(sets, out, nj=nj, strict_sample_rate=strict_sample_rate)
    atomic_write_text(out / "zeroshot_labels.json", json.dumps({"category": classes}, indent=1) + "\n")
    return counts
