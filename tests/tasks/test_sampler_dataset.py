"""Duration-bucketed sampler (budget, determinism, resume position, DDP split) and the audio dataset/collate."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiocl.data.dataset import AudioDataset, AudioItem, collate_audio
from audiocl.data.sampler import DurationBucketBatchSampler

DURS = [0.5 + 0.37 * ((i * 7) % 23) for i in range(60)]


def ids(batches):
    return [[i for i, _ in b] for b in batches]


def test_budget_and_coverage():
    s = DurationBucketBatchSampler(DURS, 6.0, num_buckets=4, seed=1)
    batches = ids(s)
    assert sorted(i for b in batches for i in b) == list(range(len(DURS)))  # each utterance once per epoch
    for b in batches:
        assert len(b) == 1 or max(DURS[i] for i in b) * len(b) <= 6.0 + 1e-9
    assert len(batches) == len(s.global_batches(0))


def test_deterministic_per_seed_and_changes_per_epoch():
    a = DurationBucketBatchSampler(DURS, 6.0, seed=3)
    b = DurationBucketBatchSampler(DURS, 6.0, seed=3)
    e0a, e0b = ids(a), ids(b)
    assert e0a == e0b
    e1 = ids(a)  # the next iteration is the next epoch
    assert e1 != e0a
    c = DurationBucketBatchSampler(DURS, 6.0, seed=4)
    assert ids(c) != e0a


def test_resume_position_skips_consumed_batches():
    full = DurationBucketBatchSampler(DURS, 6.0, seed=5)
    epochs = [list(full), list(full)]
    s = DurationBucketBatchSampler(DURS, 6.0, seed=5)
    it = iter(s)
    for _ in range(3):
        next(it)
    s.consumed = 3
    state = s.state_dict()
    r = DurationBucketBatchSampler(DURS, 6.0, seed=0)  # seed comes back from the state
    r.load_state_dict(state)
    assert list(r) == epochs[0][3:]
    assert list(r) == epochs[1]
    # a checkpoint at the very end of an epoch resumes with the next epoch
    state = {"epoch": 0, "consumed": len(epochs[0]), "seed": 5}
    r2 = DurationBucketBatchSampler(DURS, 6.0)
    r2.load_state_dict(state)
    assert list(r2) == epochs[1]


def test_ddp_split_equals_single_process_with_combined_budget():
    single = DurationBucketBatchSampler(DURS, 12.0, seed=2)
    ranks = [DurationBucketBatchSampler(DURS, 6.0, seed=2, num_replicas=2, rank=r) for r in range(2)]
    b0, b1, bs = list(ranks[0]), list(ranks[1]), list(single)
    assert len(b0) == len(b1) == len(bs)
    for x, y, z in zip(b0, b1, bs):
        assert sorted(x + y) == sorted(z) or len(z) == 1


def test_dataset_crop_is_seeded_and_collate_pads(write_tone):
    p1 = write_tone("a.wav", seconds=1.0, seed=1)
    p2 = write_tone("b.wav", seconds=0.5, seed=2)
    ds = AudioDataset([AudioItem("a", str(p1), 1.0), AudioItem("b", str(p2), 0.5)], crop_seconds=0.75)
    assert ds.durations == [0.75, 0.5]
    x1, x2, x3 = ds[(0, 11)]["wav"], ds[(0, 11)]["wav"], ds[(0, 12)]["wav"]
    assert len(x1) == 12000 and torch.equal(x1, x2) and not torch.equal(x1, x3)
    batch = collate_audio([ds[(0, 1)], ds[(1, 1)]])
    assert batch["wav"].shape == (2, 12000)
    assert batch["lengths"].tolist() == [12000, 8000]
    assert batch["padding_mask"][1, 8000:].all() and not batch["padding_mask"][1, :8000].any()
    assert float(batch["wav"][1, 8000:].abs().sum()) == 0.0
    cropped = collate_audio([ds[(0, 1)], ds[(1, 1)]], crop_to_shortest=True)
    assert cropped["wav"].shape == (2, 8000) and not cropped["padding_mask"].any()


def test_bad_utterance_is_dropped_and_counted(write_tone, tmp_path):
    good = write_tone("g.wav", seconds=0.5)
    ds = AudioDataset([AudioItem("good", str(good), 0.5), AudioItem("missing", str(tmp_path / "nope.wav"), 0.5)])
    batch = collate_audio([ds[0], ds[1]])
    assert batch["utt_ids"] == ["good"] and batch["num_bad"] == 1
    strict = AudioDataset(ds.items, skip_bad=False)
    from audiocl.errors import AudioReadError

    with pytest.raises(AudioReadError, match="missing"):
        strict[1]
