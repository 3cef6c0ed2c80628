"""The kernel-3 'same' dilated conv with hand-written gradients equals ``F.conv1d`` in value and every
gradient, on each of its paths (one convolution, outer taps on part of the series, centre tap only)."""

import pytest
import torch
import torch.nn.functional as F

from audiocl.nn.same_dilated_conv import same_dilated_conv


@pytest.mark.parametrize("t,d,bias", [
    (20, 1, True),    # 2d < T: oneDNN forward, forward-convolution input gradient
    (20, 9, False),
    (20, 10, True),   # T / 2 <= d < T: outer taps read the series on T - d steps only
    (20, 19, True),
    (20, 20, True),   # d >= T: the centre tap alone
    (7, 64, False),
    (1, 1, True),     # one step
])
def test_matches_conv1d(t, d, bias, assert_same_value_and_grads):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 5, 1, t, generator=g, dtype=torch.float64).contiguous(memory_format=torch.channels_last)
    w = torch.randn(7, 5, 3, generator=g, dtype=torch.float64)
    b = torch.randn(7, generator=g, dtype=torch.float64) if bias else None
    assert_same_value_and_grads(lambda x, w, b: same_dilated_conv(x, w, b, d),
                                lambda x, w, b: F.conv1d(x.squeeze(2), w, b, padding=d, dilation=d).unsqueeze(2),
                                [x, w, b], g)


def test_input_in_plain_layout_and_frozen_weight():
    """A ``(B, C, 1, T)`` input in the default (channel-major) layout gives the same result, and a frozen
    weight gets no gradient while the input's is still right."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 1, 11, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 4, 3, generator=g, dtype=torch.float64)
    out = same_dilated_conv(x, w, None, 2)
    ref = F.conv1d(x.squeeze(2), w, None, padding=2, dilation=2).unsqueeze(2)
    torch.testing.assert_close(out, ref)
    up = torch.randn(ref.shape, generator=g, dtype=torch.float64)
    torch.testing.assert_close(torch.autograd.grad(out, x, up)[0], torch.autograd.grad(ref, x, up)[0])


def test_rejects_other_kernel_sizes():
    with pytest.raises(ValueError, match="kernel of 3"):
        same_dilated_conv(torch.zeros(1, 2, 1, 5), torch.zeros(2, 2, 5), None, 1)
