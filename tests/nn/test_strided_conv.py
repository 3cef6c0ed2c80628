"""The time-major GEMM convolution equals ``F.conv1d`` in value and in every gradient."""

import pytest
import torch
import torch.nn.functional as F

from audiocl.nn.strided_conv import strided_conv1d_tm


@pytest.mark.parametrize("c_in,c_out,k,s,p,bias", [
    (1, 6, 10, 5, 0, False),   # wav2vec 2.0 first layer: one channel, two K=5 views
    (5, 7, 3, 2, 0, False),    # pair view + strided view
    (5, 7, 2, 2, 0, True),     # one pair view
    (4, 3, 4, 3, 1, True),     # padding, a short second view
    (4, 3, 2, 3, 0, False),    # kernel shorter than stride (gaps between windows)
    (3, 2, 3, 1, 0, True),     # stride 1: one view per tap
])
def test_matches_conv1d(c_in, c_out, k, s, p, bias, assert_same_value_and_grads):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 41, c_in, generator=g, dtype=torch.float64)
    w = torch.randn(c_out, c_in, k, generator=g, dtype=torch.float64)
    b = torch.randn(c_out, generator=g, dtype=torch.float64) if bias else None
    assert_same_value_and_grads(
        lambda x, w, b: strided_conv1d_tm(x, w, b, s, p),
        lambda x, w, b: F.conv1d(x.transpose(1, 2), w, b, stride=s, padding=p).transpose(1, 2),
        [x, w, b], g)


def test_frozen_input_gets_no_gradient_and_autocast_runs_in_low_precision():
    x = torch.randn(2, 50, 1)
    w = torch.randn(4, 1, 10, requires_grad=True)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = strided_conv1d_tm(x, w, None, 5)
    assert y.dtype == torch.bfloat16
    y.float().sum().backward()
    assert w.grad is not None and w.grad.dtype == torch.float32
    ref = F.conv1d(x.transpose(1, 2), w.detach(), stride=5).transpose(1, 2)
    torch.testing.assert_close(y.float(), ref, atol=0.1, rtol=0.05)


def test_input_shorter_than_kernel_gives_no_frames():
    assert strided_conv1d_tm(torch.randn(2, 3, 4), torch.randn(5, 4, 4), None, 2).shape == (2, 0, 5)


def test_frames_compute_each_utterance_prefix_only():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 30, 4, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, 4, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, generator=g, dtype=torch.float64, requires_grad=True)
    frames = [14, 6, 0]
    y = strided_conv1d_tm(x, w, b, 2, frames=frames)
    full = strided_conv1d_tm(x, w, b, 2)
    sel = torch.zeros(y.shape[:2], dtype=torch.bool)
    for i, m in enumerate(frames):
        sel[i, :m] = True
    torch.testing.assert_close(y[sel], full[sel])
    assert not y[~sel].any()
    grads = torch.autograd.grad(y[sel].pow(2).sum(), (x, w, b))
    ref = torch.autograd.grad(full[sel].pow(2).sum(), (x, w, b))
    for a, r in zip(grads, ref):
        torch.testing.assert_close(a, r)


def test_backward_keeps_the_weight_itself_not_a_rearranged_copy():
    """Between forward and backward only the input and the parameter are held: a (k*C_in, C_out) copy of each
    layer's weight kept alive there would add one weight per layer to the step's peak memory."""
    x = torch.randn(2, 33, 8)
    w = torch.randn(16, 8, 3, requires_grad=True)
    y = strided_conv1d_tm(x, w, None, 2)
    saved = y.grad_fn.saved_tensors
    assert sum(t.numel() for t in saved) == x.numel() + w.numel()
    assert any(t.data_ptr() == w.data_ptr() for t in saved)
