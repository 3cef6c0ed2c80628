"""Does DBPM earn its place? Train with a known fraction of corrupted positive pairs, with and without it.

A fixed random subset of the training series (``fraction``) gets a *corrupted* positive pair for the
whole of training: the second view is cut from

- ``noise``: Gaussian noise of the same length (the views share nothing), or
- ``swap``: a fixed partner series of *another class* (a faulty pair that pulls two classes
  together),

at the same crop positions as the first view. Everything else is the standard recipe (TS2Vec
objective unless overridden, e.g. ``method=simclr``; SVM protocol on clean test data). We report SVM
accuracy with and without DBPM and the precision / recall of DBPM's flags against the corrupted set,
both for the flags of the last epoch and for "ever flagged". Two reference arms put the difference in
scale (``--arms untrained clean base dbpm``): the untrained encoder (what training adds at all) and
training on clean pairs (what the corruption takes away, i.e. the most DBPM can win back). A third,
``oracle``, trains only on the series whose pairs are not corrupted: what removing every bad pair
perfectly reaches (DBPM with ``weighting=drop`` and full recall approaches it).

``audiocl ts-dbpm --dataset ItalyPowerDemand --fraction 0.2 --mode swap --seeds 0 1 2`` (stage 6 of
``egs/ucr_uea/run.sh`` runs one such line per experiment of ``conf/dbpm_corrupt.txt``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from audiocl.config import resolve_config
from audiocl.losses.dbpm import flag_precision_recall
from audiocl.errors import ConfigError
from audiocl.ts.config import TSPretrainConfig
from audiocl.ts.data import load_ucr_uea_normalised
from audiocl.ts.evaluate import evaluate_embeddings, format_mean_std
from audiocl.ts.factory import build_model
from audiocl.utils.io import atomic_write_text


class PairCorruptor:
    """``pair_hook`` for :class:`~audiocl.ts.model.TSContrastiveModel`: replaces view-2 sources of the corrupted ids."""

    def __init__(self, X: np.ndarray, y: np.ndarray, fraction: float, mode: str, seed: int = 0):
        if mode not in ("noise", "swap"):
            raise ConfigError(f"mode must be 'noise' or 'swap', got {mode!r}")
        rng = np.random.default_rng(seed + 1000)
        n = X.shape[0]
        k = int(round(fraction * n))
        self.corrupted = np.zeros(n, dtype=bool)
        self.corrupted[rng.choice(n, size=k, replace=False)] = True
        self.X, self.mode = X, mode
        self.rng = np.random.default_rng(seed + 2000)
        self.partner = np.arange(n)
        for i in np.flatnonzero(self.corrupted):
            others = np.flatnonzero(y != y[i])
            self.partner[i] = rng.choice(others) if others.size else i

    def __call__(self, xb: np.ndarray, ids: np.ndarray) -> np.ndarray:
        out = xb.copy()
        t = xb.shape[1]
        for r, i in enumerate(ids):
            if not self.corrupted[i]:
                continue
            if self.mode == "noise":
                noise = self.rng.standard_normal(xb[r].shape).astype(np.float32)
                out[r] = np.where(np.isnan(xb[r]), np.nan, noise)
            else:
                src = self.X[self.partner[i]]
                row = np.full_like(xb[r], np.nan)
                m = min(t, src.shape[0])
                row[:m] = src[:m]
                out[r] = row
        return out


ARMS = ("untrained", "clean", "base", "dbpm", "oracle")
"""``untrained``: the encoder at its initialisation (no training; what training has to beat);
``clean``: trained on uncorrupted pairs without DBPM (what the corruption can take away);
``base``: corrupted pairs without DBPM; ``dbpm``: corrupted pairs with DBPM; ``oracle``: only the
series whose pairs are not corrupted (what perfect removal of the bad pairs reaches)."""


def run(dataset: str, fraction: float, mode: str, seed: int, overrides: list[str], out_dir: Path | None = None, tag: str = "",
        arms: tuple[str, ...] = ("base", "dbpm"), previous: dict | None = None) -> dict:
    """Train the requested ``arms`` (see :data:`ARMS`) and return one result dict; arms already in
    ``previous`` (a loaded result file) are kept, not re-run."""
    bad = [a for a in arms if a not in ARMS]
    if bad:
        raise ConfigError(f"unknown arm(s) {bad}; choose from {', '.join(ARMS)}")
    tr, te, xtr, xte, _ = load_ucr_uea_normalised(dataset)
    res: dict = dict(previous or {})
    res.update({"dataset": dataset, "fraction": fraction, "mode": mode, "seed": seed, "overrides": list(overrides)})
    for arm in arms:
        if f"{arm}_svm_acc" in res:
            continue
        dbpm = arm == "dbpm"
        cfg = resolve_config(TSPretrainConfig, overrides=[*overrides, f"seed={seed}", f"dbpm={dbpm}"])
        model = build_model(cfg, xtr.shape[2])
        corr = PairCorruptor(xtr, tr.y, fraction, mode, seed)
        if arm in ("base", "dbpm"):
            model.pair_hook = corr
        if arm == "oracle":
            model.fit(xtr[~corr.corrupted])
            res["oracle_train_series"] = int((~corr.corrupted).sum())
        elif arm != "untrained":
            model.fit(xtr)
        m = evaluate_embeddings(model.encode(xtr), tr.y, model.encode(xte), te.y, seed=seed)
        res[f"{arm}_svm_acc"] = m["svm_acc"]
        res[f"{arm}_linear_acc"] = m["linear_acc"]
        res[f"{arm}_train_seconds"] = model.train_seconds
        if model.dbpm is not None:
            noisy, faulty = model.dbpm.flagged()
            last = (noisy | faulty).numpy()
            ever = model.dbpm.flag_counts.numpy() > 0
            c = torch.from_numpy(corr.corrupted)
            res["flag_last_precision"], res["flag_last_recall"] = flag_precision_recall(torch.from_numpy(last), c)
            res["flag_ever_precision"], res["flag_ever_recall"] = flag_precision_recall(torch.from_numpy(ever), c)
            res["n_flag_last"], res["n_flag_ever"], res["n_corrupted"] = int(last.sum()), int(ever.sum()), int(corr.corrupted.sum())
            res["n_faulty_last"], res["n_noisy_last"] = int(faulty.sum()), int(noisy.sum())
            stat = model.dbpm.statistic().numpy()
            res["mean_stat_corrupted"] = float(np.nanmean(stat[corr.corrupted])) if corr.corrupted.any() else float("nan")
            res["mean_stat_clean"] = float(np.nanmean(stat[~corr.corrupted]))
        if out_dir is not None:  # after every arm, so a killed job keeps what finished
            atomic_write_text(result_path(out_dir, dataset, mode, fraction, tag, seed), json.dumps(res, indent=1))
    return res


def result_path(out_dir: Path, dataset: str, mode: str, fraction: float, tag: str, seed: int) -> Path:
    """Where :func:`run` keeps one seed's result (the folder holds every experiment of a recipe)."""
    return Path(out_dir) / f"{dataset}_{mode}_f{fraction}{tag}_seed{seed}.json"


@dataclass
class DBPMExperimentOptions:
    """One corruption experiment over several seeds (``audiocl ts-dbpm``)."""

    dataset: str = "ItalyPowerDemand"
    fraction: float = 0.2
    mode: str = "swap"
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    arms: list[str] = field(default_factory=lambda: ["base", "dbpm"])
    out: Path | None = None
    """Folder for one JSON per seed; a seed whose file has every requested arm is not re-run."""
    tag: str = ""
    """Suffix of the result files (e.g. the overrides used)."""
    overrides: list[str] = field(default_factory=list)


def run_seeds(opts: DBPMExperimentOptions) -> Iterator[dict]:
    """Run (or read back) each seed of the experiment, yielding its result."""
    bad = [a for a in opts.arms if a not in ARMS]
    if bad:
        raise ConfigError(f"unknown arm(s) {bad}; choose from {', '.join(ARMS)}")
    for seed in opts.seeds:
        f = result_path(opts.out, opts.dataset, opts.mode, opts.fraction, opts.tag, seed) if opts.out else None
        prev = json.loads(f.read_text()) if f is not None and f.is_file() else None
        if prev is not None and all(f"{a}_svm_acc" in prev for a in opts.arms):
            yield prev
        else:
            yield run(opts.dataset, opts.fraction, opts.mode, seed, opts.overrides, opts.out, opts.tag, tuple(opts.arms), prev)


SUMMARY_KEYS = ("untrained_svm_acc", "clean_svm_acc", "base_svm_acc", "dbpm_svm_acc", "oracle_svm_acc",
                "flag_last_precision", "flag_last_recall", "flag_ever_precision", "flag_ever_recall")


def summarize(results: list[dict]) -> str:
    """One line: mean ± std over seeds of every accuracy and flag statistic."""
    return " ".join(f"{k}={format_mean_std([r[k] for r in results if k in r])}" for k in SUMMARY_KEYS)


def _experiments(folder: Path) -> dict[tuple, list[dict]]:
    """The result files of ``folder`` grouped by experiment: ``(dataset, mode, fraction, tag, overrides)``."""
    groups: dict[tuple, list[dict]] = {}
    for f in sorted(Path(folder).glob("*.json")):
        r = json.loads(f.read_text())
        if "dataset" not in r:  # reference arms copied in, the experiment itself not run yet
            continue
        prefix = f"{r['dataset']}_{r['mode']}_f{r['fraction']}"
        tag = re.sub(r"_seed\d+$", "", f.stem)[len(prefix):] if f.stem.startswith(prefix) else ""
        groups.setdefault((r["dataset"], r["mode"], r["fraction"], tag, tuple(r.get("overrides", []))), []).append(r)
    return groups


def report_markdown(folder: Path) -> str:
    """One table row per (dataset, mode, fraction, DBPM settings) over the JSON files in ``folder``."""
    groups: dict[tuple, list[dict]] = {}
    for (ds, mode, frac, tag, ov), rs in _experiments(folder).items():
        settings = " ".join(o for o in ov if not o.startswith("num_threads")) or "defaults"
        groups.setdefault((ds, mode, frac, f"{settings} (`{tag}`)" if tag else settings), []).extend(rs)
    lines = [
        "| dataset | corruption | fraction | settings | seeds | SVM acc untrained | SVM acc clean | SVM acc without DBPM | SVM acc with DBPM | SVM acc oracle (uncorrupted series only) | linear acc clean / without / with DBPM | flag precision (last epoch) | flag recall (last epoch) | precision (ever flagged) | recall (ever flagged) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(rs, k):
        return format_mean_std([r[k] for r in rs if k in r], show_n=False)

    for (ds, mode, frac, ov), rs in sorted(groups.items()):
        lines.append(
            f"| {ds} | {mode} | {frac} | {ov} | {len(rs)} | {cell(rs, 'untrained_svm_acc')} | {cell(rs, 'clean_svm_acc')} | "
            f"{cell(rs, 'base_svm_acc')} | {cell(rs, 'dbpm_svm_acc')} | {cell(rs, 'oracle_svm_acc')} | "
            f"{cell(rs, 'clean_linear_acc')} / {cell(rs, 'base_linear_acc')} / {cell(rs, 'dbpm_linear_acc')} | "
            f"{cell(rs, 'flag_last_precision')} | {cell(rs, 'flag_last_recall')} | {cell(rs, 'flag_ever_precision')} | {cell(rs, 'flag_ever_recall')} |"
        )
    return "\n".join(lines) + "\n"


def report_commands(folder: Path) -> list[str]:
    """``audiocl ts-dbpm`` lines that reproduce the results in ``folder``: one per experiment and set of
    arms (seeds that ran the same arms share a line)."""
    lines = []
    for (ds, mode, frac, tag, ov), rs in sorted(_experiments(folder).items()):
        by_arms: dict[tuple[str, ...], list[int]] = {}
        for r in rs:
            by_arms.setdefault(tuple(a for a in ARMS if f"{a}_svm_acc" in r), []).append(int(r["seed"]))
        for arms, seeds in sorted(by_arms.items()):
            lines.append(
                f"audiocl ts-dbpm --dataset {ds} --mode {mode} --fraction {frac} --seeds {' '.join(map(str, sorted(seeds)))} "
                f"--arms {' '.join(arms)} --out {folder}" + (f" --tag {tag}" if tag else "") + (f" -- {' '.join(ov)}" if ov else "")
            )
    return lines


__all__ = ["ARMS", "DBPMExperimentOptions", "PairCorruptor", "report_commands", "report_markdown", "result_path", "run",
           "run_seeds", "summarize"]
