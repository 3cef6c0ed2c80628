"""run.pl / slurm.pl (audiocl.recipe.launcher): JOB substitution, per-job logs, failures named, SLURM arrays."""

from __future__ import annotations

import re

import pytest

from audiocl.errors import RecipeError
from audiocl.recipe.jobs import parse_args


def test_parse_range_log_and_kaldi_quoting():
    jobs = parse_args(["--max-jobs-run", "2", "--mem", "4G", "JOB=2:4", "log/x.JOB.log",
                       "echo", "a b", "split4/JOB", "|", "wc"])
    assert (jobs.var, jobs.start, jobs.end, jobs.job_ids) == ("JOB", 2, 4, [2, 3, 4])
    assert jobs.options.max_jobs_run == 2 and jobs.options.mem == "4G"
    assert jobs.command == "echo 'a b' split4/JOB | wc"
    assert jobs.command_for(3) == "echo 'a b' split4/3 | wc"
    assert jobs.log_for(3).name == "x.3.log"


@pytest.mark.parametrize("argv, message", [
    (["--bogus", "1", "JOB=1:2", "l.JOB.log", "true"], "unknown option --bogus"),
    (["JOB=3:1", "l.JOB.log", "true"], "empty job range"),
    (["JOB=1-4", "l.JOB.log", "true"], "malformed job range"),
    (["JOB=1:2", "l.log", "true"], "must contain JOB"),
    (["JOB=1:2", "l.JOB.log"], "need a log file and a command"),
    (["--max-jobs-run", "x", "JOB=1:2", "l.JOB.log", "true"], "bad value"),
])
def test_parse_errors_are_clear(argv, message):
    with pytest.raises(RecipeError, match=message):
        parse_args(argv)


def test_run_pl_runs_all_jobs_with_one_log_each(rt, tmp_path):
    r = rt.run("run.pl JOB=1:3 exp/log/hello.JOB.log echo hello JOB \\> out.JOB.txt \\&\\& echo done JOB",
               cwd=tmp_path, env=rt.env())
    assert r.returncode == 0, r.stderr
    for j in (1, 2, 3):
        assert (tmp_path / f"out.{j}.txt").read_text() == f"hello {j}\n"
        log = (tmp_path / f"exp/log/hello.{j}.log").read_text().splitlines()
        assert log[0] == f"# echo hello {j} > out.{j}.txt && echo done {j}"
        assert log[1].startswith("# Started at ")
        assert f"done {j}" in log
        assert log[-2].startswith("# Accounting: time=")
        assert re.match(r"# Ended \(code 0\) at ", log[-1])


def test_run_pl_failure_names_each_failed_job_and_its_log(rt, tmp_path):
    r = rt.run("run.pl JOB=1:4 log/t.JOB.log 'echo reason JOB; test $((JOB % 2)) -eq 1'", cwd=tmp_path, env=rt.env())
    assert r.returncode == 1
    assert "2 / 4 job(s) failed" in r.stderr
    assert f"job 2 exited with code 1, log is in {tmp_path}/log/t.2.log" in r.stderr
    assert f"job 4 exited with code 1, log is in {tmp_path}/log/t.4.log" in r.stderr
    assert "job 1 " not in r.stderr and "job 3 " not in r.stderr
    assert "    | reason 2\n" in r.stderr and "    | reason 4\n" in r.stderr  # the end of each failed log
    assert "# Ended (code 1)" in (tmp_path / "log/t.4.log").read_text()


def test_run_pl_runs_jobs_in_parallel(rt, tmp_path):
    # Job 1 can only finish once job 2 has started: impossible unless they run at the same time.
    cmd = ("if [ JOB = 1 ]; then for i in $(seq 400); do [ -e started.2 ] && exit 0; sleep 0.05; done; exit 1; "
           "else touch started.JOB; fi")
    r = rt.run(["run.pl", "JOB=1:2", "log/p.JOB.log", cmd], cwd=tmp_path, env=rt.env())
    assert r.returncode == 0, r.stderr + (tmp_path / "log/p.1.log").read_text()


def test_run_pl_max_jobs_run_limits_concurrency(rt, tmp_path):
    # mkdir is atomic: it fails if another job holds the lock, which would mean two jobs ran at once.
    cmd = "mkdir lock && sleep 0.1 && rmdir lock"
    r = rt.run(["run.pl", "--max-jobs-run", "1", "JOB=1:4", "log/m.JOB.log", cmd], cwd=tmp_path, env=rt.env())
    assert r.returncode == 0, r.stderr


def test_run_pl_single_job_without_range(rt, tmp_path):
    r = rt.run(["run.pl", "log/one.log", "echo", "JOB stays"], cwd=tmp_path, env=rt.env())
    assert r.returncode == 0
    assert "JOB stays" in (tmp_path / "log/one.log").read_text()


def test_slurm_pl_submits_an_array_and_checks_every_task(rt, tmp_path):
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_LOG=str(tmp_path / "sbatch.log"))
    r = rt.run(["slurm.pl", "--mem", "2G", "--gpu", "1", "--max-jobs-run", "2", "JOB=1:3", "exp/log/s.JOB.log",
                "echo task JOB on $SLURM_ARRAY_TASK_ID > res.JOB"], cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    submitted = (tmp_path / "sbatch.log").read_text()
    assert "wait=true" in submitted
    for line in ("#SBATCH --array=1-3%2", "#SBATCH --mem=2G", "#SBATCH --gres=gpu:1",
                 f"#SBATCH --output={tmp_path}/exp/log/q/s.%a.out"):
        assert line in submitted
    for j in (1, 2, 3):
        assert (tmp_path / f"res.{j}").read_text() == f"task {j} on {j}\n"
        log = (tmp_path / f"exp/log/s.{j}.log").read_text()
        assert log.startswith(f"# echo task {j} on $SLURM_ARRAY_TASK_ID > res.{j}\n# Started at ")
        assert "# Ended (code 0)" in log


def test_slurm_pl_names_failed_and_lost_tasks(rt, tmp_path):
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_LOSE="3")
    r = rt.run(["slurm.pl", "JOB=1:3", "log/f.JOB.log", "test JOB -ne 1"], cwd=tmp_path, env=env)
    assert r.returncode == 1
    assert "2 / 3 job(s) failed" in r.stderr
    assert f"job 1 exited with code 1, log is in {tmp_path}/log/f.1.log" in r.stderr
    assert "job 3 left no exit status" in r.stderr and "q/f.3.out" in r.stderr
    assert "job 2 " not in r.stderr


def test_slurm_pl_poll_mode(rt, tmp_path):
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_LOG=str(tmp_path / "sbatch.log"))
    r = rt.run(["slurm.pl", "--poll", "true", "--poll-interval", "0.01", "JOB=1:2", "log/p.JOB.log", "true"],
               cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert "parsable=true" in (tmp_path / "sbatch.log").read_text()
    assert (tmp_path / "log/q/done.p.2").read_text().strip() == "0"


def test_slurm_pl_without_sbatch_is_a_clear_error(rt, tmp_path):
    env = rt.env()
    env["PATH"] = ":".join(p for p in env["PATH"].split(":") if "fake_slurm" not in p and p not in ("/usr/bin", "/bin")
                           ) + ":/nonexistent"
    r = rt.run(["/bin/bash", str(rt.utils / "slurm.pl"), "JOB=1:2", "log/x.JOB.log", "true"], cwd=tmp_path, env=env)
    assert r.returncode == 1 and "sbatch not found" in r.stderr


def test_run_pl_killed_kills_its_jobs_and_logs_it(rt, tmp_path):
    import signal
    import subprocess
    import sys
    import time

    proc = subprocess.Popen([sys.executable, "-m", "audiocl.recipe.launcher", "local", "JOB=1:2", "log/k.JOB.log",
                             "touch started.JOB; sleep 3; touch survived.JOB"], cwd=tmp_path, env=rt.env(),
                            stderr=subprocess.PIPE, text=True)
    for _ in range(600):  # wait until both jobs run
        if (tmp_path / "started.1").exists() and (tmp_path / "started.2").exists():
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode == 130 and "interrupted" in err
    time.sleep(3.5)  # longer than the jobs would have taken
    assert not list(tmp_path.glob("survived.*"))
    assert "# Ended (code 143)" in (tmp_path / "log/k.1.log").read_text()


def test_slurm_pl_rejected_submission_is_one_clear_error(rt, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\necho 'sbatch: error: invalid partition specified: gpux' >&2\nexit 1\n")
    (bin_dir / "sbatch").chmod(0o755)
    r = rt.run(["slurm.pl", "--partition", "gpux", "JOB=1:2", "log/x.JOB.log", "true"], cwd=tmp_path,
               env=rt.env(extra_path=[bin_dir]))
    assert r.returncode == 1
    assert "sbatch failed (exit 1): sbatch: error: invalid partition specified: gpux" in r.stderr
    assert "#SBATCH --partition=gpux" in (tmp_path / "log/q/x.sh").read_text()
