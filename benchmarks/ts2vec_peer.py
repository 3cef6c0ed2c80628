"""Our TS2Vec against the TS2Vec authors' code, side by side on the same data and seeds.

The peer is the reference implementation as packaged on PyPI (``ts2vec==0.1``: ``ts2vec.TS2Vec``,
Yue et al.'s ``ts2vec.py`` / ``models/`` / ``utils.py``), run on the CPU with the settings its
``train.py`` uses for UCR/UEA classification: batch 8, lr 1e-3, repr 320, hidden 64, depth 10,
``max_train_length`` 3000, 200 iterations for <= 100 000 values else 600, and its own
weight-averaged encoder for ``encode(..., encoding_window='full_series')``.

Both arms see the same normalised arrays (``audiocl.ts.data.load_ucr_uea_normalised``, TS2Vec's
per-dataset rule) and are scored by the same protocol (``audiocl.ts.evaluate.evaluate_embeddings``:
TS2Vec's SVM grid and a linear probe), so only the representation learner differs. Our arm is the
recipe's own run (``audiocl.ts.ucr_uea.run_one``), so it is what ``audiocl ts-recipe run`` gives.

This is why the published column alone is not enough: the paper reports one run per dataset, and
its code's run-to-run spread on these small test sets is several points. Running the authors' code
here, seeded like ours, tells a real gap from the luck of one run.

    python benchmarks/ts2vec_peer.py --datasets ArrowHead PLAID --seeds 0 1 2 --out exp/ts2vec_peer

Resumable (one JSON per dataset, arm and seed); prints a markdown table with accuracy per arm
(mean ± std over seeds), ours − peer, and the training-time ratio ours / peer. No assertions on time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch

from audiocl.ts.config import default_iters
from audiocl.ts.data import load_ucr_uea_normalised
from audiocl.ts.evaluate import evaluate_embeddings, format_mean_std, mean_std
from audiocl.ts.ucr_uea import run_one
from audiocl.ts.ucr_uea_results import TS2VEC_PUBLISHED
from audiocl.utils.io import atomic_write_text

ARMS = ("ours", "peer")


def run_peer(name: str, seed: int, threads: int) -> dict:
    """Train and evaluate the authors' TS2Vec on one dataset and seed (seeded as its ``train.py`` does)."""
    from ts2vec import TS2Vec

    tr, te, xtr, xte, _ = load_ucr_uea_normalised(name)
    torch.set_num_threads(threads)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model = TS2Vec(input_dims=xtr.shape[2], output_dims=320, hidden_dims=64, depth=10, device="cpu",
                   lr=1e-3, batch_size=8, max_train_length=3000)
    iters = default_iters(xtr)
    t0, c0 = time.perf_counter(), time.process_time()
    model.fit(xtr, n_iters=iters)
    train_s, train_cpu = time.perf_counter() - t0, time.process_time() - c0
    etr = model.encode(xtr, encoding_window="full_series")
    ete = model.encode(xte, encoding_window="full_series")
    return {"dataset": name, "arm": "peer", "seed": seed, "iters": iters, "train_seconds": train_s,
            "train_cpu_seconds": train_cpu,
            **evaluate_embeddings(etr, tr.y, ete, te.y, seed=seed)}


def run_ours(name: str, seed: int, threads: int, exp: Path) -> dict:
    res = run_one(name, seed, False, exp, [f"num_threads={threads}"])
    return {"dataset": name, "arm": "ours", "seed": seed, "iters": res["iters"], "train_seconds": res["train_seconds"],
            "train_cpu_seconds": res.get("train_cpu_seconds", float("nan")),
            "svm_acc": res["svm_acc"], "linear_acc": res["linear_acc"]}


def run_cached(out: Path, name: str, arm: str, seed: int, threads: int) -> dict:
    path = out / name / arm / f"seed{seed}.json"
    if path.is_file():
        return json.loads(path.read_text())
    load_before = os.getloadavg()[0]
    res = run_ours(name, seed, threads, out / "recipe") if arm == "ours" else run_peer(name, seed, threads)
    res["load_average"] = [load_before, os.getloadavg()[0]]  # 1-minute load before and after the run
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(res, indent=1))
    return res


def collect(out: Path) -> list[dict]:
    """Every finished run under ``out`` (``<dataset>/<arm>/seed<k>.json``)."""
    return [json.loads(p.read_text()) for arm in ARMS for p in sorted(out.glob(f"*/{arm}/seed*.json"))]


def summary_table(results: list[dict]) -> str:
    """Markdown: per dataset, each arm's SVM / linear accuracy (mean ± std, n) and the ratios."""
    lines = ["| dataset | SVM ours | SVM TS2Vec code | ours − code (SVM) | TS2Vec paper (B=8) | linear ours "
             "| linear TS2Vec code | train s ours / code | time ratio ours / code | CPU time ratio ours / code |",
             "|---|---|---|---|---|---|---|---|---|---|"]

    def cell(rs: list[dict], key: str) -> str:
        return format_mean_std([r[key] for r in rs])

    for name in sorted({r["dataset"] for r in results}):
        by = {a: sorted((r for r in results if r["dataset"] == name and r["arm"] == a), key=lambda r: r["seed"])
              for a in ARMS}
        diff = mean_std([r["svm_acc"] for r in by["ours"]])[0] - mean_std([r["svm_acc"] for r in by["peer"]])[0]
        t = {a: mean_std([r["train_seconds"] for r in by[a]])[0] if by[a] else float("nan") for a in ARMS}
        cpu = {a: mean_std([r.get("train_cpu_seconds", float("nan")) for r in by[a]])[0] if by[a] else float("nan")
               for a in ARMS}
        both = bool(by["ours"] and by["peer"])
        diff_s = f"{diff:+.3f}" if both else "—"
        ratio_s = f"{t['ours'] / t['peer']:.2f}" if both else "—"
        cpu_s = f"{cpu['ours'] / cpu['peer']:.2f}" if both and cpu["ours"] == cpu["ours"] and cpu["peer"] == cpu["peer"] else "—"
        paper = f"{TS2VEC_PUBLISHED[name]:.3f}" if TS2VEC_PUBLISHED.get(name) is not None else "—"
        lines.append(f"| {name} | {cell(by['ours'], 'svm_acc')} | {cell(by['peer'], 'svm_acc')} | {diff_s} | {paper} "
                     f"| {cell(by['ours'], 'linear_acc')} | {cell(by['peer'], 'linear_acc')} "
                     f"| {t['ours']:.0f} / {t['peer']:.0f} | {ratio_s} | {cpu_s} |")
    return "\n".join(lines)


def per_seed_table(results: list[dict]) -> str:
    """Markdown: one row per dataset and seed run by both arms: SVM accuracy, train CPU and wall seconds,
    their ratios ours / code, and the 1-minute load average around the two runs."""
    lines = ["| dataset | seed | SVM ours | SVM TS2Vec code | train CPU s ours / code | CPU ratio | "
             "train wall s ours / code | wall ratio | load average |", "|---|---|---|---|---|---|---|---|---|"]
    runs = {(r["dataset"], r["seed"], r["arm"]): r for r in results}
    for name, seed in sorted({(r["dataset"], r["seed"]) for r in results}):
        o, c = runs.get((name, seed, "ours")), runs.get((name, seed, "peer"))
        if o is None or c is None:
            continue
        loads = [v for r in (o, c) for v in r.get("load_average", [])]
        load = f"{min(loads):.1f}-{max(loads):.1f}" if loads else "—"
        co, cc = o.get("train_cpu_seconds", float("nan")), c.get("train_cpu_seconds", float("nan"))
        lines.append(f"| {name} | {seed} | {o['svm_acc']:.3f} | {c['svm_acc']:.3f} | {co:.1f} / {cc:.1f} | "
                     f"{co / cc:.2f} | {o['train_seconds']:.1f} / {c['train_seconds']:.1f} | "
                     f"{o['train_seconds'] / c['train_seconds']:.2f} | {load} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=[])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--markdown", type=Path, help="also write the table here, under a header naming the command")
    p.add_argument("--collect", action="store_true",
                   help="run nothing: tabulate every finished run under --out (runs made by several calls)")
    args = p.parse_args(argv)
    if args.collect:
        results = collect(args.out)
    else:
        results = []
        for name in args.datasets:
            for seed in args.seeds:
                for arm in args.arms:
                    r = run_cached(args.out, name, arm, seed, args.threads)
                    print(json.dumps(r), flush=True)
                    results.append(r)
    table = summary_table(results) + "\n\n" + per_seed_table(results)
    print(table)
    if args.markdown:
        cmd = "python benchmarks/ts2vec_peer.py " + " ".join(argv if argv is not None else sys.argv[1:])
        atomic_write_text(args.markdown, f"# TS2Vec: ours vs the authors' code (PyPI ts2vec==0.1)\n\nGenerated by `{cmd}` "
                          f"(CPU, {args.threads} torch thread(s) per run). Same normalised data, seeds and SVM / "
                          f"linear-probe protocol for both arms; see the script's docstring.\n\n{table}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
