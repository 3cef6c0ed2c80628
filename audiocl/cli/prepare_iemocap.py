"""``audiocl prepare-iemocap``: IEMOCAP release -> Kaldi data dirs with utt2emo and leave-one-session-out folds."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare-iemocap",
        help="IEMOCAP (Session1..5 layout) -> data dirs all, Session<k>, fold<k>_train, fold<k>_test (4 classes)",
        description="4-class protocol: neutral, happy (happy + excited), angry, sad; other labels are left out. "
        "Fold k tests on session k and trains on the other four.",
    )
    p.add_argument("--root", required=True, help="IEMOCAP_full_release folder (holding Session1..Session5)")
    p.add_argument("--out", required=True, help="folder for the data dirs")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.corpora.iemocap import prepare_iemocap

    counts = prepare_iemocap(args.root, args.out)
    for name, n in counts.items():
        print(f"{args.out}/{name}: {n} utterances")
    return 0
