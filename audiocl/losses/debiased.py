"""Debiased contrastive loss: correct the negative term for same-class "negatives".

Source: "Debiased Contrastive Learning" (Chuang et al., NeurIPS 2020). In self-supervised batches a
fraction ``tau_plus`` (the class prior) of the "negatives" share the anchor's class. The paper
estimates the sum over *true* negatives from the observed negatives and the positives (eq. 6)::

    g_i = max( ( sum_{n in N_i} e^{s_in/tau} - tau_plus * |N_i| * mean_{p in P_i} e^{s_ip/tau} ) / (1 - tau_plus),
               |N_i| * e^{-1/tau} )
    L_i = 1/|P_i| sum_{p in P_i} -log( e^{s_ip/tau} / (e^{s_ip/tau} + g_i) )

The floor ``e^{-1/tau}`` is the smallest value of ``e^{s/tau}`` for cosine similarity, so it assumes
``sim`` is a cosine in ``[-1, 1]``. ``tau_plus = 0`` gives InfoNCE with one positive per row.
Defaults ``tau = 0.5, tau_plus = 0.1``: the paper's CIFAR-10 setting (10 balanced classes). Computed
in log space with a per-row shift, so large logits do not overflow.
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, TemperatureMixin, masked_mean, register


def debiased_per_anchor(logits: Tensor, pos: Tensor, valid: Tensor, temperature: Tensor, tau_plus: float,
                        neg_weights: Tensor | None = None) -> Tensor:
    """Shared by ``debiased`` and ``hard_negative``: ``neg_weights`` (rows sum to 1 over the negatives)
    replaces the uniform average of the negatives by an importance-weighted one."""
    p = pos & valid
    neg = valid & ~p
    n_neg = neg.sum(1).to(logits.dtype)
    tiny = torch.finfo(logits.dtype).min
    shift = logits.masked_fill(~valid, tiny).amax(1, keepdim=True).detach()
    e = (logits - shift).masked_fill(~valid, tiny).exp()  # e^{l - m}, 0 at invalid entries
    if neg_weights is None:
        neg_sum = (e * neg.to(e.dtype)).sum(1)
    else:
        neg_sum = n_neg * (e * neg_weights).sum(1)
    pos_mean = masked_mean(e, p, dim=1)
    g = (neg_sum - tau_plus * n_neg * pos_mean) / (1.0 - tau_plus)
    floor_exp = (-1.0 / temperature - shift.squeeze(1)).clamp(max=80.0)
    g = torch.maximum(g, n_neg * floor_exp.exp())
    lp = (logits - shift).masked_fill(~p, 0.0)
    per_pos = -lp + torch.log((e + g[:, None]).masked_fill(~p, 1.0))  # fill: no log(0) off the positives
    return masked_mean(per_pos, p, dim=1)


@register("debiased")
class Debiased(TemperatureMixin, ContrastiveObjective):
    def __init__(self, temperature: float = 0.5, tau_plus: float = 0.1, learnable_temperature: bool = False):
        super().__init__()
        if not 0.0 <= tau_plus < 1.0:
            from audiocl.errors import ConfigError

            raise ConfigError(f"objective {self.name!r}: tau_plus must be in [0, 1), got {tau_plus}")
        self.tau_plus = tau_plus
        self._init_temperature(temperature, learnable_temperature)

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        t = self.temperature
        return debiased_per_anchor(sim / t, pos, valid, t, self.tau_plus)
