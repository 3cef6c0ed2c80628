"""Binary NCE: classify each candidate as data (positive) or noise (negative) with a logistic loss.

Sources: "Noise-contrastive estimation: A new estimation principle for unnormalized statistical
models" (Gutmann & Hyvärinen, 2010) and, for the posterior correction as used in training criteria,
"On Sampling-Based Training Criteria for Neural Language Modeling" (Gao et al., Interspeech 2021).
With ``k`` noise samples per data sample drawn from a noise distribution ``q``, the Bayes posterior
that a candidate is data is ``sigma(G)`` with the corrected logit::

    G_ij = s_ij / tau - log(k * q(j))
    L_i  = 1/|P_i| sum_{p in P_i} -log sigma(G_ip)  +  sum_{n in N_i} -log sigma(-G_in)

With the correction the optimum ``exp(s_ij / tau)`` is the (self-normalized) data probability
``p(j | i)``; without it (``correct=False``) it is the ratio ``p(j | i) / (k q(j))``.

Noise assumption (document it when you select ``nce``): by default the negatives of row ``i`` are
taken to be ``k = |N_i|`` draws from the *uniform* distribution over that row's valid candidates,
``q = 1 / |valid_i|``. If the negatives were drawn from a larger pool (e.g. wav2vec 2.0 draws 100
negatives uniformly from the T frames of the utterance: ``num_noise=100, noise_log_prob=-log T``),
pass ``num_noise`` and ``noise_log_prob`` explicitly. Temperature default 0.1 (not from the papers,
which score with unnormalized logits; 0.1 keeps cosine similarities on the scale of ``infonce``).
"""

from __future__ import annotations


import torch
import torch.nn.functional as F
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, TemperatureMixin, masked_mean, register


@register("nce")
class NCE(TemperatureMixin, ContrastiveObjective):
    def __init__(self, temperature: float = 0.1, num_noise: int | None = None,
                 noise_log_prob: float | None = None, correct: bool = True,
                 learnable_temperature: bool = False):
        super().__init__()
        self.num_noise = num_noise
        self.noise_log_prob = noise_log_prob
        self.correct = correct
        self._init_temperature(temperature, learnable_temperature)

    def log_k_q(self, pos: Tensor, valid: Tensor) -> Tensor:
        """``log(k * q)`` per row ``(N, 1)`` under the documented noise assumption."""
        neg = valid & ~pos
        k = neg.sum(1).clamp(min=1).float() if self.num_noise is None else torch.full(
            (valid.shape[0],), float(self.num_noise), device=valid.device)
        if self.noise_log_prob is None:
            log_q = -torch.log(valid.sum(1).clamp(min=1).float())
        else:
            log_q = torch.full_like(k, float(self.noise_log_prob))
        return (torch.log(k) + log_q)[:, None]

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        g = sim / self.temperature
        if self.correct:
            g = g - self.log_k_q(pos & valid, valid).to(sim.dtype)
        p = pos & valid
        neg = valid & ~p
        pos_term = masked_mean(F.softplus(-g), p, dim=1)
        neg_term = (F.softplus(g) * neg.to(g.dtype)).sum(1)
        return pos_term + neg_term
