"""``audiocl validate-data DIR...``: list every problem of Kaldi data dirs (file, line, utterance); exit 1 if any."""

from __future__ import annotations

import argparse
import sys

from audiocl.data.datadir import check_data_dir
from audiocl.errors import DataDirError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "validate-data",
        help="check Kaldi data dirs (sorted, consistent, UTF-8, audio present)",
        description="Check Kaldi data dirs. Prints one line per problem naming file, line number and utterance; "
        "exits 1 when any dir has an error. Warnings (e.g. speaker id not a prefix of utterance ids) do not fail.",
    )
    p.add_argument("data_dirs", nargs="+", metavar="DIR")
    p.add_argument("--check-audio", action="store_true",
                   help="also read every audio header and run every `cmd |` pipe (slower)")
    p.add_argument("--sample-rate", type=int, default=None,
                   help="with --check-audio, warn about recordings at other rates (they will be resampled)")
    p.add_argument("--quiet", action="store_true", help="print errors only, no warnings or OK lines")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    failed = 0
    for d in args.data_dirs:
        try:
            report = check_data_dir(d, check_audio=args.check_audio, sample_rate=args.sample_rate)
        except DataDirError as exc:
            print(f"{d}: error: {exc}", file=sys.stderr)
            failed += 1
            continue
        if not args.quiet:
            for w in report.warnings:
                print(f"{d}: warning: {w}", file=sys.stderr)
        for e in report.errors:
            print(f"{d}: error: {e}", file=sys.stderr)
        if report.errors:
            failed += 1
            print(f"{d}: {len(report.errors)} error(s); `audiocl fix-data {d}` repairs sorting, duplicates, "
                  f"missing entries and spk2utt", file=sys.stderr)
        elif not args.quiet:
            print(f"{d}: OK")
    return 1 if failed else 0
