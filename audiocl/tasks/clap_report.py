"""Tables of CLAP results: one run's summary, and mean ± std over seeds beside chance and the untrained model.

Runs are found by layout: ``EXP_ROOT/<tag>/seed<N>/eval_<set>/metrics.json`` (written by
``audiocl clap evaluate``). The tag ``untrained`` is the same model before any update.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Sequence

UNTRAINED = "untrained"

RETRIEVAL_ROWS = (
    ("text-to-audio R@1", "text_to_audio/R@1"),
    ("text-to-audio R@10", "text_to_audio/R@10"),
    ("audio-to-text R@1", "audio_to_text/R@1"),
    ("text-to-audio mAP@10", "text_to_audio/mAP@10"),
    ("audio-to-text mAP@10", "audio_to_text/mAP@10"),
)


def mean_std(values: Sequence[float], scale: float = 100.0, digits: int = 1) -> str:
    """``mean ± std`` (sample std) of ``values * scale``; a single value has no ± part."""
    vals = [v * scale for v in values if v is not None and not math.isnan(v)]
    if not vals:
        return "-"
    mean = sum(vals) / len(vals)
    if len(vals) == 1:
        return f"{mean:.{digits}f}"
    std = math.sqrt(sum((v - mean) ** 2 for v in vals) / (len(vals) - 1))
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def format_metrics(m: dict[str, Any]) -> str:
    """A few lines for the console: retrieval, zero-shot and CompA scores (percent)."""
    r = m["retrieval"]
    lines = [f"{m['data_dir']}: {m['clips']} clips, {m['captions']} captions",
             "  " + "  ".join(f"{name} {100 * r[key]:.1f}" for name, key in RETRIEVAL_ROWS)
             + f"  median rank t2a {r['text_to_audio/median_rank']:.0f}"]
    for name, z in m.get("zero_shot", {}).items():
        lines.append(f"  zero-shot {name}: top-1 {100 * z['top1']:.1f} (ensemble {100 * z['ensemble_top1']:.1f}), "
                     f"top-5 {100 * z['top5']:.1f}, chance top-1 {100 * z['chance_top1']:.1f}")
    for kind, s in m.get("compa", {}).items():
        if kind != "chance":
            lines.append(f"  CompA {kind}: text {100 * s['text']:.1f} audio {100 * s['audio']:.1f} "
                         f"group {100 * s['group']:.1f} ({s['pairs']} pairs)")
    return "\n".join(lines)


def collect_runs(exp_root: str | Path, eval_set: str = "test") -> dict[str, list[dict[str, Any]]]:
    """``{tag: [metrics of each seed]}`` from ``EXP_ROOT/<tag>/seed<N>/eval_<set>/metrics.json``."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(Path(exp_root).glob(f"*/seed*/eval_{eval_set}/metrics.json")):
        out.setdefault(path.parents[2].name, []).append(json.loads(path.read_text()))
    return out


def _rows(runs: list[dict[str, Any]]) -> dict[str, list[float]]:
    """Every reported number of a tag's runs, keyed by row label."""
    rows: dict[str, list[float]] = {}
    for m in runs:
        for label, key in RETRIEVAL_ROWS:
            rows.setdefault(label, []).append(m["retrieval"][key])
        for name, z in sorted(m.get("zero_shot", {}).items()):
            rows.setdefault(f"zero-shot {name} top-1", []).append(z["top1"])
            rows.setdefault(f"zero-shot {name} top-1 (ensemble)", []).append(z["ensemble_top1"])
        for kind, s in sorted(m.get("compa", {}).items()):
            if kind != "chance":
                rows.setdefault(f"CompA {kind} group score", []).append(s["group"])
    return rows


def _chance(m: dict[str, Any]) -> dict[str, float]:
    c = {"text-to-audio R@1": m["retrieval_chance"]["text_to_audio/R@1"],
         "text-to-audio R@10": m["retrieval_chance"]["text_to_audio/R@10"],
         "audio-to-text R@1": m["retrieval_chance"]["text_to_audio/R@1"],
         "text-to-audio mAP@10": m["retrieval_chance"]["text_to_audio/mAP@10"]}
    for name, z in m.get("zero_shot", {}).items():
        c[f"zero-shot {name} top-1"] = c[f"zero-shot {name} top-1 (ensemble)"] = z["chance_top1"]
    for kind in m.get("compa", {}):
        if kind != "chance":
            c[f"CompA {kind} group score"] = m["compa"]["chance"]["group"]
    return c


def results_table(runs: dict[str, list[dict[str, Any]]], trained_tag: str) -> str:
    """Markdown: each metric (percent) for chance, the untrained model and ``trained_tag``, with ×chance."""
    trained = runs.get(trained_tag, [])
    if not trained:
        return f"(no evaluated runs of {trained_tag!r})\n"
    first = trained[0]
    chance = _chance(first)
    rows_t, rows_u = _rows(trained), _rows(runs.get(UNTRAINED, []))
    n_t, n_u = len(trained), len(runs.get(UNTRAINED, []))
    head = (f"| metric (%) | chance | untrained (n={n_u}) | trained `{trained_tag}` (n={n_t}) | trained / chance |\n"
            "|---|---|---|---|---|\n")
    lines = []
    for label, vals in rows_t.items():
        c = chance.get(label)
        mean = sum(vals) / len(vals)
        ratio = f"{mean / c:.1f}×" if c else "-"
        lines.append(f"| {label} | {100 * c:.1f} | {mean_std(rows_u.get(label, []))} | {mean_std(vals)} | {ratio} |"
                     if c is not None else
                     f"| {label} | - | {mean_std(rows_u.get(label, []))} | {mean_std(vals)} | - |")
    info = f"\n{first['clips']} test clips, {first['captions']} captions (mean ± sample std over seeds).\n"
    return head + "\n".join(lines) + "\n" + info


OBJECTIVE_COLUMNS = (
    ("t2a R@1", lambda m: m["retrieval"]["text_to_audio/R@1"]),
    ("t2a R@10", lambda m: m["retrieval"]["text_to_audio/R@10"]),
    ("a2t R@1", lambda m: m["retrieval"]["audio_to_text/R@1"]),
    ("t2a mAP@10", lambda m: m["retrieval"]["text_to_audio/mAP@10"]),
    ("family top-1", lambda m: m.get("zero_shot", {}).get("family", {}).get("top1", float("nan"))),
    ("order group", lambda m: m.get("compa", {}).get("order", {}).get("group", float("nan"))),
    ("count group", lambda m: m.get("compa", {}).get("count", {}).get("group", float("nan"))),
    ("attribute group", lambda m: m.get("compa", {}).get("attribute", {}).get("group", float("nan"))),
)


def objective_table(runs: dict[str, list[dict[str, Any]]], tags: Sequence[str] | None = None) -> str:
    """Markdown: one row per tag (objective / hard negatives on-off), percent, mean ± std over seeds."""
    tags = [t for t in dict.fromkeys(tags or sorted(runs)) if runs.get(t)]
    head = "| run | n | " + " | ".join(c for c, _ in OBJECTIVE_COLUMNS) + " |\n"
    head += "|---|---|" + "---|" * len(OBJECTIVE_COLUMNS) + "\n"
    lines = [f"| `{t}` | {len(runs[t])} | " + " | ".join(mean_std([f(m) for m in runs[t]]) for _, f in OBJECTIVE_COLUMNS)
             + " |" for t in tags]
    return head + "\n".join(lines) + "\n"
