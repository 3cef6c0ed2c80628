"""Low-resource fine-tuning splits of LibriSpeech: 10 min, 1 h, 10 h, 100 h of transcribed speech.

With the Libri-light limited-resource set present locally (``librispeech_finetuning/``, from "Libri-Light:
A Benchmark for ASR with Limited or No Supervision", Kahn et al., 2020) its official lists are used:

- ``10min`` = ``1h/0/{clean,other}`` (one of the six 10-minute folds),
- ``1h``    = ``1h/*/{clean,other}`` (all six folds),
- ``10h``   = ``1h`` + ``9h/{clean,other}``,
- ``100h``  = LibriSpeech ``train-clean-100`` (the ``--train-data`` dir), as in the wav2vec 2.0 paper.

Without it, the splits are drawn from ``--train-data`` instead: one seeded permutation of its
utterances, cut where the running duration reaches 600 s / 3600 s / 36000 s, so the splits are nested
(10 min inside 1 h inside 10 h) and reproducible; ``100h`` is the whole dir. The README of the recipe
says which of the two was used (``splits_source`` in the returned dict).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audiocl.errors import DataDirError

SPLIT_SECONDS = {"10min": 600.0, "1h": 3600.0, "10h": 36000.0, "100h": None}
_LIBRILIGHT_DIRS = {"10min": ["1h/0"], "1h": [f"1h/{k}" for k in range(6)], "10h": [f"1h/{k}" for k in range(6)] + ["9h"]}


def _read_librilight(root: Path, folders: list[str]) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    wav, text, spk = {}, {}, {}
    for folder in folders:
        base = root / folder
        if not base.is_dir():
            raise DataDirError(f"{root}: Libri-light folder {folder} is missing")
        for trans in sorted(base.rglob("*.trans.txt")):
            for line in trans.read_text(encoding="utf-8").splitlines():
                parts = line.strip().split(None, 1)
                if len(parts) != 2:
                    continue
                utt, words = parts
                audio = trans.parent / f"{utt}.flac"
                if not audio.is_file():
                    raise DataDirError(f"{trans}: utterance {utt}: audio {audio} is missing")
                wav[utt] = str(audio.resolve())  # LibriSpeech ids (spk-chapter-n) already start with the speaker
                text[utt] = words
                spk[utt] = utt.split("-")[0]
    return wav, text, spk


def prepare_ft_splits(out_dir: str | Path, splits: list[str], *, train_data: str | Path | None = None,
                      librilight: str | Path | None = None, seed: int = 0, prefix: str = "train_") -> dict:
    """Write ``out_dir/<prefix><split>`` for each split; returns ``{split: num_utts, "splits_source": ...}``."""
    from audiocl.data.datadir import DataDir

    unknown = [s for s in splits if s not in SPLIT_SECONDS]
    if unknown:
        raise DataDirError(f"unknown fine-tuning split(s) {unknown}; choose from {', '.join(SPLIT_SECONDS)}")
    out_dir = Path(out_dir)
    result: dict = {}
    use_ll = librilight is not None and Path(librilight).is_dir()
    result["splits_source"] = "librilight" if use_ll else "random subset of " + str(train_data)
    full = DataDir.load(train_data) if train_data is not None else None
    order: list[str] = []
    if full is not None:
        rng = np.random.default_rng(seed)
        ids = full.utt_ids
        order = [ids[i] for i in rng.permutation(len(ids))]
    for split in splits:
        dst = out_dir / f"{prefix}{split}"
        if split == "100h" or not use_ll:
            if full is None:
                raise DataDirError(f"split {split} needs --train-data (LibriSpeech train-clean-100 data dir)")
            if SPLIT_SECONDS[split] is None:
                keep = full.utt_ids
            else:
                durs = full.utt2dur
                if durs is None:
                    raise DataDirError(f"{train_data}: utt2dur is missing (run `audiocl utt2dur {train_data}`)")
                keep, total = [], 0.0
                for u in order:
                    if total >= SPLIT_SECONDS[split]:
                        break
                    keep.append(u)
                    total += float(durs[u])
            full.subset(keep).save(dst)
            result[split] = len(keep)
            continue
        wav, text, spk = _read_librilight(Path(librilight), _LIBRILIGHT_DIRS[split])
        dd = DataDir(path=None)
        dd.wav_scp = wav
        dd.text = text
        dd.utt2spk = spk
        dd.save(dst)
        from audiocl.data.datadir_ops import compute_utt2dur

        compute_utt2dur(dst)
        result[split] = len(text)
    return result

