"""TS-TCC's temporal + contextual contrasting against slow, obviously-correct loops."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from audiocl.losses import get
from audiocl.losses.ts_tcc import temporal_contrast_tcc, tstcc_loss


def _tc_loop(pred, target, valid):
    k, b, _ = pred.shape
    per = []
    for i in range(b):
        terms = []
        for s in range(k):
            if not valid[s, i]:
                continue
            logits = [float(pred[s, i] @ target[s, j]) for j in range(b) if valid[s, j]]
            own = float(pred[s, i] @ target[s, i])
            terms.append(-(own - math.log(sum(math.exp(v) for v in logits))))
        per.append(sum(terms) / len(terms) if terms else 0.0)
    return torch.tensor(per)


def _nt_xent_loop(h1, h2, tau):
    b = h1.shape[0]
    z = F.normalize(torch.cat([h1, h2]), dim=-1)
    per = []
    for a in range(2 * b):
        p = (a + b) % (2 * b)
        logits = {c: float(z[a] @ z[c]) / tau for c in range(2 * b) if c != a}
        per.append(-(logits[p] - math.log(sum(math.exp(v) for v in logits.values()))))
    return torch.tensor([(per[i] + per[i + b]) / 2 for i in range(b)])


def test_temporal_contrast_matches_loop_with_masks():
    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(3, 5, 4, generator=g), torch.randn(3, 5, 4, generator=g)
    valid = torch.rand(3, 5, generator=g) > 0.3
    valid[:, 2] = False  # sample 2 has no valid future step: loss 0, left out of the mean
    out = temporal_contrast_tcc(pred, target, valid)
    ref = _tc_loop(pred, target, valid)
    assert out.per_sample.shape == (5,)
    assert torch.allclose(out.per_sample, ref, atol=1e-5)
    assert out.per_sample[2] == 0
    has = valid.any(0)
    assert torch.allclose(out.loss, ref[has].mean(), atol=1e-5)


def test_invalid_targets_do_not_change_other_rows():
    g = torch.Generator().manual_seed(1)
    pred, target = torch.randn(2, 4, 3, generator=g), torch.randn(2, 4, 3, generator=g)
    valid = torch.ones(2, 4, dtype=torch.bool)
    valid[1, 3] = False
    a = temporal_contrast_tcc(pred, target, valid).per_sample
    target2 = target.clone()
    target2[1, 3] = 1e3  # a padded step's (garbage) latent must not enter anyone's denominator
    b = temporal_contrast_tcc(pred, target2, valid).per_sample
    assert torch.allclose(a, b)


def test_tstcc_loss_matches_loop_and_weights():
    g = torch.Generator().manual_seed(2)
    k, b, d, p = 4, 6, 5, 3
    ps, tw, pw, ts = (torch.randn(k, b, d, generator=g) for _ in range(4))
    vw, vs = torch.rand(k, b, generator=g) > 0.2, torch.ones(k, b, dtype=torch.bool)
    hs, hw = torch.randn(b, p, generator=g), torch.randn(b, p, generator=g)
    out = tstcc_loss(ps, tw, vw, pw, ts, vs, hs, hw, lambda_tc=1.0, lambda_cc=0.7,
                     cc_objective=get("infonce", temperature=0.2))
    ref = _tc_loop(ps, tw, vw) + _tc_loop(pw, ts, vs) + 0.7 * _nt_xent_loop(hs, hw, 0.2)
    assert out.per_sample.shape == (b,)
    assert torch.allclose(out.per_sample, ref, atol=1e-4)
    assert torch.allclose(out.loss, ref.mean(), atol=1e-4)
    assert {"tc_strong", "tc_weak", "cc"} <= set(out.logs)


def test_gradients_finite():
    g = torch.Generator().manual_seed(3)
    ps = torch.randn(2, 4, 3, generator=g, requires_grad=True)
    tw = torch.randn(2, 4, 3, generator=g, requires_grad=True)
    valid = torch.tensor([[True, False, True, True], [False, False, False, False]])
    out = temporal_contrast_tcc(ps, tw, valid)
    out.loss.backward()
    assert torch.isfinite(ps.grad).all() and torch.isfinite(tw.grad).all()
