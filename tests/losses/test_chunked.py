"""Chunked InfoNCE equals the dense objective in value and gradient (anchors, candidates, temperature)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import audiocl.losses as L


def _emb(n, d, seed, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(n, d, generator=g, dtype=dtype), dim=-1)


@pytest.mark.parametrize("chunk_size", [1, 5, 7, 64, None])
def test_two_view_chunked_equals_dense(chunk_size):
    b, d = 7, 6
    z1 = _emb(b, d, 0).requires_grad_(True)
    z2 = _emb(b, d, 1).requires_grad_(True)
    dense_obj = L.get("infonce", temperature=0.2, learnable_temperature=True).double()
    chunk_obj = L.get("infonce", temperature=0.2, learnable_temperature=True).double()

    dense = dense_obj(*L.two_view_pairs(z1, z2, normalize=False))
    g_dense = torch.autograd.grad(dense.loss, [z1, z2, dense_obj.log_temperature])

    z = torch.cat([z1, z2])
    pos_idx, excl_idx = L.two_view_indices(b)
    chunked = chunk_obj.from_embeddings(z, z, pos_idx, excl_idx, chunk_size=chunk_size)
    g_chunk = torch.autograd.grad(chunked.loss, [z1, z2, chunk_obj.log_temperature])

    torch.testing.assert_close(chunked.per_sample, dense.per_sample)
    torch.testing.assert_close(chunked.loss, dense.loss)
    for a, b_ in zip(g_chunk, g_dense):
        torch.testing.assert_close(a, b_)
    assert chunked.logs["acc"] == pytest.approx(dense.logs["acc"])


def test_cross_modal_chunked_equals_dense_rectangular():
    a = _emb(11, 5, 2).requires_grad_(True)
    c = _emb(13, 5, 3).requires_grad_(True)
    pos_idx = torch.tensor([3, 0, 12, 5, 5, 7, 1, 2, 9, 10, 4])
    sim = a @ c.T
    pos = torch.zeros_like(sim, dtype=torch.bool)
    pos[torch.arange(11), pos_idx] = True
    obj = L.get("infonce", temperature=0.07).double()
    dense = obj(sim, pos)
    chunked = obj.from_embeddings(a, c, pos_idx, chunk_size=4)
    torch.testing.assert_close(chunked.per_sample, dense.per_sample)
    ga = torch.autograd.grad(dense.loss, [a, c])
    gb = torch.autograd.grad(chunked.loss, [a, c])
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y)


def test_chunked_passes_gradcheck():
    a = _emb(5, 3, 4).requires_grad_(True)
    c = _emb(6, 3, 5).requires_grad_(True)
    scale = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    pos_idx = torch.tensor([0, 1, 2, 3, 4])
    excl = torch.tensor([5, -1, 0, -1, 1])
    fn = lambda a_, c_, s_: L.chunked_infonce(a_, c_, pos_idx, excl, s_, chunk_size=2)[0]
    assert torch.autograd.gradcheck(fn, (a, c, scale))


def test_chunked_rejects_inconsistent_indices():
    a = _emb(4, 3, 0)
    with pytest.raises(ValueError, match="excluded"):
        L.chunked_infonce(a, a, torch.arange(4), torch.arange(4), 1.0)
    with pytest.raises(ValueError, match="pos_index"):
        L.chunked_infonce(a, a, torch.arange(3), None, 1.0)
