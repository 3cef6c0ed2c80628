"""Random ``(sim, pos, valid)`` batches that cover rows with 0, 1 and several positives."""

from __future__ import annotations

import pytest
import torch


def make_batch(n=7, m=9, seed=0, p_pos=0.25, p_valid=0.85, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    sim = (torch.rand(n, m, generator=g, dtype=dtype) * 2 - 1)
    pos = torch.rand(n, m, generator=g) < p_pos
    valid = torch.rand(n, m, generator=g) < p_valid
    # guarantee structure: row 0 exactly one positive, row 1 several, row 2 none, row 3 no negatives
    pos[0] = False
    pos[0, 1] = True
    valid[0] = True
    pos[1, :4] = True
    valid[1] = True
    pos[2] = False
    valid[3] = False
    valid[3, :2] = True
    pos[3, :2] = True
    return sim.requires_grad_(True), pos, valid


@pytest.fixture(params=[0, 1, 2])
def batch(request):
    return make_batch(seed=request.param)


@pytest.fixture(name="make_batch")
def make_batch_fixture():
    return make_batch


@pytest.fixture(scope="session")
def ref():
    """The loop reference implementations (tests/losses/reference.py)."""
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("losses_reference", Path(__file__).with_name("reference.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod
