"""The ``audiocl`` command. Each subcommand lives in its own module here.

A subcommand module defines ``register(subparsers)`` which adds its parser and sets
``func=<callable(args) -> int>`` as the parser default. :mod:`audiocl.cli.main` discovers the
modules, so adding a subcommand never touches a shared file. Modules hold argument parsing and
config resolution only; the work is done by library functions that are tested on their own.
"""
