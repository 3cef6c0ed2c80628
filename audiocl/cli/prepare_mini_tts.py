"""``audiocl prepare-mini-tts``: synthesize the offline multi-voice corpus into Kaldi data dirs."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "prepare-mini-tts",
        help="synthesize the offline mini_tts corpus (espeak-ng + flite) into data dirs",
        description="Writes OUT/{train,dev,test} (dev/test hold out voices and sentences) and OUT/real_smoke "
        "(real LibriVox utterances from Debian's pocketsphinx-testdata). Re-running skips finished audio.",
    )
    p.add_argument("--out", required=True, help="output folder for the data dirs")
    p.add_argument("--num-utts", type=int, default=600, help="total utterances over train/dev/test (default 600)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--nj", type=int, default=2, help="parallel synthesis jobs")
    p.add_argument("--wav-dir", default=None, help="where the audio goes (default OUT/wav)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from audiocl.corpora.mini_tts import prepare_mini_tts

    dirs = prepare_mini_tts(args.out, num_utts=args.num_utts, seed=args.seed, nj=args.nj,
                            wav_dir=args.wav_dir, progress=sys.stderr.isatty())
    for name, data in dirs.items():
        print(f"{name}: {len(data.utt_ids)} utterances -> {data.path}")
    return 0
