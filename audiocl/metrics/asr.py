"""Word and character error rates (jiwer), Kaldi/ESPnet-style: errors summed over the corpus.

``error_rates`` returns counts as well as rates so that a ``RESULTS.md`` row can show
``#Snt #Wrd | Corr Sub Del Ins Err S.Err`` like ESPnet's ``score_sclite`` tables. Rates are corpus
totals (sum of edits / sum of reference tokens), never a mean of per-utterance rates.

An empty reference (jiwer refuses those) counts every hypothesis token as an insertion, which is
what sclite does; an empty hypothesis counts every reference token as a deletion.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Mapping, Sequence

import jiwer

from audiocl.data.tokenizer import normalize_text
from audiocl.errors import DataDirError


@dataclass
class ErrorCounts:
    """Edit counts over a corpus for one unit (words or characters)."""

    unit: str
    num_sentences: int = 0
    num_ref: int = 0
    hits: int = 0
    substitutions: int = 0
    deletions: int = 0
    insertions: int = 0
    sentence_errors: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def rate(self) -> float:
        """Errors / reference tokens (``inf`` never: with no reference tokens it is the error count)."""
        return self.errors / self.num_ref if self.num_ref else float(self.errors)

    def as_dict(self) -> dict:
        d = asdict(self)
        d["errors"] = self.errors
        d["rate"] = self.rate
        return d


def _units(text: str, unit: str) -> list[str]:
    if unit == "word":
        return text.split()
    # characters: the space between words is scored as a character, as jiwer's CER and ESPnet's
    # character scoring (its ``<space>`` token) both do
    return list(text)


def count_errors(refs: Sequence[str], hyps: Sequence[str], unit: str = "word") -> ErrorCounts:
    """Corpus-level edit counts for ``unit`` in ``{"word", "char"}`` (texts already normalised)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    if unit not in ("word", "char"):
        raise ValueError(f"unit must be word or char, got {unit!r}")
    counts = ErrorCounts(unit=unit, num_sentences=len(refs))
    pairs = [(r, h) for r, h in zip(refs, hyps) if _units(r, unit)]
    for r, h in zip(refs, hyps):
        if not _units(r, unit):
            n_ins = len(_units(h, unit))
            counts.insertions += n_ins
            counts.sentence_errors += int(n_ins > 0)
    if pairs:
        pr = [p[0] for p in pairs]
        ph = [p[1] if p[1] else "" for p in pairs]
        out = jiwer.process_words(pr, ph) if unit == "word" else jiwer.process_characters(pr, ph)
        counts.hits += out.hits
        counts.substitutions += out.substitutions
        counts.deletions += out.deletions
        counts.insertions += out.insertions
        counts.num_ref += out.hits + out.substitutions + out.deletions
        for r, h in pairs:
            counts.sentence_errors += int(_units(r, unit) != _units(h, unit))
    return counts


def wer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    return count_errors(refs, hyps, "word").rate


def cer(refs: Sequence[str], hyps: Sequence[str]) -> float:
    return count_errors(refs, hyps, "char").rate


def score_texts(ref: Mapping[str, str], hyp: Mapping[str, str], case: str = "upper",
                allow_missing: bool = False) -> dict:
    """Score Kaldi ``text``-style dicts ``utt -> transcript``; returns ``{"wer": {...}, "cer": {...}}``.

    Every reference utterance needs a hypothesis (a missing one is an error naming the utterance,
    unless ``allow_missing`` scores it as empty). Hypotheses for unknown utterances are an error.
    """
    extra = sorted(set(hyp) - set(ref))
    if extra:
        raise DataDirError(f"{len(extra)} hypotheses have no reference, e.g. utterance {extra[0]}")
    missing = sorted(set(ref) - set(hyp))
    if missing and not allow_missing:
        raise DataDirError(f"{len(missing)} reference utterances were not decoded, e.g. utterance {missing[0]}")
    utts = sorted(ref)
    refs = [normalize_text(ref[u], case) for u in utts]
    hyps = [normalize_text(hyp.get(u, ""), case) for u in utts]
    w = count_errors(refs, hyps, "word")
    c = count_errors(refs, hyps, "char")
    return {"wer": w.as_dict(), "cer": c.as_dict(), "num_missing": len(missing)}


def read_text_file(path: str | Path) -> dict[str, str]:
    """A Kaldi ``text`` file (or a data dir holding one) as ``utt -> transcript``; empty lines allowed."""
    from audiocl.data.kaldi_files import read_keyed_file

    path = Path(path)
    if path.is_dir():
        path = path / "text"
    if not path.is_file():
        raise DataDirError(f"transcript file not found: {path}")
    kf = read_keyed_file(path, allow_empty_value=True)
    bad = [p for p in kf.problems if "sorted" not in p]
    if bad:
        raise DataDirError(f"{path} is malformed", bad)
    return dict(kf.entries)


def score_hypotheses(ref: str | Path, hyp: str | Path, out_dir: str | Path | None = None,
                     allow_missing: bool = False, case: str = "upper") -> dict:
    """Score ``hyp`` (Kaldi text) against ``ref`` (data dir or text); write ``metrics.json`` and
    ``result.md`` (WER and CER tables) into ``out_dir`` (default: the folder of ``hyp``)."""
    import json

    from audiocl.metrics.results import asr_table
    from audiocl.utils.io import atomic_write_text

    refs = read_text_file(ref)
    hyps = read_text_file(hyp)
    metrics = score_texts(refs, hyps, case=case, allow_missing=allow_missing)
    out = Path(out_dir) if out_dir else Path(hyp).parent
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    name = out.name
    atomic_write_text(out / "result.md", asr_table([(name, metrics)], "wer") + "\n\n" + asr_table([(name, metrics)], "cer") + "\n")
    return metrics
