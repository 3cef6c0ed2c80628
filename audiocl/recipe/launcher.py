"""Kaldi-style parallel job launcher: the logic behind ``recipes/utils/run.pl`` and ``slurm.pl``.

Usage, exactly as Kaldi users know it (the ``.pl`` files are thin bash wrappers, not Perl)::

    run.pl   [options] JOB=1:4 exp/log/extract.JOB.log  audiocl extract data/train/split4/JOB ...
    slurm.pl [options] JOB=1:4 exp/log/extract.JOB.log  audiocl extract data/train/split4/JOB ...

* ``JOB=A:B`` (any variable name) runs jobs A..B; every literal occurrence of the variable name in the
  log path and the command is replaced by the job number (Kaldi's rule, so ``split4/JOB`` and
  ``feats.JOB.ark`` work). Without a range a single job runs and nothing is substituted.
* The command is the remaining arguments joined by spaces and run with ``bash -c``. An argument
  without whitespace is passed raw (so a quoted ``\\|`` makes a pipe, as in Kaldi); one with whitespace
  is shell-quoted. A command given as ONE argument is a complete shell command line and is used verbatim
  (``run.pl JOB=1:2 log.JOB "a JOB | b"``).
* Each job writes one log: the command, ``# Started at``, the job's output, ``# Accounting: time=``
  and ``# Ended (code N) at``. The launcher exits non-zero when any job failed and names each failed
  job with the path of its log.

Options (before the range): ``--max-jobs-run N`` (parallel limit; local default: all at once),
``--num-threads N``, ``--mem SIZE``, ``--gpu N``, ``--time T``, ``--partition P``,
``--sbatch-args "..."`` (extra sbatch arguments), ``--poll true|false`` and ``--poll-interval S``
(SLURM: poll status files and ``squeue`` instead of ``sbatch --wait``), ``--requeue [true|false]`` and
``--signal SIG@SECONDS`` (SLURM: ``#SBATCH --requeue`` and the grace signal ``--signal=B:SIG@SECONDS``,
``B:USR1@90`` unless given, so a training stopped by preemption or its time limit saves, requeues and
resumes; ``--signal none``: no grace signal). Cluster-only options are accepted and ignored by the local
backend, so one ``cmd.sh`` line works with both.

Stops are not crashes: a job that exits with 128 + SIGTERM/SIGINT/SIGUSR1 and whose log says it saved a
checkpoint (an audiocl training) is reported as stopped, with the step, the checkpoint and whether SLURM
requeued it; the launcher then exits with that 128 + signal instead of 1 (:mod:`audiocl.recipe.stops`).
Both backends pass SIGUSR1 (SLURM's grace signal) on to running jobs.

SLURM backend: writes ``<logdir>/q/<name>.sh`` (an sbatch array script, ``--array=A-B[%max]``,
per-task sbatch output in ``<logdir>/q/<name>.%a.out``) plus a JSON job spec, submits it with
``sbatch --wait`` (or ``--parsable`` and polls), and reads one exit-status file per task. Each array
task runs :func:`run_task` (``python -m audiocl.recipe.launcher task SPEC ID``), i.e. the very code the
local backend uses, so substitution and log format are identical on both.

Code: :mod:`audiocl.recipe.jobs` parses a call and runs one job, this module is the local backend and the
entry point of both wrappers, :mod:`audiocl.recipe.slurm` the SLURM backend.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from typing import Sequence

from audiocl.errors import RecipeError
from audiocl.recipe.jobs import JobArray, Running, finish_job, parse_args, report, start_job, unfinished
from audiocl.recipe.slurm import run_slurm, run_task
from audiocl.recipe.stops import forward_signals


def run_local(jobs: JobArray, prog: str = "run.pl", poll_s: float = 0.05) -> int:
    """Run all jobs on this machine, at most ``max_jobs_run`` at a time; return 0 iff all succeeded.

    One process, no threads: children are polled. SIGTERM/SIGINT send SIGTERM to every running job's process
    group (an audiocl training saves a checkpoint and exits), wait for them (their logs still get their
    ``# Ended (code ...)`` line), and the launcher exits 130. SIGUSR1 is passed on to the running jobs.
    When every unsuccessful job was a training stopped after saving, the exit status is its ``128 + signal``
    and the report says so, rather than "failed" (:mod:`audiocl.recipe.stops`).
    """
    limit = jobs.options.max_jobs_run or len(jobs.job_ids)
    codes: dict[int, int] = {}
    queue = list(jobs.job_ids)
    running: dict[int, Running] = {}

    def on_term(signum, frame):  # treat SIGTERM (e.g. the recipe being killed) like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        with forward_signals(lambda: [r.proc.pid for r in running.values() if r.proc]):
            _poll(jobs, queue, running, codes, limit, poll_s)
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for run in running.values():
            if run.proc and run.proc.poll() is None:
                try:
                    os.killpg(run.proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        for job_id, run in running.items():
            codes[job_id] = finish_job(jobs, run, run.proc.wait() if run.proc else 127)
        stopped = [(j, why) for j, why in unfinished(codes, jobs) if j in running]
        print(f"{prog}: interrupted; running jobs were stopped:\n"
              + "\n".join(f"  job {j} {why}, log is in {jobs.log_for(j)}" for j, why in stopped), file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return report(prog, jobs, codes)


def _poll(jobs: JobArray, queue: list[int], running: dict[int, Running], codes: dict[int, int], limit: int,
          poll_s: float) -> None:
    """Start jobs while fewer than ``limit`` run, record the exit status of each that ended, until all did."""
    while queue or running:
        while queue and len(running) < limit:
            job_id = queue.pop(0)
            running[job_id] = start_job(jobs, job_id)
        for job_id, run in list(running.items()):
            code = run.proc.poll() if run.proc else 127
            if code is not None:
                codes[job_id] = finish_job(jobs, running.pop(job_id), code)
        if running:
            time.sleep(poll_s)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m audiocl.recipe.launcher {local|slurm} ARGS...`` or ``task SPEC ID`` (inside SLURM)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in ("local", "slurm", "task"):
        print("usage: python -m audiocl.recipe.launcher {local|slurm} [options] JOB=1:N LOG CMD...",
              file=sys.stderr)
        return 2
    backend, rest = argv[0], argv[1:]
    prog = {"local": "run.pl", "slurm": "slurm.pl", "task": "slurm.pl task"}[backend]
    try:
        if backend == "task":
            if len(rest) != 2 or not rest[1].isdigit():
                raise RecipeError("usage: python -m audiocl.recipe.launcher task SPEC.json TASK_ID")
            return run_task(rest[0], int(rest[1]))
        jobs = parse_args(rest, prog=prog)
        return run_local(jobs, prog) if backend == "local" else run_slurm(jobs, prog)
    except RecipeError as exc:
        print(str(exc) if str(exc).startswith(prog) else f"{prog}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
