"""``audiocl download-librispeech`` and ``audiocl prepare-librispeech`` (stages 0 and 1 of egs/librispeech)."""

from __future__ import annotations

import argparse


def _parts(value: str) -> list[str]:
    return [p for p in value.replace(",", " ").split() if p]


def register(subparsers: argparse._SubParsersAction) -> None:
    d = subparsers.add_parser(
        "download-librispeech",
        help="download (with resume) and MD5-verify LibriSpeech archives, then extract them",
        description="Fetches BASE_URL/<part>.tar.gz into --dest, resuming interrupted downloads (HTTP Range), "
        "verifies the published MD5 (or those of --md5-file) and extracts to EXTRACT_TO/LibriSpeech/<part>. "
        "A mismatching archive is an error and is never extracted.",
    )
    d.add_argument("--dest", required=True, help="folder for the .tar.gz archives")
    dg = d.add_mutually_exclusive_group(required=True)
    dg.add_argument("--parts", type=_parts, help="parts, e.g. 'dev-clean test-clean' or comma-separated")
    dg.add_argument("--sets", type=_parts, help="recipe data sets, e.g. 'train_960 dev_clean': their parts")
    d.add_argument("--base-url", default=None, help="mirror URL (default: the official OpenSLR resource 12)")
    d.add_argument("--md5-file", default=None, help="md5sum-format file replacing the official checksums (mirrors)")
    d.add_argument("--extract-to", default=None, help="where LibriSpeech/ is created (default: --dest); "
                   "'none' keeps the archives only")
    d.add_argument("--retries", type=int, default=3, help="resume attempts per archive within this run (default 3)")
    d.add_argument("--timeout", type=float, default=60.0, help="socket timeout in seconds")
    d.set_defaults(func=run_download)

    p = subparsers.add_parser(
        "prepare-librispeech",
        help="write Kaldi data dirs from the LibriSpeech layout (flac + *.trans.txt)",
        description="Reads CORPUS_DIR/<part>/<spk>/<chapter>/{*.flac,*.trans.txt} and writes OUT/<part_with_"
        "underscores>/{wav.scp,text,utt2spk,spk2utt,utt2dur[,spk2gender]}.",
    )
    p.add_argument("--corpus-dir", required=True, help="the LibriSpeech folder (holding the part folders)")
    pg = p.add_mutually_exclusive_group(required=True)
    pg.add_argument("--parts", type=_parts, help="one data dir per part, named like dev_clean")
    pg.add_argument("--sets", type=_parts, help="data sets to write: a part (dev_clean) or a combination "
                    "(train_960, train_clean_460)")
    p.add_argument("--out", required=True, help="parent folder of the data dirs")
    p.add_argument("--no-durations", action="store_true", help="skip utt2dur (reads every flac header)")
    p.set_defaults(func=run_prepare)


def run_download(args: argparse.Namespace) -> int:
    from audiocl.corpora.librispeech import (OPENSLR_BASE_URL, download_librispeech, extract_librispeech,
                                             parts_of_sets, read_md5_file)

    sums = read_md5_file(args.md5_file) if args.md5_file else None
    parts = args.parts if args.parts else parts_of_sets(args.sets)
    archives = download_librispeech(args.dest, parts, base_url=args.base_url or OPENSLR_BASE_URL,
                                    checksums=sums, retries=args.retries, timeout=args.timeout)
    for archive in archives:
        print(f"verified {archive}")
    if args.extract_to != "none":
        for archive in archives:
            corpus = extract_librispeech(archive, args.extract_to or args.dest)
            print(f"extracted {archive.name} -> {corpus}")
    return 0


def run_prepare(args: argparse.Namespace) -> int:
    from audiocl.corpora.librispeech import data_dir_name, prepare_librispeech_sets

    sets = args.sets if args.sets else [data_dir_name(p) for p in args.parts]
    for name, out in prepare_librispeech_sets(args.corpus_dir, sets, args.out,
                                              durations=not args.no_durations).items():
        print(f"{name} -> {out}")
    return 0
