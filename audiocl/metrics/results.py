"""Kaldi/ESPnet-style ``RESULTS.md`` tables, one section per experiment, rewritten atomically.

A recipe's stage 7 collects every ``exp/*/decode_*/metrics.json`` (ASR) and
``exp/*/eval_*/metrics.json`` (classification) into one markdown file. Each experiment gets a
section (``## <exp>``) and each decode set a row, so the file reads like ESPnet's
``egs2/*/RESULTS.md``: ``|dataset|Snt|Wrd|Corr|Sub|Del|Ins|Err|S.Err|``.

``update_results_section`` replaces only the block between ``<!-- audiocl:<key> begin/end -->``
markers, so hand-written notes and sections owned by other stages survive a re-run.
"""

from __future__ import annotations

import json
import re
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


def collect_results(exp_root: str | Path) -> str:
    """Markdown for every ``exp_root/<exp>/<decode_or_eval dir>/metrics.json`` (sorted by name)."""
    exp_root = Path(exp_root)
    by_exp: dict[str, list[tuple[str, dict]]] = {}
    for path in sorted(exp_root.glob("*/*/metrics.json")):
        try:
            metrics = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
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
    ssl = ssl_comparison_table(exp_root)
    if ssl:
        summary.append("### CTC: pretrained vs the same architecture from scratch (fbank)\n\n" + ssl + "\n")
    cls_cmp = classification_comparison_table(exp_root)
    if cls_cmp:
        summary.append("### Utterance classification (UA = mean per-class recall)\n\n" + cls_cmp + "\n")
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
