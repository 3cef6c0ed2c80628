"""CLAP negatives gathered across 2 gloo ranks under DDP = one process on the whole batch.

Each rank embeds its half of a batch with a tiny two-tower model wrapped in
``DistributedDataParallel`` and computes ``clap_loss(..., gather=True)``; DDP then averages the parameter
gradients over ranks. That must equal the loss and gradients of one process on the full batch, for
every kind of positives (pairs, pairs + compositional hard negatives, scene labels, soft CWCL weights),
which only holds if the gathered candidates carry gradient back to the rank that produced them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn.functional as F

import audiocl.losses as L
from audiocl.tasks.clap import clap_loss

WORLD, B_LOCAL, IN_DIM, EMBED = 2, 4, 6, 5
B = WORLD * B_LOCAL


@dataclass(frozen=True)
class Case:
    name: str
    objective: str
    positives: str = "pairs"
    hard_negatives: bool = False


CASES = (Case("infonce", "infonce"), Case("infonce_hard_negatives", "infonce", hard_negatives=True),
         Case("dcl", "dcl"), Case("supcon_scene", "supcon", positives="scene"),
         Case("cwcl_soft", "cwcl", positives="soft"))


class Towers(torch.nn.Module):
    """Linear audio and text projections with CLAP's learnable logit scale (the parameters DDP averages)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(1)
        self.audio = torch.nn.Parameter(torch.randn(IN_DIM, EMBED, generator=g, dtype=torch.float64))
        self.text = torch.nn.Parameter(torch.randn(IN_DIM, EMBED, generator=g, dtype=torch.float64))
        self.log_logit_scale = torch.nn.Parameter(torch.tensor(2.0, dtype=torch.float64))

    def forward(self, xa, xt, xh):
        return (F.normalize(xa @ self.audio, dim=-1), F.normalize(xt @ self.text, dim=-1),
                F.normalize(xh @ self.text, dim=-1), self.log_logit_scale.exp())


def _batch():
    """The full batch: audio / caption features, scene ids with repeats across ranks, and two hard
    negatives for some clips of each rank (owner = clip index in the full batch)."""
    g = torch.Generator().manual_seed(0)
    xa = torch.randn(B, IN_DIM, generator=g, dtype=torch.float64)
    xt = xa + 0.7 * torch.randn(B, IN_DIM, generator=g, dtype=torch.float64)
    scene = torch.tensor([0, 1, 2, 0, 1, 3, 0, 2])
    owner = torch.tensor([0, 0, 2, 5, 6, 7])
    xh = xt[owner] + 0.3 * torch.randn(len(owner), IN_DIM, generator=g, dtype=torch.float64)
    return xa, xt, xh, scene, owner


def _loss(case: Case, towers, xa, xt, xh, scene, owner, gather: bool):
    objective = L.get(case.objective).double()
    audio, text, hard, scale = towers(xa, xt, xh)
    return clap_loss(objective, audio, text, scale, positives=case.positives, scene=scene, text_features=xt,
                     hard_text=hard if case.hard_negatives else None,
                     hard_owner=owner if case.hard_negatives else None, gather=gather)


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        xa, xt, xh, scene, owner = _batch()
        lo, hi = rank * B_LOCAL, (rank + 1) * B_LOCAL
        mine = (owner >= lo) & (owner < hi)  # each rank holds the hard negatives of its own clips
        for case in CASES:
            ddp = torch.nn.parallel.DistributedDataParallel(Towers())
            out = _loss(case, ddp, xa[lo:hi], xt[lo:hi], xh[mine], scene[lo:hi], owner[mine] - lo, gather=True)
            out.loss.backward()
            torch.save({"loss": out.loss.detach(), "per_sample": out.per_sample.detach(),
                        "grads": {n: p.grad.clone() for n, p in ddp.module.named_parameters()}},
                       os.path.join(out_dir, f"{case.name}-rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    """Both ranks run every case once; the tests read what they saved."""
    out = tmp_path_factory.mktemp("clap_gloo")
    # fork: the children inherit the imported torch and audiocl instead of importing them again
    mp.start_processes(_worker, args=(str(out / "init"), str(out)), nprocs=WORLD, join=True, start_method="fork")
    return out


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_gathered_clap_loss_equals_one_process_on_the_full_batch(ranks, case):
    res = [torch.load(ranks / f"{case.name}-rank{r}.pt") for r in range(WORLD)]
    towers = Towers()
    full = _loss(case, towers, *_batch(), gather=False)
    full.loss.backward()
    # each rank's rows see the candidates of both ranks: the same per-pair losses as the full batch
    torch.testing.assert_close(torch.cat([r["per_sample"] for r in res]), full.per_sample.detach(),
                               rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(sum(r["loss"] for r in res) / WORLD, full.loss.detach(), rtol=1e-5, atol=1e-5)
    for name, p in towers.named_parameters():
        for r in range(WORLD):  # DDP leaves the same averaged gradient on every rank
            torch.testing.assert_close(res[r]["grads"][name], p.grad, rtol=1e-5, atol=1e-5, msg=name)


def test_gradient_of_other_ranks_candidates_matters():
    """The check above could not pass by accident: without the other rank's candidates (each rank on its
    own half, gradients averaged) the gradient differs from the full batch's."""
    case = CASES[0]
    xa, xt, xh, scene, owner = _batch()
    full_towers = Towers()
    _loss(case, full_towers, xa, xt, xh, scene, owner, gather=False).loss.backward()
    halves = []
    for r in range(WORLD):
        towers = Towers()
        sl = slice(r * B_LOCAL, (r + 1) * B_LOCAL)
        _loss(case, towers, xa[sl], xt[sl], xh, scene[sl], owner, gather=False).loss.backward()
        halves.append(towers.audio.grad)
    assert (sum(halves) / WORLD - full_towers.audio.grad).abs().max() > 1e-3
