"""Multi-similarity loss: mine informative pairs, then weight them by three kinds of similarity.

Source: "Multi-Similarity Loss with General Pair Weighting for Deep Metric Learning" (Wang et al.,
CVPR 2019). ``sim`` is used as is (cosine similarity, no temperature). Mining (eqs. 7-8): a negative
is kept if ``s_in + epsilon > min_{p} s_ip``; a positive is kept if ``s_ip - epsilon < max_{n} s_in``.
Weighting (eq. 12) through the loss::

    L_i = 1/alpha log(1 + sum_{p kept} e^{-alpha (s_ip - lam)}) + 1/beta log(1 + sum_{n kept} e^{beta (s_in - lam)})

An anchor whose kept positives or kept negatives are empty contributes 0 (as in the authors' code).
Defaults ``alpha=2, beta=50, lam=1.0, epsilon=0.1`` are the paper's (its implementation details;
checked against pytorch-metric-learning's ``MultiSimilarityLoss`` documentation, which states "the
paper uses lambda = 1" and alpha 2 / beta 50, and notes that its own ``base=0.5`` default differs,
and against the authors' ``research-ms-loss`` code, whose mining margin is 0.1). The authors' code
itself hard-codes ``thresh = 0.5`` (our ``lam``) and reads the two scales from its config: pass
``lam=0.5`` for that variant.
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, masked_logsumexp, register


def _log1p_sum_exp(x: Tensor, mask: Tensor) -> Tensor:
    """``log(1 + sum_{mask} exp(x))`` row-wise, stable."""
    zero = torch.zeros_like(x[:, :1])
    return masked_logsumexp(torch.cat([zero, x], 1),
                            torch.cat([torch.ones_like(mask[:, :1]), mask], 1), dim=1)


@register("multi_similarity")
class MultiSimilarity(ContrastiveObjective):
    def __init__(self, alpha: float = 2.0, beta: float = 50.0, lam: float = 1.0, epsilon: float = 0.1):
        super().__init__()
        self.alpha, self.beta, self.lam, self.epsilon = alpha, beta, lam, epsilon

    def mine(self, sim: Tensor, pos: Tensor, valid: Tensor) -> tuple[Tensor, Tensor]:
        """Bool masks of the kept positives and kept negatives."""
        with torch.no_grad():
            p = pos & valid
            neg = valid & ~p
            big = torch.finfo(sim.dtype).max
            min_pos = sim.masked_fill(~p, big).amin(1, keepdim=True)
            max_neg = sim.masked_fill(~neg, -big).amax(1, keepdim=True)
            keep_neg = neg & (sim + self.epsilon > min_pos)
            keep_pos = p & (sim - self.epsilon < max_neg)
        return keep_pos, keep_neg

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        keep_pos, keep_neg = self.mine(sim, pos, valid)
        pos_term = _log1p_sum_exp(-self.alpha * (sim - self.lam), keep_pos) / self.alpha
        neg_term = _log1p_sum_exp(self.beta * (sim - self.lam), keep_neg) / self.beta
        per = pos_term + neg_term
        return per.masked_fill(~(keep_pos.any(1) & keep_neg.any(1)), 0.0)
