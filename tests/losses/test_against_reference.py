"""Every objective equals its loop reference (tests/losses/reference.py) in value and gradient."""

from __future__ import annotations

import pytest
import torch

import audiocl.losses as L


def _compare(out, ref_result, sim, atol=1e-9):
    ref_per, ref_loss = ref_result
    ref_per = torch.stack(ref_per)
    torch.testing.assert_close(out.per_sample, ref_per, atol=atol, rtol=1e-7)
    torch.testing.assert_close(out.loss, ref_loss, atol=atol, rtol=1e-7)
    (g,) = torch.autograd.grad(out.loss, sim, retain_graph=True)
    (g_ref,) = torch.autograd.grad(ref_loss, sim, allow_unused=False)
    torch.testing.assert_close(g, g_ref, atol=atol, rtol=1e-6)
    assert torch.isfinite(g).all()


CASES = {
    "infonce": (dict(temperature=0.2), lambda r, s, p, v: r.infonce(s, p, v, 0.2)),
    "supcon": (dict(temperature=0.3), lambda r, s, p, v: r.infonce(s, p, v, 0.3)),
    "supcon_in": (dict(temperature=0.3, variant="in"), lambda r, s, p, v: r.supcon_in(s, p, v, 0.3)),
    "dcl": (dict(temperature=0.2), lambda r, s, p, v: r.dcl(s, p, v, 0.2)),
    "debiased": (dict(temperature=0.5, tau_plus=0.1), lambda r, s, p, v: r.debiased(s, p, v, 0.5, 0.1)),
    "debiased_floor": (dict(temperature=0.5, tau_plus=0.6), lambda r, s, p, v: r.debiased(s, p, v, 0.5, 0.6)),
    "hard_negative": (dict(temperature=0.5, tau_plus=0.1, beta=1.0),
                      lambda r, s, p, v: r.debiased(s, p, v, 0.5, 0.1, beta=1.0)),
    "hard_negative_b3": (dict(temperature=0.4, tau_plus=0.05, beta=3.0),
                         lambda r, s, p, v: r.debiased(s, p, v, 0.4, 0.05, beta=3.0)),
    "nce": (dict(temperature=0.5), lambda r, s, p, v: r.nce(s, p, v, 0.5)),
    "nce_pool": (dict(temperature=0.3, num_noise=5, noise_log_prob=-4.0),
                 lambda r, s, p, v: r.nce(s, p, v, 0.3, num_noise=5, log_q=-4.0)),
    "nce_uncorrected": (dict(temperature=0.3, correct=False),
                        lambda r, s, p, v: r.nce(s, p, v, 0.3, correct=False)),
    "multi_similarity": (dict(), lambda r, s, p, v: r.multi_similarity(s, p, v, 2.0, 50.0, 1.0, 0.1)),
    "multi_similarity_mined": (dict(alpha=2.0, beta=10.0, lam=0.5, epsilon=0.05),
                               lambda r, s, p, v: r.multi_similarity(s, p, v, 2.0, 10.0, 0.5, 0.05)),
    "auc": (dict(scale=3.0), lambda r, s, p, v: r.auc(s, p, v, 3.0)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_objective_matches_loop_reference(case, batch, ref):
    sim, pos, valid = batch
    kwargs, ref_fn = CASES[case]
    name = case.split("_in")[0] if case == "supcon_in" else case
    name = {"debiased_floor": "debiased", "hard_negative_b3": "hard_negative",
            "multi_similarity_mined": "multi_similarity",
            "nce_pool": "nce", "nce_uncorrected": "nce"}.get(name, name)
    obj = L.get(name, **kwargs).double()
    out = obj(sim, pos, valid)
    _compare(out, ref_fn(ref, sim, pos, valid), sim)


def test_cwcl_soft_targets_match_reference(batch, ref):
    sim, _, valid = batch
    g = torch.Generator().manual_seed(5)
    w = torch.rand(sim.shape, generator=g, dtype=sim.dtype)
    w[2] = 0.0  # a row without any target
    out = L.get("cwcl", temperature=0.25).double()(sim, w, valid)
    _compare(out, ref.cwcl(sim, w, valid, 0.25), sim)


def test_learnable_temperature_gradient_matches_reference(batch, ref):
    sim, pos, valid = batch
    obj = L.get("infonce", temperature=0.3, learnable_temperature=True).double()
    out = obj(sim, pos, valid)
    (g,) = torch.autograd.grad(out.loss, obj.log_temperature)
    log_t = torch.tensor(0.3, dtype=torch.float64).log().requires_grad_(True)
    _, ref_loss = ref.infonce(sim, pos, valid, log_t.exp())
    (g_ref,) = torch.autograd.grad(ref_loss, log_t)
    torch.testing.assert_close(g, g_ref)
    assert abs(float(g)) > 0


def test_the_reference_catches_a_wrong_objective(batch, ref):
    """Guard against a vacuous comparison: a different temperature must not match."""
    sim, pos, valid = batch
    out = L.get("infonce", temperature=0.2).double()(sim, pos, valid)
    _, ref_loss = ref.infonce(sim, pos, valid, 0.25)
    assert not torch.allclose(out.loss, ref_loss)


def test_multi_similarity_mining_ignores_easy_pairs():
    """A negative below the easiest-to-beat positive minus epsilon, and a positive above the hardest
    negative plus epsilon, are not mined: moving them leaves the loss unchanged, while moving a mined
    pair changes it. (beta=2, lam=0 so that an unmined negative would contribute visibly.)"""
    obj = L.get("multi_similarity", alpha=2.0, beta=2.0, lam=0.0, epsilon=0.1)
    pos = torch.tensor([[True, True, False, False]])

    def loss(row):
        return obj(torch.tensor([row], dtype=torch.float64), pos).loss.item()

    base = loss([0.9, 0.5, 0.45, 0.3])     # mined: positive 0.5, negative 0.45
    assert loss([0.8, 0.5, 0.45, 0.3]) == pytest.approx(base, abs=1e-12)   # easy positive moved
    assert loss([0.9, 0.5, 0.45, 0.1]) == pytest.approx(base, abs=1e-12)   # easy negative moved
    assert loss([0.9, 0.45, 0.45, 0.3]) != pytest.approx(base, abs=1e-6)   # mined positive moved
    assert loss([0.9, 0.5, 0.55, 0.3]) != pytest.approx(base, abs=1e-6)    # mined negative moved
    assert loss([0.9, 0.8, 0.1, -0.2]) == 0.0                              # nothing informative -> 0
