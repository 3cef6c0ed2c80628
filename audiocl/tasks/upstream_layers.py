"""Taking an upstream's layers: one batch, a whole data dir (cached), and batching cached layers.

Every consumer of an upstream's hidden layers goes through :func:`batch_layers` (one padded batch ->
``(L, B, T, C)``) or :func:`data_dir_layers` (every utterance of a data dir, in eval mode, float16 in
memory): the classification head and the CTC probe train on these caches, ``audiocl extract --model``
writes them to disk. With a frozen upstream (the SUPERB protocol) an utterance's layers never change,
so they are computed once and a small head trains on them for many epochs in seconds on a CPU.

An fbank upstream reads the data dir's stage-2 ``feats.scp`` instead of the audio when those features
are the same fbank (:meth:`audiocl.tasks.upstream.FbankUpstream.stored_features`); utterances missing
from it are computed from the audio.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

log = logging.getLogger(__name__)


def batch_layers(upstream: nn.Module, wav: Tensor, lengths: Tensor) -> tuple[list[Tensor], Tensor]:
    """``([layer (B, T, C_l) float32, ...], frame_lengths (B,))`` of one padded batch."""
    layers, frame_lengths = upstream.extract_layers(wav, lengths)
    return [h.float() for h in layers], frame_lengths


def layer_shape(upstream: nn.Module, sample_rate: int = 16000) -> tuple[int, int]:
    """``(number of layers, channels of the first)`` of ``upstream``, from one second of silence."""
    n = max(int(getattr(upstream, "min_samples", 0)), sample_rate)
    with torch.no_grad():
        layers, _ = batch_layers(upstream, torch.zeros(1, n), torch.tensor([n]))
    return len(layers), int(layers[0].shape[-1])


@torch.no_grad()
def data_dir_layers(upstream: nn.Module, data_dir: str | Path, sample_rate: int = 16000,
                    max_batch_seconds: float = 60.0, max_seconds: float | None = None) -> dict[str, Tensor]:
    """``utt -> (L, T, C)`` float16 layers of every readable utterance (upstream in eval mode).

    Utterances shorter than the upstream's receptive field or longer than ``max_seconds`` are left out
    (with a warning naming them), as in training.
    """
    from audiocl.data.dataset import AudioDataset, collate_audio
    from audiocl.data.sampler import DurationBucketBatchSampler

    upstream.eval()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ds = AudioDataset.from_data_dir(data_dir, sample_rate=sample_rate, crop_seconds=None, max_seconds=max_seconds,
                                    min_seconds=getattr(upstream, "min_samples", 0) / sample_rate)
    out: dict[str, Tensor] = {}
    stored = upstream.stored_features(data_dir) if hasattr(upstream, "stored_features") else None
    if stored is not None:
        for item in ds.items:
            if item.utt_id in stored:
                out[item.utt_id] = upstream.normalize_stored(stored[item.utt_id]).unsqueeze(0).to(torch.float16)
        missing = len(ds.items) - len(out)
        if missing:
            log.info("%s: %d utterance(s) not in feats.scp; computing their fbank from the audio", data_dir, missing)
        ds.items = [it for it in ds.items if it.utt_id not in out]
        if not ds.items:
            return out
    upstream.to(device)
    sampler = DurationBucketBatchSampler(ds.durations, max_batch_seconds, num_buckets=5, shuffle=False)
    for idx in sampler:
        batch = collate_audio([ds[i] for i in idx])
        if batch["wav"].numel() == 0:
            continue
        layers, flen = batch_layers(upstream, batch["wav"].to(device), batch["lengths"].to(device))
        stacked = torch.stack(layers, dim=0).cpu()  # (L, B, T, C)
        for b, utt in enumerate(batch["utt_ids"]):
            n = max(1, int(flen[b]))
            out[utt] = stacked[:, b, :n].to(torch.float16).contiguous()
    upstream.to("cpu")
    return out


class CachedLayerDataset(torch.utils.data.Dataset):
    """Cached layers of the utterances that have a target (a class id, or a token sequence)."""

    def __init__(self, feats: dict[str, Tensor], targets: dict[str, Any], frame_seconds: float = 0.02):
        self.utts = sorted(u for u in feats if u in targets)
        self.feats = feats
        self.targets = targets
        self.frame_seconds = frame_seconds

    def __len__(self) -> int:
        return len(self.utts)

    @property
    def durations(self) -> list[float]:
        """Seconds per utterance (for duration bucketing), from its frame count."""
        return [self.feats[u].shape[1] * self.frame_seconds for u in self.utts]

    def __getitem__(self, key):
        index = key[0] if isinstance(key, tuple) else key
        u = self.utts[int(index)]
        return {"utt_id": u, "layers": self.feats[u], "target": self.targets[u]}


def collate_layers(items: list[dict]) -> dict[str, Any]:
    """Pad cached ``(L, T, C)`` layers into ``layers (L, B, T, C)``, ``lengths (B,)``, ``padding_mask (B, T)``."""
    lens = torch.tensor([it["layers"].shape[1] for it in items], dtype=torch.long)
    num_layers, _, dim = items[0]["layers"].shape
    x = torch.zeros(num_layers, len(items), int(lens.max()), dim)
    for b, it in enumerate(items):
        x[:, b, : lens[b]] = it["layers"].float()
    mask = torch.arange(x.shape[2])[None, :] >= lens[:, None]
    return {"layers": x, "lengths": lens, "padding_mask": mask, "utt_ids": [it["utt_id"] for it in items]}
