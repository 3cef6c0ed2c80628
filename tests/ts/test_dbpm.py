"""Dynamic Bad Pair Mining: memory, warm-up, flagging by mean -/+ k sigma, bounded weights, wrapper."""

from __future__ import annotations

import math

import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.losses import get
from audiocl.losses.dbpm import DBPMObjective, DynamicBadPairMining, flag_precision_recall


def _epochs(dbpm, losses, n_epochs):
    ids = torch.arange(len(losses))
    for _ in range(n_epochs):
        dbpm(losses, ids)
        dbpm.end_epoch()


def _population(n=50, faulty=(3,), noisy=(7,)):
    g = torch.Generator().manual_seed(0)
    losses = 2.0 + 0.05 * torch.randn(n, generator=g)
    for i in faulty:
        losses[i] = 4.0
    for i in noisy:
        losses[i] = 0.1
    return losses


def test_warmup_then_flags_faulty_and_noisy_pairs():
    losses = _population()
    dbpm = DynamicBadPairMining(50, warmup_epochs=3)
    _epochs(dbpm, losses, 2)
    assert not dbpm.active
    w, flag = dbpm.weights(losses, torch.arange(50))
    assert not flag.any() and torch.equal(w, torch.ones(50))
    _epochs(dbpm, losses, 1)
    assert dbpm.active
    noisy, faulty = dbpm.flagged()
    assert faulty.nonzero().flatten().tolist() == [3]
    assert noisy.nonzero().flatten().tolist() == [7]
    w, flag = dbpm.weights(losses, torch.arange(50))
    assert flag.nonzero().flatten().tolist() == [3, 7]
    assert (w[[3, 7]] < 1e-3).all() and (w[[3, 7]] > 0).all()  # bounded weight: far from the mean -> ~0
    assert torch.equal(w[[0, 1, 2]], torch.ones(3))
    loss = dbpm(losses, torch.arange(50))
    assert loss < losses.mean()  # the faulty (large) pair is suppressed more than the noisy one


def test_statistic_is_mean_over_epochs_and_paper_weighting_is_unbounded():
    dbpm = DynamicBadPairMining(4, warmup_epochs=0)
    ids = torch.arange(4)
    dbpm(torch.tensor([1.0, 2.0, 3.0, 4.0]), ids)
    dbpm.end_epoch()
    dbpm(torch.tensor([3.0, 2.0, 1.0, 0.0]), ids)
    dbpm.end_epoch()
    assert torch.allclose(dbpm.statistic(), torch.tensor([2.0, 2.0, 2.0, 2.0], dtype=torch.float64))
    # the paper's Gaussian density exceeds 1 for a small loss spread (why we bound it)
    losses = _population()
    paper = DynamicBadPairMining(50, warmup_epochs=1, weighting="paper", mine_noisy=False)
    _epochs(paper, losses, 1)
    near = losses.clone()
    near[3] = paper._thresholds[0]  # a flagged pair whose current loss is at the mean
    w, flag = paper.weights(near, torch.arange(50))
    assert flag[3] and w[3] > 1.0
    bounded = DynamicBadPairMining(50, warmup_epochs=1, mine_noisy=False)
    _epochs(bounded, losses, 1)
    w, _ = bounded.weights(near, torch.arange(50))
    assert math.isclose(w[3].item(), 1.0, rel_tol=1e-6)
    # drop: flagged pairs leave the loss, every other pair keeps weight 1
    drop = DynamicBadPairMining(50, warmup_epochs=1, weighting="drop", mine_noisy=False)
    _epochs(drop, losses, 1)
    w, flag = drop.weights(near, torch.arange(50))
    assert flag.any() and (w[flag] == 0).all() and (w[~flag] == 1).all()
    # ... and the loss is the mean over the pairs that stay (the step size does not shrink)
    loss = drop(near, torch.arange(50))
    assert torch.isclose(loss, near[~drop.last_flags].mean().to(loss.dtype))


def test_objective_wrapper_with_sample_ids_and_gradients():
    torch.manual_seed(0)
    wrapped = DBPMObjective(get("infonce", temperature=0.5), num_samples=10, warmup_epochs=0)
    emb = torch.randn(4, 8, requires_grad=True)
    sim = emb @ emb.T
    pos = torch.eye(4, dtype=torch.bool).roll(1, 1)
    out = wrapped(sim, pos, None, torch.tensor([0, 5, 6, 9]))
    out.loss.backward()
    assert emb.grad is not None and torch.isfinite(emb.grad).all()
    assert wrapped.dbpm.epoch_count[[0, 5, 6, 9]].tolist() == [1, 1, 1, 1]
    wrapped.end_epoch()
    assert wrapped.dbpm.hist_count[[0, 1]].tolist() == [1, 0]


def test_bad_arguments():
    with pytest.raises(ConfigError, match="at least 2"):
        DynamicBadPairMining(1)
    with pytest.raises(ConfigError, match="unknown option"):
        DynamicBadPairMining(5, k_bad=1)
    with pytest.raises(ConfigError, match="weighting"):
        DynamicBadPairMining(5, weighting="softmax")
    d = DynamicBadPairMining(5)
    with pytest.raises(ValueError, match="sample ids"):
        d(torch.ones(2), torch.tensor([0, 5]))


def test_flag_precision_recall():
    flagged = torch.tensor([True, True, False, False])
    corrupted = torch.tensor([True, False, True, False])
    assert flag_precision_recall(flagged, corrupted) == (0.5, 0.5)
    p, r = flag_precision_recall(torch.zeros(4, dtype=torch.bool), corrupted)
    assert math.isnan(p) and r == 0.0
