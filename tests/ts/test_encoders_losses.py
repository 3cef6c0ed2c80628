"""Encoders (masks, NaN, variable length) and the TS2Vec hierarchical / NT-Xent losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from audiocl.errors import ConfigError
from audiocl.losses import get
from audiocl.losses.ts_hierarchical import hierarchical_contrastive_loss, nt_xent_loss
from audiocl.nn.ts_encoders import TSEncoderConfig, build_ts_encoder, masked_max_pool


@pytest.mark.parametrize("name", ["dilated_cnn", "resnet1d", "transformer"])
def test_encoders_shape_nan_and_padding(name):
    torch.manual_seed(0)
    enc = build_ts_encoder(TSEncoderConfig(name=name, hidden=8, repr_dim=12, depth=2), in_channels=3).eval()
    x = torch.randn(4, 20, 3)
    x[0, 5, 1] = float("nan")  # a missing value inside a series
    x[1, 15:] = float("nan")  # a shorter series (padding)
    pad = torch.isnan(x).all(-1)
    z = enc(x, pad)
    assert z.shape == (4, 20, 12)
    assert torch.isfinite(z).all()
    assert (z[1, 15:] == 0).all()  # padded steps are zeroed at the output


def test_transformer_output_does_not_depend_on_padding():
    torch.manual_seed(0)
    enc = build_ts_encoder(TSEncoderConfig(name="transformer", hidden=8, repr_dim=6, depth=2), 2).eval()
    x = torch.randn(1, 10, 2)
    xp = torch.cat([x, torch.full((1, 7, 2), float("nan"))], 1)
    z = enc(x)
    zp = enc(xp, torch.isnan(xp).all(-1))
    assert torch.allclose(z, zp[:, :10], atol=1e-5)
    assert torch.allclose(masked_max_pool(z), masked_max_pool(zp, torch.isnan(xp).all(-1)), atol=1e-5)


def test_timestamp_mask_changes_output_and_unknown_encoder_errors():
    torch.manual_seed(0)
    enc = build_ts_encoder(TSEncoderConfig(hidden=8, repr_dim=8, depth=2), 1).eval()
    x = torch.randn(2, 16, 1)
    m = torch.zeros(2, 16, dtype=torch.bool)
    m[:, 3] = True
    assert not torch.allclose(enc(x), enc(x, None, m))
    with pytest.raises(ConfigError, match="unknown time-series encoder"):
        build_ts_encoder(TSEncoderConfig(name="lstm"), 1)
    with pytest.raises(ValueError, match="expected input"):
        enc(torch.randn(2, 16, 3))


def _reference_ts2vec(z1, z2, alpha=0.5):
    """Independent loop implementation of the paper's loss (softmax over dot products, self excluded)."""

    def inst(a, b):
        bsz, t, _ = a.shape
        total = 0.0
        for s in range(t):
            z = torch.cat([a[:, s], b[:, s]], 0)
            sim = z @ z.T
            for i in range(2 * bsz):
                j = (i + bsz) % (2 * bsz)
                others = [k for k in range(2 * bsz) if k != i]
                total += -(sim[i, j] - torch.logsumexp(sim[i, others], 0))
        return total / (2 * bsz * t)

    def temp(a, b):
        bsz, t, _ = a.shape
        total = 0.0
        for n in range(bsz):
            z = torch.cat([a[n], b[n]], 0)
            sim = z @ z.T
            for i in range(2 * t):
                j = (i + t) % (2 * t)
                others = [k for k in range(2 * t) if k != i]
                total += -(sim[i, j] - torch.logsumexp(sim[i, others], 0))
        return total / (2 * t * bsz)

    loss, d = 0.0, 0
    while z1.shape[1] > 1:
        loss = loss + alpha * inst(z1, z2) + (1 - alpha) * temp(z1, z2)
        d += 1
        z1 = F.max_pool1d(z1.transpose(1, 2), 2).transpose(1, 2)
        z2 = F.max_pool1d(z2.transpose(1, 2), 2).transpose(1, 2)
    if z1.shape[1] == 1:
        loss = loss + alpha * inst(z1, z2)
        d += 1
    return loss / d


def test_hierarchical_loss_matches_reference_and_per_sample_mean():
    torch.manual_seed(0)
    z1, z2 = torch.randn(3, 6, 4), torch.randn(3, 6, 4)
    out = hierarchical_contrastive_loss(z1, z2)
    ref = _reference_ts2vec(z1, z2)
    assert math.isclose(out.loss.item(), float(ref), rel_tol=1e-5)
    assert out.per_sample.shape == (3,)
    assert math.isclose(out.per_sample.mean().item(), out.loss.item(), rel_tol=1e-6)


def test_hierarchical_loss_ignores_invalid_steps_and_takes_any_objective():
    torch.manual_seed(0)
    z1, z2 = torch.randn(4, 8, 5), torch.randn(4, 8, 5)
    v = torch.ones(4, 8, dtype=torch.bool)
    v[0, 6:] = False
    a = hierarchical_contrastive_loss(z1, z2, v, v)
    z1b, z2b = z1.clone(), z2.clone()
    z1b[0, 6:] = 100.0  # garbage at padded steps must not matter
    z2b[0, 6:] = -100.0
    b = hierarchical_contrastive_loss(z1b, z2b, v, v)
    assert torch.allclose(a.per_sample, b.per_sample, atol=1e-5)
    dcl = hierarchical_contrastive_loss(z1, z2, objective=get("dcl"), similarity="cosine")
    assert torch.isfinite(dcl.loss) and not torch.allclose(dcl.loss, a.loss)
    (z1r := z1.clone().requires_grad_()).retain_grad()
    hierarchical_contrastive_loss(z1r, z2).loss.backward()
    assert torch.isfinite(z1r.grad).all()


def test_nt_xent_per_sample_and_aligned_views_score_lower():
    torch.manual_seed(0)
    h = torch.randn(6, 16)
    aligned = nt_xent_loss(h, h + 0.01 * torch.randn(6, 16))
    random = nt_xent_loss(h, torch.randn(6, 16))
    assert aligned.per_sample.shape == (6,)
    assert aligned.loss < random.loss


def test_masked_max_pool_steps_ignores_invalid_steps():
    from audiocl.losses.ts_hierarchical import masked_max_pool_steps

    z = torch.tensor([[[1.0], [5.0], [2.0], [-1.0], [-3.0], [4.0], [9.0]]])  # (1, 7, 1)
    valid = torch.tensor([[True, False, True, True, True, False, True]])
    zp, vp = masked_max_pool_steps(z, valid, 3)  # the 7th step is a remainder and is dropped
    assert zp.flatten().tolist() == [2.0, -1.0] and vp.flatten().tolist() == [True, True]
    zp, vp = masked_max_pool_steps(z, torch.tensor([[False, False, True, True, True, True, True]]), 2)
    assert zp.flatten().tolist() == [0.0, 2.0, 4.0] and vp.flatten().tolist() == [False, True, True]


@pytest.mark.parametrize("similarity,unit,alpha,tau", [("dot", 0, 0.5, 1.0), ("cosine", 1, 0.5, 0.2), ("dot", 0, 0.0, 1.0),
                                                     ("dot", 0, 1.0, 1.0)])
def test_dense_infonce_path_equals_the_masked_path(similarity, unit, alpha, tau):
    """All steps valid + InfoNCE takes the batched path; it must give the masked path's per-sample
    losses and gradients (``with_logs`` forces the masked path)."""
    torch.manual_seed(0)
    z1, z2 = torch.randn(5, 37, 6, requires_grad=True), torch.randn(5, 37, 6, requires_grad=True)
    kw = dict(objective=get("infonce", temperature=tau), alpha=alpha, temporal_unit=unit, similarity=similarity)
    dense = hierarchical_contrastive_loss(z1, z2, **kw)
    masked = hierarchical_contrastive_loss(z1, z2, **kw, with_logs=True)
    assert "instance_acc" in masked.logs or alpha == 0  # the masked path really ran
    torch.testing.assert_close(dense.per_sample, masked.per_sample, rtol=1e-5, atol=1e-5)
    assert dense.logs["levels"] == masked.logs["levels"] == 6  # lengths 37, 18, 9, 4, 2, 1
    g_dense = torch.autograd.grad(dense.loss, (z1, z2))
    g_masked = torch.autograd.grad(masked.loss, (z1, z2))
    for a, b in zip(g_dense, g_masked):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("n,tile", [(1, 4), (7, 3), (12, 4), (13, 256)])
def test_add_transpose_in_place_is_g_plus_its_transpose(n, tile):
    """Tiles that do not divide ``N``, one tile, and a single element."""
    from audiocl.losses.ts_hierarchical import _add_transpose_

    g = torch.randn(3, n, n)
    want = g + g.transpose(1, 2)
    got = _add_transpose_(g, tile)
    assert got.data_ptr() == g.data_ptr()
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_dense_infonce_path_with_far_apart_logits():
    """Logits spread over hundreds (unnormalised dot products of long vectors): the dense path's floor on
    ``logit - row max`` keeps its loss and gradients as close to a float64 computation as without it."""
    torch.manual_seed(1)
    z1, z2 = 6 * torch.randn(2, 40, 16), 6 * torch.randn(2, 40, 16)
    sims = torch.cat([z1, z2], 1) @ torch.cat([z1, z2], 1).transpose(1, 2)
    assert float((sims.amax(-1, keepdim=True) - sims).max()) > 300

    def run(a, b):
        a, b = a.clone().requires_grad_(), b.clone().requires_grad_()
        out = hierarchical_contrastive_loss(a, b)
        return out.per_sample, torch.autograd.grad(out.loss, (a, b))

    per, grads = run(z1, z2)
    per64, grads64 = run(z1.double(), z2.double())
    torch.testing.assert_close(per.double(), per64, rtol=1e-5, atol=1e-5)
    for g, g64 in zip(grads, grads64):
        torch.testing.assert_close(g.double(), g64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("n,tile", [(5, 8), (8, 8), (13, 4), (12, 4)])
def test_gram_by_tiles_is_z_times_z_transposed(n, tile):
    from audiocl.losses.ts_hierarchical import _gram

    z = torch.randn(3, n, 5, dtype=torch.float64)
    torch.testing.assert_close(_gram(z, tile), z @ z.transpose(1, 2))


def test_dense_infonce_path_on_a_long_crop_and_no_second_backward():
    """A crop long enough that the temporal Gram matrix spans several tiles (2 x 150 steps) gives the
    masked path's loss and gradients; the backward reuses the forward's buffer in place, so asking for
    it twice through one graph raises instead of returning a wrong gradient."""
    torch.manual_seed(0)
    z1, z2 = torch.randn(3, 150, 8, requires_grad=True), torch.randn(3, 150, 8, requires_grad=True)
    dense = hierarchical_contrastive_loss(z1, z2)
    masked = hierarchical_contrastive_loss(z1, z2, with_logs=True)
    torch.testing.assert_close(dense.per_sample, masked.per_sample, rtol=1e-5, atol=1e-5)
    g_dense = torch.autograd.grad(dense.loss, (z1, z2), retain_graph=True)
    g_masked = torch.autograd.grad(masked.loss, (z1, z2))
    for a, b in zip(g_dense, g_masked):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        torch.autograd.grad(dense.loss, (z1, z2))
