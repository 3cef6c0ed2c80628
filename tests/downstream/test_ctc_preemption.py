"""Fine-tuning stopped by SIGTERM saves at that step; the same command resumes and ends where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from audiocl.tasks.plots import read_metrics

REPO = Path(__file__).resolve().parents[2]
MAX_STEPS = 10


def _finetune_cmd(train: Path, release: Path, exp: Path) -> list[str]:
    return [sys.executable, "-m", "audiocl", "finetune", "--exp-dir", str(exp), f"upstream.path={release}",
            f"data.train={train}", f"trainer.max_steps={MAX_STEPS}", "trainer.progress_bar=false",
            "trainer.num_threads=1", "trainer.checkpoint_every_n_steps=2", "trainer.log_every_n_steps=1",
            "data.max_batch_seconds=2.5", "model.mask_channel_length=4", "model.freeze_finetune_updates=1"]


def _losses(exp: Path) -> dict[int, float]:
    return {int(r["step"]): r["train/loss"] for r in read_metrics(exp / "log" / "csv") if "train/loss" in r}


@pytest.mark.integration
def test_sigterm_during_finetuning_saves_and_the_rerun_matches(ctc_data, tiny_release, tmp_path):
    train, _ = ctc_data
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref_exp, run_exp = tmp_path / "ref", tmp_path / "run"
    ref = subprocess.Popen(_finetune_cmd(train, tiny_release, ref_exp), cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    victim = subprocess.Popen(_finetune_cmd(train, tiny_release, run_exp), cwd=REPO, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ckpt = run_exp / "checkpoints" / "last.ckpt"
    while not ckpt.exists() and victim.poll() is None:
        time.sleep(0.005)
    victim.send_signal(signal.SIGTERM)
    _, err = victim.communicate()
    assert victim.returncode == 128 + signal.SIGTERM, err[-2000:]
    assert "stopped by SIGTERM at step" in err and "Traceback" not in err
    stopped = torch.load(ckpt, weights_only=True)["global_step"]
    assert 2 <= stopped < MAX_STEPS
    assert not (run_exp / "model").exists()  # no release of an unfinished model

    again = subprocess.run(_finetune_cmd(train, tiny_release, run_exp), cwd=REPO, env=env, capture_output=True,
                           text=True)
    assert again.returncode == 0, again.stderr[-2000:]
    _, ref_err = ref.communicate()
    assert ref.returncode == 0, ref_err[-2000:]
    got, want = _losses(run_exp), _losses(ref_exp)
    assert sorted(got) == sorted(want) == list(range(MAX_STEPS))
    for step in range(MAX_STEPS):
        assert got[step] == pytest.approx(want[step], rel=1e-5, abs=1e-6), step
    assert (run_exp / "model" / "model.safetensors").is_file()
