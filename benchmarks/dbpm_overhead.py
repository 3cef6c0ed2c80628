"""DBPM's overhead on the training step time (target: < 5 %).

Side by side in one process: the same TS2Vec model (paper sizes: hidden 64, depth 10, repr 320,
batch 8) takes training steps on the same synthetic batches with and without the DBPM wrapper,
interleaved step by step (order alternating) so that load from other processes hits both alike.
DBPM runs in its active phase (memory warmed up, thresholds set, weights computed every step) and
its once-per-epoch ``end_epoch`` is included at its real frequency (every ``N / batch`` steps).

    python benchmarks/dbpm_overhead.py [--steps 40] [--length 128] [--threads 1]

Prints per-mode median step time and the ratio; no assertions on time (see ARCHITECTURE.md).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from audiocl.losses.dbpm import DBPMConfig, DynamicBadPairMining
from audiocl.ts.config import TSContrastiveConfig
from audiocl.ts.model import TSContrastiveModel


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--length", type=int, default=128)
    p.add_argument("--n-train", type=int, default=200)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    n, bs = args.n_train, 8
    X = rng.standard_normal((n, args.length, 1)).astype(np.float32)
    cfg = TSContrastiveConfig(seed=0)
    model = TSContrastiveModel(cfg, 1)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    dbpm = DynamicBadPairMining(n, DBPMConfig(warmup_epochs=1))
    # warm the memory so DBPM is active (flags + weights computed every step)
    dbpm(torch.from_numpy(rng.random(n).astype(np.float32)), torch.arange(n))
    dbpm.end_epoch()
    assert dbpm.active
    steps_per_epoch = n // bs
    gen = torch.Generator().manual_seed(0)
    times: dict[str, list[float]] = {"plain": [], "dbpm": []}
    counter = 0
    for step in range(args.steps + 4):
        idx = rng.choice(n, bs, replace=False)
        xb = torch.from_numpy(X[idx])
        ids = torch.from_numpy(idx)
        order = ["plain", "dbpm"] if step % 2 == 0 else ["dbpm", "plain"]
        for mode in order:
            model.dbpm = dbpm if mode == "dbpm" else None
            np_rng = np.random.default_rng(step)  # identical crops for both modes
            t0 = time.perf_counter()
            loss, _, _ = model.batch_loss(xb, ids, np_rng, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if mode == "dbpm":
                counter += 1
                if counter % steps_per_epoch == 0:
                    dbpm.end_epoch()
            dt = time.perf_counter() - t0
            if step >= 4:  # warm-up steps excluded
                times[mode].append(dt)
    mp, md = statistics.median(times["plain"]), statistics.median(times["dbpm"])
    ratios = [d / p for d, p in zip(times["dbpm"], times["plain"])]
    print(f"steps={args.steps} batch={bs} length={args.length} threads={args.threads}")
    print(f"plain median step {mp * 1000:.1f} ms, dbpm median step {md * 1000:.1f} ms")
    print(f"overhead (ratio of medians) = {100 * (md / mp - 1):+.2f}%   median of paired ratios = {100 * (statistics.median(ratios) - 1):+.2f}%")
    # the wrapper alone, isolated from the step
    per = torch.rand(bs)
    t0 = time.perf_counter()
    for _ in range(200):
        dbpm(per, torch.from_numpy(rng.choice(n, bs, replace=False)))
    wrapper = (time.perf_counter() - t0) / 200
    print(f"DBPM wrapper call alone: {wrapper * 1e6:.0f} us = {100 * wrapper / mp:.2f}% of a plain step")


if __name__ == "__main__":
    main()
