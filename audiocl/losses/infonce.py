"""InfoNCE / NT-Xent: pick the positive among the valid candidates with a softmax over ``sim / tau``.

Source: "Representation Learning with Contrastive Predictive Coding" (van den Oord et al., 2018);
NT-Xent is the same loss on two augmented views with self-similarity excluded ("A Simple Framework
for Contrastive Learning of Visual Representations", Chen et al., 2020)::

    L_i = -1/|P_i| sum_{p in P_i} log( exp(s_ip / tau) / sum_{j valid} exp(s_ij / tau) )

With several positives in a row each positive is scored against all valid candidates (including the
other positives) and the row averages over them. Default ``tau = 0.1``: the logit temperature of
wav2vec 2.0 (fairseq ``logit_temp``); SimCLR used 0.1-0.5 depending on batch size.

Build ``sim/pos/valid`` with :func:`audiocl.losses.pairs.two_view_pairs` (one objective over both
views = the symmetric NT-Xent) or :func:`audiocl.losses.pairs.cross_modal_pairs` +
:func:`audiocl.losses.pairs.cross_modal_loss` (one- or two-sided). For very large batches use
:meth:`InfoNCE.from_embeddings` with ``chunk_size`` (see :mod:`audiocl.losses.chunked`).
"""

from __future__ import annotations

from torch import Tensor

from audiocl.losses.base import (ContrastiveObjective, LossOutput, TemperatureMixin, masked_logsumexp, register,
                                 temperature_value)


def log_softmax_valid(logits: Tensor, valid: Tensor) -> Tensor:
    """Row-wise log-softmax over the valid candidates; 0 at invalid entries (never NaN)."""
    lse = masked_logsumexp(logits, valid, dim=1)
    return (logits - lse[:, None]).masked_fill(~valid, 0.0)


@register("infonce")
class InfoNCE(TemperatureMixin, ContrastiveObjective):
    """InfoNCE with a fixed (default) or learnable temperature."""

    def __init__(self, temperature: float = 0.1, learnable_temperature: bool = False):
        super().__init__()
        self._init_temperature(temperature, learnable_temperature)

    def per_anchor(self, sim: Tensor, pos: Tensor, valid: Tensor) -> Tensor:
        # -mean_p log softmax = lse - mean_p logit_p: avoids materializing the (N, M) log-softmax
        logits = sim / self.temperature
        p = pos & valid
        lse = masked_logsumexp(logits, valid, dim=1)
        pos_mean = logits.masked_fill(~p, 0.0).sum(1) / p.sum(1).clamp(min=1).to(sim.dtype)
        return lse - pos_mean

    def from_embeddings(self, anchors: Tensor, candidates: Tensor, pos_index: Tensor,
                        exclude_index: Tensor | None = None, chunk_size: int | None = None) -> LossOutput:
        """InfoNCE straight from embeddings with one positive per anchor, optionally chunked.

        ``sim = anchors @ candidates.T`` (normalize first for cosine); ``pos_index[i]`` is the column
        of anchor ``i``'s positive and ``exclude_index[i]`` (or -1) a column to leave out (the anchor
        itself in NT-Xent). With ``chunk_size`` the ``(N, M)`` logits are never held at once: rows are
        processed in chunks and recomputed in backward. The temperature may be learnable either way.
        """
        from audiocl.losses.chunked import chunked_infonce

        per, hit = chunked_infonce(anchors, candidates, pos_index, exclude_index,
                                   1.0 / self.temperature, chunk_size=chunk_size)
        return LossOutput(loss=per.mean(), per_sample=per,
                          logs={"acc": hit.float().mean().item(),
                                "temperature": temperature_value(self)})
