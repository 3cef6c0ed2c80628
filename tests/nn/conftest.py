from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    """Tiny tensors: one intra-op thread is faster, and far faster on a shared, loaded CPU
    (two OpenMP threads thrash when the machine is oversubscribed)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def assert_same_value_and_grads():
    """``check(fn, ref, inputs, generator)``: ``fn(*inputs)`` equals ``ref(*inputs)`` in value and in the
    gradient of every input (``None`` entries pass through), under one random upstream gradient."""

    def check(fn, ref, inputs, generator):
        ins = [None if t is None else t.clone().requires_grad_() for t in inputs]
        ref_ins = [None if t is None else t.clone().requires_grad_() for t in inputs]
        y, y_ref = fn(*ins), ref(*ref_ins)
        assert y.shape == y_ref.shape
        torch.testing.assert_close(y, y_ref)
        up = torch.randn(y.shape, generator=generator, dtype=y.dtype)
        (y * up).sum().backward()
        (y_ref * up).sum().backward()
        for a, r in zip(ins, ref_ins):
            if a is not None:
                torch.testing.assert_close(a.grad, r.grad)

    return check
