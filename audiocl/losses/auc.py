"""AUC / Mann-Whitney surrogate: a logistic loss on every (positive, negative) score difference.

Source: "Optimizing What Matters: AUC-Driven Learning for Robust Neural Retrieval" (Sheikholeslami et
al., 2025), the "MW loss": the Mann-Whitney U statistic counts correctly ordered (positive, negative)
pairs and equals the AUC; replacing the step by binary cross-entropy on the score difference gives
a smooth upper bound of the area over the curve::

    L_i = 1/(|P_i| |N_i|) sum_{p in P_i} sum_{n in N_i} -log sigma( scale * (s_ip - s_in) )

Unlike InfoNCE, every pair is penalized on its own, so scores are pushed apart globally (calibrated
for thresholding). ``scale`` (default 1.0: the plain BCE on raw score differences as the paper
writes it) sharpens the sigmoid for cosine similarities; as ``scale -> inf``, ``L_i / scale`` tends
to the mean pairwise hinge ``mean max(0, s_in - s_ip)``. Rows without negatives are 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, register


@register("auc")
class AUCLoss(ContrastiveObjective):
    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        p = pos & valid
        neg = valid & ~p
        n_rows = sim.shape[0]
        k = int(p.sum(1).max().item()) if n_rows else 0
        if k == 0:
            return sim.sum(1) * 0.0
        # gather each row's positives into (N, K) (padded), so memory is N*K*M, not N*M*M
        order = torch.argsort(p.to(torch.int8), dim=1, descending=True, stable=True)[:, :k]
        pos_sim = sim.gather(1, order)                      # (N, K)
        pos_ok = p.gather(1, order)                         # (N, K)
        diff = self.scale * (pos_sim[:, :, None] - sim[:, None, :])   # (N, K, M)
        pair_ok = pos_ok[:, :, None] & neg[:, None, :]
        losses = F.softplus(-diff) * pair_ok.to(sim.dtype)
        count = pair_ok.sum((1, 2)).clamp(min=1).to(sim.dtype)
        return losses.sum((1, 2)) / count
