"""``audiocl compute-utt2dur DIR``: write DIR/utt2dur from segments or audio headers."""

from __future__ import annotations

import argparse

from audiocl.data.datadir import compute_utt2dur


def register(subparsers) -> None:
    p = subparsers.add_parser("compute-utt2dur", help="write utt2dur (from segments, else audio headers)")
    p.add_argument("data_dir", metavar="DIR")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    durs = compute_utt2dur(args.data_dir)
    print(f"{args.data_dir}/utt2dur: {len(durs)} utterance(s), {sum(durs.values()) / 3600:.3f} h")
    return 0
