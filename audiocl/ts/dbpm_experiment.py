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

``python -m audiocl.ts.dbpm_experiment --dataset ItalyPowerDemand --fraction 0.2 --mode swap --seeds 0 1 2``
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import torch

from audiocl.config import resolve_config
from audiocl.losses.dbpm import flag_precision_recall
from audiocl.ts.data import load_ucr_uea_normalised
from audiocl.ts.evaluate import evaluate_embeddings, mean_std
from audiocl.ts.tstcc import TSPretrainConfig, build_model
from audiocl.utils.io import atomic_write_text


class PairCorruptor:
    """``pair_hook`` for :class:`~audiocl.models.ts_contrastive.TSContrastiveModel`: replaces view-2 sources of the corrupted ids."""

    def __init__(self, X: np.ndarray, y: np.ndarray, fraction: float, mode: str, seed: int = 0):
        if mode not in ("noise", "swap"):
            raise ValueError(f"mode must be 'noise' or 'swap', got {mode!r}")
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
        raise ValueError(f"unknown arm(s) {bad}; choose from {', '.join(ARMS)}")
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
            atomic_write_text(out_dir / f"{dataset}_{mode}_f{fraction}{tag}_seed{seed}.json", json.dumps(res, indent=1))
    return res


def summarize(results: list[dict]) -> str:
    keys = ["untrained_svm_acc", "clean_svm_acc", "base_svm_acc", "dbpm_svm_acc", "oracle_svm_acc", "flag_last_precision", "flag_last_recall", "flag_ever_precision", "flag_ever_recall"]
    parts = []
    for k in keys:
        vals = [r[k] for r in results if k in r and r[k] == r[k]]
        m, s = mean_std(vals)
        parts.append(f"{k}={m:.3f}±{s:.3f}(n={len(vals)})")
    return " ".join(parts)


def report_markdown(folder: Path) -> str:
    """One table row per (dataset, mode, fraction, DBPM settings) over the JSON files in ``folder``."""
    groups: dict[tuple, list[dict]] = {}
    for f in sorted(Path(folder).glob("*.json")):
        r = json.loads(f.read_text())
        if "dataset" not in r:  # reference arms copied in, the experiment itself not run yet
            continue
        prefix = f"{r['dataset']}_{r['mode']}_f{r['fraction']}"
        tag = re.sub(r"_seed\d+$", "", f.stem)[len(prefix):] if f.stem.startswith(prefix) else ""
        settings = " ".join(o for o in r.get("overrides", []) if not o.startswith("num_threads"))
        settings = settings or "defaults"
        key = (r["dataset"], r["mode"], r["fraction"], f"{settings} (`{tag}`)" if tag else settings)
        groups.setdefault(key, []).append(r)
    lines = [
        "| dataset | corruption | fraction | settings | seeds | SVM acc untrained | SVM acc clean | SVM acc without DBPM | SVM acc with DBPM | SVM acc oracle (uncorrupted series only) | linear acc clean / without / with DBPM | flag precision (last epoch) | flag recall (last epoch) | precision (ever flagged) | recall (ever flagged) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]

    def cell(rs, k):
        vals = [r[k] for r in rs if k in r and r[k] == r[k]]
        if not vals:
            return "—"
        m, s = mean_std(vals)
        return f"{m:.3f} ± {s:.3f}"

    for (ds, mode, frac, ov), rs in sorted(groups.items()):
        lines.append(
            f"| {ds} | {mode} | {frac} | {ov} | {len(rs)} | {cell(rs, 'untrained_svm_acc')} | {cell(rs, 'clean_svm_acc')} | "
            f"{cell(rs, 'base_svm_acc')} | {cell(rs, 'dbpm_svm_acc')} | {cell(rs, 'oracle_svm_acc')} | "
            f"{cell(rs, 'clean_linear_acc')} / {cell(rs, 'base_linear_acc')} / {cell(rs, 'dbpm_linear_acc')} | "
            f"{cell(rs, 'flag_last_precision')} | {cell(rs, 'flag_last_recall')} | {cell(rs, 'flag_ever_precision')} | {cell(rs, 'flag_ever_recall')} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m audiocl.ts.dbpm_experiment")
    p.add_argument("--dataset", default="ItalyPowerDemand")
    p.add_argument("--fraction", type=float, default=0.2)
    p.add_argument("--mode", choices=["noise", "swap"], default="swap")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--out", type=Path, default=None, help="folder for one JSON per seed (resumable)")
    p.add_argument("--tag", default="", help="suffix for the result files (e.g. the overrides used)")
    p.add_argument("--report", type=Path, default=None, help="print the markdown table of a result folder and exit")
    p.add_argument("--arms", nargs="+", choices=ARMS, default=["base", "dbpm"],
                   help="untrained / clean (no corruption, no DBPM) reference arms, base (corrupted), dbpm (corrupted + DBPM)")
    p.add_argument("overrides", nargs="*")
    args = p.parse_args(argv)
    if args.report is not None:
        print(report_markdown(args.report), end="")
        return 0
    results = []
    for seed in args.seeds:
        f = args.out / f"{args.dataset}_{args.mode}_f{args.fraction}{args.tag}_seed{seed}.json" if args.out else None
        prev = json.loads(f.read_text()) if f is not None and f.is_file() else None
        if prev is not None and all(f"{a}_svm_acc" in prev for a in args.arms):
            r = prev
        else:
            r = run(args.dataset, args.fraction, args.mode, seed, args.overrides, args.out, args.tag, tuple(args.arms), prev)
        results.append(r)
        print(json.dumps(r), flush=True)
    print(f"SUMMARY {args.dataset} mode={args.mode} fraction={args.fraction}: {summarize(results)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
