"""``audiocl fix-data DIR``: sort, drop inconsistent utterances (saying why), regenerate spk2utt; backups kept."""

from __future__ import annotations

import argparse

from audiocl.data.datadir import fix_data_dir


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "fix-data",
        help="repair a Kaldi data dir like utils/fix_data_dir.sh (originals backed up to DIR/.backup)",
    )
    p.add_argument("data_dir", metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    print(fix_data_dir(args.data_dir).summary())
    return 0
