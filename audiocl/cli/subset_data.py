"""``audiocl subset-data SRC DST --num N [--first|--seed S]`` or ``--utt-list FILE``."""

from __future__ import annotations

import argparse

from audiocl.data.datadir import subset_data_dir
from audiocl.errors import DataDirError


def register(subparsers) -> None:
    p = subparsers.add_parser("subset-data", help="copy a subset of a data dir (random N, first N, or a list)")
    p.add_argument("src", metavar="SRC")
    p.add_argument("dst", metavar="DST")
    p.add_argument("--num", type=int, default=None, help="number of utterances")
    p.add_argument("--first", action="store_true", help="take the first N (sorted) instead of random N")
    p.add_argument("--seed", type=int, default=0, help="seed of the random choice (default 0)")
    p.add_argument("--utt-list", default=None, help="file with one utterance id per line (first field)")
    p.add_argument("--missing-ok", action="store_true", help="ignore listed ids that SRC lacks")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.num is None) == (args.utt_list is None):
        raise DataDirError("subset-data needs exactly one of --num or --utt-list")
    sub = subset_data_dir(args.src, args.dst, num=args.num, utt_list=args.utt_list, seed=args.seed,
                          first=args.first, missing_ok=args.missing_ok)
    print(f"{args.dst}: {len(sub)} utterance(s)")
    return 0
