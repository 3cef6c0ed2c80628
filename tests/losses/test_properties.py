"""Relations between objectives and their limits, on random inputs."""

from __future__ import annotations

import math

import pytest
import torch

import audiocl.losses as L
from audiocl.errors import ConfigError


def views(b=12, d=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    z1 = torch.randn(b, d, generator=g, dtype=dtype)
    z2 = z1 + 0.7 * torch.randn(b, d, generator=g, dtype=dtype)
    return z1, z2


@pytest.mark.parametrize("variant", ["out", "in"])
def test_supcon_with_one_positive_per_anchor_equals_infonce(variant):
    sim, pos, valid = L.two_view_pairs(*views())
    assert (pos.sum(1) == 1).all()
    a = L.get("supcon", temperature=0.2, variant=variant)(sim, pos, valid)
    b = L.get("infonce", temperature=0.2)(sim, pos, valid)
    torch.testing.assert_close(a.per_sample, b.per_sample)


def test_supcon_differs_from_infonce_with_several_positives():
    """The 'in' and 'out' variants agree only with one positive; here rows have several."""
    z = torch.randn(12, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    pos, valid = L.label_pairs(labels)
    sim = L.cosine_similarity(z, z)
    out_ = L.get("supcon", variant="out")(sim, pos, valid).loss
    in_ = L.get("supcon", variant="in")(sim, pos, valid).loss
    assert in_ < out_  # Jensen: -log(mean) <= mean(-log)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_dcl_is_at_most_infonce(seed, make_batch):
    sim, pos, valid = make_batch(n=10, m=12, seed=seed)
    for t in (0.05, 0.1, 1.0):
        dcl = L.get("dcl", temperature=t)(sim, pos, valid).per_sample
        nce = L.get("infonce", temperature=t)(sim, pos, valid).per_sample
        assert (dcl <= nce + 1e-12).all()
    assert (dcl < nce).any()


def test_debiased_and_hard_negative_reduce_to_infonce():
    sim, pos, valid = L.two_view_pairs(*views(seed=3))
    info = L.get("infonce", temperature=0.5)(sim, pos, valid).per_sample
    deb0 = L.get("debiased", temperature=0.5, tau_plus=0.0)(sim, pos, valid).per_sample
    hard00 = L.get("hard_negative", temperature=0.5, tau_plus=0.0, beta=0.0)(sim, pos, valid).per_sample
    torch.testing.assert_close(deb0, info)
    torch.testing.assert_close(hard00, info)
    deb = L.get("debiased", temperature=0.5, tau_plus=0.1)(sim, pos, valid).per_sample
    hard_b0 = L.get("hard_negative", temperature=0.5, tau_plus=0.1, beta=0.0)(sim, pos, valid).per_sample
    torch.testing.assert_close(hard_b0, deb)
    hard = L.get("hard_negative", temperature=0.5, tau_plus=0.1, beta=1.0)(sim, pos, valid).per_sample
    assert (hard >= deb - 1e-12).all() and (hard > deb).any()  # up-weighting hard negatives raises the loss


def test_cwcl_with_hard_targets_equals_infonce():
    sim, pos, valid = L.two_view_pairs(*views(seed=4))
    a = L.get("cwcl", temperature=0.1)(sim, pos.double(), valid)
    b = L.get("infonce", temperature=0.1)(sim, pos, valid)
    torch.testing.assert_close(a.per_sample, b.per_sample)


# ---- temperature -> 0 limits -------------------------------------------------------------------
# single positive p, negatives n:
#   t * infonce -> max(0, max_n s_n - s_p)            (hinge on the largest margin violation)
#   t * dcl     -> max_n s_n - s_p                    (no hinge: the positive is not in the denominator)
#   t * nce     -> max(0, -s_p) + sum_n max(0, s_n)   (per-pair hinge at similarity 0; log(kq) vanishes)
#   auc / scale -> mean_n max(0, s_n - s_p)           (scale = 1/t -> inf)
#   supcon, cwcl, debiased(tau_plus=0) behave like infonce.

def _single_positive_batch():
    sim, pos, valid = L.two_view_pairs(*views(b=8, seed=5))
    return sim.detach(), pos, valid


def _pos_and_negs(sim, pos, valid):
    s_p = sim[pos].reshape(-1)  # one positive per row, row order
    negs = sim.masked_fill(~(valid & ~pos), float("nan"))
    return s_p, negs


@pytest.mark.parametrize("t", [1e-3, 1e-4])
def test_zero_temperature_limits(t):
    sim, pos, valid = _single_positive_batch()
    s_p, negs = _pos_and_negs(sim, pos, valid)
    max_neg = torch.nan_to_num(negs, nan=-math.inf).amax(1)
    m = valid.sum(1).max().item()
    tol = t * math.log(m) + 1e-9

    info = t * L.get("infonce", temperature=t)(sim, pos, valid).per_sample
    torch.testing.assert_close(info, (max_neg - s_p).clamp(min=0), atol=tol, rtol=0)

    dcl = t * L.get("dcl", temperature=t)(sim, pos, valid).per_sample
    torch.testing.assert_close(dcl, max_neg - s_p, atol=tol, rtol=0)

    nce = t * L.get("nce", temperature=t)(sim, pos, valid).per_sample
    hinge = (-s_p).clamp(min=0) + torch.nan_to_num(negs, nan=0.0).clamp(min=0).sum(1)
    torch.testing.assert_close(nce, hinge, atol=t * 2 * m * math.log(m) + 1e-9, rtol=0)

    scale = 1.0 / t
    auc = L.get("auc", scale=scale)(sim, pos, valid).per_sample / scale
    pair_hinge = torch.nanmean((negs - s_p[:, None]).clamp(min=0), dim=1)
    torch.testing.assert_close(auc, pair_hinge, atol=2 * t, rtol=0)


def test_low_temperature_is_finite():
    """Tiny temperatures and large logits stay finite in value and gradient for every objective."""
    sim, pos, valid = L.two_view_pairs(*views(b=6, seed=6, dtype=torch.float32))
    sim = sim.detach().requires_grad_(True)
    for name in L.available():
        kw = {"scale": 1e4} if name == "auc" else ({} if name == "multi_similarity" else {"temperature": 1e-4})
        p = pos.float() if name == "cwcl" else pos
        out = L.get(name, **kw)(sim, p, valid)
        (g,) = torch.autograd.grad(out.loss, sim)
        assert torch.isfinite(out.per_sample).all() and torch.isfinite(g).all(), name


# ---- contract ------------------------------------------------------------------------------------

def test_rows_without_positives_give_zero_and_finite_gradients(make_batch):
    sim, pos, valid = make_batch(seed=1)
    valid = valid.clone()
    valid[4] = False  # a row with no valid candidate at all
    for name in L.available():
        p = pos.double() if name == "cwcl" else pos
        out = L.get(name).double()(sim, p, valid)
        assert out.per_sample[2] == 0 and out.per_sample[4] == 0, name
        (g,) = torch.autograd.grad(out.loss, sim)
        assert torch.isfinite(g).all(), name
        assert (g[2] == 0).all() and (g[4] == 0).all(), name
        assert out.per_sample.shape == (sim.shape[0],)


def test_registry_lists_every_objective_and_errors_name_them():
    expected = {"infonce", "nce", "dcl", "debiased", "hard_negative", "supcon", "multi_similarity", "auc", "cwcl"}
    assert expected <= set(L.available())
    with pytest.raises(ConfigError) as err:
        L.get("infonse")
    for name in expected:
        assert name in str(err.value)
    with pytest.raises(ConfigError, match="dcl"):
        L.get("dcl", tau=0.1)
    with pytest.raises(ConfigError, match="temperature"):
        L.get("infonce", temperature=0.0)
    with pytest.raises(ConfigError, match="tau_plus"):
        L.get("debiased", tau_plus=1.0)


def test_soft_targets_only_where_accepted():
    sim, pos, valid = L.two_view_pairs(*views(b=4))
    with pytest.raises(ConfigError, match="cwcl"):
        L.get("infonce")(sim, pos.float(), valid)
    with pytest.raises(ValueError, match="shape"):
        L.get("infonce")(sim, pos[:, :-1], valid)


def test_learnable_temperature_is_trained():
    obj = L.get("infonce", temperature=0.5, learnable_temperature=True)
    assert [n for n, _ in obj.named_parameters()] == ["log_temperature"]
    z1, z2 = views(b=16, dtype=torch.float32)
    opt = torch.optim.SGD(obj.parameters(), lr=0.5)
    before = float(obj.temperature.detach())
    for _ in range(5):
        loss = obj(*L.two_view_pairs(z1, z2)).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(obj.temperature.detach()) != before
    assert list(L.get("infonce").parameters()) == []


def test_two_view_pairs_layout():
    z1, z2 = views(b=3)
    sim, pos, valid = L.two_view_pairs(z1, z2)
    assert sim.shape == (6, 6)
    assert pos.nonzero().tolist() == [[0, 3], [1, 4], [2, 5], [3, 0], [4, 1], [5, 2]]
    assert (~valid).nonzero().tolist() == [[i, i] for i in range(6)]
    torch.testing.assert_close(sim[0, 3], torch.nn.functional.cosine_similarity(z1[0], z2[0], dim=0))


def test_cross_modal_two_sided_is_mean_of_both_directions():
    a, b = views(b=5, seed=7)
    obj = L.get("infonce", temperature=0.1)
    both = L.cross_modal_loss(obj, a, b, two_sided=True)
    ab = L.cross_modal_loss(obj, a, b, two_sided=False)
    ba = L.cross_modal_loss(obj, b, a, two_sided=False)
    torch.testing.assert_close(both.loss, (ab.loss + ba.loss) / 2)
    w = L.cwcl_weights(b)
    assert torch.allclose(w.diagonal(), torch.ones(5, dtype=w.dtype)) and (w >= 0).all() and (w <= 1).all()
    soft = L.cross_modal_loss(L.get("cwcl", temperature=0.1), a, b, weights=w)
    assert torch.isfinite(soft.loss) and not torch.allclose(soft.loss, both.loss)
