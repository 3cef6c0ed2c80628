"""InfoNCE / NT-Xent.

Source: "Representation Learning with Contrastive Predictive Coding" (van den Oord et al., 2018):
``L_i = -log( exp(s_ip / tau) / sum_{j valid} exp(s_ij / tau) )``. With several positives in a row
the loss is averaged over them (each positive against all valid candidates).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from audiocl.losses.base import ContrastiveObjective, register


@register("infonce")
class InfoNCE(ContrastiveObjective):
    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False):
        super().__init__()
        log_t = torch.tensor(math.log(temperature))
        if learnable_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)

    @property
    def temperature(self) -> Tensor:
        return self.log_temperature.exp()

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        logits = (sim / self.temperature).masked_fill(~valid, float("-inf"))
        log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        posf = (pos.bool() & valid).to(sim.dtype)
        log_prob = log_prob.masked_fill(~valid, 0.0)
        return -(log_prob * posf).sum(1) / posf.sum(1).clamp(min=1)
