"""The TS2Vec training step's fast paths give what the plain per-view calls give.

``DilatedConvEncoder.encode_crops`` (both views in one pass, the pointwise tail on the overlap only),
the hand-written InfoNCE rows of the hierarchical loss, and the model's step that uses them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiocl.losses import get
from audiocl.losses.ts_hierarchical import hierarchical_contrastive_loss
from audiocl.nn.ts_encoders import DilatedConvEncoder, TSEncoderConfig, empty_steps
from audiocl.ts.augment import OverlapCrop, timestamp_mask
from audiocl.ts.config import TSContrastiveConfig
from audiocl.ts.model import TSContrastiveModel


def _grads(out: torch.Tensor, params) -> list[torch.Tensor]:
    return list(torch.autograd.grad(out.square().sum(), params))


@pytest.mark.parametrize("l1,l2,s1,s2,n,depth", [
    (20, 15, 8, 0, 12, 10),   # unequal views, the last six blocks pointwise
    (30, 30, 5, 0, 25, 4),    # equal views, no re-zeroing needed
    (17, 40, 0, 3, 14, 5),    # the second view longer
    (70, 50, 30, 0, 40, 3),   # no block pointwise: the whole network on the padded stack
])
def test_encode_crops_equals_the_per_view_calls(l1, l2, s1, s2, n, depth):
    torch.manual_seed(0)
    enc = DilatedConvEncoder(2, hidden=8, repr_dim=12, depth=depth).eval()
    x1, x2 = torch.randn(3, l1, 2), torch.randn(3, l2, 2)
    x1[0, 2] = float("nan")  # a missing step
    p1, p2 = torch.rand(3, l1) < 0.1, torch.zeros(3, l2, dtype=torch.bool)
    m1, m2 = torch.rand(3, l1) < 0.5, torch.rand(3, l2) < 0.5
    params = list(enc.parameters())
    ref = torch.cat([enc(x1, p1, m1)[:, s1:s1 + n], enc(x2, p2, m2)[:, s2:s2 + n]])
    got = enc.encode_crops([(x1, p1, m1), (x2, p2, m2)], [s1, s2], n)
    assert got.shape == (6, n, 12)
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)
    for a, b in zip(_grads(got, params), _grads(ref, params)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_dense_loss_with_a_learnable_temperature_matches_the_masked_path():
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 9, 5, requires_grad=True), torch.randn(4, 9, 5, requires_grad=True)
    obj = get("infonce", temperature=0.5, learnable_temperature=True)
    dense = hierarchical_contrastive_loss(z1, z2, objective=obj)
    masked = hierarchical_contrastive_loss(z1, z2, objective=obj, with_logs=True)
    torch.testing.assert_close(dense.per_sample, masked.per_sample, rtol=1e-5, atol=1e-5)
    g_dense = torch.autograd.grad(dense.loss, (z1, obj.log_temperature))
    g_masked = torch.autograd.grad(masked.loss, (z1, obj.log_temperature))
    assert g_dense[1].abs() > 0
    for a, b in zip(g_dense, g_masked):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


def test_ts2vec_step_equals_the_two_encoder_calls():
    """The model's step (crops, masks, one encoder pass, loss) against encoding each view whole and
    cutting the overlap, with dropout off so both see the same function."""
    cfg = TSContrastiveConfig(seed=0, encoder=TSEncoderConfig(hidden=8, repr_dim=16, depth=6, dropout=0.0))
    model = TSContrastiveModel(cfg, 2).train()
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((5, 40, 2)).astype(np.float32))
    for seed in range(4):
        got = model.loss_output(x, np.random.default_rng(seed), torch.Generator().manual_seed(seed)).per_sample
        rng, gen = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
        v1, v2, crop = OverlapCrop(cfg.temporal_unit)(x, rng)
        pad1, pad2 = empty_steps(v1), empty_steps(v2)
        m1, m2 = timestamp_mask(pad1.shape, cfg.mask_prob, gen), timestamp_mask(pad2.shape, cfg.mask_prob, gen)
        z1, z2 = model.encoder(v1, pad1, m1)[:, -crop:], model.encoder(v2, pad2, m2)[:, :crop]
        ref = hierarchical_contrastive_loss(z1, z2, objective=model.objective, with_logs=True).per_sample
        torch.testing.assert_close(got, ref, rtol=1e-4, atol=1e-5)
