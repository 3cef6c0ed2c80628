"""Strided 1-D convolution on a time-major ``(B, T, C)`` tensor as matrix products on *views*.

With ``x[b]`` contiguous ``(T, C)``, the input frames ``s*t + j0 .. s*t + j0 + w - 1`` of output frame
``t`` are ``w*C`` consecutive numbers, so for ``w <= s`` the matrix ``(n, w*C)`` with row stride
``s*C`` is a plain strided view of ``x`` (a valid BLAS operand, leading dimension ``s*C``). A kernel
of ``k`` taps is ``ceil(k / s)`` such chunks (wav2vec 2.0: kernel 3 / stride 2 = frame pairs + one
strided frame; kernel 2 / stride 2 = one pair GEMM; the first layer, kernel 10 / stride 5 on one
channel, = two K=5 GEMMs), so forward, weight gradient and input gradient are GEMMs with no im2col
copy. On an AVX2 CPU this runs the 512-channel wav2vec 2.0 layers at GEMM speed, well ahead of
oneDNN's direct convolution backward.

The weight stays the ``nn.Conv1d`` parameter ``(C_out, C_in, k)`` (checkpoints and converters are
unchanged); it is rearranged to ``(k*C_in, C_out)`` at use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def _chunks(k: int, s: int) -> list[tuple[int, int]]:
    """``(first tap, taps)`` of each view: consecutive taps, at most ``s`` per view."""
    return [(j0, min(s, k - j0)) for j0 in range(0, k, s)]


def _view(xb: Tensor, n: int, s: int, j0: int, w: int) -> Tensor:
    """``(n, w*C)`` view of ``xb (T, C)``: row ``t`` = frames ``s*t + j0 .. s*t + j0 + w - 1``."""
    c = xb.shape[1]
    return xb.as_strided((n, w * c), (s * c, 1), xb.storage_offset() + j0 * c)


def _gemm_weight(weight: Tensor) -> Tensor:
    """A Conv1d weight ``(C_out, C_in, k)`` as the GEMM operand ``(k*C_in, C_out)`` (row = tap * C_in + channel).

    This is a copy (the parameter's layout cannot be viewed that way), so it is made where it is used, in the
    forward and again in the backward, rather than kept alive between them: saved for backward, these copies
    would hold one weight's worth of memory per layer for the whole step.
    """
    c_out, c_in, k = weight.shape
    return weight.permute(2, 1, 0).reshape(k * c_in, c_out)


def _compute_dtype(x: Tensor) -> torch.dtype:
    dev = x.device.type
    if torch.is_autocast_enabled(dev) and x.is_floating_point():
        return torch.get_autocast_dtype(dev)
    return x.dtype


class _StridedConvGEMM(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, frames: list[int]) -> Tensor:
        b, t, c = x.shape
        c_out, _, k = weight.shape
        n = (t - k) // stride + 1
        wcat = _gemm_weight(weight)
        y = x.new_empty(b, n, c_out) if min(frames) == n else x.new_zeros(b, n, c_out)
        chunks = _chunks(k, stride)
        for i, m in enumerate(frames):
            if m == 0:
                continue
            xb, yb = x[i], y[i, :m]
            for ci, (j0, w) in enumerate(chunks):
                wj = wcat[j0 * c:(j0 + w) * c]
                v = _view(xb, m, stride, j0, w)
                if ci == 0:
                    if bias is None:
                        torch.mm(v, wj, out=yb)
                    else:
                        torch.addmm(bias, v, wj, out=yb)
                else:
                    yb.addmm_(v, wj)
        ctx.save_for_backward(x, weight)
        ctx.stride, ctx.k, ctx.frames, ctx.has_bias = stride, k, frames, bias is not None
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        wcat = _gemm_weight(weight)
        stride, k, frames = ctx.stride, ctx.k, ctx.frames
        b, t, c = x.shape
        c_out = grad.shape[2]
        grad = grad.contiguous()
        chunks = _chunks(k, stride)
        gx = gw = gb = None
        if ctx.needs_input_grad[1]:
            gwcat = wcat.new_zeros(k * c, c_out)
            for i, m in enumerate(frames):
                for j0, w in chunks:
                    if m:
                        gwcat[j0 * c:(j0 + w) * c].addmm_(_view(x[i], m, stride, j0, w).t(), grad[i, :m])
            gw = gwcat.view(k, c, c_out).permute(2, 1, 0)
        if ctx.needs_input_grad[0]:
            # the first chunk tiles frames [0, s*m) exactly when it has s taps: written, not accumulated
            tiles = chunks[0][1] == stride
            gx = x.new_empty(b, t, c) if tiles else x.new_zeros(b, t, c)
            for i, m in enumerate(frames):
                if tiles:
                    gx[i, stride * m:].zero_()
                for ci, (j0, w) in enumerate(chunks):
                    wj = wcat[j0 * c:(j0 + w) * c].t()
                    if m == 0:
                        continue
                    if ci == 0 and tiles:
                        torch.mm(grad[i, :m], wj, out=gx[i, :stride * m].view(m, stride * c))
                    else:
                        _view(gx[i], m, stride, j0, w).addmm_(grad[i, :m], wj)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = sum(grad[i, :m].sum(0) for i, m in enumerate(frames))
        return gx, gw, gb, None, None


def strided_conv1d_tm(x: Tensor, weight: Tensor, bias: Tensor | None, stride: int, padding: int = 0,
                      frames: list[int] | None = None) -> Tensor:
    """``conv1d`` on a time-major ``x (B, T, C_in)`` with a Conv1d ``weight (C_out, C_in, k)``:
    ``(B, T', C_out)`` equal to ``F.conv1d(x.transpose(1, 2), weight, bias, stride, padding).transpose(1, 2)``.

    ``frames`` (one count per utterance) computes only each utterance's first ``frames[i]`` output
    frames and leaves the others zero (their gradient is ignored): padded frames whose values nothing
    reads cost nothing. Under autocast the GEMMs run in the autocast dtype (what ``conv1d`` would do);
    gradients come back in each input's own dtype.
    """
    if padding:
        x = F.pad(x, (0, 0, padding, padding))
    k = weight.shape[-1]
    if x.shape[1] < k:
        return x.new_zeros(x.shape[0], 0, weight.shape[0])
    n = (x.shape[1] - k) // stride + 1
    frames = [n] * x.shape[0] if frames is None else [max(0, min(n, int(m))) for m in frames]
    if len(frames) != x.shape[0]:
        raise ValueError(f"frames has {len(frames)} counts for a batch of {x.shape[0]}")
    dtype = _compute_dtype(x)
    x = x.to(dtype).contiguous()
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _StridedConvGEMM.apply(x, weight.to(dtype), None if bias is None else bias.to(dtype), stride, frames)
