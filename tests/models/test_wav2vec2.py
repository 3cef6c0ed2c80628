from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audiocl.config import resolve_config
from audiocl.errors import FeatureError, TrainingError
from audiocl import models
from audiocl.models import InputTooShortError, NonFiniteInputError, PretrainOutput
from audiocl.models.wav2vec2 import Wav2Vec2Config, Wav2Vec2ForPretraining
from audiocl.nn.negatives import sample_in_groups


def _batch(seed=0, b=3, t=8000):
    g = torch.Generator().manual_seed(seed)
    wav = 0.3 * torch.randn(b, t, generator=g)
    lengths = torch.tensor([t, int(t * 0.7), int(t * 0.5)][:b])
    return wav, lengths


def test_registry_and_interface(w2v2_cfg):
    cfg_cls, model_cls = models.config_class("wav2vec2"), models.model_class("wav2vec2")
    assert cfg_cls is Wav2Vec2Config and model_cls is Wav2Vec2ForPretraining
    torch.manual_seed(0)
    model = model_cls(w2v2_cfg()).train()
    assert model.min_samples == 400
    wav, lengths = _batch()
    out = model(wav, lengths)
    assert isinstance(out, PretrainOutput) and out.loss.dim() == 0 and torch.isfinite(out.loss)
    assert out.per_sample.shape == (3,) and (out.per_sample > 0).all()
    for key in ("contrastive", "diversity", "feature_pen", "acc", "prob_perplexity", "code_perplexity",
                "gumbel_temperature", "num_masked", "valid_negatives"):
        assert key in out.logs, key
    assert 0 < float(out.logs["valid_negatives"]) <= model.cfg.num_negatives
    expect = out.logs["contrastive"] + 0.1 * out.logs["diversity"] + 10 * out.logs["feature_pen"]
    assert torch.allclose(out.loss.detach(), torch.as_tensor(expect), atol=1e-5)
    out.loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert no_grad == []
    model.set_num_updates(100_000)
    assert math.isclose(model(wav, lengths).logs["gumbel_temperature"], max(2 * 0.999995 ** 100_000, 0.5))


def test_config_from_yaml_overrides_roundtrip():
    cfg = resolve_config(Wav2Vec2Config, overrides=["encoder_layers=3", "loss_kwargs.temperature=0.2"])
    assert cfg.encoder_layers == 3 and cfg.loss_kwargs == {"temperature": 0.2}
    assert Wav2Vec2Config.preset("tiny").encoder_embed_dim == 128


def test_contrastive_logits_equal_naive_cosine_reference(w2v2_cfg):
    """The batched-matmul similarities equal cos(pred_i, target_j) for the sampled negatives."""
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(w2v2_cfg(num_negatives=7)).eval()
    counts = torch.tensor([5, 1, 9])
    b_idx = torch.repeat_interleave(torch.arange(3), counts)
    pred, target = torch.randn(15, 16), torch.randn(15, 16)
    codes = torch.arange(15)[:, None].repeat(1, 2)  # all distinct
    torch.manual_seed(3)
    sim, pos, valid = model._similarities(pred, target, codes, b_idx, counts, 3)
    torch.manual_seed(3)
    neg, neg_valid = sample_in_groups(b_idx, 7)
    cand = torch.cat([torch.arange(15)[:, None], neg], 1)
    ref = F.cosine_similarity(pred[:, None, :], target[cand], dim=-1)
    assert torch.allclose(sim, ref, atol=1e-5)
    assert pos[:, 0].all() and not pos[:, 1:].any()
    assert not valid[5, 1:].any()  # the one-frame utterance has no negative
    assert valid[:5].all() and valid[6:].all()


def test_negative_identical_to_positive_is_excluded(w2v2_cfg):
    # one entry per group: every target is the same codeword, so every negative equals its positive
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(w2v2_cfg(latent_vars=1)).train()
    wav, lengths = _batch()
    out = model(wav, lengths)
    assert out.logs["contrastive"] == 0.0
    assert out.logs["acc"] == 1.0


def test_too_short_input_is_a_clear_error_or_dropped_and_counted(w2v2_cfg):
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(w2v2_cfg())
    wav, lengths = _batch()
    lengths[1] = 399
    with pytest.raises(InputTooShortError, match=r"positions \[1\].*399.*400") as err:
        model(wav, lengths, utt_ids=["a", "b", "c"])
    assert isinstance(err.value, TrainingError) and isinstance(err.value, FeatureError)
    assert "'b'" in str(err.value)
    model_drop = Wav2Vec2ForPretraining(w2v2_cfg(drop_short=True))
    out = model_drop(wav, lengths)
    assert out.logs["dropped_short"] == 1.0 and out.per_sample[1] == 0 and torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model_drop.parameters() if p.grad is not None)


def test_non_finite_input_names_positions(w2v2_cfg):
    model = Wav2Vec2ForPretraining(w2v2_cfg())
    wav, lengths = _batch()
    wav[2, 10] = float("nan")
    wav[0, 5] = float("inf")
    with pytest.raises(NonFiniteInputError, match=r"\[0, 2\]") as err:
        model(wav, lengths)
    assert err.value.positions == [0, 2]
    wav, lengths = _batch()
    wav[2, -1] = float("nan")  # inside the padding: ignored
    assert torch.isfinite(model(wav, lengths).loss)


def test_all_zero_audio_gives_finite_loss_and_gradients(w2v2_cfg):
    torch.manual_seed(0)
    model = Wav2Vec2ForPretraining(w2v2_cfg()).train()
    out = model(torch.zeros(2, 6000), torch.tensor([6000, 4000]))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_extract_layers_shapes(w2v2_cfg):
    model = Wav2Vec2ForPretraining(w2v2_cfg()).eval()
    wav, lengths = _batch()
    layers, flen = model.extract_layers(wav, lengths)
    assert len(layers) == 3 and all(x.shape == (3, 24, 32) for x in layers)
    assert flen.tolist() == [24, 17, 12]


def test_learns_on_a_fixed_batch(w2v2_cfg):
    """A few AdamW steps on one batch of tones raise contrastive accuracy well above chance."""
    torch.manual_seed(0)
    t = torch.arange(6400) / 16000
    wav = torch.stack([torch.sin(2 * math.pi * f * t * (1 + 0.5 * t)) * 0.5 for f in (150, 220, 330)])
    wav = wav + 0.01 * torch.randn_like(wav)
    model = Wav2Vec2ForPretraining(w2v2_cfg(dropout=0.0, attention_dropout=0.0, dropout_input=0.0,
                                            dropout_features=0.0, num_negatives=10)).train()
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    first = None
    for step in range(80):
        model.set_num_updates(step)
        out = model(wav)
        first = first if first is not None else out.logs["contrastive"]
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        torch.manual_seed(1)
        final = model(wav)
    assert final.logs["contrastive"] < 0.7 * float(first)
    assert final.logs["acc"] > 3 / 11  # chance is 1/11


def test_bf16_autocast_forward_backward(w2v2_cfg, cpc_cfg):
    """The mixed-precision path (what ``--dtype bf16`` / bf16-mixed training use) stays finite."""
    from audiocl.models.cpc import CPCForPretraining

    torch.manual_seed(0)
    wav, lengths = _batch()
    for model in (Wav2Vec2ForPretraining(w2v2_cfg()), CPCForPretraining(cpc_cfg())):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = model(wav, lengths)
        assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
        out.loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
