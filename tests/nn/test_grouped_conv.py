"""The grouped conv with forward-convolution gradients equals ``F.conv1d`` in value and every gradient."""

import pytest
import torch
import torch.nn.functional as F

from audiocl.nn.grouped_conv import grouped_conv1d
from audiocl.nn.transformer import ConvPositionalEmbedding


@pytest.mark.parametrize("c,k,groups,pad,bias,t", [
    (8, 4, 2, 2, True, 13),    # even kernel, "same" padding + one extra frame (wav2vec 2.0's shape)
    (6, 5, 3, 2, False, 9),    # odd kernel
    (4, 7, 1, 0, True, 20),    # one group, no padding
    (8, 6, 4, 3, True, 3),     # sequence shorter than the kernel
])
def test_matches_conv1d(c, k, groups, pad, bias, t, assert_same_value_and_grads):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, c, t, generator=g, dtype=torch.float64)
    w = torch.randn(c, c // groups, k, generator=g, dtype=torch.float64)
    b = torch.randn(c, generator=g, dtype=torch.float64) if bias else None
    assert_same_value_and_grads(lambda x, w, b: grouped_conv1d(x, w, b, pad, groups),
                                lambda x, w, b: F.conv1d(x, w, b, padding=pad, groups=groups), [x, w, b], g)


def test_frozen_input_and_non_contiguous_input():
    """The positional conv reads a transposed (non-contiguous) input; a frozen input gets no gradient."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 11, 8, generator=g, dtype=torch.float64).transpose(1, 2)
    w = torch.randn(8, 2, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w_ref = w.detach().clone().requires_grad_()
    grouped_conv1d(x, w, None, 2, 4).square().sum().backward()
    F.conv1d(x, w_ref, None, padding=2, groups=4).square().sum().backward()
    torch.testing.assert_close(w.grad, w_ref.grad)


def test_positional_embedding_gradients_match_the_autograd_convolution(monkeypatch):
    torch.manual_seed(0)
    pos = ConvPositionalEmbedding(16, kernel_size=6, groups=4).double()
    x = torch.randn(2, 9, 16, dtype=torch.float64, requires_grad=True)
    pos(x).sum().backward()
    grads = [p.grad.clone() for p in (x, pos.weight_v, pos.weight_g, pos.bias)]
    for p in (x, pos.weight_v, pos.weight_g, pos.bias):
        p.grad = None
    import audiocl.nn.transformer as transformer
    monkeypatch.setattr(transformer, "grouped_conv1d",
                        lambda x, w, b, pad, groups: F.conv1d(x, w, b, padding=pad, groups=groups))
    pos(x).sum().backward()
    for got, p in zip(grads, (x, pos.weight_v, pos.weight_g, pos.bias)):
        torch.testing.assert_close(got, p.grad)
