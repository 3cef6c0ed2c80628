"""egs/librispeech/run.sh --stage 3 --stop-stage 4 --cmd "slurm.pl ..." on tiny prepared data: the pretraining
and the fine-tuning jobs are submitted through slurm.pl (to the stand-in sbatch of tests/recipes/fake_slurm)
and really train, with a model small enough for a few CPU seconds."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.integration

WORDS = ["HELLO WORLD", "SPEECH DATA", "AUDIO TONE", "TEST SET", "CONTRASTIVE AUDIO", "WORLD TEST"]

# Pretraining: the tiny preset shrunk to a 2 x 32 transformer, 1 s crops, 3 updates.
SSL_OPTS = ("model.encoder_embed_dim=32 model.encoder_ffn_dim=64 model.encoder_layers=2 "
            "model.encoder_attention_heads=2 model.conv_pos=8 model.conv_pos_groups=4 model.latent_vars=16 "
            "model.final_dim=16 model.num_negatives=10 data.max_batch_seconds=4.0 data.crop_seconds=1.0 "
            "data.min_seconds=0.5 schedule.warmup_steps=1 trainer.max_steps=3 trainer.checkpoint_every_n_steps=3 "
            "trainer.num_threads=1 trainer.log_every_n_steps=1")
CTC_OPTS = ("trainer.max_steps=2 trainer.checkpoint_every_n_steps=2 trainer.num_threads=1 trainer.progress_bar=false "
            "data.max_batch_seconds=4.0 model.mask_channel_length=4 model.freeze_finetune_updates=1")


@pytest.fixture
def prepared(tmp_path, write_tone):
    """data/train: six 1.2 s transcribed tones of two speakers, as stage 1 leaves a data dir."""
    d = tmp_path / "data" / "train"
    utts = sorted(f"spk{i % 2}-u{i}" for i in range(len(WORDS)))
    for i, utt in enumerate(utts):
        write_tone(f"wav/{utt}.wav", seconds=1.2, seed=i)
    d.mkdir(parents=True)
    (d / "wav.scp").write_text("".join(f"{u} {tmp_path}/wav/{u}.wav\n" for u in utts))
    (d / "text").write_text("".join(f"{u} {w}\n" for u, w in zip(utts, WORDS)))
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (d / "spk2utt").write_text("".join(f"spk{k} {' '.join(u for u in utts if u.startswith(f'spk{k}-'))}\n"
                                       for k in (0, 1)))
    return tmp_path


def test_stages_3_and_4_submit_their_jobs_through_slurm_pl(rt, prepared):
    tmp_path = prepared
    sbatch_log = tmp_path / "sbatch.log"
    r = rt.run(["bash", str(rt.repo / "egs" / "librispeech" / "run.sh"), "--stage", "3", "--stop-stage", "4",
                "--cmd", "slurm.pl --mem 2G --time 0:10:00",
                "--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp"),
                "--train-set", "train", "--dev-set", "train", "--test-sets", "train", "--nj", "1",
                "--ssl-opts", SSL_OPTS, "--ctc-train-sets", "train", "--ctc-baseline", "false", "--ctc-opts", CTC_OPTS],
               cwd=tmp_path, env=rt.env(extra_path=[rt.fake_slurm], FAKE_SBATCH_LOG=str(sbatch_log)))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    submitted = re.findall(r"^#SBATCH --job-name=(\S+)$", sbatch_log.read_text(), re.M)
    assert submitted == ["pretrain_wav2vec2", "finetune_ctc_pretrained_train"]
    assert sbatch_log.read_text().count("#SBATCH --mem=2G") == 2
    q = tmp_path / "exp" / "log" / "q"
    for job in submitted:  # each ran as an array task: its sbatch script, status 0 and the job's log
        assert (q / f"{job}.sh").is_file() and (q / f"done.{job}.1").read_text() == "0\n"
        assert re.search(r"# Ended \(code 0\)", (tmp_path / "exp" / "log" / f"{job}.log").read_text())

    pretrain = json.loads((tmp_path / "exp" / "pretrain" / "metrics.json").read_text())
    assert pretrain["global_step"] == 3
    assert (tmp_path / "exp" / "pretrain" / "release" / "model.safetensors").is_file()
    finetune = json.loads((tmp_path / "exp" / "ctc_pretrained_train" / "metrics.json").read_text())
    assert finetune["global_step"] == 2
    assert (tmp_path / "exp" / "ctc_pretrained_train" / "model" / "model.safetensors").is_file()
    assert (tmp_path / "exp" / "stages" / "stage4_finetune.done").is_file()
