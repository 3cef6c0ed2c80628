"""Hard-negative contrastive loss: importance-weight the negatives by ``exp(beta * s / tau)``.

Source: "Contrastive Learning with Hard Negative Samples" (Robinson et al., ICLR 2021). On top of the
debiased estimate (:mod:`audiocl.losses.debiased`) the negatives are sampled from
``q_beta(x^-) ~ exp(beta * s(x, x^-)/tau) * p(x^-)``, which is estimated by importance weights
``w_n = e^{beta s_in/tau} / mean_{n'} e^{beta s_in'/tau}`` (= ``|N_i| * softmax_n(beta s_in / tau)``)::

    g_i = max( ( sum_n w_n e^{s_in/tau} - tau_plus * |N_i| * mean_p e^{s_ip/tau} ) / (1 - tau_plus),
               |N_i| * e^{-1/tau} )
    L_i = 1/|P_i| sum_p -log( e^{s_ip/tau} / (e^{s_ip/tau} + g_i) )

``beta = 0`` gives ``debiased``; ``beta = 0, tau_plus = 0`` gives InfoNCE. The weights are not
detached (they are part of the estimator, as in the paper). Defaults ``tau = 0.5, tau_plus = 0.1,
beta = 1.0``: the paper's CIFAR-10 setting.
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.losses.base import register
from audiocl.losses.debiased import Debiased, debiased_per_anchor


@register("hard_negative")
class HardNegative(Debiased):
    def __init__(self, temperature: float = 0.5, tau_plus: float = 0.1, beta: float = 1.0,
                 learnable_temperature: bool = False):
        super().__init__(temperature=temperature, tau_plus=tau_plus, learnable_temperature=learnable_temperature)
        self.beta = beta

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        t = self.temperature
        logits = sim / t
        neg = valid & ~(pos & valid)
        w = torch.softmax((self.beta * logits).masked_fill(~neg, torch.finfo(sim.dtype).min), dim=1)
        w = w * neg.to(w.dtype)
        return debiased_per_anchor(logits, pos, valid, t, self.tau_plus, neg_weights=w)
