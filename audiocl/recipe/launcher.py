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
(SLURM: poll status files and ``squeue`` instead of ``sbatch --wait``). Cluster-only options are
accepted and ignored by the local backend, so one ``cmd.sh`` line works with both.

SLURM backend: writes ``<logdir>/q/<name>.sh`` (an sbatch array script, ``--array=A-B[%max]``,
per-task sbatch output in ``<logdir>/q/<name>.%a.out``) plus a JSON job spec, submits it with
``sbatch --wait`` (or ``--parsable`` and polls), and reads one exit-status file per task. Each array
task runs :func:`run_task` (``python -m audiocl.recipe.launcher task SPEC ID``), i.e. the very code the
local backend uses, so substitution and log format are identical on both.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
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
from audiocl.utils.io import atomic_write_text

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
        else:
            if not argv:
                raise RecipeError(f"{prog}: option {opt} needs a value\n{usage}")
            value = argv.pop(0)
        name = opt[2:].replace("-", "_")
        if name == "poll":
            opts.poll = _parse_bool(name, value)
        elif name in converters:
            try:
                setattr(opts, name, converters[name](value))
            except ValueError:
                raise RecipeError(f"{prog}: option {opt} got a bad value {value!r}\n{usage}") from None
        else:
            known = ", ".join("--" + k.replace("_", "-") for k in [*converters, "poll"])
            raise RecipeError(f"{prog}: unknown option {opt} (known: {known})")
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
class _Running:
    proc: subprocess.Popen | None
    log: object  # the open log file
    begin: float


def _start(jobs: JobArray, job_id: int) -> _Running:
    """Write the job's log header and start its command in a new process group (so it can be killed whole)."""
    log = jobs.log_for(job_id)
    log.parent.mkdir(parents=True, exist_ok=True)
    command = jobs.command_for(job_id)
    fh = open(log, "w", encoding="utf-8")
    fh.write(f"# {command}\n# Started at {_now()}\n#\n")
    fh.flush()
    try:
        proc = subprocess.Popen(["bash", "-c", command], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=jobs.cwd, start_new_session=True)
    except OSError as exc:  # bash missing or cwd gone: report it in the log like a failed job
        fh.write(f"could not start bash: {exc}\n")
        proc = None
    return _Running(proc, fh, time.time())


def _finish(jobs: JobArray, run: _Running, code: int) -> int:
    """Append accounting and exit status to the log; a signal death is reported as 128 + signal, like bash."""
    if code < 0:
        code = 128 - code
    run.log.write(f"# Accounting: time={int(round(time.time() - run.begin))} threads={jobs.options.num_threads}\n")
    run.log.write(f"# Ended (code {code}) at {_now()}\n")
    run.log.close()
    return code


def run_one(jobs: JobArray, job_id: int) -> int:
    """Run job ``job_id`` to completion: log header, command, accounting and exit code."""
    run = _start(jobs, job_id)
    return _finish(jobs, run, run.proc.wait() if run.proc else 127)


def _log_tail(path: Path, n: int = 5) -> list[str]:
    """The last ``n`` output lines of a job log (without the launcher's own ``#`` lines)."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    body = [line for line in lines[3:] if not line.startswith(("# Accounting:", "# Ended (code"))]
    return body[-n:]


def _failure_report(prog: str, failed: list[tuple[int, str]], jobs: JobArray, show: int = 3) -> str:
    """Name every failed job and its log; quote the end of the first few logs so the cause is visible."""
    lines = [f"{prog}: {len(failed)} / {len(jobs.job_ids)} job(s) failed:"]
    for k, (job_id, why) in enumerate(failed):
        log = jobs.log_for(job_id)
        lines.append(f"  job {job_id} {why}, log is in {log}")
        if k < show:
            lines += [f"    | {line}" for line in _log_tail(log)]
    return "\n".join(lines)


def run_local(jobs: JobArray, prog: str = "run.pl", poll_s: float = 0.05) -> int:
    """Run all jobs on this machine, at most ``max_jobs_run`` at a time; return 0 iff all succeeded.

    One process, no threads: children are polled. SIGTERM/SIGINT kill every running job's process group,
    whose logs still get their ``# Ended (code ...)`` line, and the launcher exits 130.
    """
    limit = jobs.options.max_jobs_run or len(jobs.job_ids)
    codes: dict[int, int] = {}
    queue = list(jobs.job_ids)
    running: dict[int, _Running] = {}

    def on_term(signum, frame):  # treat SIGTERM (e.g. the recipe being killed) like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        while queue or running:
            while queue and len(running) < limit:
                job_id = queue.pop(0)
                running[job_id] = _start(jobs, job_id)
            for job_id, run in list(running.items()):
                code = run.proc.poll() if run.proc else 127
                if code is not None:
                    codes[job_id] = _finish(jobs, running.pop(job_id), code)
            if running:
                time.sleep(poll_s)
    except KeyboardInterrupt:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        for run in running.values():
            if run.proc and run.proc.poll() is None:
                try:
                    os.killpg(run.proc.pid, signal.SIGTERM)
                except (ProcessLookupError, PermissionError):
                    pass
        for run in running.values():
            _finish(jobs, run, run.proc.wait() if run.proc else 127)
        print(f"{prog}: interrupted; running jobs were killed", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    failed = [(j, f"exited with code {c}") for j, c in sorted(codes.items()) if c != 0]
    if failed:
        print(_failure_report(prog, failed, jobs), file=sys.stderr)
        return 1
    return 0


# ----------------------------------------------------------------------------------------- SLURM


def _queue_paths(jobs: JobArray) -> tuple[Path, str]:
    """The ``q/`` folder next to the logs and a job name derived from the log's base name."""
    log0 = Path(jobs.log if Path(jobs.log).is_absolute() else Path(jobs.cwd) / jobs.log)
    name = log0.name
    if jobs.var:
        name = name.replace("." + jobs.var, "").replace(jobs.var, "")
    name = re.sub(r"\.log$", "", name) or "job"
    qdir = Path(jobs.substitute(str(log0.parent), jobs.start)) / "q"
    return qdir, name


def status_path(qdir: Path, name: str, job_id: int) -> Path:
    return qdir / f"done.{name}.{job_id}"


def write_sbatch_script(jobs: JobArray, python: str = sys.executable) -> tuple[Path, Path, str]:
    """Write the job spec and the sbatch array script; return ``(script, qdir, name)``."""
    qdir, name = _queue_paths(jobs)
    qdir.mkdir(parents=True, exist_ok=True)
    spec = qdir / f"{name}.json"
    atomic_write_text(spec, json.dumps({**dataclasses.asdict(jobs), "options": dataclasses.asdict(jobs.options)},
                                       indent=1) + "\n")
    o = jobs.options
    array = f"{jobs.start}-{jobs.end}" + (f"%{o.max_jobs_run}" if o.max_jobs_run else "")
    lines = [
        "#!/usr/bin/env bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --array={array}",
        f"#SBATCH --output={qdir}/{name}.%a.out",
        f"#SBATCH --chdir={jobs.cwd}",
        f"#SBATCH --cpus-per-task={o.num_threads}",
    ]
    if o.mem:
        lines.append(f"#SBATCH --mem={o.mem}")
    if o.gpu:
        lines.append(f"#SBATCH --gres=gpu:{o.gpu}")
    if o.time:
        lines.append(f"#SBATCH --time={o.time}")
    if o.partition:
        lines.append(f"#SBATCH --partition={o.partition}")
    lines += [
        "# Generated by audiocl slurm.pl; each array task runs one job through audiocl.recipe.launcher.",
        f"cd {shlex.quote(jobs.cwd)} || exit 1",
        f"export PYTHONPATH={shlex.quote(str(Path(__file__).resolve().parents[2]))}${{PYTHONPATH:+:$PYTHONPATH}}",
        f"exec {shlex.quote(python)} -m audiocl.recipe.launcher task {shlex.quote(str(spec))} "
        '"${SLURM_ARRAY_TASK_ID:?not running inside a SLURM array}"',
    ]
    script = qdir / f"{name}.sh"
    atomic_write_text(script, "\n".join(lines) + "\n")
    script.chmod(0o755)
    return script, qdir, name


def run_task(spec_path: str | Path, job_id: int) -> int:
    """Entry point of one SLURM array task: run the job and record its exit status atomically."""
    data = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    data["options"] = LauncherOptions(**data["options"])
    jobs = JobArray(**data)
    code = run_one(jobs, job_id)
    qdir, name = _queue_paths(jobs)
    atomic_write_text(status_path(qdir, name, job_id), f"{code}\n")
    return code


def _read_status(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _poll_until_done(jobs: JobArray, qdir: Path, name: str, job_id_str: str, prog: str) -> None:
    """Wait until every task wrote its status file, or SLURM no longer knows the job (tasks died)."""
    grace_polls = 0
    while True:
        missing = [j for j in jobs.job_ids if _read_status(status_path(qdir, name, j)) is None]
        if not missing:
            return
        try:
            out = subprocess.run(["squeue", "-h", "-j", job_id_str], capture_output=True, text=True)
            alive = out.returncode == 0 and out.stdout.strip() != ""
        except FileNotFoundError:
            alive = True  # no squeue: rely on status files only
        if not alive:
            grace_polls += 1
            if grace_polls > 3:  # give a shared filesystem a moment to show late status files
                return
        time.sleep(jobs.options.poll_interval)


def run_slurm(jobs: JobArray, prog: str = "slurm.pl") -> int:
    """Submit the jobs as one sbatch array, wait, and check every task's exit status."""
    script, qdir, name = write_sbatch_script(jobs)
    for j in jobs.job_ids:
        status_path(qdir, name, j).unlink(missing_ok=True)
    if jobs.options.poll:
        cmd = ["sbatch", "--parsable", *shlex.split(jobs.options.sbatch_args), str(script)]
    else:
        cmd = ["sbatch", "--wait", *shlex.split(jobs.options.sbatch_args), str(script)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=jobs.cwd)
    except FileNotFoundError:
        raise RecipeError(f"{prog}: sbatch not found on PATH (is this a SLURM cluster? use run.pl locally)") from None
    except KeyboardInterrupt:
        print(f"{prog}: interrupted; the SLURM job may still be running (see {qdir})", file=sys.stderr)
        return 130
    submitted = any(status_path(qdir, name, j).exists() for j in jobs.job_ids)
    if proc.returncode != 0 and not submitted:  # rejected at submission (bad partition, quota, ...)
        raise RecipeError(f"{prog}: sbatch failed (exit {proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}"
                          f"\n  script: {script}; task output (if any task started): {qdir}/{name}.*.out")
    if jobs.options.poll:
        job_id_str = proc.stdout.strip().split(";")[0]
        _poll_until_done(jobs, qdir, name, job_id_str, prog)
    failed = []
    for j in jobs.job_ids:
        code = _read_status(status_path(qdir, name, j))
        if code is None:
            said = proc.stderr.strip() if proc.returncode != 0 else ""
            failed.append((j, "left no exit status (killed by SLURM or never started"
                              + (f"; sbatch said: {said}" if said else "") + f"; see {qdir}/{name}.{j}.out)"))
        elif code != 0:
            failed.append((j, f"exited with code {code}"))
    if failed:
        print(_failure_report(prog, failed, jobs), file=sys.stderr)
        return 1
    return 0


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
