"""Training batches of stage-2 fbank in place of audio, for models whose front-end is the normalised fbank.

The CTC model's fbank front-end (``model.frontend=fbank``) computes Kaldi fbank from each waveform batch.
When recipe stage 2 already wrote the same fbank to the training data dir's ``feats.scp``
(:func:`audiocl.features.normalized_fbank.stored_fbank` checks the options), the batches carry those
frames instead, ``wav (B, T, D)`` with ``lengths`` in frames, and the front-end only normalises them:
the recipe computes its fbank once. Batching is unchanged: the same utterances, durations and buckets
as the audio dataset it wraps.
"""

from __future__ import annotations

import logging
from typing import Any, Mapping, Sequence

import numpy as np
import torch

log = logging.getLogger(__name__)


class StoredFbankDataset(torch.utils.data.Dataset):
    """The items of an :class:`~audiocl.data.dataset.AudioDataset`, served as stored ``(frames, dim)`` fbank."""

    def __init__(self, audio: Any, stored: Mapping[str, np.ndarray]):
        self.audio = audio
        self.stored = stored

    @property
    def items(self):
        return self.audio.items

    @property
    def durations(self) -> list[float]:
        return self.audio.durations

    def __len__(self) -> int:
        return len(self.audio)

    def __getitem__(self, key) -> dict[str, Any]:
        index = key[0] if isinstance(key, tuple) else key
        utt = self.audio.items[int(index)].utt_id
        return {"utt_id": utt, "wav": torch.from_numpy(np.array(self.stored[utt], dtype=np.float32))}


def collate_frames(items: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Zero-pad ``(frames, dim)`` items into ``wav (B, T, D)``, ``lengths`` (frames) and ``padding_mask``."""
    lengths = torch.tensor([it["wav"].shape[0] for it in items], dtype=torch.long)
    frames = torch.zeros(len(items), int(lengths.max()), items[0]["wav"].shape[1])
    for i, it in enumerate(items):
        frames[i, : lengths[i]] = it["wav"]
    mask = torch.arange(frames.shape[1])[None, :] >= lengths[:, None]
    return {"wav": frames, "lengths": lengths, "padding_mask": mask, "utt_ids": [it["utt_id"] for it in items],
            "num_bad": 0}


def stored_fbank_dataset(audio: Any, data_dir: str, fbank_cfg: Any) -> StoredFbankDataset | None:
    """``audio`` served from ``data_dir``'s stage-2 fbank, or ``None`` when those are not the same fbank
    or lack some of its utterances (then the audio is used, with an info log)."""
    from audiocl.features.normalized_fbank import stored_fbank

    stored = stored_fbank(data_dir, fbank_cfg)
    if stored is None:
        return None
    missing = [it.utt_id for it in audio.items if it.utt_id not in stored]
    if missing:
        log.info("%s/feats.scp lacks %d training utterance(s) (e.g. %s); computing fbank from the audio",
                 data_dir, len(missing), missing[0])
        return None
    return StoredFbankDataset(audio, stored)
