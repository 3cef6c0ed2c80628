"""``audiocl prepare-mini-clap``: render the offline scene corpus with captions into Kaldi data dirs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare-mini-clap",
        help="render the offline mini_clap audio-caption corpus (fluidsynth, numpy, espeak-ng) into data dirs",
        description="Writes OUT/{train,dev,test} with captions, scene labels, zero-shot label files, hard "
        "negatives and (test) CompA pairs. dev and test hold out event combinations and caption templates. "
        "Deterministic per seed; re-running renders only missing clips and skips finished splits. "
        "Options: defaults of MiniClapOptions < --config YAML < key=value overrides < the flags below.",
    )
    p.add_argument("--out", required=True, help="output folder for the data dirs")
    p.add_argument("--config", action="append", default=[], help="YAML preset (egs/mini_clap/conf/data.yaml)")
    p.add_argument("--num-train", type=int, default=None, help="training clips (default 2000)")
    p.add_argument("--num-dev", type=int, default=None, help="dev clips (default 200)")
    p.add_argument("--num-test", type=int, default=None, help="test clips, a fifth of them in CompA pairs (default 400)")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--nj", type=int, default=None, help="rendering threads (default 8; they mostly wait on processes)")
    p.add_argument("--soundfont", default=None, help="General MIDI .sf2 (default: Debian's TimGM6mb)")
    p.add_argument("--wav-dir", default=None, help="where the audio goes (default OUT/wav)")
    p.add_argument("overrides", nargs="*", help="key=value overrides of MiniClapOptions")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from audiocl.config import resolve_config
    from audiocl.corpora.mini_clap import MiniClapOptions, prepare_mini_clap

    flags = {"num_train": args.num_train, "num_dev": args.num_dev, "num_test": args.num_test, "seed": args.seed,
             "nj": args.nj, "soundfont": args.soundfont}
    overrides = list(args.overrides) + [f"{k}={v}" for k, v in flags.items() if v is not None]
    options = resolve_config(MiniClapOptions, args.config, overrides)
    report = prepare_mini_clap(args.out, options, wav_dir=args.wav_dir, progress=sys.stderr.isatty())
    for split, n in report.clips.items():
        state = "already complete" if split in report.skipped else f"{report.rendered[split]} rendered now"
        print(f"{split}: {n} clips ({state}) -> {report.out_dir / split}")
    return 0
