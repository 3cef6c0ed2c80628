"""The job arrays of ``run.pl`` / ``slurm.pl``: parsing ``[options] [JOB=A:B] LOG COMMAND...``, running one
job with its Kaldi-style log, and the report that names failed jobs. Both backends (:mod:`audiocl.recipe.launcher`
runs jobs here, :mod:`audiocl.recipe.slurm` as SLURM array tasks) use these, so substitution and log format
are the same everywhere; the user-facing rules are in :mod:`audiocl.recipe.launcher`'s docstring."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from audiocl.errors import RecipeError
from audiocl.recipe.stops import describe_exit, forward_signals, launcher_status, parse_grace_signal

DEFAULT_GRACE_SIGNAL = "B:USR1@90"
"""SIGUSR1 to the batch shell 90 s before the time limit: time to finish a step and write a checkpoint
(Lightning's SLURM documentation uses the same signal and margin)."""
_FLAGS = ("poll", "requeue")  # true|false options; --requeue alone means true

_RANGE_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(\d+)(?::(\d+))?$")


@dataclasses.dataclass
class LauncherOptions:
    """Resource and behaviour options shared by both backends (local ignores the cluster ones)."""

    max_jobs_run: int | None = None
    num_threads: int = 1
    mem: str | None = None
    gpu: int = 0
    time: str | None = None
    partition: str | None = None
    sbatch_args: str = ""
    poll: bool = False
    poll_interval: float = 10.0
    requeue: bool = False
    """SLURM: submit with ``--requeue`` (and the grace signal below), so a training stopped by preemption or
    its time limit saves, requeues itself and resumes (docs/distributed.md)."""
    signal: str | None = None
    """SLURM grace signal, sbatch's ``--signal`` (``B:USR1@90``); ``""``: none. Parsing sets
    :data:`DEFAULT_GRACE_SIGNAL` when ``--requeue`` comes without ``--signal``."""


@dataclasses.dataclass
class JobArray:
    """A parsed launcher call: jobs ``start..end`` of ``command`` with per-job logs."""

    var: str | None
    start: int
    end: int
    log: str
    command: str
    options: LauncherOptions
    cwd: str = dataclasses.field(default_factory=os.getcwd)

    @property
    def job_ids(self) -> list[int]:
        return list(range(self.start, self.end + 1))

    def substitute(self, text: str, job_id: int) -> str:
        return text.replace(self.var, str(job_id)) if self.var else text

    def log_for(self, job_id: int) -> Path:
        path = Path(self.substitute(self.log, job_id))
        return path if path.is_absolute() else Path(self.cwd) / path

    def command_for(self, job_id: int) -> str:
        return self.substitute(self.command, job_id)


def _join_command(args: Sequence[str]) -> str:
    """Kaldi's rule: arguments without whitespace go in raw (pipes, redirections), others are quoted."""
    parts = []
    for arg in args:
        if arg and not re.search(r"\s", arg):
            parts.append(arg)
        else:
            parts.append(shlex.quote(arg))
    return " ".join(parts)


def _parse_bool(name: str, value: str) -> bool:
    if value not in ("true", "false"):
        raise RecipeError(f"option --{name} expects true or false, got {value!r}")
    return value == "true"


def parse_args(argv: Sequence[str], prog: str = "run.pl") -> JobArray:
    """Parse ``[options] [VAR=A:B] LOG COMMAND...`` into a :class:`JobArray`.

    Raises :class:`RecipeError` with a usage line for anything malformed.
    """
    usage = f"usage: {prog} [options] [JOB=1:N] LOG-FILE COMMAND [ARGS...]"
    argv = list(argv)
    opts = LauncherOptions()
    converters = {
        "max_jobs_run": int, "num_threads": int, "gpu": int, "poll_interval": float,
        "mem": str, "time": str, "partition": str, "sbatch_args": str,
    }
    while argv and argv[0].startswith("--"):
        opt = argv.pop(0)
        if "=" in opt:
            opt, value = opt.split("=", 1)
        elif opt == "--requeue" and (not argv or argv[0] not in ("true", "false")):
            value = "true"
        else:
            if not argv:
                raise RecipeError(f"{prog}: option {opt} needs a value\n{usage}")
            value = argv.pop(0)
        name = opt[2:].replace("-", "_")
        if name in _FLAGS:
            setattr(opts, name, _parse_bool(name, value))
        elif name == "signal":
            opts.signal = parse_grace_signal(value) or ""
        elif name in converters:
            try:
                setattr(opts, name, converters[name](value))
            except ValueError:
                raise RecipeError(f"{prog}: option {opt} got a bad value {value!r}\n{usage}") from None
        else:
            known = ", ".join("--" + k.replace("_", "-") for k in [*converters, *_FLAGS, "signal"])
            raise RecipeError(f"{prog}: unknown option {opt} (known: {known})")
    if opts.requeue and opts.signal is None:
        opts.signal = DEFAULT_GRACE_SIGNAL
    if opts.max_jobs_run is not None and opts.max_jobs_run < 1:
        raise RecipeError(f"{prog}: --max-jobs-run must be >= 1")

    var, start, end = None, 1, 1
    if argv and (m := _RANGE_RE.match(argv[0])):
        argv.pop(0)
        var = m.group(1)
        start = int(m.group(2))
        end = int(m.group(3)) if m.group(3) is not None else start
        if end < start:
            raise RecipeError(f"{prog}: empty job range {var}={start}:{end}")
    elif argv and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", argv[0]):
        raise RecipeError(f"{prog}: malformed job range {argv[0]!r} (expected like JOB=1:4)\n{usage}")
    if len(argv) < 2:
        raise RecipeError(f"{prog}: need a log file and a command\n{usage}")
    log = argv[0]
    command = argv[1] if len(argv) == 2 else _join_command(argv[1:])
    if var and var not in log and end > start:
        raise RecipeError(f"{prog}: the log file {log!r} must contain {var} so that each job gets its own log")
    return JobArray(var=var, start=start, end=end, log=log, command=command, options=opts)


def _now() -> str:
    return _dt.datetime.now().astimezone().strftime("%a %b %d %H:%M:%S %Z %Y")


@dataclasses.dataclass
class Running:
    """A started job: its process (None if bash could not start), open log and start time."""

    proc: subprocess.Popen | None
    log: object  # the open log file
    begin: float


def start_job(jobs: JobArray, job_id: int, *, note: str = "") -> Running:
    """Write the job's log header and start its command in a new process group (so it can be killed whole).

    ``note`` (e.g. ``requeued by SLURM, restart 1``) makes the log grow instead of starting afresh, so the
    run before, and how it ended, stays readable above the new one."""
    log = jobs.log_for(job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = jobs.command_for(job_id)
    fh = open(log, "a" if note else "w", encoding="utf-8")
    fh.write(f"# {command}\n# Started at {_now()}{f' ({note})' if note else ''}\n#\n")
    fh.flush()
    try:
        proc = subprocess.Popen(["bash", "-c", command], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=jobs.cwd, start_new_session=True)
    except OSError as exc:  # bash missing or cwd gone: report it in the log like a failed job
        fh.write(f"could not start bash: {exc}\n")
        proc = None
    return Running(proc, fh, time.time())


def finish_job(jobs: JobArray, run: Running, code: int) -> int:
    """Append accounting and exit status to the log; a signal death is reported as 128 + signal, like bash."""
    if code < 0:
        code = 128 - code
    run.log.write(f"# Accounting: time={int(round(time.time() - run.begin))} threads={jobs.options.num_threads}\n")
    run.log.write(f"# Ended (code {code}) at {_now()}\n")
    run.log.close()
    return code


def run_one(jobs: JobArray, job_id: int, *, note: str = "") -> int:
    """Run job ``job_id`` to completion: log header, command, accounting and exit code.

    Stop signals this process receives go on to the job (it has its own process group), so a SLURM grace
    signal or a ``kill`` of the task reaches the training, which saves and exits (:mod:`audiocl.recipe.stops`)."""
    run = start_job(jobs, job_id, note=note)
    if run.proc is None:
        return finish_job(jobs, run, 127)
    with forward_signals(lambda: [run.proc.pid], signals=(signal.SIGUSR1, signal.SIGTERM, signal.SIGINT)):
        return finish_job(jobs, run, run.proc.wait())


def unfinished(codes: dict[int, int], jobs: JobArray) -> list[tuple[int, str]]:
    """``(job, how it ended)`` of every job whose exit status ``codes[job]`` is not 0."""
    return [(j, describe_exit(c, jobs.log_for(j))) for j, c in sorted(codes.items()) if c != 0]


def _log_tail(path: Path, n: int = 5) -> list[str]:
    """The last ``n`` output lines of a job log (without the launcher's own ``#`` lines)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    start = max((i for i, line in enumerate(lines) if line.startswith("# Started at ")), default=1) + 2
    body = [line for line in lines[start:] if not line.startswith(("# Accounting:", "# Ended (code"))]
    return body[-n:]


def failure_report(prog: str, failed: list[tuple[int, str]], jobs: JobArray, show: int = 3,
                   verb: str = "failed") -> str:
    """Name every failed job and its log; quote the end of the first few logs so the cause is visible.
    ``verb``: what happened to them (``failed``; ``stopped`` when each was stopped after saving)."""
    lines = [f"{prog}: {len(failed)} / {len(jobs.job_ids)} job(s) {verb}:"]
    for k, (job_id, why) in enumerate(failed):
        log = jobs.log_for(job_id)
        lines.append(f"  job {job_id} {why}, log is in {log}")
        if k < show:
            lines += [f"    | {line}" for line in _log_tail(log)]
    return "\n".join(lines)


def report(prog: str, jobs: JobArray, codes: dict[int, int]) -> int:
    """Print what happened to every unsuccessful job (``codes``: job -> exit status); return the launcher's
    exit status (:func:`audiocl.recipe.stops.launcher_status`: 0, ``128 + signal`` for stops, else 1)."""
    status = launcher_status((c, jobs.log_for(j)) for j, c in codes.items())
    failed = unfinished(codes, jobs)
    if failed:
        print(failure_report(prog, failed, jobs, verb="stopped" if status > 1 else "failed"), file=sys.stderr)
    return status
