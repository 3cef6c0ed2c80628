"""Nothing lost when a job is stopped: signals save and resume exactly, corrupt checkpoints fall back, full disks are named."""

from __future__ import annotations

import csv
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning.pytorch as pl
import pytest
import torch

from audiocl.errors import CheckpointError, DiskFullError, StorageError, TrainingInterrupted
from audiocl.tasks.plots import read_metrics
from audiocl.tasks.runner import TrainerConfig, run_training

from .conftest import MICRO_W2V
from .toy import ToyTask

REPO = Path(__file__).resolve().parents[2]


def _items(data_dir: Path):
    from audiocl.data.dataset import AudioDataset

    return AudioDataset.from_data_dir(data_dir, crop_seconds=None).items


def _cfg(max_steps: int, every: int = 0, keep: int = 2) -> TrainerConfig:
    return TrainerConfig(max_steps=max_steps, checkpoint_every_n_steps=every, keep_checkpoints=keep,
                         log_every_n_steps=1, progress_bar=False, accelerator="cpu", devices="1", num_threads=1)


def _train(items, exp: Path, max_steps: int, every: int = 0, callbacks=()):
    torch.manual_seed(0)  # the same initial weights in every run of a test
    task = ToyTask(items, max_steps=max_steps)
    return run_training(task, _cfg(max_steps, every), exp, config={"toy": 1}, callbacks=callbacks)


def _losses(exp: Path) -> dict[int, float]:
    return {int(r["step"]): r["train/loss"] for r in read_metrics(exp / "log" / "csv") if "train/loss" in r}


def _first_step_of_last_segment(exp: Path) -> int:
    """The first step the newest run segment logged: where a resumed run started."""
    segments = sorted((exp / "log" / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    with open(segments[-1], newline="") as fh:
        return min(int(float(row["step"])) for row in csv.DictReader(fh))


class SignalAt(pl.Callback):
    """Send ``signum`` to this process at the end of optimizer step ``step`` (what a scheduler does)."""

    def __init__(self, step: int, signum: int):
        self.step, self.signum = step, signum

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGUSR1])
def test_signal_saves_at_that_step_and_rerun_matches_uninterrupted(tone_data_dir, tmp_path, signum):
    items, max_steps = _items(tone_data_dir), 12
    _train(items, tmp_path / "ref", max_steps)
    step = random.Random(int(signum)).randrange(2, 9)  # no periodic checkpoint: only the signal saves
    with pytest.raises(TrainingInterrupted, match=f"stopped by {signal.Signals(signum).name} at step {step + 1}") as err:
        _train(items, tmp_path / "run", max_steps, callbacks=[SignalAt(step, signum)])
    assert err.value.exit_code == 128 + signum
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == step + 1
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # handlers are put back after training

    _train(items, tmp_path / "run", max_steps)  # the same command again
    assert _first_step_of_last_segment(tmp_path / "run") == step + 1
    ref, got = _losses(tmp_path / "ref"), _losses(tmp_path / "run")
    assert sorted(got) == sorted(ref) == list(range(max_steps))
    for s in range(max_steps):
        assert got[s] == pytest.approx(ref[s], rel=1e-5, abs=1e-6), s


def test_truncated_newest_checkpoint_falls_back_to_the_previous_one(tone_data_dir, tmp_path, caplog):
    items, exp = _items(tone_data_dir), tmp_path / "exp"
    _train(items, exp, 6, every=3)
    ckpts = exp / "checkpoints"
    assert torch.load(ckpts / "last-1.ckpt", weights_only=True)["global_step"] == 3
    data = (ckpts / "last.ckpt").read_bytes()
    (ckpts / "last.ckpt").write_bytes(data[: len(data) // 2])  # a copy cut short
    with caplog.at_level("WARNING"):
        _train(items, exp, 9, every=3)
    assert any("last.ckpt is corrupt" in r.getMessage() for r in caplog.records)
    assert (ckpts / "last.ckpt.corrupt").is_file()
    assert _first_step_of_last_segment(exp) == 3
    assert torch.load(ckpts / "last.ckpt", weights_only=True)["global_step"] == 9


def test_no_good_checkpoint_is_a_named_error_without_traceback(micro_run, tone_data_dir, tmp_path, capsys):
    from audiocl.cli.main import main

    exp = tmp_path / "exp"
    shutil.copytree(micro_run, exp)
    ckpts = sorted((exp / "checkpoints").glob("last*.ckpt"))
    assert [p.name for p in ckpts] == ["last-1.ckpt", "last.ckpt"]
    for ckpt in ckpts:
        ckpt.write_bytes(b"not a checkpoint")
    rc = main(["pretrain", "--data", str(tone_data_dir), "--exp-dir", str(exp), "--config", "configs/pretrain/tiny.yaml",
               *MICRO_W2V, "trainer.max_steps=6", "trainer.checkpoint_every_n_steps=2"])
    err = capsys.readouterr().err
    assert rc == 1, err
    assert "no usable checkpoint" in err and "last.ckpt:" in err and "last-1.ckpt:" in err
    assert "Traceback" not in err


def test_checkpoint_save_on_a_full_disk_is_named_and_keeps_the_previous(tmp_path, small_fs, monkeypatch):
    from audiocl.tasks.checkpointing import AtomicCheckpointIO

    io = AtomicCheckpointIO(keep=2)
    root = small_fs if small_fs is not None else tmp_path
    target = root / "checkpoints" / "last.ckpt"
    io.save_checkpoint({"step": 1, "w": torch.zeros(1000)}, target)
    before = target.read_bytes()
    big = {"step": 2, "w": torch.zeros(1_000_000)}  # 4 MB: more than the 2 MiB file system holds
    if small_fs is None:  # no mount here: make the write fail the way torch's writer does on ENOSPC
        def failing_save(obj, f, *a, **k):
            Path(f).write_bytes(b"x" * 100)
            raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")
        monkeypatch.setattr("audiocl.tasks.atomic_save.torch.save", failing_save)
        monkeypatch.setattr("audiocl.utils.storage.free_bytes", lambda path: 1000)
    with pytest.raises(DiskFullError, match=r"last\.ckpt: not enough disk space") as err:
        io.save_checkpoint(big, target)
    assert err.value.path == str(target)
    assert target.read_bytes() == before  # the previous checkpoint is intact ...
    assert sorted(p.name for p in target.parent.iterdir()) == ["last.ckpt"]  # ... no partial file, history untouched


def test_free_space_is_checked_before_a_checkpoint_of_known_size(tmp_path, monkeypatch):
    from audiocl.tasks.checkpointing import AtomicCheckpointIO

    target = tmp_path / "last.ckpt"
    AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(10_000)}, target)
    size = target.stat().st_size
    writes = []
    monkeypatch.setattr("audiocl.utils.storage.free_bytes", lambda path: size // 2)
    monkeypatch.setattr("audiocl.tasks.atomic_save.torch.save", lambda *a, **k: writes.append(1))
    with pytest.raises(DiskFullError, match="needs about") as err:
        AtomicCheckpointIO().save_checkpoint({"w": torch.zeros(10_000)}, target)
    assert not writes and err.value.needed == size and err.value.free == size // 2


def test_unwritable_exp_dir_fails_before_training(tone_data_dir, tmp_path, monkeypatch):
    import tempfile as tempfile_mod

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(tempfile_mod, "mkstemp", denied)
    task = ToyTask(_items(tone_data_dir), max_steps=2)
    with pytest.raises(StorageError, match=r"exp: cannot write \(Permission denied\)"):
        run_training(task, _cfg(2), tmp_path / "exp", config={"toy": 1})
    assert not (tmp_path / "exp" / "log").exists()  # refused before the trainer was built


def test_no_checkpoints_at_all_starts_fresh(tmp_path):
    from audiocl.tasks.checkpoint_history import choose_resume_checkpoint

    assert choose_resume_checkpoint(tmp_path / "checkpoints" / "last.ckpt", 2) is None
    (tmp_path / "last.ckpt").write_bytes(b"")
    with pytest.raises(CheckpointError, match="tried"):
        choose_resume_checkpoint(tmp_path / "last.ckpt", 2)


@pytest.mark.integration
def test_sigterm_to_the_pretrain_command_exits_143_and_resumes(tone_data_dir, tmp_path):
    cmd = [sys.executable, "-m", "audiocl", "pretrain", "--data", str(tone_data_dir), "--exp-dir",
           str(tmp_path / "exp"), "--config", "configs/pretrain/tiny.yaml", *MICRO_W2V, "trainer.max_steps=12",
           "trainer.checkpoint_every_n_steps=2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = tmp_path / "exp" / "checkpoints" / "last.ckpt"
    while not ckpt.exists() and proc.poll() is None:
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate()
    assert proc.returncode == 143, err[-2000:]
    assert "stopped by SIGTERM at step" in err and "Re-run the same command" in err and "Traceback" not in err
    step = torch.load(ckpt, weights_only=True)["global_step"]
    assert 2 <= step < 12
    again = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    assert torch.load(ckpt, weights_only=True)["global_step"] == 12


def test_under_slurm_a_signal_requeues_the_job(tone_data_dir, tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "scontrol.log"
    (bin_dir / "scontrol").write_text(f'#!/bin/sh\necho "$@" >> {log}\n')
    (bin_dir / "scontrol").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("SLURM_JOB_ID", "4242")
    monkeypatch.delenv("SLURM_ARRAY_JOB_ID", raising=False)
    with pytest.raises(TrainingInterrupted, match="the SLURM job was requeued"):
        _train(_items(tone_data_dir), tmp_path / "exp", 8, callbacks=[SignalAt(3, signal.SIGUSR1)])
    assert log.read_text().split() == ["requeue", "4242"]


class _DiesInWorker(torch.utils.data.Dataset):
    def __init__(self, inner):
        self.inner = inner

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, key):
        if torch.utils.data.get_worker_info() is not None:
            os.kill(os.getpid(), signal.SIGKILL)  # what the out-of-memory killer does
        return self.inner[key]


class _DyingWorkerTask(ToyTask):
    def train_dataloader(self):
        from audiocl.tasks.runner import make_loader

        loader = super().train_dataloader()
        return make_loader(_DiesInWorker(loader.dataset), loader.batch_sampler, loader.collate_fn, num_workers=1)


def test_a_killed_data_loader_worker_is_a_named_error(tone_data_dir, tmp_path):
    from audiocl.errors import TrainingError

    task = _DyingWorkerTask(_items(tone_data_dir), max_steps=2)
    with pytest.raises(TrainingError, match="data-loader worker died.*num_workers"):
        run_training(task, _cfg(2), tmp_path / "exp", config={"toy": 1})
