"""``audiocl models``: the registry of pretrained checkpoints, with what the cache holds."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "models", help="list the pretrained checkpoints audiocl can download by name, and which are cached",
        description="NAME  FORMAT  CACHED  VERIFIED  DESCRIPTION. VERIFIED 'no' means no source states a "
        "sha256: `audiocl download NAME --allow-unverified` prints the hash it computed.")
    p.add_argument("--verbose", "-v", action="store_true", help="also the URLs, licence and hash sources")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from audiocl.hub.cache import ModelCache
    from audiocl.hub.registry import load_registry

    cache = ModelCache.default()
    entries = load_registry()
    width = max(len(n) for n in entries)
    print(f"{'NAME':<{width}}  {'FORMAT':<8}  CACHED  VERIFIED  DESCRIPTION")
    for name, e in sorted(entries.items()):
        cached = cache.lookup(e.hf_ref or name) is not None
        print(f"{name:<{width}}  {e.format:<8}  {'yes' if cached else 'no':<6}  {'yes' if e.verified else 'no':<8}  "
              f"{e.description}")
        if args.verbose:
            print(f"    licence: {e.licence}; card: {e.card}")
            if e.hf_ref:
                print(f"    {e.hf_ref}; sha256: {e.sha256_source}")
            for f in e.files:
                print(f"    {f.url}  sha256: {f.sha256 or '-'} ({f.sha256_source})")
    print(f"cache: {cache.root}")
    return 0
