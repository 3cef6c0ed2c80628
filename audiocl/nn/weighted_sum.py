"""Learned softmax-weighted sum of an upstream's hidden layers (s3prl ``Featurizer`` semantics).

SUPERB ("SUPERB: Speech processing Universal PERformance Benchmark", Yang et al., 2021) probes a
frozen upstream through one scalar weight per layer: the weights start equal (zeros before the
softmax), each layer is optionally layer-normalised over its channels first (s3prl's
``normalize`` option, which keeps a layer with a large norm from dominating), and the downstream
sees ``sum_l softmax(w)_l * h_l``. The learned weights say which layer carries the information,
so :meth:`WeightedLayerSum.layer_weights` is logged.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class WeightedLayerSum(nn.Module):
    """``forward(layers: list of (B, T, C)) -> (B, T, C)``; every layer must have the same shape."""

    def __init__(self, num_layers: int, normalize: bool = True, layer_selection: Sequence[int] | None = None):
        super().__init__()
        if num_layers < 1:
            raise ValueError(f"num_layers must be >= 1, got {num_layers}")
        self.layer_selection = list(layer_selection) if layer_selection is not None else None
        n = len(self.layer_selection) if self.layer_selection is not None else num_layers
        self.num_layers = num_layers
        self.normalize = normalize
        self.weights = nn.Parameter(torch.zeros(n))

    def layer_weights(self) -> Tensor:
        """Softmax-normalised weights (what to log / plot)."""
        return F.softmax(self.weights, dim=0)

    def forward(self, layers: Sequence[Tensor]) -> Tensor:
        if len(layers) != self.num_layers:
            raise ValueError(f"expected {self.num_layers} layers from the upstream, got {len(layers)}")
        if self.layer_selection is not None:
            layers = [layers[i] for i in self.layer_selection]
        shapes = {tuple(h.shape) for h in layers}
        if len(shapes) != 1:
            raise ValueError(f"layers differ in shape: {sorted(shapes)}")
        stacked = torch.stack(list(layers), dim=0)  # (L, B, T, C)
        if self.normalize:
            stacked = F.layer_norm(stacked, stacked.shape[-1:])
        w = self.layer_weights().to(stacked.dtype).view(-1, 1, 1, 1)
        return (w * stacked).sum(dim=0)
