"""A real training through ``slurm.pl --requeue``: SLURM's grace signal (sent by the stand-in sbatch once the
first checkpoint exists) reaches the training through the launcher's task process, the training saves at that
step, requeues its array task with ``scontrol requeue``, and the requeued run resumes and finishes; slurm.pl
reports success and the job's log holds both runs. This ties the launchers to the stop line that
``audiocl`` really prints (test_launcher_stops.py covers the cases with a stand-in training)."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.integration

# The tiny preset shrunk to a 2 x 32 transformer and 1 s crops; a checkpoint at every step, so that the
# grace signal can come as soon as training runs, and enough steps that it comes long before the end.
STEPS = 40
SSL_OPTS = ["--ssl-type", "wav2vec2", "--config", "configs/pretrain/tiny.yaml",
            "model.encoder_embed_dim=32", "model.encoder_ffn_dim=64", "model.encoder_layers=2",
            "model.encoder_attention_heads=2", "model.conv_pos=8", "model.conv_pos_groups=4", "model.latent_vars=16",
            "model.final_dim=16", "model.num_negatives=10", "data.max_batch_seconds=4.0", "data.crop_seconds=1.0",
            "data.min_seconds=0.5", "schedule.warmup_steps=1", f"trainer.max_steps={STEPS}",
            "trainer.checkpoint_every_n_steps=1", "trainer.num_threads=1", "trainer.log_every_n_steps=1",
            "trainer.progress_bar=false"]


def test_grace_signal_saves_requeues_and_resumes_a_real_training(rt, tmp_path, write_tone):
    d = tmp_path / "data" / "train"
    d.mkdir(parents=True)
    utts = sorted(f"spk{i % 2}-u{i}" for i in range(6))
    for i, utt in enumerate(utts):
        write_tone(f"wav/{utt}.wav", seconds=1.2, seed=i)
    (d / "wav.scp").write_text("".join(f"{u} {tmp_path}/wav/{u}.wav\n" for u in utts))
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (d / "spk2utt").write_text("".join(f"spk{k} {' '.join(u for u in utts if u.startswith(f'spk{k}-'))}\n"
                                       for k in (0, 1)))
    exp = tmp_path / "exp" / "pretrain"
    env = rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_SIGNAL_WHEN=str(exp / "checkpoints" / "last.ckpt"),
                 FAKE_SCONTROL_LOG=str(tmp_path / "scontrol.log"), OMP_NUM_THREADS="1")
    r = rt.run(["slurm.pl", "--requeue", "JOB=1:1", "exp/log/pretrain.JOB.log",
                "audiocl", "pretrain", "--data", str(d), "--exp-dir", str(exp),
                *[a if not a.startswith("configs/") else str(rt.repo / a) for a in SSL_OPTS]],
               cwd=tmp_path, env=env)
    log = (tmp_path / "exp" / "log" / "pretrain.1.log").read_text()
    assert r.returncode == 0, r.stderr + log[-3000:]
    assert (tmp_path / "scontrol.log").read_text() == "scontrol requeue 4242_1\n"
    first, second = log.split("(requeued by SLURM, restart 1)")
    m = re.search(r"stopped by SIGUSR1 at step (\d+) of 40; checkpoint saved to (\S+?); the SLURM job was requeued",
                  first)
    assert m, first[-2000:]
    assert 1 <= int(m.group(1)) < STEPS
    assert "# Ended (code 138)" in first and "# Ended (code 0)" in second
    assert json.loads((exp / "metrics.json").read_text())["global_step"] == STEPS
    assert (tmp_path / "exp" / "log" / "q" / "done.pretrain.1").read_text() == "0\n"
