"""Seed spread of the sktime adapter's TS2Vec under weight-averaging variants (SVM protocol).

Each variant fits ``audiocl.ts.factory.fit_model`` -- what ``ContrastiveTransformer(random_state=s).fit``
runs -- on a shipped set's train split with the adapter's defaults plus the variant's overrides, then
scores the max-pooled embeddings with TS2Vec's SVM protocol (:func:`audiocl.ts.evaluate.evaluate_embeddings`).

    python benchmarks/ts_seed_stability.py --datasets ItalyPowerDemand --seeds 0 1 2 3 4

Prints one markdown row per dataset and variant: per-seed SVM accuracy, mean ± std. No assertions.
"""

from __future__ import annotations

import argparse


from audiocl.ts.config import TSPretrainConfig
from audiocl.ts.data import load_ucr_uea
from audiocl.ts.evaluate import evaluate_embeddings, format_mean_std
from audiocl.ts.factory import fit_model

VARIANTS = {
    "last iterate": {"weight_averaging": False},
    "average of all iterates": {"weight_averaging": True, "averaging_start": 0.0},
    "average of the second half": {"weight_averaging": True, "averaging_start": 0.5},
}


def svm_accuracy(name: str, seed: int, overrides: dict, threads: int) -> float:
    tr, te = load_ucr_uea(name, "train"), load_ucr_uea(name, "test")
    model, norm = fit_model(TSPretrainConfig(seed=seed, num_threads=threads, **overrides), tr.X)
    return evaluate_embeddings(model.encode(norm.transform(tr.X)), tr.y, model.encode(norm.transform(te.X)), te.y,
                               seed=seed)["svm_acc"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--datasets", nargs="+", default=["ItalyPowerDemand"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--variants", nargs="+", choices=list(VARIANTS), default=list(VARIANTS))
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    print("| dataset | variant | " + " | ".join(f"seed {s}" for s in args.seeds) + " | mean ± std |")
    print("|---|---|" + "---|" * (len(args.seeds) + 1))
    for name in args.datasets:
        for v in args.variants:
            accs = [svm_accuracy(name, s, VARIANTS[v], args.threads) for s in args.seeds]
            print(f"| {name} | {v} | " + " | ".join(f"{a:.3f}" for a in accs) + f" | {format_mean_std(accs)} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
