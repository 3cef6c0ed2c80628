"""Kernel-3 'same' dilated ``conv1d`` on channels-last ``(B, C, 1, T)`` tensors, with its backward as
forward convolutions and GEMMs (CPU).

Why: TS2Vec's encoder is twenty of these convolutions (dilation ``1, 2, ..., 2**depth``, padding =
dilation). On CPU oneDNN runs their forward fast but their backward at two to four times the forward's
cost, mostly in the weight gradient (a ``(16, 64, 1, 1300)`` batch at dilation 1: forward 6 ms, backward
29 ms, one thread). Both gradients are cheap products in the channels-last (time-major) layout:

- input gradient: the adjoint of a 'same' correlation is the correlation with the channel-transposed,
  time-flipped kernel and the same padding and dilation, i.e. one more *forward* convolution;
- weight gradient: tap ``k`` (time offset ``s = (k - 1) d``) is ``sum_b gy[b, t]^T x[b, t + s]`` over the
  steps where ``t + s`` is inside the series: one batched product of two ``(B, T - |s|, C)`` views of the
  time-major tensors, summed over the batch; the bias gradient is a sum.

Once the dilation reaches half the length, most of each outer tap reads zero padding; forward and
backward then run every tap as a product over only the steps where it reads the series (with ``d >= T``
only the centre tap is left, a pointwise linear map).

Outputs equal ``F.conv2d``'s and gradients autograd's up to floating-point summation order (tested).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def dilated_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None, dilation: int) -> Tensor:
    """The plain 'same' convolution on ``(B, C, 1, T)``: ``F.conv2d`` with autograd's backward."""
    return F.conv2d(x, weight.unsqueeze(2), bias, padding=(0, dilation), dilation=(1, dilation))


def _time_major(x: Tensor) -> Tensor:
    """``(B, C, 1, T)`` channels-last -> its ``(B, T, C)`` view (made contiguous if it is not)."""
    return x.squeeze(2).transpose(1, 2).contiguous()


def _taps_by_products(x: Tensor, taps: Tensor, d: int) -> Tensor:
    """``sum_k x[t + (k - 1) d] @ taps[k]`` over the steps where ``t + (k - 1) d`` is inside ``[0, T)``.

    ``x`` ``(B, C, 1, T)``, ``taps`` ``(3, Cin, Cout)``; returns a new ``(B, Cout, 1, T)`` channels-last
    tensor (not a view: the encoder scales convolution outputs in place)."""
    x_tm = _time_major(x)
    b, t, _ = x_tm.shape
    out = torch.empty((b, taps.shape[-1], 1, t), dtype=x.dtype, device=x.device, memory_format=torch.channels_last)
    y = out.squeeze(2).transpose(1, 2)  # its (B, T, Cout) view
    torch.matmul(x_tm, taps[1], out=y)
    if d < t:
        y[:, d:] += x_tm[:, : t - d] @ taps[0]
        y[:, : t - d] += x_tm[:, d:] @ taps[2]
    return out


class _SameDilatedConv(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, dilation: int) -> Tensor:
        d, t = dilation, x.shape[-1]
        ctx.save_for_backward(x, weight)
        ctx.dilation, ctx.has_bias = d, bias is not None
        if 2 * d < t:
            return dilated_conv2d(x, weight, bias, d)
        y = _taps_by_products(x, weight.permute(2, 1, 0), d)
        return y if bias is None else y.add_(bias.view(1, -1, 1, 1))

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        d, t = ctx.dilation, x.shape[-1]
        # the input's layout: a gradient in another one would make every later element-wise op strided
        grad = grad.contiguous(memory_format=torch.channels_last)
        g_tm = _time_major(grad)
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            adjoint = weight.transpose(0, 1).flip(-1)  # (Cin, Cout, 3), taps reversed
            if 2 * d < t:
                gx = dilated_conv2d(grad, adjoint, None, d)
            else:
                gx = _taps_by_products(grad, adjoint.permute(2, 1, 0), d)
        if ctx.needs_input_grad[1]:
            x_tm = _time_major(x)
            c_out, c_in, _ = weight.shape
            centre = g_tm.reshape(-1, c_out).t() @ x_tm.reshape(-1, c_in)
            if d < t:
                before = torch.bmm(g_tm[:, d:].transpose(1, 2), x_tm[:, : t - d]).sum(0)  # tap 0 reads t - d
                after = torch.bmm(g_tm[:, : t - d].transpose(1, 2), x_tm[:, d:]).sum(0)  # tap 2 reads t + d
            else:
                before = after = torch.zeros_like(centre)
            gw = torch.stack([before, centre, after], dim=-1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = g_tm.sum((0, 1))
        return gx, gw, gb, None


def same_dilated_conv(x: Tensor, weight: Tensor, bias: Tensor | None, dilation: int) -> Tensor:
    """``conv1d(x, weight, bias, padding=dilation, dilation=dilation)`` for ``x`` ``(B, C, 1, T)`` in
    channels-last memory and a kernel of 3, as a 2-d convolution; output ``(B, Cout, 1, T)``.

    On CPU outside autocast it runs the forward and backward above; elsewhere (CUDA, autocast) ``F.conv2d``
    and its own backward."""
    if weight.shape[-1] != 3:
        raise ValueError(f"same_dilated_conv takes a kernel of 3, got {weight.shape[-1]}")
    if x.device.type != "cpu" or torch.is_autocast_enabled("cpu"):
        return dilated_conv2d(x, weight, bias, dilation)
    return _SameDilatedConv.apply(x, weight, bias, dilation)
