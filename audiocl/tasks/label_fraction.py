"""Label-fraction subsets (1 %, 10 %, 100 % of the transcripts / labels), reproducible by seed.

Why nested: the low-resource comparison (pretrained vs from scratch, "how much does pretraining
save") is only meaningful when the 1 % subset is inside the 10 % subset, which is inside the full
set, so a bigger fraction only *adds* labels. One seeded permutation of the C-sorted utterance ids
gives that: a fraction ``f`` keeps the first ``ceil(f * N)`` utterances of the permutation.

With ``stratify_by`` (``utt2spk`` or any utterance file such as ``utt2style``) each group is
permuted on its own and the kept count is spread over groups in proportion to their size (largest
remainders), so a 1 % style subset still holds every style when it can.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from audiocl.errors import ConfigError, DataDirError


def choose_fraction(utt_ids: list[str], fraction: float, seed: int = 0,
                    groups: dict[str, str] | None = None) -> list[str]:
    """The utterances kept for ``fraction`` (C-sorted); nested across fractions for one seed."""
    if not 0.0 < fraction <= 1.0:
        raise ConfigError(f"label fraction must be in (0, 1], got {fraction}")
    utts = sorted(utt_ids)
    if not utts:
        raise DataDirError("cannot take a label fraction of an empty data dir")
    total = max(1, math.ceil(fraction * len(utts) - 1e-9))
    if groups is None:
        rng = np.random.default_rng(seed)
        order = [utts[i] for i in rng.permutation(len(utts))]
        return sorted(order[:total])
    by_group: dict[str, list[str]] = {}
    for u in utts:
        by_group.setdefault(groups.get(u, ""), []).append(u)
    names = sorted(by_group)
    quota = {g: total * len(by_group[g]) / len(utts) for g in names}
    take = {g: int(math.floor(quota[g])) for g in names}
    # largest remainders, then at least one per group while the budget allows
    left = total - sum(take.values())
    for g in sorted(names, key=lambda g: (-(quota[g] - take[g]), g))[:left]:
        take[g] += 1
    for g in names:
        if take[g] == 0:
            donor = max(names, key=lambda d: take[d])
            if take[donor] > 1:
                take[donor] -= 1
                take[g] = 1
    kept: list[str] = []
    for k, g in enumerate(names):
        rng = np.random.default_rng([seed, k])
        members = by_group[g]
        kept += [members[i] for i in rng.permutation(len(members))[: take[g]]]
    return sorted(kept)


def make_label_fraction(src: str | Path, dst: str | Path, fraction: float, seed: int = 0,
                        stratify_by: str | None = None) -> list[str]:
    """Write the data dir ``dst`` holding ``fraction`` of ``src``'s utterances; returns their ids."""
    from audiocl.data.datadir import DataDir

    data = DataDir.load(src)
    groups = None
    if stratify_by:
        if stratify_by == "utt2spk":
            groups = dict(data.utt2spk)
        elif stratify_by in data.extra:
            groups = dict(data.extra[stratify_by])
        else:
            raise DataDirError(f"{src}: no file {stratify_by!r} to stratify the subset by")
    kept = choose_fraction(data.utt_ids, fraction, seed, groups)
    try:
        from audiocl.data.datadir_ops import subset_data_dir
    except ImportError:  # the data layer's helper; same result through DataDir.subset
        subset_data_dir = None
    if subset_data_dir is not None:
        subset_data_dir(src, dst, utt_list=kept, seed=seed)
    else:
        data.subset(kept).save(dst)
    return kept
