"""Gradient scaling: pass a tensor through unchanged but multiply its gradient.

wav2vec 2.0 (Baevski et al., 2020, sec. 4.2; fairseq ``feature_grad_mult=0.1``) scales the
gradient reaching the convolutional feature encoder by 0.1 to keep pre-training stable.
"""

from __future__ import annotations

import torch
from torch import Tensor


class _GradMultiply(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, scale: float) -> Tensor:  # type: ignore[override]
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        return grad * ctx.scale, None


def grad_multiply(x: Tensor, scale: float) -> Tensor:
    """Identity in the forward pass; ``grad * scale`` in the backward pass (no-op for scale 1)."""
    if scale == 1.0 or not x.requires_grad:
        return x
    return _GradMultiply.apply(x, scale)
