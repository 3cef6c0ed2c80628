from __future__ import annotations

import pytest
import torch

from audiocl import models
from audiocl.models import InputTooShortError, NonFiniteInputError
from audiocl.models.cpc import CPCConfig, CPCForPretraining


def _batch(b=3, t=4000):
    g = torch.Generator().manual_seed(0)
    return 0.3 * torch.randn(b, t, generator=g), torch.tensor([t, 3000, 2000][:b])


@pytest.mark.parametrize("context", ["gru", "lstm", "transformer"])
def test_cpc_forward_backward_and_causality(cpc_cfg, context):
    assert (models.config_class("cpc"), models.model_class("cpc")) == (CPCConfig, CPCForPretraining)
    torch.manual_seed(0)
    model = CPCForPretraining(cpc_cfg(context=context))
    assert model.min_samples == 465
    wav, lengths = _batch()
    out = model(wav, lengths, speakers=torch.tensor([7, 3, 7]))
    assert torch.isfinite(out.loss) and out.per_sample.shape == (3,)
    assert {"acc", "acc_step1", "acc_step4", "contrastive"} <= set(out.logs)
    out.loss.backward()
    assert model.predictor.weight.grad.abs().sum() > 0
    assert model.encoder.convs[0].weight.grad.abs().sum() > 0
    model.set_num_updates(10)  # no-op, part of the interface
    model.eval()
    with torch.no_grad():
        (z, c), flen = model.extract_layers(wav[:1], lengths[:1])
        changed = wav[:1].clone()
        changed[:, 3000:] = 0.9
        (_, c2), _ = model.extract_layers(changed, lengths[:1])
    assert flen.tolist() == [25] and z.shape == (1, 25, 32) and c.shape == (1, 25, 32)
    # the context network is causal: frames before the change are untouched
    assert torch.allclose(c[:, :15], c2[:, :15], atol=1e-5)
    assert not torch.allclose(c[:, -3:], c2[:, -3:], atol=1e-3)


@pytest.mark.parametrize("negatives", ["same_speaker", "within_utterance", "any"])
def test_cpc_negative_modes_give_finite_loss(cpc_cfg, negatives):
    torch.manual_seed(0)
    model = CPCForPretraining(cpc_cfg(negatives=negatives, similarity="cosine", loss_kwargs={"temperature": 0.1}))
    wav, lengths = _batch()
    out = model(wav, lengths, speakers=torch.tensor([0, 1, 0]))
    assert torch.isfinite(out.loss) and out.loss > 0


def test_cpc_bad_input(cpc_cfg):
    model = CPCForPretraining(cpc_cfg())
    wav, lengths = _batch()
    lengths[2] = 100
    with pytest.raises(InputTooShortError, match=r"positions \[2\]"):
        model(wav, lengths)
    wav, lengths = _batch()
    wav[1, 0] = float("nan")
    with pytest.raises(NonFiniteInputError, match=r"\[1\]"):
        model(wav, lengths)
    out = model(torch.zeros(2, 3000))
    assert torch.isfinite(out.loss)
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
