"""run.pl / slurm.pl and stopped trainings: the requeue options reach sbatch, SLURM's grace signal reaches the
job, a training that saved and requeued itself runs again and is not reported as a crash, and a stop that
saved is told apart from a crash (exit 128 + signal, "stopped", the step and the checkpoint).

The job here is a stand-in training (a bash script that behaves like an audiocl training on a stop signal:
it prints audiocl's "stopped by SIG... checkpoint saved to ..." line, runs `scontrol requeue`, exits 128 +
signal), so every case runs in a second; test_preemption_recipe.py does the same with a real training.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import pytest

from audiocl.errors import RecipeError
from audiocl.recipe.jobs import parse_args
from audiocl.recipe.stops import job_stop, launcher_status

# A stand-in training: waits in its "training loop" (state/running) until SIGUSR1 or SIGTERM; then "saves"
# (state/saved), asks SLURM to requeue it when inside a SLURM job, prints audiocl's stop line and exits
# 128 + signal. A run that finds state/saved resumes and finishes; with ALWAYS_STOP set every run stops itself.
TRAINING = r"""#!/usr/bin/env bash
mkdir -p state
if [ -e state/saved ] && [ -z "${ALWAYS_STOP:-}" ]; then echo "resumed from step $(cat state/saved)"; exit 0; fi
stop() {
  echo 3 > state/saved
  local rq=""
  if [ -n "${SLURM_ARRAY_JOB_ID:-}" ] && scontrol requeue "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}"; then
    rq="; the SLURM job was requeued"
  fi
  echo "audiocl pretrain: error: stopped by SIG$1 at step 3 of 10; checkpoint saved to" \
    "exp/checkpoints/last.ckpt$rq. Re-run the same command to resume from there." >&2
  exit "$2"
}
trap 'stop USR1 138' USR1
trap 'stop TERM 143' TERM
touch state/running
[ -z "${ALWAYS_STOP:-}" ] || kill -USR1 $$
for _ in $(seq 2400); do sleep 0.05; done  # bounded: a stand-in nobody signals ends by itself
exit 1
"""


@pytest.fixture
def training(tmp_path):
    path = tmp_path / "train.sh"
    path.write_text(TRAINING)
    path.chmod(0o755)
    return path


def _sbatch_lines(tmp_path) -> list[str]:
    return [line for line in (tmp_path / "sbatch.log").read_text().splitlines() if line.startswith("#SBATCH")]


def test_requeue_and_grace_signal_options_reach_sbatch(rt, tmp_path):
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_LOG=str(tmp_path / "sbatch.log"))
    r = rt.run(["slurm.pl", "--requeue", "--gpu", "1", "log/a.log", "true"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    lines = _sbatch_lines(tmp_path)
    for line in ("#SBATCH --requeue", "#SBATCH --open-mode=append", "#SBATCH --signal=B:USR1@90",
                 "#SBATCH --gres=gpu:1"):
        assert line in lines
    (tmp_path / "sbatch.log").unlink()
    r = rt.run(["slurm.pl", "--requeue", "true", "--signal", "SIGTERM@120", "log/b.log", "true"], cwd=tmp_path,
               env=env)
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --signal=B:TERM@120" in _sbatch_lines(tmp_path) and "#SBATCH --requeue" in _sbatch_lines(tmp_path)
    (tmp_path / "sbatch.log").unlink()
    r = rt.run(["slurm.pl", "--requeue", "--signal", "none", "log/c.log", "true"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "#SBATCH --requeue" in _sbatch_lines(tmp_path)
    assert not any(line.startswith("#SBATCH --signal") for line in _sbatch_lines(tmp_path))
    (tmp_path / "sbatch.log").unlink()
    r = rt.run(["slurm.pl", "--mem", "1G", "log/d.log", "true"], cwd=tmp_path, env=env)  # nothing asked: nothing added
    assert not any(line.startswith(("#SBATCH --signal", "#SBATCH --requeue")) for line in _sbatch_lines(tmp_path))
    # The local launcher takes the same options (one cmd.sh line for both) and ignores them.
    r = rt.run(["run.pl", "--requeue", "--signal", "USR1@90", "log/e.log", "echo ran"], cwd=tmp_path, env=env)
    assert r.returncode == 0 and "ran" in (tmp_path / "log/e.log").read_text()


@pytest.mark.parametrize("argv, parsed", [
    (["--requeue", "JOB=1:2", "l.JOB.log", "true"], (True, "B:USR1@90")),
    (["--requeue", "false", "l.log", "true"], (False, None)),
    (["--requeue=true", "--signal", "B:USR1@300", "l.log", "true"], (True, "B:USR1@300")),
    (["--signal", "10@60", "l.log", "true"], (False, "B:USR1@60")),
    (["--signal", "INT", "l.log", "true"], (False, "B:INT")),
])
def test_requeue_and_signal_parsing(argv, parsed):
    o = parse_args(argv, prog="slurm.pl").options
    assert (o.requeue, o.signal) == parsed


def test_a_signal_trainings_do_not_handle_is_refused():
    with pytest.raises(RecipeError, match="SIGNAL one of USR1, TERM, INT"):
        parse_args(["--signal", "USR2@90", "l.log", "true"], prog="slurm.pl")


def test_grace_signal_saves_requeues_and_the_requeued_run_finishes(rt, tmp_path, training):
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_LOG=str(tmp_path / "sbatch.log"),
                 FAKE_SBATCH_SIGNAL_WHEN=str(tmp_path / "state" / "running"),
                 FAKE_SCONTROL_LOG=str(tmp_path / "scontrol.log"))
    r = rt.run(["slurm.pl", "--requeue", "--time", "1:00:00", "JOB=1:1", "log/train.JOB.log", str(training)],
               cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "scontrol.log").read_text() == "scontrol requeue 4242_1\n"
    log = (tmp_path / "log" / "train.1.log").read_text()
    # Both runs are in the job's log: the stop (saved, requeued) and the requeued run that resumed.
    first, second = log.split("(requeued by SLURM, restart 1)")
    assert "stopped by SIGUSR1 at step 3" in first and "the SLURM job was requeued" in first
    assert "# Ended (code 138)" in first
    assert "resumed from step 3" in second and "# Ended (code 0)" in second
    assert (tmp_path / "log" / "q" / "done.train.1").read_text() == "0\n"
    assert "failed" not in r.stderr


def test_stopped_without_requeue_is_a_stop_not_a_crash(rt, tmp_path, training):
    # --signal without --requeue: the training saves at the grace signal; SLURM refuses the requeue.
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_SIGNAL_WHEN=str(tmp_path / "state" / "running"))
    r = rt.run(["slurm.pl", "--signal", "USR1@90", "JOB=1:1", "log/train.JOB.log", str(training)], cwd=tmp_path,
               env=env)
    assert r.returncode == 138, r.stderr
    assert "1 / 1 job(s) stopped:" in r.stderr and "failed" not in r.stderr
    assert ("job 1 was stopped by SIGUSR1 at step 3 after saving exp/checkpoints/last.ckpt (exit 138); re-run the "
            "same command to resume from that checkpoint") in r.stderr
    assert (tmp_path / "log" / "q" / "done.train.1").read_text() == "stopped 138\n"  # final: SLURM lists no job


def test_a_requeued_run_that_never_ends_is_reported(rt, tmp_path, training):
    # Every run stops and requeues; the stand-in sbatch gives up after 3 restarts, as if the pending job had
    # been cancelled: the last word is "requeued", which slurm.pl must not take for a finished job.
    env = rt.env(extra_path=[rt.fake_slurm], ALWAYS_STOP="1")
    r = rt.run(["slurm.pl", "--requeue", "--poll", "true", "--poll-interval", "0.01", "JOB=1:1", "log/t.JOB.log",
                str(training)], cwd=tmp_path, env=env)
    assert r.returncode == 1
    assert "requeued run never ended" in r.stderr and "re-submit the same command" in r.stderr


def test_run_pl_reports_a_saved_stop_as_stopped_and_exits_128_plus_signal(rt, tmp_path):
    said = ("echo 'audiocl finetune: error: stopped by SIGTERM at step 7 of 50; checkpoint saved to "
            "exp/ctc/checkpoints/last.ckpt. Re-run the same command to resume from there.' >&2; exit 143")
    r = rt.run(["run.pl", "JOB=1:2", "log/s.JOB.log", f"if [ JOB = 1 ]; then {said}; fi"], cwd=tmp_path, env=rt.env())
    assert r.returncode == 143, r.stderr
    assert "1 / 2 job(s) stopped:" in r.stderr
    assert "job 1 was stopped by SIGTERM at step 7 after saving exp/ctc/checkpoints/last.ckpt (exit 143)" in r.stderr
    # The same exit status without the saved checkpoint in the log is a failure like any other.
    r = rt.run(["run.pl", "log/k.log", "kill -TERM $$"], cwd=tmp_path, env=rt.env())
    assert r.returncode == 1
    assert "1 / 1 job(s) failed:" in r.stderr
    assert "was stopped by SIGTERM (exit 143); its log names no saved checkpoint" in r.stderr
    # A crash next to a stop: the launcher failed.
    r = rt.run(["run.pl", "JOB=1:2", "log/m.JOB.log", f"if [ JOB = 1 ]; then {said}; else exit 2; fi"], cwd=tmp_path,
               env=rt.env())
    assert r.returncode == 1 and "2 / 2 job(s) failed:" in r.stderr


def test_run_pl_passes_sigusr1_on_to_its_jobs(rt, tmp_path, training):
    proc = subprocess.Popen([sys.executable, "-m", "audiocl.recipe.launcher", "local", "JOB=1:1", "log/u.JOB.log",
                             str(training)], cwd=tmp_path, env=rt.env(), stderr=subprocess.PIPE, text=True)
    for _ in range(1200):  # until the job is in its loop
        if (tmp_path / "state" / "running").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGUSR1)
    _, err = proc.communicate()
    assert proc.returncode == 138, err
    assert "job 1 was stopped by SIGUSR1 at step 3" in err and "re-run the same command" in err


def test_job_stop_reads_the_line_audiocl_prints(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("# cmd\n# Started at now\n#\nstep 1\naudiocl classify: error: stopped by SIGINT at step 12 of 100; "
                   "checkpoint saved to /e/x/checkpoints/last.ckpt. Re-run the same command to resume from there.\n"
                   "# Accounting: time=3 threads=1\n# Ended (code 130) at now\n")
    stop = job_stop(130, log)
    assert (stop.signal, stop.saved_at_step, stop.checkpoint, stop.requeued) == (
        "SIGINT", 12, "/e/x/checkpoints/last.ckpt", False)
    # SLURM's requeue may end a run that stopped on SIGINT/SIGUSR1 with SIGTERM: the line still tells.
    assert job_stop(143, log).signal == "SIGINT" and job_stop(143, log).saved_at_step == 12
    assert job_stop(1, log) is None and job_stop(137, log) is None
    assert launcher_status([(0, log), (130, log)]) == 130
    assert re.search("after saving", stop.describe(130))
    # Only the last run of a log counts: a requeued run that was killed before saving saved nothing.
    with log.open("a") as fh:
        fh.write("# cmd\n# Started at later (requeued by SLURM, restart 1)\n#\nstep 13\n# Ended (code 143) at now\n")
    assert job_stop(143, log).saved_at_step is None and job_stop(143, log).signal == "SIGTERM"
    assert launcher_status([(143, log)]) == 1
