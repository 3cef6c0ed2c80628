"""``audiocl import-lhotse OUT --recordings R [--supervisions S] | --cuts C``: lhotse manifests -> data dir."""

from __future__ import annotations

import argparse

from audiocl.data.lhotse_import import import_lhotse
from audiocl.errors import DataDirError


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "import-lhotse",
        help="convert lhotse manifests (recordings, supervisions or cuts; .jsonl.gz) to a Kaldi data dir",
        description="Convert lhotse manifests to a Kaldi data dir: one utterance per supervision (with "
        "--recordings/--supervisions), per recording (--recordings alone) or per cut (--cuts). The result is "
        "validated before it is moved into OUT, so a failed import writes nothing.",
    )
    p.add_argument("out_dir", metavar="OUT")
    p.add_argument("--recordings", default=None, help="RecordingSet manifest")
    p.add_argument("--supervisions", default=None, help="SupervisionSet manifest (needs --recordings)")
    p.add_argument("--cuts", default=None, help="CutSet manifest (instead of recordings/supervisions)")
    p.add_argument("--prefix-speaker", action="store_true",
                   help="prefix utterance ids with their speaker id (Kaldi's recommended sort order)")
    p.add_argument("--check-audio", action="store_true", help="read every audio header while validating")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.cuts and (args.recordings or args.supervisions):
        raise DataDirError("give either --cuts or --recordings [--supervisions], not both")
    if args.supervisions and not args.recordings:
        raise DataDirError("--supervisions needs --recordings (the audio the supervisions point into)")
    if not args.cuts and not args.recordings:
        raise DataDirError("nothing to import: give --recordings [--supervisions] or --cuts")
    dd = import_lhotse(args.out_dir, recordings=args.recordings, supervisions=args.supervisions, cuts=args.cuts,
                       prefix_speaker=args.prefix_speaker, check_audio=args.check_audio)
    print(f"{args.out_dir}: {len(dd)} utterance(s), {len(dd.wav_scp)} recording(s)"
          + (", with segments" if dd.segments is not None else ""))
    return 0
