"""Continuously weighted contrastive loss (CWCL): soft targets instead of one positive.

Source: "CWCL: Cross-Modal Transfer with Continuously Weighted Contrastive Loss" (Srinivasa et al.,
NeurIPS 2023). When aligning a new tower to a frozen pretrained one, every pair ``(i, j)`` in the batch
is a positive to the degree ``w_ij in [0, 1]`` the *pretrained* tower finds ``i`` and ``j`` similar
(the paper maps its cosine similarity to ``[0, 1]``: ``w_ij = (1 + cos(q_i, q_j)) / 2``, see
:func:`audiocl.losses.pairs.cwcl_weights`)::

    L_i = -1 / sum_j w_ij * sum_j w_ij log( exp(s_ij/tau) / sum_{k valid} exp(s_ik/tau) )

``pos`` may be these float weights; a bool ``pos`` (w = 0/1) gives InfoNCE. Temperature default 0.1
(our choice, shared with ``infonce``; CLIP-style pipelines usually make it learnable).
"""

from __future__ import annotations

from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, TemperatureMixin, register
from audiocl.losses.infonce import log_softmax_valid


@register("cwcl")
class CWCL(TemperatureMixin, ContrastiveObjective):
    accepts_soft_targets = True

    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False):
        super().__init__()
        self._init_temperature(temperature, learnable_temperature)

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        log_prob = log_softmax_valid(sim / self.temperature, valid)
        w = pos.to(sim.dtype).masked_fill(~valid, 0.0)
        return -(log_prob * w).sum(1) / w.sum(1).clamp(min=1e-12)
