"""``audiocl ts-dbpm``: does DBPM win back what corrupted positive pairs cost? (``egs/ucr_uea`` stage 6)

    audiocl ts-dbpm --dataset ArrowHead --mode noise --fraction 0.7 --seeds 0 1 2 --arms untrained clean base dbpm \\
        --out exp/dbpm_corrupt --tag _k03 -- num_threads=1 dbpm_cfg.k_faulty=0.3
    audiocl ts-dbpm --report exp/dbpm_corrupt

Argument parsing only; the experiment is :mod:`audiocl.ts.dbpm_experiment`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def _run(args: argparse.Namespace) -> int:
    from audiocl.ts.dbpm_experiment import DBPMExperimentOptions, report_markdown, run_seeds, summarize

    if args.report is not None:
        print(report_markdown(args.report), end="")
        return 0
    opts = DBPMExperimentOptions(dataset=args.dataset, fraction=args.fraction, mode=args.mode, seeds=args.seeds,
                                 arms=args.arms, out=args.out, tag=args.tag, overrides=args.overrides)
    results = []
    for r in run_seeds(opts):
        results.append(r)
        print(json.dumps(r), flush=True)
    print(f"SUMMARY {opts.dataset} mode={opts.mode} fraction={opts.fraction}: {summarize(results)}", flush=True)
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "ts-dbpm", help="DBPM on a UCR/UEA set with a known fraction of corrupted positive pairs",
        description="A fixed random subset (--fraction) of the training series gets a corrupted positive pair for all of "
        "training: view 2 is Gaussian noise (--mode noise) or a series of another class (--mode swap). Arms: untrained "
        "(the encoder at init), clean (no corruption, no DBPM), base (corrupted, no DBPM), dbpm (corrupted + DBPM), "
        "oracle (only the uncorrupted series). One JSON per seed in --out, resumable per arm.",
    )
    p.add_argument("--dataset", default="ItalyPowerDemand")
    p.add_argument("--fraction", type=float, default=0.2)
    p.add_argument("--mode", choices=["noise", "swap"], default="swap")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--arms", nargs="+", default=["base", "dbpm"], help="any of: untrained clean base dbpm oracle")
    p.add_argument("--out", type=Path, default=None, help="folder for one JSON per seed (resumable)")
    p.add_argument("--tag", default="", help="suffix of the result files (e.g. the overrides used)")
    p.add_argument("--report", type=Path, default=None, help="print the markdown table of a result folder and exit")
    p.add_argument("overrides", nargs="*", help="TSPretrainConfig key=value overrides (method=simclr, dbpm_cfg.k_faulty=0.5)")
    p.set_defaults(func=_run)
