"""AdamW as the trainers build it: torch's fused kernel where it exists.

The fused kernel updates every tensor in one pass (fewer, larger kernels than the per-tensor loop; HF's
Trainer uses it too), and gives the same update up to rounding. It exists for floating-point tensors on
CPU and CUDA; anything else (another device, a non-float parameter) falls back to the loop.
"""

from __future__ import annotations

from typing import Any, Iterable

import torch


def adamw(params: Iterable[torch.nn.Parameter], **kwargs: Any) -> torch.optim.AdamW:
    """``torch.optim.AdamW(params, **kwargs)`` with ``fused=True`` when every parameter allows it."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params)
    return torch.optim.AdamW(params, fused=fused, **kwargs)
