"""``audiocl download REF``: fetch, verify, convert and cache a pretrained checkpoint; prints its release dir."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "download",
        help="download a pretrained checkpoint (registry name, URL, hf:ORG/NAME@REV) into the model cache",
        description="REF is a registry name (see `audiocl models`), an http(s) URL of a release archive or a "
        "checkpoint file, hf:ORG/NAME@COMMIT, or a local foreign checkpoint (converted once). The result is an "
        "audiocl release in the cache (AUDIOCL_CACHE, else the platform cache dir), whose path is printed. "
        "A second call makes no network request. Proxies: HTTP(S)_PROXY / NO_PROXY.",
    )
    p.add_argument("ref", metavar="REF")
    p.add_argument("--sha256", default=None, metavar="HEX", help="expected sha256 of the file behind a URL")
    p.add_argument("--allow-unverified", action="store_true",
                   help="download even when no sha256 is known (the computed hash is printed for pinning)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--retries", type=int, default=3, help="extra attempts after a cut transfer (each resumes)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.hub.download import DownloadOptions
    from audiocl.hub.resolver import resolve

    opts = DownloadOptions(sha256=args.sha256, allow_unverified=args.allow_unverified, quiet=args.quiet,
                           retries=args.retries)
    print(resolve(args.ref, opts))
    return 0
