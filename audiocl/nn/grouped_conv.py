"""Grouped, zero-padded ``conv1d`` whose backward is two *forward* convolutions (CPU).

Why: wav2vec 2.0's positional convolution (kernel 128, 16 groups, ``base``) spends about 4x its forward in
oneDNN's backward on CPU, while both of its gradients are themselves forward convolutions, which oneDNN runs
at its forward speed:

- input gradient: the output gradient convolved with the group-transposed, time-flipped kernel, padded by
  ``K - 1 - P`` (the adjoint of "correlate with padding ``P``");
- weight gradient: a correlation of the padded input with the output gradient used as a ``T'``-tap
  kernel. Laid out as a grouped convolution whose *batch* is the group's input channel and whose input
  channels are ``(group, utterance)`` pairs, it sums over utterances and time in one call.

The forward is ``F.conv1d`` itself, so outputs are identical; gradients equal autograd's up to
floating-point summation order (tested). Used where oneDNN's backward is the slow one: CPU without autocast.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


class _GroupedConv1d(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, groups: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.padding, ctx.groups, ctx.has_bias = padding, groups, bias is not None
        return F.conv1d(x, weight, bias, padding=padding, groups=groups)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        pad, groups = ctx.padding, ctx.groups
        b, c_in, _ = x.shape
        c_out, cg_in, k = weight.shape
        cg_out = c_out // groups
        grad = grad.contiguous()
        gx = gw = gb = None
        if ctx.needs_input_grad[0]:
            # per group: (cg_out, cg_in, k) -> (cg_in, cg_out, k), kernel reversed in time
            w_t = weight.view(groups, cg_out, cg_in, k).transpose(1, 2).flip(-1).reshape(c_in, cg_out, k)
            gx = F.conv1d(grad, w_t, None, padding=k - 1 - pad, groups=groups)
        if ctx.needs_input_grad[1]:
            xp = F.pad(x, (pad, pad))
            # batch = the group's input channel; channels = (group, utterance); kernel = the output gradient
            xs = xp.reshape(b, groups, cg_in, -1).permute(2, 1, 0, 3).reshape(cg_in, groups * b, -1)
            ks = grad.view(b, groups, cg_out, -1).permute(1, 2, 0, 3).reshape(c_out, b, -1)
            gw = F.conv1d(xs, ks, None, groups=groups).transpose(0, 1)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = grad.sum((0, 2))
        return gx, gw, gb, None, None


def grouped_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None, padding: int, groups: int) -> Tensor:
    """``F.conv1d(x, weight, bias, padding=padding, groups=groups)`` (stride 1, no dilation), with the
    backward above on CPU outside autocast; elsewhere (CUDA, autocast) ``F.conv1d`` and its own backward."""
    if x.device.type != "cpu" or torch.is_autocast_enabled("cpu") or not torch.is_grad_enabled():
        return F.conv1d(x, weight, bias, padding=padding, groups=groups)
    return _GroupedConv1d.apply(x, weight, bias, padding, groups)
