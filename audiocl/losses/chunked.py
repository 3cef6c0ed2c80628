"""InfoNCE for large batches without materializing the ``(N, M)`` logits.

The dense path holds ``sim``, the logits, the softmax and their gradients, each ``N x M`` (at
4096 x 4096 float32: 64 MiB apiece). :func:`chunked_infonce` processes anchors in row chunks: the
forward keeps only the per-row log-normalizer ``lse (N,)``; the backward recomputes each chunk's
logits and forms the gradient ``(softmax - onehot) * scale`` chunk by chunk, so peak memory is
``O(chunk * M)`` instead of ``O(N * M)``. Cost: the ``anchors @ candidates.T`` product is computed
twice (once in forward, once in backward).

Gradients w.r.t. anchors, candidates and the logit scale (``1 / temperature``, may be learnable) are
exact: the result equals the dense :class:`~audiocl.losses.infonce.InfoNCE` on
``sim = anchors @ candidates.T`` with one positive per row (tested).
"""

from __future__ import annotations

import torch
from torch import Tensor


class _ChunkedInfoNCE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q: Tensor, k: Tensor, scale: Tensor, pos_index: Tensor, exclude_index: Tensor, chunk: int):
        n = q.shape[0]
        lse = q.new_empty(n)
        loss = q.new_empty(n)
        hit = torch.empty(n, dtype=torch.bool, device=q.device)
        with torch.no_grad():
            for s0 in range(0, n, chunk):
                s1 = min(n, s0 + chunk)
                logits = _chunk_logits(q[s0:s1], k, scale, exclude_index[s0:s1])
                lse[s0:s1] = torch.logsumexp(logits, dim=1)
                rows = torch.arange(s1 - s0, device=q.device)
                loss[s0:s1] = lse[s0:s1] - logits[rows, pos_index[s0:s1]]
                hit[s0:s1] = logits.argmax(1) == pos_index[s0:s1]
        ctx.save_for_backward(q, k, scale, pos_index, exclude_index, lse)
        ctx.chunk = chunk
        ctx.mark_non_differentiable(hit)
        return loss, hit

    @staticmethod
    def backward(ctx, grad_loss: Tensor, _grad_hit):
        q, k, scale, pos_index, exclude_index, lse = ctx.saved_tensors
        chunk = ctx.chunk
        n = q.shape[0]
        dq = torch.zeros_like(q) if ctx.needs_input_grad[0] else None
        dk = torch.zeros_like(k) if ctx.needs_input_grad[1] else None
        dscale = torch.zeros_like(scale) if ctx.needs_input_grad[2] else None
        gscale = grad_loss * scale                            # d loss_i / d s_ij = scale * g_i * (p_ij - y_ij)
        for s0 in range(0, n, chunk):
            s1 = min(n, s0 + chunk)
            qc = q[s0:s1]
            s = qc @ k.T
            if dscale is not None:
                # d loss / d scale = sum_ij g_i (p_ij - y_ij) s_ij, accumulated before s is overwritten
                rows = torch.arange(s1 - s0, device=q.device)
                s_pos = s[rows, pos_index[s0:s1]]
            p = _mask_excluded(s.mul(scale) if dscale is not None else s.mul_(scale), exclude_index[s0:s1])
            p.sub_(lse[s0:s1, None]).exp_()                   # softmax, 0 at excluded entries
            if dscale is not None:
                dscale += (grad_loss[s0:s1] * ((p * s).sum(1) - s_pos)).sum()
            rows = torch.arange(s1 - s0, device=q.device)
            p[rows, pos_index[s0:s1]] -= 1.0
            p.mul_(gscale[s0:s1, None])                       # d loss / d s for this chunk
            if dq is not None:
                torch.mm(p, k, out=dq[s0:s1])
            if dk is not None:
                dk.addmm_(p.T, qc)
            del s, p
        return dq, dk, dscale, None, None, None


def _mask_excluded(logits: Tensor, exclude: Tensor) -> Tensor:
    """Set ``logits[i, exclude[i]] = -inf`` where ``exclude[i] >= 0``, in place, without a host sync."""
    idx = exclude.clamp(min=0)[:, None]
    keep = logits.gather(1, idx)
    logits.scatter_(1, idx, torch.where((exclude >= 0)[:, None], torch.full_like(keep, float("-inf")), keep))
    return logits


def _chunk_logits(qc: Tensor, k: Tensor, scale: Tensor, exclude: Tensor) -> Tensor:
    return _mask_excluded((qc @ k.T).mul_(scale), exclude)


def chunked_infonce(anchors: Tensor, candidates: Tensor, pos_index: Tensor, exclude_index: Tensor | None,
                    scale: Tensor | float, chunk_size: int | None = 1024) -> tuple[Tensor, Tensor]:
    """Per-anchor InfoNCE ``lse_j(scale * a_i.c_j) - scale * a_i.c_{pos_i}`` and top-1 hits, both ``(N,)``.

    ``exclude_index[i] >= 0`` removes that column from row ``i`` (self-similarity); -1 keeps all.
    ``chunk_size=None`` (or >= N) still uses the memory-saving backward with a single chunk.
    """
    n = anchors.shape[0]
    if candidates.dim() != 2 or anchors.dim() != 2 or anchors.shape[1] != candidates.shape[1]:
        raise ValueError(f"anchors (N, D) and candidates (M, D) must share D, got {tuple(anchors.shape)} "
                         f"and {tuple(candidates.shape)}")
    if pos_index.shape != (n,):
        raise ValueError(f"pos_index must be ({n},), got {tuple(pos_index.shape)}")
    if exclude_index is None:
        exclude_index = torch.full((n,), -1, dtype=torch.long, device=anchors.device)
    if bool((exclude_index == pos_index).any()):
        raise ValueError("an anchor's positive cannot also be its excluded column")
    if not isinstance(scale, Tensor):
        scale = torch.tensor(float(scale), device=anchors.device, dtype=anchors.dtype)
    chunk = n if not chunk_size else max(1, int(chunk_size))
    return _ChunkedInfoNCE.apply(anchors, candidates, scale.to(anchors.dtype), pos_index.long(),
                                 exclude_index.long(), chunk)


def two_view_indices(b: int, device=None) -> tuple[Tensor, Tensor]:
    """``(pos_index, exclude_index)`` for anchors = candidates = ``[z1; z2]`` (NT-Xent, 2B rows)."""
    i = torch.arange(2 * b, device=device)
    return (i + b) % (2 * b), i
