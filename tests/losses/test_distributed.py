"""Negatives gathered across 2 gloo ranks: same loss and same gradient as one process on the whole batch."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import audiocl.losses as L

B_LOCAL, DIM, WORLD = 4, 8, 2


def _data():
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(WORLD * B_LOCAL, DIM, generator=g, dtype=torch.float64)
    z2 = z1 + 0.5 * torch.randn(WORLD * B_LOCAL, DIM, generator=g, dtype=torch.float64)
    a = torch.randn(WORLD * B_LOCAL, DIM, generator=g, dtype=torch.float64)
    return z1, z2, a


NAMES = ("infonce", "hard_negative")


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=WORLD)
    try:
        for name in NAMES:
            _one_objective(rank, out_dir, name)
    finally:
        dist.destroy_process_group()


def _one_objective(rank: int, out_dir: str, name: str) -> None:
    z1, z2, a = _data()
    sl = slice(rank * B_LOCAL, (rank + 1) * B_LOCAL)
    x1 = z1[sl].clone().requires_grad_(True)
    x2 = z2[sl].clone().requires_grad_(True)
    obj = L.get(name).double()
    out = obj(*L.two_view_pairs(x1, x2, gather=True))
    loss = out.per_sample.sum() / (2 * WORLD * B_LOCAL)  # this rank's share of the global mean
    loss.backward()
    # cross-modal: local audio anchors against the text of all ranks
    xa = a[sl].clone().requires_grad_(True)
    xt = z1[sl].clone().requires_grad_(True)
    cm = L.get("infonce").double()(*L.cross_modal_pairs(xa, xt, gather=True))
    (cm.per_sample.sum() / (WORLD * B_LOCAL)).backward()
    torch.save({"loss": loss.detach(), "g1": x1.grad, "g2": x2.grad, "per": out.per_sample.detach(),
                "cm_loss": cm.per_sample.sum().detach() / (WORLD * B_LOCAL), "ga": xa.grad, "gt": xt.grad},
               os.path.join(out_dir, f"{name}-rank{rank}.pt"))


@pytest.fixture(scope="module")
def gathered(tmp_path_factory):
    """Run both ranks once; each test reads the saved results."""
    out = tmp_path_factory.mktemp("gloo")
    # fork: the children inherit the imported torch (spawn re-imports it: ~10 s per child on a busy box)
    mp.start_processes(_worker, args=(str(out / "init"), str(out)), nprocs=WORLD, join=True, start_method="fork")
    return out


@pytest.mark.integration
@pytest.mark.parametrize("name", NAMES)
def test_gathered_gradient_equals_single_process(gathered, name):
    res = [torch.load(gathered / f"{name}-rank{r}.pt") for r in range(WORLD)]

    z1, z2, a = _data()
    x1, x2 = z1.clone().requires_grad_(True), z2.clone().requires_grad_(True)
    full = L.get(name).double()(*L.two_view_pairs(x1, x2))
    full.loss.backward()
    torch.testing.assert_close(sum(r["loss"] for r in res), full.loss.detach())
    torch.testing.assert_close(torch.cat([r["g1"] for r in res]), x1.grad)
    torch.testing.assert_close(torch.cat([r["g2"] for r in res]), x2.grad)
    # per-sample losses come back per rank in [view1; view2] order
    per_full = full.per_sample.detach().reshape(2, WORLD, B_LOCAL)
    for r in range(WORLD):
        torch.testing.assert_close(res[r]["per"], per_full[:, r].reshape(-1))

    xa, xt = a.clone().requires_grad_(True), z1.clone().requires_grad_(True)
    cm = L.get("infonce").double()(*L.cross_modal_pairs(xa, xt))
    cm.loss.backward()
    torch.testing.assert_close(sum(r["cm_loss"] for r in res), cm.loss.detach())
    torch.testing.assert_close(torch.cat([r["ga"] for r in res]), xa.grad)
    torch.testing.assert_close(torch.cat([r["gt"] for r in res]), xt.grad)


def test_gather_is_identity_without_process_group():
    x = torch.randn(3, 2)
    assert L.gather_with_grad(x) is x
