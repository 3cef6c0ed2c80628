"""``audiocl cache ls|verify|rm``: inspect, re-hash and prune the model cache."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "cache", help="list, verify (re-hash) or remove entries of the model cache",
        description="The cache is AUDIOCL_CACHE, else the platform cache dir. `ls` reads manifests only; "
        "`verify` re-hashes every file against its manifest (lookups never do, to stay fast and read-only); "
        "`rm REF` deletes an entry and the files no other entry uses.")
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    sub.add_parser("ls", help="list cached references")
    sub.add_parser("verify", help="re-hash every cached file; exit 1 on any mismatch")
    rm = sub.add_parser("rm", help="remove a cached reference")
    rm.add_argument("ref", metavar="REF", help="the reference as `audiocl cache ls` shows it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from audiocl.hub.cache import ModelCache

    cache = ModelCache.default()
    if args.action == "ls":
        for m in cache.manifests():
            size = sum(int(f.get("size", 0)) for f in (m.get("files") or {}).values())
            print(f"{m.get('ref')}\t{size / 1e6:.1f} MB\t{cache.root / str(m.get('release', ''))}")
        return 0
    if args.action == "verify":
        problems = cache.verify()
        for line in problems:
            print(line, file=sys.stderr)
        print(f"{cache.root}: {len(cache.manifests())} entries, {len(problems)} problem(s)")
        return 1 if problems else 0
    for path in cache.remove(args.ref):
        print(f"removed {path}")
    return 0
