from __future__ import annotations

import torch

from audiocl.nn.masking import compute_span_mask, lengths_to_padding_mask
from audiocl.nn.negatives import sample_in_groups


def _runs(row: torch.Tensor) -> list[int]:
    runs, n = [], 0
    for v in row.tolist() + [False]:
        if v:
            n += 1
        elif n:
            runs.append(n)
            n = 0
    return runs


def test_span_mask_respects_padding_span_length_and_fairseq_rate():
    torch.manual_seed(0)
    lengths = torch.tensor([500, 320, 37, 12, 5, 0])
    mask = compute_span_mask(lengths, 500, mask_prob=0.65, mask_length=10, min_masks=2)
    pad = lengths_to_padding_mask(lengths, 500)
    assert not (mask & pad).any()
    for i, n in enumerate(lengths.tolist()):
        runs = _runs(mask[i])
        if n >= 10:
            assert runs and min(runs) >= 10, (i, runs)  # whole spans only
        elif n > 0:
            assert runs == [n]  # one span clipped to the utterance
        else:
            assert runs == []
    # fairseq BASE (0.65, 10) masks about half of the frames of long utterances (spans overlap)
    many = compute_span_mask(torch.full((64,), 1000), 1000, 0.65, 10, 2)
    frac = many.float().mean().item()
    assert 0.42 < frac < 0.56, frac


def test_span_mask_min_masks_and_zero_prob():
    torch.manual_seed(1)
    mask = compute_span_mask(torch.tensor([100] * 8), 100, mask_prob=0.01, mask_length=5, min_masks=2)
    assert (mask.sum(1) >= 5).all()  # at least the min_masks spans (possibly overlapping)
    assert not compute_span_mask(torch.tensor([100]), 100, 0.0, 10).any()


def test_negatives_stay_in_group_exclude_self_and_cover_all_members():
    torch.manual_seed(0)
    groups = torch.tensor([0] * 5 + [1] * 3 + [2] + [3] * 4)[torch.randperm(13)]
    idx, valid = sample_in_groups(groups, 400)
    anchors = torch.arange(13)
    for a in range(13):
        members = set((groups == groups[a]).nonzero().flatten().tolist()) - {a}
        if not members:
            assert not valid[a].any()
            continue
        assert valid[a].all()
        drawn = idx[a].tolist()
        assert a not in drawn and set(drawn) == members  # uniform over the others: all of them show up
    assert (groups[idx] == groups[anchors][:, None]).all()


def test_negatives_with_self_allowed_and_anchor_subset():
    torch.manual_seed(0)
    groups = torch.tensor([0, 0, 1, 1, 1])
    idx, valid = sample_in_groups(groups, 200, exclude_self=False, anchors=torch.tensor([4, 0]))
    assert valid.all()
    assert set(idx[0].tolist()) == {2, 3, 4}
    assert set(idx[1].tolist()) == {0, 1}
