"""Fixtures of the training tests: a small Kaldi data dir of tones, and the overrides of a very small wav2vec 2.0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

# A wav2vec 2.0 small enough for a CPU test step in well under a second: the BASE conv strides
# (receptive field 400 samples, 20 ms frames) with 32 channels, 2 x 32 transformer, 2 x 16 codebook.
MICRO_W2V = [
    "model.conv_layers=[[32,10,5],[32,3,2],[32,3,2],[32,3,2],[32,3,2],[32,2,2],[32,2,2]]",
    "model.encoder_embed_dim=32", "model.encoder_ffn_dim=64", "model.encoder_layers=2",
    "model.encoder_attention_heads=2", "model.conv_pos=8", "model.conv_pos_groups=4",
    "model.latent_vars=16", "model.final_dim=16", "model.num_negatives=10", "model.mask_prob=0.5",
    "model.mask_length=5",
    "data.max_batch_seconds=4.0", "data.crop_seconds=1.0", "data.min_seconds=0.5", "data.num_buckets=2",
    "schedule.warmup_steps=3", "trainer.num_threads=1", "trainer.progress_bar=false",
    "trainer.log_every_n_steps=1", "trainer.devices=1", "trainer.num_nodes=1", "trainer.strategy=auto",
    "trainer.num_workers=0", "trainer.accelerator=cpu",
]


def tone_waveforms(num_utts: int = 10, seed: int = 0, sample_rate: int = 16000) -> dict[str, np.ndarray]:
    """Noisy harmonic tones with a slow vibrato, 0.8-1.6 s, by utterance id ``spk{i % 2}-u{i:03d}``.

    Generated in index order from one seeded generator, so the same arguments give the same audio.
    """
    rng = np.random.default_rng(seed)
    wavs = {}
    for i in range(num_utts):
        n = int(sample_rate * (0.8 + 0.8 * rng.random()))
        t = np.arange(n) / sample_rate
        f0 = 100 + 150 * rng.random()
        wav = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t * (1 + 0.1 * np.sin(2 * np.pi * 2 * t))) for k in range(1, 6))
        wav = 0.5 * wav / np.abs(wav).max() + 0.02 * rng.standard_normal(n)
        wavs[f"spk{i % 2}-u{i:03d}"] = wav.astype(np.float32)
    return wavs


@pytest.fixture(scope="session")
def make_data_dir(data_dir_builder):
    """Factory ``make_data_dir(root, num_utts=10, seed=0, sample_rate=16000)``: a Kaldi data dir (with
    ``utt2dur``) of :func:`tone_waveforms`, two speakers."""

    def make(root: Path, num_utts: int = 10, seed: int = 0, sample_rate: int = 16000) -> Path:
        wavs = tone_waveforms(num_utts, seed, sample_rate)
        return data_dir_builder(root, {u: dict(spk=u.split("-")[0]) for u in wavs}, files=("utt2dur",),
                                sample_rate=sample_rate, audio=lambda u, s, r: wavs[u])

    return make


@pytest.fixture(scope="session")
def tone_data_dir(tmp_path_factory, make_data_dir) -> Path:
    return make_data_dir(tmp_path_factory.mktemp("tones") / "train")


@pytest.fixture(scope="session")
def micro_run(tone_data_dir, tmp_path_factory) -> Path:
    """A finished 4-step micro wav2vec 2.0 run (exp dir), trained in-process through the CLI."""
    from audiocl.cli.main import main

    exp = tmp_path_factory.mktemp("micro") / "exp"
    rc = main(["pretrain", "--data", str(tone_data_dir), "--exp-dir", str(exp), "--config",
               "configs/pretrain/tiny.yaml", *MICRO_W2V, "trainer.max_steps=4", "trainer.checkpoint_every_n_steps=2"])
    assert rc == 0
    return exp
