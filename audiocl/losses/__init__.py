"""Contrastive objectives, interchangeable by name: ``audiocl.losses.get("infonce", temperature=0.1)``.

See :mod:`audiocl.losses.base` for the shared call contract ``objective(sim, pos, valid)``.
"""

from audiocl.losses.base import ContrastiveObjective, LossOutput, available, get, register
from audiocl.losses import infonce  # noqa: F401  (registers "infonce")

__all__ = ["ContrastiveObjective", "LossOutput", "available", "get", "register"]
