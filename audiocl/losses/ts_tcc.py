"""TS-TCC's temporal and contextual contrasting, built on the shared objective contract.

Source: "Time-Series Representation Learning via Temporal and Contextual Contrasting" (Eldele et al.,
IJCAI 2021), Sec. 3.2-3.4, and its code (``models/TC.py``, ``trainer/trainer.py``). Two augmented
views of each series (weak: scaling + jitter; strong: permutation + jitter) are encoded into
per-timestep latents ``z`` (L2-normalised per step, as the code does).

- **Temporal contrasting** (TC): an autoregressive model summarises one view's past ``z_{<=t}`` into
  a context ``c_t``; for ``k = 1..K`` a linear map ``W_k`` predicts the *other* view's latent
  ``z_{t+k}``. The prediction of sample ``i`` must pick its own ``z_{t+k}`` among the batch's
  latents at that step (InfoNCE with dot-product scores, temperature 1, i.e. the code's plain
  log-softmax)::

      TC_i = -1/K sum_k log( exp(W_k(c_t^i) . z_{t+k}^i) / sum_j exp(W_k(c_t^i) . z_{t+k}^j) )

  The paper writes the softmax over candidates of one prediction (rows = predictions, as here);
  its code normalises over predictions for one target instead (the transpose). Both are InfoNCE
  over the same ``(B, B)`` score matrix; we follow the paper's formula.
- **Contextual contrasting** (CC): NT-Xent between the two views' projected contexts, cosine
  similarity, temperature 0.2 (code: ``Context_Cont.temperature``).
- Loss: ``lambda_tc * (TC_strong->weak + TC_weak->strong) + lambda_cc * CC`` with ``lambda_tc = 1``,
  ``lambda_cc = 0.7`` (code: ``lambda1``, ``lambda2``).

Every term is per sample ``(B,)`` so :mod:`audiocl.losses.dbpm` can wrap it. Variable length / missing
values: a target step that is missing or padded for sample ``j`` is left out as a candidate of every
row (``valid``), and sample ``j``'s own prediction at that step is dropped from its average over ``k``.
The learnable parts (context transformer, ``W_k``, projection head) live in the model
(:class:`audiocl.nn.ts_encoders.ContextTransformer`, :class:`audiocl.ts.tstcc.TSTCCHead`).
"""

from __future__ import annotations

import torch
from torch import Tensor

from audiocl.losses.base import ContrastiveObjective, LossOutput, get
from audiocl.losses.ts_hierarchical import nt_xent_loss


def temporal_contrast_tcc(pred: Tensor, target: Tensor, valid: Tensor | None = None,
                          objective: ContrastiveObjective | None = None) -> LossOutput:
    """Per-sample TC loss ``(B,)`` from predictions and targets ``(K, B, D)``.

    ``pred[k, i] = W_k(c_t^i)``, ``target[k, j] = z_{t+k+1}^j`` of the other view; ``valid`` ``(K, B)``
    bool, ``False`` where that target step is missing / padded. ``objective`` defaults to
    ``infonce`` with temperature 1 (the source's plain softmax on dot products); any objective of
    the library can be used. Samples without any valid step get loss 0 and are left out of the mean.
    """
    if pred.dim() != 3 or pred.shape != target.shape:
        raise ValueError(f"pred and target must both be (K, B, D), got {tuple(pred.shape)} and {tuple(target.shape)}")
    k, b, _ = pred.shape
    if objective is None:
        objective = get("infonce", temperature=1.0)
    if valid is None:
        valid = torch.ones(k, b, dtype=torch.bool, device=pred.device)
    sim = torch.einsum("kid,kjd->kij", pred, target).reshape(k * b, b)
    eye = torch.eye(b, dtype=torch.bool, device=pred.device)
    pos = eye.expand(k, b, b).reshape(k * b, b)
    ok = valid[:, None, :].expand(k, b, b).reshape(k * b, b)
    out = objective(sim, pos, ok)
    per_kb = out.per_sample.reshape(k, b)
    w = valid.to(per_kb.dtype)
    n = w.sum(0)
    per = (per_kb * w).sum(0) / n.clamp(min=1)
    has = n > 0
    loss = per[has].mean() if bool(has.any()) else per.sum() * 0.0
    return LossOutput(loss=loss, per_sample=per, logs=dict(out.logs))


def tstcc_loss(pred_s: Tensor, target_w: Tensor, valid_w: Tensor | None,
               pred_w: Tensor, target_s: Tensor, valid_s: Tensor | None,
               proj_s: Tensor, proj_w: Tensor, *, lambda_tc: float = 1.0, lambda_cc: float = 0.7,
               tc_objective: ContrastiveObjective | None = None,
               cc_objective: ContrastiveObjective | None = None) -> LossOutput:
    """TS-TCC's loss with per-sample values ``(B,)``.

    ``pred_s`` / ``pred_w``: predictions ``(K, B, D)`` from the strong / weak view's context;
    ``target_w`` / ``target_s``: the *other* view's future latents ``(K, B, D)`` with their ``valid``
    masks; ``proj_s`` / ``proj_w``: projected contexts ``(B, P)`` for contextual contrasting.
    ``cc_objective`` defaults to ``infonce`` with temperature 0.2 on cosine similarity (NT-Xent).
    """
    tc_s = temporal_contrast_tcc(pred_s, target_w, valid_w, tc_objective)
    tc_w = temporal_contrast_tcc(pred_w, target_s, valid_s, tc_objective)
    cc = nt_xent_loss(proj_s, proj_w, cc_objective if cc_objective is not None else get("infonce", temperature=0.2))
    per = lambda_tc * (tc_s.per_sample + tc_w.per_sample) + lambda_cc * cc.per_sample
    logs = {
        "tc_strong": float(tc_s.loss.detach()), "tc_weak": float(tc_w.loss.detach()), "cc": float(cc.loss.detach()),
    }
    if "acc" in tc_s.logs:
        logs["tc_acc"] = 0.5 * (tc_s.logs["acc"] + tc_w.logs.get("acc", tc_s.logs["acc"]))
    if "acc" in cc.logs:
        logs["cc_acc"] = cc.logs["acc"]
    return LossOutput(loss=per.mean(), per_sample=per, logs=logs)


__all__ = ["temporal_contrast_tcc", "tstcc_loss"]
