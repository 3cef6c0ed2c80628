"""What a launcher job's exit status means, and the signals a launcher passes on to its jobs.

An audiocl training stopped by SIGTERM, SIGINT or SIGUSR1 finishes its step, saves ``last.ckpt`` and exits
with ``128 + signal`` (:class:`audiocl.errors.TrainingInterrupted`); under SLURM it has also asked SLURM to
requeue the job (``scontrol requeue``). Its last words, printed by ``audiocl`` on stderr and so in the job's
log, are ``stopped by SIGUSR1 at step N of M; checkpoint saved to PATH[; the SLURM job was requeued]. Re-run
...``. ``run.pl`` and ``slurm.pl`` read that line to tell such a *stop* (nothing lost: re-run, or wait for
the requeued job) from a crash, and say which it was instead of "failed".

The launchers also pass stop signals on: every job runs in its own process group (so that killing the
launcher can kill the job whole), which means a signal sent to the launcher alone would not reach the
job. SLURM's grace signal (``--signal=B:USR1@90``: SIGUSR1 to the batch shell 90 s before the time limit)
reaches the batch shell, which is the launcher's task process; :func:`forward_signals` sends it on to the
job's process group, where the training saves and requeues.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

from audiocl.errors import RecipeError

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1)
"""The signals on which an audiocl training saves a checkpoint and exits with 128 + signal."""
STOP_CODES = frozenset(128 + int(s) for s in STOP_SIGNALS)

# The message of audiocl.errors.TrainingInterrupted as audiocl.tasks.runner words it.
_SAVED_RE = re.compile(r"stopped by (SIG[A-Z0-9]+) at step (\d+)\b.*?checkpoint saved to (\S+?)(?:;|\.\s|\.$|$)")
_REQUEUED = "the SLURM job was requeued"


@dataclass(frozen=True)
class JobStop:
    """A job that ended on a stop signal (exit status 128 + signal)."""

    signal: str
    saved_at_step: int | None  # the step of the checkpoint the training saved, None when the log says none
    checkpoint: str | None
    requeued: bool  # the training asked SLURM to requeue its job, and SLURM accepted

    def describe(self, code: int) -> str:
        if self.saved_at_step is None:
            return f"was stopped by {self.signal} (exit {code}); its log names no saved checkpoint"
        what = f"was stopped by {self.signal} at step {self.saved_at_step} after saving {self.checkpoint} (exit {code})"
        if self.requeued:
            return f"{what}; SLURM requeued the job, which resumes from that checkpoint by itself"
        return f"{what}; re-run the same command to resume from that checkpoint"


def _last_run_tail(log: Path, max_bytes: int = 16384) -> str:
    """The end of the log's last run (a requeued run appends to the same log under a new header)."""
    try:
        with open(log, "rb") as fh:
            fh.seek(0, 2)
            fh.seek(max(0, fh.tell() - max_bytes))
            text = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    start = text.rfind("\n# Started at ")
    return text[start + 1:] if start >= 0 else text


def job_stop(code: int, log: Path) -> JobStop | None:
    """The stop behind exit status ``code`` of the job that wrote ``log``, or None when it is no stop.

    The signal named by the training's stop line wins over the exit status: after a requeue, SLURM ends the
    old run with SIGTERM, which can cut short a training that was exiting after SIGUSR1."""
    if code not in STOP_CODES:
        return None
    m = None
    for line in _last_run_tail(log).splitlines():
        m = _SAVED_RE.search(line) or m
    if m is None:
        return JobStop(signal.Signals(code - 128).name, None, None, False)
    return JobStop(m.group(1), int(m.group(2)), m.group(3), _REQUEUED in m.string)


def describe_exit(code: int, log: Path) -> str:
    """How a job ended, for a launcher's report: ``exited with code 1`` or what its stop was."""
    stop = job_stop(code, log)
    return stop.describe(code) if stop else f"exited with code {code}"


def launcher_status(results: Iterable[tuple[int, Path]]) -> int:
    """The launcher's exit status for jobs ``(code, log)``: 0 when all succeeded, ``128 + signal`` when every
    unsuccessful job was stopped by a signal after saving a checkpoint (re-run to resume), else 1."""
    worst = 0
    for code, log in results:
        if code == 0:
            continue
        stop = job_stop(code, log)
        if stop is None or stop.saved_at_step is None:
            return 1
        worst = max(worst, code)
    return worst


def parse_grace_signal(value: str) -> str | None:
    """``slurm.pl --signal`` as sbatch's ``--signal=B:SIG@SECONDS`` (None for ``none``).

    ``B:`` is always used: the batch shell is the launcher's task process, which passes the signal on to
    the job (:func:`forward_signals`); without ``B:`` SLURM signals only job steps started by ``srun``.
    """
    if value.strip().lower() in ("", "none", "no", "false"):
        return None
    m = re.fullmatch(r"(?:B:)?(?:SIG)?([A-Za-z0-9]+)(@\d+)?", value.strip())
    names = {s.name[3:]: s.name[3:] for s in STOP_SIGNALS} | {str(int(s)): s.name[3:] for s in STOP_SIGNALS}
    if not m or m.group(1).upper() not in names:
        raise RecipeError(f"option --signal {value!r}: expected SIGNAL[@SECONDS] with SIGNAL one of USR1, TERM, INT "
                          "(the signals on which an audiocl training saves a checkpoint), e.g. USR1@90, or none")
    return f"B:{names[m.group(1).upper()]}{m.group(2) or ''}"


@contextlib.contextmanager
def forward_signals(process_groups: Callable[[], Iterable[int]],
                    signals: Iterable[signal.Signals] = (signal.SIGUSR1,)) -> Iterator[None]:
    """While in the block, send ``signals`` received by this process to the groups ``process_groups()``
    returns (the running jobs), instead of their default action of killing the launcher."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum, frame):
        for pgid in list(process_groups()):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signum)

    previous = {s: signal.signal(s, forward) for s in signals}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
