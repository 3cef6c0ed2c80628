"""``audiocl prepare-clotho | prepare-audiocaps | prepare-esc50``: real corpora -> CLAP data dirs.

One module for the three because they share their options (where the release is, where the data dirs
go, parallel conversions, strict sample rate) and their report; each subcommand names its corpus.
"""

from __future__ import annotations

import argparse

_CORPORA = {
    "prepare-clotho": (
        "Clotho (clotho_captions_<split>.csv + <split>/ audio) -> data dirs development, validation, evaluation",
        "text = caption_1, captions.jsonl = all five captions; audio converted once to 16 kHz mono.",
        "folder holding the Clotho CSVs and audio folders"),
    "prepare-audiocaps": (
        "AudioCaps ({train,val,test}.csv + audio/<split>/<youtube_id>.wav) -> data dirs train, val, test",
        "A clip is (youtube_id, start_time); its captions are ordered by audiocap_id and the first is 'text'. "
        "Audio converted once to 16 kHz mono.",
        "folder holding the CSVs and audio/<split>/"),
    "prepare-esc50": (
        "ESC-50 (meta/esc50.csv + audio/) -> data dirs all, fold1..fold5 with utt2category",
        "text = the class name; OUT/zeroshot_labels.json lists the 50 classes. Report zero-shot accuracy on "
        "fold1 (400 clips) or all (2,000 clips), saying which.",
        "the ESC-50 folder (holding meta/ and audio/)"),
}


def register(subparsers: argparse._SubParsersAction) -> None:
    for name, (help_text, description, root_help) in _CORPORA.items():
        p = subparsers.add_parser(name, help=help_text, description=description)
        p.add_argument("--root", required=True, help=root_help)
        p.add_argument("--out", required=True, help="folder for the data dirs")
        p.add_argument("--nj", type=int, default=2, help="parallel audio conversions")
        p.add_argument("--strict-sample-rate", action="store_true",
                       help="error on audio not at 16 kHz instead of resampling")
        if name == "prepare-audiocaps":
            p.add_argument("--skip-missing", action="store_true",
                           help="leave out clips whose audio is missing (listed in OUT/<split>/missing_clips.txt)")
        p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    common = {"nj": args.nj, "strict_sample_rate": args.strict_sample_rate}
    if args.command == "prepare-clotho":
        from audiocl.corpora.clotho import prepare_clotho

        counts = prepare_clotho(args.root, args.out, **common)
    elif args.command == "prepare-audiocaps":
        from audiocl.corpora.audiocaps import prepare_audiocaps

        counts = prepare_audiocaps(args.root, args.out, skip_missing=args.skip_missing, **common)
    else:
        from audiocl.corpora.esc50 import prepare_esc50

        counts = prepare_esc50(args.root, args.out, **common)
    for name, n in counts.items():
        print(f"{args.out}/{name}: {n} clips")
    return 0
