"""The UCR/UEA benchmark runs: pretrain on each dataset's train split, evaluate the frozen embeddings.

One run = one (dataset, method, DBPM on/off, seed): TS2Vec's per-dataset normalisation, unsupervised
training on the train split, then TS2Vec's SVM protocol and a linear probe on the embeddings
(:mod:`audiocl.ts.evaluate`). It writes ``<exp>/<dataset>/<tag>/seed<k>/result.json`` atomically and
is skipped when that file exists, so a killed job resumes where it stopped. ``audiocl ts-recipe``
(stages 1 and 3 of ``egs/ucr_uea/run.sh``) drives it; :mod:`audiocl.ts.ucr_uea_results` turns the
result files into tables.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from audiocl.config import resolve_config, save_config
from audiocl.errors import ConfigError
from audiocl.ts.config import TSPretrainConfig, default_iters
from audiocl.ts.data import SHIPPED_CLASSIFICATION, check_series, load_ucr_uea, load_ucr_uea_normalised
from audiocl.ts.evaluate import evaluate_embeddings
from audiocl.ts.factory import build_model
from audiocl.utils.io import atomic_write_text

DBPM_MODES = {"off": (False,), "on": (True,), "both": (False, True)}
"""``--dbpm`` choices: which DBPM arms each (dataset, seed) trains."""


@dataclass
class RecipeRunOptions:
    """What :func:`run_recipe` trains: every (seed, dataset, DBPM arm), seed-major so that every
    dataset gets a first result early; ``job`` of ``num_jobs`` takes every ``num_jobs``-th
    (seed, dataset) pair, so parallel jobs (``run.pl JOB=1:N``) share the grid without overlap."""

    exp: Path
    datasets: list[str] = field(default_factory=lambda: list(SHIPPED_CLASSIFICATION))
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    dbpm: str = "both"
    """``off``, ``on`` or ``both`` (:data:`DBPM_MODES`)."""
    overrides: list[str] = field(default_factory=list)
    """:class:`~audiocl.ts.config.TSPretrainConfig` ``key=value`` overrides (``method=ts_tcc`` for TS-TCC)."""
    save_model: bool = False
    verbose: bool = False
    job: int = 1
    num_jobs: int = 1


def run_tag(method: str, dbpm: bool) -> str:
    """Folder name of a run: ``base`` / ``dbpm`` for TS2Vec (the recipe's default), else ``<method>[_dbpm]``."""
    if method == "ts2vec":
        return "dbpm" if dbpm else "base"
    return f"{method}_dbpm" if dbpm else method


def run_one(name: str, seed: int, dbpm: bool, exp: Path, overrides: list[str], *, save_model: bool = False,
            verbose: bool = False) -> dict:
    """Train and evaluate one run, or read its ``result.json`` if it finished before."""
    cfg = resolve_config(TSPretrainConfig, overrides=[*overrides, f"seed={seed}", f"dbpm={dbpm}"])
    out_dir = Path(exp) / name / run_tag(cfg.method, dbpm) / f"seed{seed}"
    res_path = out_dir / "result.json"
    if res_path.is_file():
        return json.loads(res_path.read_text())
    tr, te, xtr, xte, norm = load_ucr_uea_normalised(name)
    model = build_model(cfg, xtr.shape[2])
    iters = cfg.iters or default_iters(xtr)
    model.fit(xtr, iters=iters, verbose=verbose)
    t0 = time.perf_counter()
    etr, ete = model.encode(xtr), model.encode(xte)
    enc_s = time.perf_counter() - t0
    metrics = evaluate_embeddings(etr, tr.y, ete, te.y, seed=seed)
    result = {
        "dataset": name, "method": cfg.method, "dbpm": dbpm, "seed": seed, "iters": iters, "overrides": list(overrides),
        "train_seconds": model.train_seconds, "train_cpu_seconds": model.train_cpu_seconds, "encode_seconds": enc_s,
        "n_train": int(xtr.shape[0]), "n_test": int(xte.shape[0]), "length": int(xtr.shape[1]), "channels": int(xtr.shape[2]),
        "final_loss": model.history[-1]["loss"] if model.history else None,
        **metrics,
    }
    if model.dbpm is not None:
        result["dbpm_flagged_ids"] = np.flatnonzero(model.dbpm.flag_counts.numpy() > 0).tolist()
    out_dir.mkdir(parents=True, exist_ok=True)
    save_config(model.cfg, out_dir / "config.yaml")
    if save_model:
        model.save(out_dir / "model", extra={"normalizer": norm.to_dict()})
    atomic_write_text(res_path, json.dumps(result, indent=1))
    return result


def run_recipe(opts: RecipeRunOptions) -> Iterator[dict]:
    """Run (or read back) this job's share of the grid, yielding each run's result."""
    if opts.dbpm not in DBPM_MODES:
        raise ConfigError(f"dbpm must be one of {', '.join(DBPM_MODES)}, got {opts.dbpm!r}")
    if not 1 <= opts.job <= opts.num_jobs:
        raise ConfigError(f"job must be in 1..{opts.num_jobs}, got {opts.job}")
    pairs = [(seed, name) for seed in opts.seeds for name in opts.datasets]
    for seed, name in pairs[opts.job - 1:: opts.num_jobs]:
        for dbpm in DBPM_MODES[opts.dbpm]:
            yield run_one(name, seed, dbpm, opts.exp, opts.overrides, save_model=opts.save_model, verbose=opts.verbose)


def describe_datasets(names: list[str]) -> Iterator[str]:
    """Load both splits of each set offline and run the input checks; one summary line per split."""
    for name in names:
        for split in ("train", "test"):
            d = load_ucr_uea(name, split)
            check_series(d.X, what=f"{name} {split}")
            yield (f"{name} {split}: {d.X.shape[0]} series, length {int(d.lengths.min())}-{int(d.lengths.max())}, "
                   f"{d.n_channels} channel(s), {len(set(d.y))} classes")


__all__ = ["DBPM_MODES", "RecipeRunOptions", "describe_datasets", "run_one", "run_recipe", "run_tag"]
