"""Entry point of the ``audiocl`` console script: discovers subcommands and reports user errors.

User errors (:class:`audiocl.errors.AudioclError`) are printed as ``audiocl <cmd>: error: ...``
without a traceback and exit with status 1 (a training stopped by a signal after saving its
checkpoint: 128 + the signal number); bugs keep their traceback.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Sequence

import audiocl
from audiocl.errors import AudioclError

_NOT_SUBCOMMANDS = {"main", "common"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiocl",
        description="Contrastive self-supervised learning for speech, audio and time series.",
    )
    parser.add_argument("--version", action="version", version=f"audiocl {audiocl.__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    import audiocl.cli as cli_pkg

    for info in sorted(pkgutil.iter_modules(cli_pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name in _NOT_SUBCOMMANDS:
            continue
        module = importlib.import_module(f"audiocl.cli.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except AudioclError as exc:
        print(f"audiocl {args.command}: error: {exc}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        print(f"audiocl {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
