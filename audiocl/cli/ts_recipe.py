"""``audiocl ts-recipe``: the UCR/UEA recipe's steps (``egs/ucr_uea`` stages 1, 3 and 7).

    audiocl ts-recipe check --datasets GunPoint ArrowHead
    audiocl ts-recipe run --exp exp --datasets GunPoint ArrowHead --seeds 0 1 2 --dbpm both -- num_threads=1
    audiocl ts-recipe run --exp exp --job 2 --num-jobs 4 -- num_threads=1 method=ts_tcc
    audiocl ts-recipe collect --exp exp --out RESULTS.md --dbpm-dir exp/dbpm_corrupt

Argument parsing only; the work is in :mod:`audiocl.ts.ucr_uea` and :mod:`audiocl.ts.ucr_uea_results`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from audiocl.ts.data import SHIPPED_CLASSIFICATION as SHIPPED  # numpy only: cheap for `audiocl --help`


def _check(args: argparse.Namespace) -> int:
    from audiocl.ts.ucr_uea import describe_datasets

    for line in describe_datasets(args.datasets):
        print(line, flush=True)
    return 0


def _run(args: argparse.Namespace) -> int:
    from audiocl.ts.ucr_uea import RecipeRunOptions, run_recipe

    opts = RecipeRunOptions(exp=args.exp, datasets=args.datasets, seeds=args.seeds, dbpm=args.dbpm,
                            overrides=args.overrides, save_model=args.save_model, verbose=args.verbose,
                            job=args.job, num_jobs=args.num_jobs)
    for res in run_recipe(opts):
        print(f"{res['dataset']} seed={res['seed']} method={res['method']} dbpm={res['dbpm']}: svm={res['svm_acc']:.4f} "
              f"linear={res['linear_acc']:.4f} train={res['train_seconds']:.1f}s", flush=True)
    return 0


def _collect(args: argparse.Namespace) -> int:
    from audiocl.ts.ucr_uea_results import write_results

    print(f"wrote {write_results(args.exp, args.out, args.dbpm_dir)}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ts-recipe", help="UCR/UEA recipe: check the shipped sets, pretrain + evaluate, collect RESULTS.md")
    sub = p.add_subparsers(dest="step", metavar="STEP")
    sub.required = True
    k = sub.add_parser("check", help="every dataset's shipped files load offline and pass the input checks (stage 1)")
    k.add_argument("--datasets", nargs="+", default=SHIPPED)
    k.set_defaults(func=_check)
    r = sub.add_parser("run", help="pretrain + evaluate each (dataset, seed, DBPM arm); resumable per run (stage 3)",
                       description="Each run writes EXP/<dataset>/<tag>/seed<k>/result.json and is skipped when that "
                       "file exists. Evaluation (TS2Vec's SVM protocol and a linear probe) is part of each run.")
    r.add_argument("--exp", type=Path, required=True)
    r.add_argument("--datasets", nargs="+", default=SHIPPED)
    r.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    r.add_argument("--dbpm", choices=["off", "on", "both"], default="both", help="DBPM arms per (dataset, seed)")
    r.add_argument("--save-model", action="store_true", help="also save each trained model under its run folder")
    r.add_argument("--verbose", action="store_true", help="print the loss per epoch")
    r.add_argument("--job", type=int, default=1, help="this job's number (1-based) when the grid is split over --num-jobs")
    r.add_argument("--num-jobs", type=int, default=1, help="parallel jobs sharing the (seed, dataset) grid")
    r.add_argument("overrides", nargs="*", help="TSPretrainConfig key=value overrides (method=ts_tcc for TS-TCC)")
    r.set_defaults(func=_run)
    c = sub.add_parser("collect", help="write RESULTS.md (tables + the commands behind them) from the result files (stage 7)")
    c.add_argument("--exp", type=Path, nargs="+", required=True, help="experiment folder(s) searched for */seed*/result.json")
    c.add_argument("--out", type=Path, required=True)
    c.add_argument("--dbpm-dir", type=Path, default=None, help="folder of `audiocl ts-dbpm` results to tabulate too")
    c.set_defaults(func=_collect)
