"""Decoupled contrastive learning (DCL): InfoNCE with the positive removed from the denominator.

Source: "Decoupled Contrastive Learning" (Yeh et al., ECCV 2022). Removing the positive from the
denominator removes the negative-positive coupling that makes InfoNCE's gradient shrink when the
positive is already easy (small batches suffer most)::

    L_i = 1/|P_i| sum_{p in P_i} ( -s_ip/tau ) + log sum_{n in N_i} exp(s_in/tau)

Since the InfoNCE denominator adds positive terms, ``L_DCL <= L_InfoNCE`` on the same inputs; unlike
InfoNCE it can be negative. Rows without negatives are 0. Default ``tau = 0.1`` (our default shared
with ``infonce``; the paper sweeps tau and reports DCL is less sensitive to it). The paper's weighted
variant DCLW is not implemented.
"""

from __future__ import annotations

from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, TemperatureMixin, masked_logsumexp, masked_mean, register


@register("dcl")
class DCL(TemperatureMixin, ContrastiveObjective):
    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False):
        super().__init__()
        self._init_temperature(temperature, learnable_temperature)

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        logits = sim / self.temperature
        p = pos & valid
        neg = valid & ~p
        per = -masked_mean(logits, p, dim=1) + masked_logsumexp(logits, neg, dim=1)
        return per.masked_fill(~neg.any(1), 0.0)
