"""Nothing lost when a job dies: SIGKILL + re-run resumes exactly; a kill while writing never corrupts last.ckpt."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from audiocl.tasks.plots import read_metrics

from .conftest import MICRO_W2V

REPO = Path(__file__).resolve().parents[2]
MAX_STEPS = 16


def _pretrain_cmd(data: Path, exp: Path) -> list[str]:
    return [sys.executable, "-m", "audiocl", "pretrain", "--data", str(data), "--exp-dir", str(exp),
            "--config", "configs/pretrain/tiny.yaml", *MICRO_W2V,
            f"trainer.max_steps={MAX_STEPS}", "trainer.checkpoint_every_n_steps=4"]


def _losses(exp: Path) -> dict[int, float]:
    return {int(r["step"]): r["train/loss"] for r in read_metrics(exp / "log" / "csv") if "train/loss" in r}


@pytest.mark.integration
def test_sigkill_then_rerun_resumes_and_matches_uninterrupted(tone_data_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref_exp, kill_exp = tmp_path / "uninterrupted", tmp_path / "killed"
    ref = subprocess.Popen(_pretrain_cmd(tone_data_dir, ref_exp), cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    victim = subprocess.Popen(_pretrain_cmd(tone_data_dir, kill_exp), cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ckpt = kill_exp / "checkpoints" / "last.ckpt"
    while not ckpt.exists() and victim.poll() is None:
        time.sleep(0.005)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    saved_step = torch.load(ckpt, weights_only=True)["global_step"]
    assert 4 <= saved_step < MAX_STEPS, "the kill must land before the end of training"

    resumed = subprocess.run(_pretrain_cmd(tone_data_dir, kill_exp), cwd=REPO, env=env, capture_output=True,
                             text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, ref_err = ref.communicate()
    assert ref.returncode == 0, ref_err[-3000:]

    # the re-run started at the saved step (its own log segment begins there) ...
    segments = sorted((kill_exp / "log" / "csv").glob("version_*/metrics.csv"), key=lambda p: int(p.parent.name[8:]))
    assert len(segments) == 2  # the killed segment's metrics were flushed with its checkpoint
    with open(segments[-1], newline="") as fh:
        first_resumed = min(int(float(row["step"])) for row in csv.DictReader(fh))
    assert first_resumed == saved_step
    # ... and every step after it, up to the last, has the loss of the uninterrupted run
    ref_loss, got = _losses(ref_exp), _losses(kill_exp)
    assert sorted(got) == sorted(ref_loss) == list(range(MAX_STEPS))
    for step in range(MAX_STEPS):
        assert got[step] == pytest.approx(ref_loss[step], rel=1e-5, abs=1e-6), step
    assert torch.load(ckpt, weights_only=True)["global_step"] == MAX_STEPS


WRITER = textwrap.dedent("""
    import sys, torch
    from audiocl.tasks.atomic_save import atomic_torch_save  # what AtomicCheckpointIO.save_checkpoint calls
    i = 0
    while True:
        i += 1
        atomic_torch_save({"i": i, "blob": torch.full((3_000_000,), float(i))}, sys.argv[1])
""")


def test_kill_during_checkpoint_write_keeps_a_complete_last_ckpt(tmp_path):
    from audiocl.tasks.checkpointing import remove_stale_temporaries

    target = tmp_path / "checkpoints" / "last.ckpt"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], cwd=REPO)
    try:
        killed_mid_write = 0
        while killed_mid_write == 0:
            assert proc.poll() is None, "writer died on its own"
            temps = list(target.parent.glob(".last.ckpt.*.tmp")) if target.parent.exists() else []
            if target.exists() and temps and temps[0].stat().st_size > 100_000:
                proc.send_signal(signal.SIGKILL)  # the next version is half written right now
                proc.wait()
                killed_mid_write = 1
            else:
                time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    leftovers = list(target.parent.glob(".last.ckpt.*.tmp"))
    assert leftovers, "the kill was meant to land while a temporary file was being written"
    ckpt = torch.load(target, weights_only=True)  # the previous complete version
    assert ckpt["blob"].numel() == 3_000_000 and bool((ckpt["blob"] == float(ckpt["i"])).all())
    assert remove_stale_temporaries(target.parent) and not list(target.parent.glob(".last.ckpt.*.tmp"))
