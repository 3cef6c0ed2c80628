"""One exception hierarchy for everything a user can get wrong.

The CLI catches :class:`AudioclError` and prints its message without a traceback, so every
message must say *what* is wrong, *where* (file, line, utterance id) and, when possible, what to do.
Programming errors (bugs) stay ordinary Python exceptions and keep their traceback.
"""

from __future__ import annotations


class AudioclError(Exception):
    """Base class for errors caused by user input, configuration or the environment."""


class ConfigError(AudioclError):
    """A configuration file or ``key=value`` override is invalid."""


class DataDirError(AudioclError):
    """A Kaldi data directory is malformed.

    ``problems`` holds one human-readable line per problem (file, line number, utterance id).
    """

    def __init__(self, message: str, problems: list[str] | None = None):
        self.problems = list(problems or [])
        if self.problems:
            message = message + "\n" + "\n".join(f"  {p}" for p in self.problems)
        super().__init__(message)


class AudioReadError(AudioclError):
    """An audio file or ``cmd |`` pipe could not be read or decoded."""

    def __init__(self, reason: str, path: str | None = None, utt_id: str | None = None):
        self.reason = reason
        self.path = path
        self.utt_id = utt_id
        where = ", ".join(x for x in (f"utterance {utt_id}" if utt_id else "", f"path {path}" if path else "") if x)
        super().__init__(f"{where}: {reason}" if where else reason)


class SampleRateError(AudioReadError):
    """Audio has a sample rate other than the configured one and strict mode forbids resampling."""


class FeatureError(AudioclError):
    """Feature extraction failed for a reason the user can fix (bad options, too-short audio)."""


class RecipeError(AudioclError):
    """A recipe stage was called with inconsistent inputs."""


class DownloadError(AudioclError):
    """A download failed or its checksum did not match."""


class ChecksumError(DownloadError):
    """A downloaded or cached file does not match its expected checksum (tampered or truncated)."""


class TrainingError(AudioclError):
    """Training cannot go on (for example a non-finite loss that cannot be skipped)."""


class TrainingInterrupted(TrainingError):
    """Training stopped on a signal (SIGTERM, SIGINT, SIGUSR1) after saving a checkpoint at that step.

    ``exit_code`` is ``128 + signal number``, the shell's convention, so a scheduler or script can
    tell a requested stop (resume by re-running) from a crash (exit 1).
    """

    def __init__(self, message: str, signum: int):
        self.signum = int(signum)
        self.exit_code = 128 + self.signum
        super().__init__(message)


class CheckpointError(AudioclError):
    """No usable checkpoint to resume from (every candidate was missing or corrupt)."""


class StorageError(AudioclError):
    """A write failed because of the file system: full disk, read-only or permission denied.

    The message names the path, and for a full disk the bytes needed (when known) and the free space.
    """

    def __init__(self, message: str, path: str = "", needed: int | None = None, free: int | None = None):
        self.path = path
        self.needed = needed
        self.free = free
        super().__init__(message)


class DiskFullError(StorageError):
    """Not enough free space for a write (checked before it when the size is known, or hit during it)."""


class TimeSeriesInputError(AudioclError):
    """Time-series input is unusable (all-NaN, mismatched channels, wrong shape)."""
