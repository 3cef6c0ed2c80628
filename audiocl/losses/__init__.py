"""Contrastive objectives, interchangeable by name: ``audiocl.losses.get("infonce", temperature=0.1)``.

See :mod:`audiocl.losses.base` for the shared call contract ``objective(sim, pos, valid)`` and
:mod:`audiocl.losses.pairs` for building ``(sim, pos, valid)`` from two views, a cross-modal batch or
labels. ``docs/losses.md`` lists every objective with its formula and source.
"""

from audiocl.losses.base import ContrastiveObjective, LossOutput, available, get, register
from audiocl.losses import (  # noqa: F401  (each import registers its objective)
    auc,
    cwcl,
    dcl,
    debiased,
    hard_negative,
    infonce,
    multi_similarity,
    nce,
    supcon,
)
from audiocl.losses.chunked import chunked_infonce, two_view_indices
from audiocl.losses.distributed import gather_with_grad
from audiocl.losses.pairs import (
    Pairs,
    cosine_similarity,
    cross_modal_loss,
    cross_modal_pairs,
    cwcl_weights,
    label_pairs,
    two_view_pairs,
)

__all__ = [
    "ContrastiveObjective",
    "LossOutput",
    "Pairs",
    "available",
    "chunked_infonce",
    "cosine_similarity",
    "cross_modal_loss",
    "cross_modal_pairs",
    "cwcl_weights",
    "gather_with_grad",
    "get",
    "label_pairs",
    "register",
    "two_view_indices",
    "two_view_pairs",
]
