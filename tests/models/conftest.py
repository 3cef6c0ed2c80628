from __future__ import annotations

import pytest
import torch

from audiocl.models.cpc import CPCConfig
from audiocl.models.wav2vec2 import Wav2Vec2Config


def micro_w2v2(**kw) -> Wav2Vec2Config:
    """A few-thousand-parameter wav2vec 2.0 with the BASE strides (320x, 400-sample receptive field)."""
    base = dict(
        conv_layers=[[32, 10, 5]] + [[32, 3, 2]] * 4 + [[32, 2, 2]] * 2,
        encoder_embed_dim=32, encoder_ffn_dim=64, encoder_layers=2, encoder_attention_heads=4,
        conv_pos=8, conv_pos_groups=4, latent_vars=16, final_dim=16, num_negatives=10,
        encoder_layerdrop=0.0,
    )
    base.update(kw)
    return Wav2Vec2Config(**base)


def micro_cpc(**kw) -> CPCConfig:
    base = dict(encoder_dim=32, context_dim=32, num_predicts=4, num_negatives=16)
    base.update(kw)
    return CPCConfig(**base)


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared, loaded CPU
    (two OpenMP threads thrash when the machine is oversubscribed)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def w2v2_cfg():
    return micro_w2v2


@pytest.fixture
def cpc_cfg():
    return micro_cpc
