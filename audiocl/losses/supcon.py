"""Supervised contrastive loss: every same-label sample in the batch is a positive.

Source: "Supervised Contrastive Learning" (Khosla et al., NeurIPS 2020). The default is the paper's
recommended ``L_out`` (mean over positives *outside* the log, eq. 2)::

    L_i^out = -1/|P_i| sum_{p in P_i} log( exp(s_ip/tau) / sum_{a in A(i)} exp(s_ia/tau) )

``A(i)`` = all valid candidates (self excluded by ``valid``); ``variant="in"`` gives eq. 3,
``-log( 1/|P_i| sum_p exp(s_ip/tau) / sum_a exp(s_ia/tau) )``, which the paper found worse.
Default ``tau = 0.1`` (the paper's best temperature). Build ``pos`` from labels with
:func:`audiocl.losses.pairs.label_pairs`. With exactly one positive per anchor both variants equal
:class:`~audiocl.losses.infonce.InfoNCE`.
"""

from __future__ import annotations


import torch
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, TemperatureMixin, masked_logsumexp, register
from audiocl.losses.infonce import log_softmax_valid


@register("supcon")
class SupCon(TemperatureMixin, ContrastiveObjective):
    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False, variant: str = "out"):
        super().__init__()
        if variant not in ("out", "in"):
            from audiocl.errors import ConfigError

            raise ConfigError(f"objective 'supcon': variant must be 'out' or 'in', got {variant!r}")
        self.variant = variant
        self._init_temperature(temperature, learnable_temperature)

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        log_prob = log_softmax_valid(sim / self.temperature, valid)
        p = pos & valid
        n_pos = p.sum(1).clamp(min=1).to(sim.dtype)
        if self.variant == "out":
            return -(log_prob * p.to(sim.dtype)).sum(1) / n_pos
        return -(masked_logsumexp(log_prob, p, dim=1) - torch.log(n_pos))
