"""Loss curve from the CSV logs of every (resumed) segment of a run, written as a PNG.

Each run segment logs into its own ``log/csv/version_N/metrics.csv`` (a resumed run starts a new
version instead of deleting the old file). :func:`read_metrics` stitches them: rows of a later
segment replace rows of earlier ones from its first step on, so steps logged after the last
checkpoint of a killed segment (and then re-done) appear once.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

from audiocl.utils.plotting import pyplot, save_figure


def _version_key(path: Path) -> int:
    m = re.search(r"version_(\d+)", str(path))
    return int(m.group(1)) if m else -1


def read_metrics(csv_dir: str | Path) -> list[dict[str, float]]:
    """All logged rows (step-sorted, one per step and key set) across ``version_*/metrics.csv``."""
    files = sorted(Path(csv_dir).glob("version_*/metrics.csv"), key=_version_key)
    rows: list[dict[str, float]] = []
    for f in files:
        seg: list[dict[str, float]] = []
        with open(f, newline="") as fh:
            for raw in csv.DictReader(fh):
                row = {}
                for k, v in raw.items():
                    if v in ("", None):
                        continue
                    try:
                        row[k] = float(v)
                    except ValueError:
                        continue
                if "step" in row:
                    if seg and seg[-1]["step"] == row["step"]:
                        seg[-1].update(row)  # the same step logged twice (see PeriodicCheckpoint._save)
                    else:
                        seg.append(row)
        if not seg:
            continue
        first = min(r["step"] for r in seg)
        rows = [r for r in rows if r["step"] < first] + seg
    rows.sort(key=lambda r: r["step"])
    return rows


def series(rows: list[dict[str, float]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        if key in r and math.isfinite(r[key]):
            xs.append(r["step"])
            ys.append(r[key])
    return xs, ys


def plot_loss_curve(csv_dir: str | Path, out_png: str | Path, *, title: str = "",
                    extra_keys: tuple[str, ...] = ("train/acc", "train/prob_perplexity", "train/code_perplexity")) -> Path | None:
    """Plot ``train/loss`` (and any of ``extra_keys`` that were logged) against the step; ``None`` if nothing logged."""
    rows = read_metrics(csv_dir)
    xs, ys = series(rows, "train/loss")
    if not xs:
        return None
    plt = pyplot()

    present = [k for k in extra_keys if series(rows, k)[0]]
    fig, axes = plt.subplots(1, 1 + len(present), figsize=(4.5 * (1 + len(present)), 3.5), squeeze=False)
    axes[0][0].plot(xs, ys, lw=1)
    axes[0][0].set_xlabel("step")
    axes[0][0].set_ylabel("train/loss")
    axes[0][0].set_title(title or "training loss")
    for ax, key in zip(axes[0][1:], present):
        kx, ky = series(rows, key)
        ax.plot(kx, ky, lw=1, color="tab:orange")
        ax.set_xlabel("step")
        ax.set_ylabel(key)
    fig.tight_layout()
    return save_figure(fig, out_png)
