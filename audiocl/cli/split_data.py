"""``audiocl split-data DIR N``: Kaldi split layout DIR/splitN/k (by speaker) or DIR/splitNutt/k."""

from __future__ import annotations

import argparse

from audiocl.data.datadir import split_data_dir


def register(subparsers) -> None:
    p = subparsers.add_parser("split-data", help="split a data dir into N parts (Kaldi split_data.sh layout)")
    p.add_argument("data_dir", metavar="DIR")
    p.add_argument("num_parts", type=int, metavar="N")
    p.add_argument("--per-utt", action="store_true", help="split by utterance (DIR/splitNutt) instead of speaker")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    for part in split_data_dir(args.data_dir, args.num_parts, per_utt=args.per_utt):
        print(part)
    return 0
