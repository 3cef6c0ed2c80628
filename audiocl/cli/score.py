"""``audiocl score`` (WER/CER of a hypothesis file, stage 5) and ``audiocl collect-results`` (stage 7)."""

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

    c = subparsers.add_parser(
        "collect-results",
        help="collect every EXP/*/*/metrics.json into a Kaldi/ESPnet-style RESULTS.md section",
    )
    c.add_argument("--exp", required=True, help="the recipe's exp/ folder")
    c.add_argument("--results", required=True, help="RESULTS.md to create or update")
    c.add_argument("--section", default="downstream", help="marker key of the section that is rewritten")
    c.add_argument("--title", default="Downstream results")
    c.set_defaults(func=run_collect)


def run(args: argparse.Namespace) -> int:
    from audiocl.metrics.asr import score_hypotheses

    metrics = score_hypotheses(args.ref, args.hyp, args.out or None, allow_missing=args.allow_missing)
    print(f"WER {100 * metrics['wer']['rate']:.2f} % ({metrics['wer']['errors']}/{metrics['wer']['num_ref']})  "
          f"CER {100 * metrics['cer']['rate']:.2f} % ({metrics['cer']['errors']}/{metrics['cer']['num_ref']})")
    return 0


def run_collect(args: argparse.Namespace) -> int:
    from audiocl.metrics.results import collect_results, update_results_section

    body = collect_results(args.exp)
    if not body:
        body = "_no scored experiments found_"
    update_results_section(args.results, args.section, body, title=args.title)
    print(f"{args.results}: section {args.section!r} updated")
    return 0
