"""Duration-bucketed batch sampler: batches limited by total (padded) seconds, resumable, DDP-aware.

Why this shape:

- Speech batches are limited by audio *seconds*, not utterance count (fairseq's ``max_tokens``), so
  memory stays flat whether utterances are 1 s or 15 s. The cost of a batch is its padded size
  ``max(duration) * count``: that is what the model really allocates.
- Utterances are sorted by duration and cut into ``num_buckets`` equal-count buckets; batches are
  packed inside one bucket (little padding) and the order of batches is shuffled across buckets.
  Within a bucket the order is shuffled every epoch, so batch compositions change between epochs.
- Everything random derives from ``(seed, epoch)``: the same seed gives the same batches on every
  rank and every run, which is what makes resume and DDP reproducible.
- Under DDP each *global* batch (budget ``max_batch_seconds * num_replicas``) is split into
  ``num_replicas`` interleaved parts, one per rank. So every rank sees the same number of batches
  (no rank waits forever at an all-reduce) and a 2-rank run sees exactly the batches a 1-rank run
  with twice the budget sees.
- The position inside an epoch is part of :meth:`state_dict`: after a resume the batches already
  trained on are skipped, so no utterance is seen twice or missed.

Each batch is a list of ``(index, item_seed)`` pairs; ``item_seed`` is a per-utterance, per-epoch
seed the dataset uses for random cropping, so cropping is reproducible regardless of worker count.
"""

from __future__ import annotations

import math
from typing import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


def item_seed(seed: int, epoch: int, index: int) -> int:
    """A 63-bit seed unique to (run seed, epoch, utterance index)."""
    return int(np.random.SeedSequence([seed, epoch, index]).generate_state(2, dtype=np.uint32).view(np.uint64)[0] >> 1)


class DurationBucketBatchSampler(Sampler[list]):
    """Yield lists of ``(index, item_seed)`` whose padded duration is at most ``max_batch_seconds``.

    Args:
        durations: seconds per dataset index (already clipped to the crop length, if any).
        max_batch_seconds: budget per rank for ``max(duration) * batch_size``. An utterance longer
            than the budget forms a batch of its own.
        num_buckets: number of equal-count duration buckets (1 = no bucketing).
        shuffle: shuffle within buckets and the batch order, per epoch.
        seed: base seed; batches are a pure function of ``(seed, epoch)``.
        max_batch_size: optional cap on utterances per rank and batch.
        drop_last: drop the last (usually smaller) batch of each bucket.
        num_replicas, rank: DDP world size and this process' rank.
    """

    def __init__(
        self,
        durations: Sequence[float],
        max_batch_seconds: float,
        *,
        num_buckets: int = 10,
        shuffle: bool = True,
        seed: int = 0,
        max_batch_size: int | None = None,
        drop_last: bool = False,
        num_replicas: int = 1,
        rank: int = 0,
    ):
        if max_batch_seconds <= 0:
            raise ValueError(f"max_batch_seconds must be > 0, got {max_batch_seconds}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} out of range for num_replicas={num_replicas}")
        self.durations = np.asarray(durations, dtype=np.float64)
        if self.durations.ndim != 1 or len(self.durations) == 0:
            raise ValueError("durations must be a non-empty 1-D sequence")
        self.max_batch_seconds = float(max_batch_seconds)
        self.num_buckets = max(1, int(num_buckets))
        self.shuffle = shuffle
        self.seed = int(seed)
        self.max_batch_size = max_batch_size
        self.drop_last = drop_last
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self._next_epoch = 0
        self.consumed = 0
        """Batches of the current epoch already trained on (set by the training loop)."""
        self._skip = 0
        self._cache: dict[int, list[list[int]]] = {}

    # ------------------------------------------------------------------ batches
    def global_batches(self, epoch: int) -> list[list[int]]:
        """The batches of ``epoch`` before the per-rank split (identical on every rank)."""
        if epoch in self._cache:
            return self._cache[epoch]
        rng = np.random.default_rng([self.seed, epoch])
        n = len(self.durations)
        tie_break = rng.random(n) if self.shuffle else np.arange(n, dtype=np.float64)
        order = np.lexsort((tie_break, self.durations))
        buckets = np.array_split(order, min(self.num_buckets, n))
        budget = self.max_batch_seconds * self.num_replicas
        cap = None if self.max_batch_size is None else self.max_batch_size * self.num_replicas
        batches: list[list[int]] = []
        for bucket in buckets:
            if len(bucket) == 0:
                continue
            items = rng.permutation(bucket) if self.shuffle else bucket
            batches.extend(self._pack(items, budget, cap))
        if self.shuffle:
            perm = rng.permutation(len(batches))
            batches = [batches[i] for i in perm]
        self._cache = {k: v for k, v in self._cache.items() if k in (epoch - 1, epoch, epoch + 1)}
        self._cache[epoch] = batches
        return batches

    def _pack(self, items: np.ndarray, budget: float, cap: int | None) -> list[list[int]]:
        out: list[list[int]] = []
        cur: list[int] = []
        cur_max = 0.0
        for idx in items.tolist():
            d = float(self.durations[idx])
            new_max = max(cur_max, d)
            if cur and (new_max * (len(cur) + 1) > budget or (cap is not None and len(cur) >= cap)):
                out.append(cur)
                cur, new_max = [], d
            cur.append(idx)
            cur_max = new_max
        if cur and not (self.drop_last and out):
            out.append(cur)
        return out

    def rank_batch(self, batch: list[int]) -> list[int]:
        """This rank's share of a global batch (cycled when it has fewer items than ranks)."""
        if self.num_replicas == 1:
            return batch
        if len(batch) < self.num_replicas:
            batch = (batch * math.ceil(self.num_replicas / len(batch)))[: self.num_replicas]
        return batch[self.rank :: self.num_replicas]

    # ------------------------------------------------------------ sampler API
    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        # Every call to iter() starts the next epoch (Lightning calls it once per epoch and does not
        # call ``set_epoch`` on a batch sampler); a resumed epoch starts after its consumed batches.
        epoch = self._next_epoch
        self.epoch, self._next_epoch = epoch, epoch + 1
        skip, self._skip = self._skip, 0
        self.consumed = skip
        for batch in self.global_batches(epoch)[skip:]:
            yield [(i, item_seed(self.seed, epoch, i)) for i in self.rank_batch(batch)]

    def __len__(self) -> int:
        return len(self.global_batches(self._next_epoch))

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (a resumed epoch keeps its skip count)."""
        if epoch != self._next_epoch:
            self._skip = 0
        self._next_epoch = int(epoch)

    # ----------------------------------------------------------------- resume
    def state_dict(self) -> dict:
        return {
            "epoch": self.epoch,
            "consumed": int(self.consumed),
            "seed": self.seed,
            "num_replicas": self.num_replicas,
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue epoch ``state['epoch']`` after its first ``state['consumed']`` batches."""
        self.seed = int(state.get("seed", self.seed))
        self._cache = {}
        self.epoch = int(state["epoch"])
        self.consumed = int(state["consumed"])
        if self.consumed >= len(self.global_batches(self.epoch)):
            self._next_epoch, self._skip = self.epoch + 1, 0
        else:
            self._next_epoch, self._skip = self.epoch, self.consumed
