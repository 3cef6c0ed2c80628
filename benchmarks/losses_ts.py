"""Contrastive objectives side by side on sktime-shipped time-series sets (SimCLR-style, same budget).

Usage::

    nice -n 10 python benchmarks/losses_ts.py                  # writes benchmarks/results/losses_ts.md
    python benchmarks/losses_ts.py --steps 20 --seeds 1 --datasets GunPoint --out exp/losses_ts_smoke.md   # smoke

Protocol (identical for every objective; only the loss changes):

- data: the UCR sets that ship inside the sktime wheel (offline): GunPoint, ItalyPowerDemand,
  ArrowHead; each series z-normalized; self-supervised pretraining on the *train* split without labels;
- encoder: a small 1-D CNN (3 conv blocks 32-64-64, kernels 7/5/3, GELU, global average pooling ->
  64-d representation) + a 2-layer projection head (64 -> 64 -> 32) that the loss sees (SimCLR);
- views: two random augmentations of each series: crop 70-100 % of the length and resize back,
  amplitude scaling ``x * N(1, 0.2)``, jitter ``N(0, 0.1)``;
- budget: ``--steps`` Adam steps (lr 1e-3) at batch ``--batch`` (the whole train split when smaller);
- objective: each at its registered defaults, applied to ``two_view_pairs`` (positives = the other
  view). ``supcon (labels)`` additionally uses the class labels (a supervised reference, not SSL);
  ``random init`` is the untrained encoder (the floor); ``cwcl`` with hard targets equals infonce,
  ``cwcl-soft`` takes its soft targets from a frozen identity "tower" (cosine of the raw series);
- evaluation: representations of train/test; RBF-SVM with C chosen by 5-fold CV on train (the TS2Vec
  protocol) and a logistic-regression linear probe; test accuracy, mean ± std over ``--seeds`` seeds.

The encoder and augmentations are defined here, fixed and small, so that the table is about the
*objectives*: every objective sees the same pipeline.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import audiocl.losses as L  # noqa: E402
from audiocl.utils.io import atomic_write_text  # noqa: E402

OBJECTIVES = ["infonce", "nce", "dcl", "debiased", "hard_negative", "supcon", "multi_similarity", "auc", "cwcl",
              "cwcl-soft"]
DATASETS = ["GunPoint", "ItalyPowerDemand", "ArrowHead"]


def load(name: str):
    from sktime.datasets import load_arrow_head, load_gunpoint, load_italy_power_demand

    fn = {"GunPoint": load_gunpoint, "ItalyPowerDemand": load_italy_power_demand, "ArrowHead": load_arrow_head}[name]
    out = []
    for split in ("train", "test"):
        X, y = fn(split=split, return_X_y=True, return_type="numpy3D")
        X = X.astype(np.float32)
        X = (X - X.mean(-1, keepdims=True)) / (X.std(-1, keepdims=True) + 1e-8)
        out.append((torch.from_numpy(X), np.asarray(y)))
    classes = sorted(set(out[0][1]) | set(out[1][1]))
    return [(X, np.array([classes.index(v) for v in y])) for X, y in out]


class Encoder(nn.Module):
    def __init__(self, in_ch: int = 1, dims=(32, 64, 64), kernels=(7, 5, 3), proj: int = 32):
        super().__init__()
        layers, c = [], in_ch
        for d, k in zip(dims, kernels):
            layers += [nn.Conv1d(c, d, k, padding=k // 2), nn.GroupNorm(1, d), nn.GELU()]
            c = d
        self.body = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c, c), nn.GELU(), nn.Linear(c, proj))

    def represent(self, x):            # (B, C, T) -> (B, 64)
        return self.body(x).mean(-1)

    def forward(self, x):
        return self.head(self.represent(x))


def augment(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    """Crop 70-100 % of the length at a random start and resize back (linear), scale, jitter."""
    b, c, t = x.shape
    n = (0.7 + 0.3 * torch.rand(b, generator=g)) * (t - 1)          # crop span in samples
    start = torch.rand(b, generator=g) * (t - 1 - n)
    pos = start[:, None] + n[:, None] * torch.linspace(0, 1, t)[None, :]  # (B, T) fractional indices
    lo = pos.floor().long().clamp(0, t - 1)
    hi = (lo + 1).clamp(max=t - 1)
    w = (pos - lo.float())[:, None, :]
    out = x.gather(2, lo[:, None, :].expand(b, c, t)) * (1 - w) + x.gather(2, hi[:, None, :].expand(b, c, t)) * w
    out = out * (1 + 0.2 * torch.randn(b, 1, 1, generator=g))
    return out + 0.1 * torch.randn(out.shape, generator=g)


def pretrain(name: str | None, X: torch.Tensor, y: np.ndarray, *, steps: int, batch: int, seed: int) -> Encoder:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    enc = Encoder(X.shape[1])
    if name is None:
        return enc
    supervised = name == "supcon (labels)"
    obj = L.get("supcon" if supervised else name.replace("-soft", ""))
    opt = torch.optim.Adam(enc.parameters(), lr=1e-3)
    n = X.shape[0]
    bs = min(batch, n)
    labels = torch.from_numpy(y)
    order = torch.randperm(n, generator=g)
    pos_in_epoch = 0
    for _ in range(steps):
        if pos_in_epoch + bs > n:
            order, pos_in_epoch = torch.randperm(n, generator=g), 0
        idx = order[pos_in_epoch:pos_in_epoch + bs]
        pos_in_epoch += bs
        xb = X[idx]
        z1, z2 = enc(augment(xb, g)), enc(augment(xb, g))
        sim, pos, valid = L.two_view_pairs(z1, z2)
        if supervised:
            lab = torch.cat([labels[idx], labels[idx]])
            pos = (lab[:, None] == lab[None, :]) & valid
        if name == "cwcl":
            pos = pos.float()  # hard targets from the views
        elif name == "cwcl-soft":
            # soft targets from a frozen "tower" = the raw series themselves (identity features):
            # w = (1 + cos(x_a, x_b)) / 2 between the underlying series, 1 for the other view
            w = L.cwcl_weights(xb.flatten(1))
            pos = torch.cat([torch.cat([w, w], 1), torch.cat([w, w], 1)], 0).masked_fill(~valid, 0.0)
        loss = obj(sim, pos, valid).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    return enc


@torch.no_grad()
def represent(enc: Encoder, X: torch.Tensor) -> np.ndarray:
    enc.eval()
    return torch.cat([enc.represent(X[i:i + 256]) for i in range(0, len(X), 256)]).numpy()


def evaluate(tr, ytr, te, yte, seed: int) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    min_class = np.bincount(ytr).min()
    svm = SVC(kernel="rbf", gamma="scale")
    grid = {"svc__C": [10.0 ** k for k in range(-2, 4)]}
    pipe = make_pipeline(StandardScaler(), svm)
    if min_class >= 2:
        pipe = GridSearchCV(pipe, grid, cv=min(5, int(min_class)))
    pipe.fit(tr, ytr)
    svm_acc = float((pipe.predict(te) == yte).mean())
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    lr.fit(tr, ytr)
    return svm_acc, float((lr.predict(te) == yte).mean())


def fmt(xs: list[float]) -> str:
    m = statistics.mean(xs) * 100
    s = statistics.stdev(xs) * 100 if len(xs) > 1 else 0.0
    return f"{m:.1f} ± {s:.1f}"


def write_table(args, rows, label, res, seconds: float) -> None:
    names = [label.get(n, n) for n in rows]
    done = [ds for ds in args.datasets if any((ds, n) in res for n in names)]
    lines = [
        "# Contrastive objectives on sktime time-series sets",
        "",
        f"Generated by `python benchmarks/losses_ts.py --steps {args.steps} --seeds {args.seeds} --batch {args.batch}` "
        f"(CPU, {args.threads} thread(s), {seconds:.0f} s wall on a shared machine). Test accuracy (%), "
        "mean ± std over seeds. SVM = RBF-SVM with C by 5-fold CV on the train split (TS2Vec protocol); "
        "LR = logistic-regression linear probe on the standardized 64-d representation. Same encoder, "
        "views and budget for every row; each objective at its registered defaults (docs/losses.md). "
        "`supcon (labels)` uses the class labels (supervised reference); `cwcl` runs with hard targets "
        "and `supcon` without labels has one positive per anchor, so both coincide with infonce up to "
        "floating-point differences; `cwcl-soft` takes soft targets (1 + cos)/2 from the raw series "
        "(a frozen identity tower). A blank cell = not run yet.",
        "",
        "| objective | " + " | ".join(f"{ds} SVM | {ds} LR" for ds in done) + " | s/run |",
        "|---|" + "---|---|" * len(done) + "---|",
    ]
    for n in names:
        cells, secs = [], []
        for ds in done:
            r = res.get((ds, n))
            cells += [fmt(r["svm"]), fmt(r["lr"])] if r else ["", ""]
            secs += r["sec"] if r else []
        lines.append(f"| {n} | " + " | ".join(cells) + f" | {statistics.mean(secs) if secs else 0:.1f} |")
    atomic_write_text(args.out, "\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=DATASETS)
    ap.add_argument("--objectives", nargs="+", default=OBJECTIVES)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "losses_ts.md"))
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    rows = [None, *args.objectives, "supcon (labels)"]
    label = {None: "random init (no training)"}
    res: dict[tuple, dict[str, list[float]]] = {}
    t_start = time.time()
    for ds in args.datasets:
        (Xtr, ytr), (Xte, yte) = load(ds)
        for name in rows:
            for seed in range(args.seeds):
                t0 = time.time()
                enc = pretrain(name, Xtr, ytr, steps=args.steps, batch=args.batch, seed=seed)
                svm, lr = evaluate(represent(enc, Xtr), ytr, represent(enc, Xte), yte, seed)
                r = res.setdefault((ds, label.get(name, name)), {"svm": [], "lr": [], "sec": []})
                r["svm"].append(svm)
                r["lr"].append(lr)
                r["sec"].append(time.time() - t0)
                print(f"{ds:17s} {label.get(name, name):26s} seed {seed}: svm {svm:.3f} lr {lr:.3f} "
                      f"({time.time() - t0:.1f}s)", flush=True)
            # rewrite the table after every objective, so an interrupted run keeps what it finished
            write_table(args, rows, label, res, time.time() - t_start)
    print(open(args.out).read())

    return 0


if __name__ == "__main__":
    raise SystemExit(main())
