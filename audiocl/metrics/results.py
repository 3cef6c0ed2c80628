"""Kaldi/ESPnet-style ``RESULTS.md`` tables, one section per experiment, rewritten atomically.

A recipe's stage 7 collects every ``exp/*/decode_*/metrics.json`` (ASR) and
``exp/*/eval_*/metrics.json`` (classification) into one markdown file. Each experiment gets a
section (``## <exp>``) and each decode set a row, so the file reads like ESPnet's
``egs2/*/RESULTS.md``: ``|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|``. Summary tables come first:
the pretraining runs (``exp/*/metrics.json`` of ``audiocl pretrain``), the number of updates of every
trained model (so that "same number of updates" can be read off the file), pretrained vs scratch CTC,
the classification experiments side by side, and their mean over cross-validation folds.

Only what a re-run of the same configuration reproduces goes into a table (no wall-clock times, no
paths), so a committed block can be compared with a fresh run of the command that produced it.
``update_results_section`` replaces only the block between ``<!-- audiocl:<key> begin/end -->``
markers, so hand-written notes and sections owned by other stages survive a re-run.
"""

from __future__ import annotations

import json
import re
import statistics
from pathlib import Path
from typing import Iterable

from audiocl.utils.io import atomic_write_text


def _pct(x: float) -> str:
    return f"{100.0 * x:.1f}"


def asr_table(rows: Iterable[tuple[str, dict]], unit: str) -> str:
    """Markdown table for ``unit`` (``wer`` or ``cer``) from ``(dataset, score_texts-dict)`` rows."""
    head = f"|{unit.upper()}: dataset|Snt|{'Wrd' if unit == 'wer' else 'Chr'}|Corr|Sub|Del|Ins|Err|S.Err|"
    lines = [head, "|---|---|---|---|---|---|---|---|---|"]
    for name, m in rows:
        c = m[unit]
        n = max(c["num_ref"], 1)
        lines.append(
            f"|{name}|{c['num_sentences']}|{c['num_ref']}|{_pct(c['hits'] / n)}|{_pct(c['substitutions'] / n)}|"
            f"{_pct(c['deletions'] / n)}|{_pct(c['insertions'] / n)}|{_pct(c['rate'])}|"
            f"{_pct(c['sentence_errors'] / max(c['num_sentences'], 1))}|"
        )
    return "\n".join(lines)


def classification_table(rows: Iterable[tuple[str, dict]]) -> str:
    lines = ["|dataset|Utts|WA|UA|macro-F1|", "|---|---|---|---|---|"]
    for name, m in rows:
        lines.append(f"|{name}|{m['num_utts']}|{_pct(m['wa'])}|{_pct(m['ua'])}|{_pct(m['macro_f1'])}|")
    return "\n".join(lines)


def _load(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _fmt(x: object, digits: int = 3) -> str:
    return f"{x:.{digits}f}" if isinstance(x, (int, float)) else "-"


def _loss(x: object) -> str:
    """Four significant digits: losses range from ~1 (contrastive) to hundreds (sentence-summed CTC)."""
    return f"{x:.4g}" if isinstance(x, (int, float)) else "-"


def _training_runs(exp_root: Path) -> list[tuple[str, dict]]:
    """``(experiment, metrics)`` of every ``exp_root/<exp>/metrics.json`` a training run wrote."""
    runs = []
    for path in sorted(exp_root.glob("*/metrics.json")):
        m = _load(path)
        if m and "global_step" in m:
            runs.append((path.parent.name, m))
    return runs


def pretraining_table(exp_root: str | Path) -> str:
    """One row per ``audiocl pretrain`` run: updates, final loss, contrastive accuracy against chance, and
    the codebook use (perplexity of the ``N`` entries; near ``N`` = all used, near 1 = collapsed).

    Values are the means of the last logged steps (``final_mean_last_logged``). Chance is 1/(K+1) for K
    negatives; the effective chance counts only the distractors left after those sharing the positive's codes
    are dropped, which is the level the accuracy has to beat.
    """
    rows = []
    for name, m in _training_runs(Path(exp_root)):
        if "ssl_type" not in m:
            continue
        last = m.get("final_mean_last_logged") or {}
        chance = _fmt(m.get("chance_accuracy"), 4)
        if "chance_accuracy_effective" in m:
            chance += f" ({_fmt(m['chance_accuracy_effective'], 4)})"
        entries = m.get("codebook_entries")
        perplexity = "-"
        if entries and "train/prob_perplexity" in last:
            perplexity = (f"{_fmt(last['train/prob_perplexity'], 1)} / "
                          f"{_fmt(last.get('train/code_perplexity'), 1)} of {entries}")
        rows.append(f"|{name}|{m['ssl_type']}|{m.get('num_train_utts', '-')}|{m['global_step']}|"
                    f"{_loss(last.get('train/loss'))}|{_fmt(last.get('train/acc'))}|{chance}|{perplexity}|")
    if not rows:
        return ""
    head = ["|experiment|objective|train utts|updates|loss|contrastive acc|chance (effective)|"
            "codebook perplexity, prob / code|", "|---|---|---|---|---|---|---|---|"]
    return "\n".join(head + rows)


def training_table(exp_root: str | Path) -> str:
    """Updates and final training loss of every trained downstream model (CTC, classifiers)."""
    rows = [f"|{name}|{m['global_step']}|{_loss((m.get('final_mean_last_logged') or {}).get('train/loss'))}|"
            for name, m in _training_runs(Path(exp_root)) if "ssl_type" not in m]
    if not rows:
        return ""
    return "\n".join(["|experiment|updates|train loss (mean of the last logged steps)|", "|---|---|---|"] + rows)


def ssl_comparison_table(exp_root: str | Path) -> str:
    """Pretrained vs from-scratch CTC, per training set and decode set: CER, WER and the CER ratio.

    Pairs are ``ctc_pretrained_<tag>`` / ``ctc_scratch_<tag>`` (the names recipe stage 4 uses).
    """
    exp_root = Path(exp_root)
    lines = ["|train set|decode set|CER pretrained|CER scratch|CER ratio|WER pretrained|WER scratch|",
             "|---|---|---|---|---|---|---|"]
    for pre in sorted(exp_root.glob("ctc_pretrained_*")):
        tag = pre.name[len("ctc_pretrained_"):]
        scr = exp_root / f"ctc_scratch_{tag}"
        for dec in sorted(pre.glob("decode_*/metrics.json")):
            a, b = _load(dec), _load(scr / dec.parent.name / "metrics.json")
            if not a or not b or "cer" not in a or "cer" not in b:
                continue
            ca, cb = a["cer"]["rate"], b["cer"]["rate"]
            ratio = f"{ca / cb:.2f}" if cb > 0 else "n/a"
            lines.append(f"|{tag}|{dec.parent.name[len('decode_'):]}|{_pct(ca)}|{_pct(cb)}|{ratio}|"
                         f"{_pct(a['wer']['rate'])}|{_pct(b['wer']['rate'])}|")
    return "\n".join(lines) if len(lines) > 2 else ""


def classification_comparison_table(exp_root: str | Path) -> str:
    """UA / WA / macro-F1 of every ``<label>_<upstream>_<train>/eval_<set>`` side by side (stage 6 names)."""
    exp_root = Path(exp_root)
    rows = []
    for path in sorted(exp_root.glob("*/eval_*/metrics.json")):
        m = _load(path)
        if not m or "ua" not in m:
            continue
        rows.append(f"|{path.parent.parent.name}|{path.parent.name[len('eval_'):]}|{m['num_utts']}|"
                    f"{_pct(m['ua'])}|{_pct(m['wa'])}|{_pct(m['macro_f1'])}|")
    if not rows:
        return ""
    return "\n".join(["|experiment|eval set|Utts|UA|WA|macro-F1|", "|---|---|---|---|---|---|"] + rows)


def fold_mean_table(exp_root: str | Path) -> str:
    """Cross-validation summary: for experiments ``<name>_fold<k>_train`` scored on ``fold<k>_test`` (IEMOCAP's
    leave-one-session-out, stage 6 names), UA / WA / macro-F1 as mean ± std over the folds, the number
    emotion-recognition papers report. Folds without a score are left out and the count says so."""
    exp_root = Path(exp_root)
    folds: dict[str, list[dict]] = {}
    for exp in sorted(exp_root.glob("*_fold*_train")):
        match = re.fullmatch(r"(.+)_fold(\d+)_train", exp.name)
        m = _load(exp / f"eval_fold{match.group(2)}_test" / "metrics.json") if match else None
        if m and "ua" in m:
            folds.setdefault(match.group(1), []).append(m)
    if not folds:
        return ""
    rows = ["|experiment|folds|UA|WA|macro-F1|", "|---|---|---|---|---|"]
    for name, ms in folds.items():
        cells = []
        for key in ("ua", "wa", "macro_f1"):
            vals = [100.0 * m[key] for m in ms]
            cells.append(f"{statistics.fmean(vals):.1f} ± {statistics.pstdev(vals):.1f}")
        rows.append(f"|{name}|{len(ms)}|" + "|".join(cells) + "|")
    return "\n".join(rows)


def collect_results(exp_root: str | Path) -> str:
    """Markdown for ``exp_root``: the summary tables, then every ``<exp>/<decode_or_eval dir>/metrics.json``."""
    exp_root = Path(exp_root)
    by_exp: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted(exp_root.glob("*/*/metrics.json")):
        metrics = _load(path)
        if metrics is not None:
            by_exp.setdefault(path.parent.parent.name, []).append((path.parent.name, metrics))
    parts = []
    for exp, rows in by_exp.items():
        asr = [(n, m) for n, m in rows if "wer" in m and "cer" in m]
        cls = [(n, m) for n, m in rows if "ua" in m and "wa" in m]
        if not asr and not cls:
            continue
        parts.append(f"### {exp}\n")
        if asr:
            parts.append(asr_table(asr, "wer") + "\n\n" + asr_table(asr, "cer") + "\n")
        if cls:
            parts.append(classification_table(cls) + "\n")
    summary = []
    for title, table in (
        ("Self-supervised pretraining", pretraining_table(exp_root)),
        ("Updates per trained model", training_table(exp_root)),
        ("CTC: pretrained upstream vs the same architecture from scratch", ssl_comparison_table(exp_root)),
        ("Utterance classification (UA = mean per-class recall)", classification_comparison_table(exp_root)),
        ("Utterance classification, mean ± std over the cross-validation folds", fold_mean_table(exp_root)),
    ):
        if table:
            summary.append(f"### {title}\n\n{table}\n")
    return "\n".join(summary + parts)


def update_results_section(path: str | Path, key: str, body: str, title: str | None = None) -> None:
    """Insert or replace the marked block ``key`` in ``path`` (creating the file if needed)."""
    path = Path(path)
    begin, end = f"<!-- audiocl:{key} begin -->", f"<!-- audiocl:{key} end -->"
    block = f"{begin}\n" + (f"## {title}\n\n" if title else "") + body.rstrip() + f"\n{end}"
    text = path.read_text(encoding="utf-8") if path.exists() else "# RESULTS\n"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    atomic_write_text(path, text if text.endswith("\n") else text + "\n")
