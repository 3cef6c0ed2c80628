"""``audiocl collect-results`` (recipe stage 7): every scored run under an exp/ folder into RESULTS.md tables."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    c = subparsers.add_parser(
        "collect-results",
        help="collect every EXP/*/*/metrics.json (and EXP/*/metrics.json of training runs) into a "
             "Kaldi/ESPnet-style RESULTS.md section",
    )
    c.add_argument("--exp", required=True, help="the recipe's exp/ folder")
    c.add_argument("--results", required=True, help="RESULTS.md to create or update")
    c.add_argument("--section", default="downstream", help="marker key of the section that is rewritten")
    c.add_argument("--title", default="", help="heading of the section (default: none, the tables' own headings)")
    c.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.metrics.results import collect_results, update_results_section

    body = collect_results(args.exp) or "_no scored experiments found_"
    update_results_section(args.results, args.section, body, title=args.title or None)
    print(f"{args.results}: section {args.section!r} updated")
    return 0
