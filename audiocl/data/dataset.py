"""Raw-audio dataset over a Kaldi data dir, and the padding collate every speech task uses.

The dataset is deliberately dumb: one utterance in, float32 samples out (optionally randomly cropped
to ``crop_seconds``). Batching by duration is the sampler's job (:mod:`audiocl.data.sampler`), which
hands each index together with a per-epoch seed so random crops are reproducible and resumable.

A batch is a dict (``(batch, time)`` audio, padding convention ``True = padded``)::

    {"wav": (B, T) float32, "lengths": (B,) long, "padding_mask": (B, T) bool, "utt_ids": [str],
     "num_bad": int, "speakers": (B,) long}   # speakers only when every utterance has a speaker

``num_bad`` counts utterances that could not be read and were dropped from the batch (with a warning
naming them); the training task logs it, so bad data is visible but never kills a long run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from audiocl.data.datadir import DataDir, compute_utt2dur
from audiocl.errors import AudioReadError, DataDirError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AudioItem:
    """Where one utterance's audio lives: a ``wav.scp`` spec, an optional segment, and its duration."""

    utt_id: str
    spec: str
    duration: float
    start: float = 0.0
    end: float | None = None
    speaker: str | None = None


class AudioDataset(Dataset):
    """Float32 mono audio per utterance, resampled to ``sample_rate``, randomly cropped when long.

    Args:
        items: the utterances.
        sample_rate: target rate (audio at other rates is resampled by :func:`read_audio`).
        crop_seconds: utterances longer than this are cropped to it (fairseq ``max_sample_size``);
            ``None`` keeps whole utterances.
        random_crop: crop at a random offset (seeded per item by the sampler) instead of the start.
        normalize: zero-mean unit-variance per utterance (fairseq ``normalize``, used by LARGE).
        skip_bad: an utterance that cannot be read is dropped from its batch with a warning instead
            of stopping training.
    """

    def __init__(
        self,
        items: Sequence[AudioItem],
        *,
        sample_rate: int = 16000,
        crop_seconds: float | None = None,
        random_crop: bool = True,
        normalize: bool = False,
        skip_bad: bool = True,
    ):
        if not items:
            raise DataDirError("the dataset has no utterances")
        self.items = list(items)
        self.sample_rate = int(sample_rate)
        self.crop_seconds = crop_seconds
        self.random_crop = random_crop
        self.normalize = normalize
        self.skip_bad = skip_bad
        speakers = sorted({it.speaker for it in self.items if it.speaker is not None})
        self.speaker_index = {spk: i for i, spk in enumerate(speakers)}
        """Speaker id -> integer (sorted order), for models that draw negatives by speaker (CPC)."""

    @classmethod
    def from_data_dir(
        cls,
        path: str | Path,
        *,
        sample_rate: int = 16000,
        min_seconds: float = 0.0,
        max_seconds: float | None = None,
        **kwargs: Any,
    ) -> "AudioDataset":
        """Build from a Kaldi data dir; durations come from ``utt2dur`` (or are read from headers).

        Utterances shorter than ``min_seconds`` (e.g. the model's receptive field) or longer than
        ``max_seconds`` are left out with a warning that names them, like fairseq's
        ``skip_invalid_size_inputs``; if none is left, a :class:`DataDirError` says why.
        """
        data = DataDir.load(path)
        durations = data.utt2dur
        if durations is None:
            compute_utt2dur(path)
            data = DataDir.load(path)
            durations = data.utt2dur or {}
        items: list[AudioItem] = []
        too_short: list[str] = []
        too_long: list[str] = []
        for utt in data.utt_ids:
            dur = float(durations[utt])
            if dur < min_seconds:
                too_short.append(utt)
                continue
            if max_seconds is not None and dur > max_seconds:
                too_long.append(utt)
                continue
            spk = data.utt2spk.get(utt) if data.utt2spk else None
            if data.segments is not None:
                seg = data.segments[utt]
                items.append(AudioItem(utt, data.wav_scp[seg.recording], dur, seg.start, seg.end, speaker=spk))
            else:
                items.append(AudioItem(utt, data.wav_scp[utt], dur, speaker=spk))
        for kind, utts, bound in (("shorter", too_short, min_seconds), ("longer", too_long, max_seconds)):
            if utts:
                shown = ", ".join(utts[:5]) + (" ..." if len(utts) > 5 else "")
                log.warning("%s: skipping %d utterance(s) %s than %.3f s: %s", path, len(utts), kind, bound, shown)
        if not items:
            raise DataDirError(
                f"{path}: no utterance is left after dropping {len(too_short)} shorter than {min_seconds:.3f} s "
                f"(the model's receptive field) and {len(too_long)} longer than {max_seconds} s"
            )
        return cls(items, sample_rate=sample_rate, **kwargs)

    # ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.items)

    @property
    def durations(self) -> list[float]:
        """Seconds per item after cropping: what the batch sampler budgets."""
        crop = self.crop_seconds
        return [min(it.duration, crop) if crop else it.duration for it in self.items]

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any] | None:
        index, seed = (key, None) if isinstance(key, (int, np.integer)) else key
        item = self.items[int(index)]
        try:
            from audiocl.data.audio import read_audio

            wav = read_audio(item.spec, sample_rate=self.sample_rate, start=item.start, end=item.end, utt_id=item.utt_id)
        except AudioReadError as exc:
            if not self.skip_bad:
                raise
            log.warning("skipping unreadable utterance: %s", exc)
            return {"utt_id": item.utt_id, "bad": str(exc)}
        if self.crop_seconds:
            max_len = int(round(self.crop_seconds * self.sample_rate))
            if len(wav) > max_len:
                offset = 0
                if self.random_crop:
                    rng = np.random.default_rng(seed)
                    offset = int(rng.integers(0, len(wav) - max_len + 1))
                wav = wav[offset : offset + max_len]
        if self.normalize:
            wav = (wav - wav.mean()) / max(float(wav.std()), 1e-5)
        return {"utt_id": item.utt_id, "wav": torch.from_numpy(np.ascontiguousarray(wav, dtype=np.float32)),
                "seed": seed, "speaker": self.speaker_index.get(item.speaker, -1) if item.speaker is not None else -1}


def collate_audio(items: Sequence[dict[str, Any]], *, crop_to_shortest: bool = False) -> dict[str, Any]:
    """Zero-pad (or crop to the shortest, fairseq's ``enable_padding=False``) into a batch dict.

    Unreadable items (from ``skip_bad``) are dropped and counted in ``num_bad``. A batch whose every
    item was bad has ``wav`` of shape ``(0, 0)``; the task skips it.
    """
    good = [it for it in items if "wav" in it]
    num_bad = len(items) - len(good)
    if not good:
        return {"wav": torch.zeros(0, 0), "lengths": torch.zeros(0, dtype=torch.long),
                "padding_mask": torch.zeros(0, 0, dtype=torch.bool), "utt_ids": [], "num_bad": num_bad}
    lengths = [len(it["wav"]) for it in good]
    if crop_to_shortest:
        target = min(lengths)
        wavs = []
        for it in good:
            w = it["wav"]
            extra = len(w) - target
            offset = int(np.random.default_rng(it.get("seed")).integers(0, extra + 1)) if extra and it.get("seed") is not None else 0
            wavs.append(w[offset : offset + target])
        wav = torch.stack(wavs)
        lengths = [target] * len(good)
    else:
        wav = torch.zeros(len(good), max(lengths))
        for i, it in enumerate(good):
            wav[i, : lengths[i]] = it["wav"]
    lens = torch.tensor(lengths, dtype=torch.long)
    padding_mask = torch.arange(wav.shape[1])[None, :] >= lens[:, None]
    out = {"wav": wav, "lengths": lens, "padding_mask": padding_mask, "utt_ids": [it["utt_id"] for it in good],
           "num_bad": num_bad}
    speakers = [it.get("speaker", -1) for it in good]
    if all(s is not None and s >= 0 for s in speakers):
        out["speakers"] = torch.tensor(speakers, dtype=torch.long)
    return out


class AudioCollate:
    """Picklable collate (DataLoader workers need one) with the ``crop_to_shortest`` option bound."""

    def __init__(self, crop_to_shortest: bool = False):
        self.crop_to_shortest = crop_to_shortest

    def __call__(self, items: Sequence[dict[str, Any]]) -> dict[str, Any]:
        return collate_audio(items, crop_to_shortest=self.crop_to_shortest)


__all__ = ["AudioItem", "AudioDataset", "collate_audio", "AudioCollate"]
