"""``audiocl score``: WER/CER of a hypothesis file against a data dir (recipe stage 5)."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "score",
        help="WER and CER (jiwer, corpus totals) of a Kaldi text file of hypotheses against a data dir",
    )
    p.add_argument("--ref", required=True, help="data dir (its text) or a Kaldi text file")
    p.add_argument("--hyp", required=True, help="Kaldi text file of hypotheses")
    p.add_argument("--out", default="", help="folder for metrics.json and result.md (default: the hyp's folder)")
    p.add_argument("--allow-missing", action="store_true", help="score undecoded utterances as empty")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.metrics.asr import score_hypotheses

    metrics = score_hypotheses(args.ref, args.hyp, args.out or None, allow_missing=args.allow_missing)
    print(f"WER {100 * metrics['wer']['rate']:.2f} % ({metrics['wer']['errors']}/{metrics['wer']['num_ref']})  "
          f"CER {100 * metrics['cer']['rate']:.2f} % ({metrics['cer']['errors']}/{metrics['cer']['num_ref']})")
    return 0

