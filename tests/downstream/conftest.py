"""Fixtures of the downstream tests: tiny labelled data dirs and a tiny wav2vec 2.0 release."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import pytest

TINY_W2V = dict(
    conv_layers=[[32, 10, 5], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 3, 2], [32, 2, 2], [32, 2, 2]],
    encoder_embed_dim=32, encoder_ffn_dim=64, encoder_layers=2, encoder_attention_heads=2, conv_pos=8,
    conv_pos_groups=4, latent_vars=8, final_dim=16, num_negatives=5, encoder_layerdrop=0.0,
)
STYLE_F0 = {"low": 110.0, "high": 260.0}


def downstream_audio(utt: str, spec: Mapping, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """A harmonic tone (5 harmonics, a little noise) whose pitch tells its style: low, high, else 150 Hz."""
    t = np.arange(int(spec["seconds"] * sample_rate)) / sample_rate
    f0 = STYLE_F0.get(spec["style"], 150.0) * (1 + 0.05 * rng.random())
    wav = sum(0.3 / k * np.sin(2 * np.pi * k * f0 * t) for k in range(1, 6)) + 0.02 * rng.standard_normal(t.shape)
    return (0.5 * wav / max(1e-6, np.abs(wav).max())).astype(np.float32)


@pytest.fixture(scope="session")
def write_data_dir(data_dir_builder):
    """Factory ``write_data_dir(root, {utt: (transcript, seconds, style)}, seed=0)``: one speaker per style."""

    def write(root: Path, utts: Mapping[str, tuple[str, float, str]], seed: int = 0) -> Path:
        spec = {u: dict(text=t, seconds=s, style=st, spk=f"spk_{st}") for u, (t, s, st) in utts.items()}
        return data_dir_builder(root, spec, seed=seed, audio=downstream_audio)

    return write


@pytest.fixture
def ctc_data(tmp_path, write_data_dir):
    """train: normal utterances + an empty transcript + one too short for its labels; test: an OOV char."""
    train = write_data_dir(tmp_path / "train", {
        "a1": ("HELLO WORLD", 1.0, "low"), "a2": ("GOOD MORNING", 1.1, "high"), "a3": ("HELLO THERE", 0.9, "low"),
        "a4": ("GOOD WORLD", 1.0, "high"), "e1": ("", 0.8, "low"),
        "s1": ("A VERY LONG TRANSCRIPT FOR A TINY CLIP", 0.12, "high"),
    })
    test = write_data_dir(tmp_path / "test", {"t1": ("HELLO WÖRLD", 1.0, "low"), "t2": ("GOOD THERE", 0.9, "high"),
                                              "t3": ("HI", 0.01, "low")}, seed=1)
    return train, test


@pytest.fixture
def tiny_release(tmp_path):
    """A randomly initialised (untrained) tiny wav2vec 2.0 saved as a release dir."""
    import torch

    from audiocl.hub.release import save_release
    from audiocl.models import Wav2Vec2Config, Wav2Vec2ForPretraining
    from audiocl.tasks.pretrain_config import PretrainConfig

    torch.manual_seed(0)
    cfg = Wav2Vec2Config(**TINY_W2V)
    model = Wav2Vec2ForPretraining(cfg)
    return save_release(model, PretrainConfig(ssl_type="wav2vec2", model=cfg), tmp_path / "release")
