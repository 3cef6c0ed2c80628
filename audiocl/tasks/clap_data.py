"""Audio-caption pairs from a Kaldi data dir, for CLAP training and evaluation.

A CLAP data dir is an ordinary one (``wav.scp``, ``text`` = one caption per clip) plus optional files:

- ``captions.jsonl``: ``{"utt": ..., "captions": [...]}``, several captions per clip (one is drawn per
  step in training; all are queries in evaluation, as for Clotho / AudioCaps);
- ``hard_negatives.jsonl``: ``{"utt": ..., "kind": "order|count|attribute", "caption": ...}``, captions
  that are wrong for that clip only (compositional hard negatives);
- ``utt2labels``: ``<utt> <JSON>`` with the scene's events and their relation (positives for ``supcon``).

Captions are turned into one text table; with a frozen text tower its features are computed once and
cached next to the experiment (:func:`cached_text_features`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset

from audiocl.data.audio import read_audio
from audiocl.data.datadir import DataDir
from audiocl.data.kaldi_files import read_keyed_file
from audiocl.errors import AudioReadError, DataDirError
from audiocl.tasks.clap_spec_augment import LogMelMaskConfig, mask_logmel
from audiocl.nn.token_pooling import TextFeatures, TokenStates

log = logging.getLogger(__name__)


def read_jsonl(path: Path, key: str = "utt") -> list[dict[str, Any]]:
    """Rows of a JSON-lines file, each an object with ``key``; a bad line is a :class:`DataDirError`
    naming file and line."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataDirError(f"{path}:{n}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict) or key not in row:
                raise DataDirError(f"{path}:{n}: expected an object with an {key!r} key")
            rows.append(row)
    return rows


@dataclass
class CaptionedSet:
    """Clips with their captions, hard negatives and scene labels, in C order of utterance ids."""

    path: Path
    utts: list[str]
    wav: dict[str, str]
    captions: dict[str, list[str]]
    hard_negatives: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    labels: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, data_dir: str | Path) -> "CaptionedSet":
        dd = DataDir.load(data_dir)
        path = Path(data_dir)
        if not dd.text:
            raise DataDirError(f"{path}: a CLAP data dir needs a 'text' file with one caption per clip")
        utts = [u for u in dd.utt_ids if u in dd.text]
        captions = {u: [dd.text[u]] for u in utts}
        if (path / "captions.jsonl").is_file():
            for row in read_jsonl(path / "captions.jsonl"):
                if not isinstance(row.get("captions", []), list):  # a bare string would split into letters
                    raise DataDirError(f"{path / 'captions.jsonl'}: utterance {row['utt']}: 'captions' must be "
                                       "a list of strings")
                extra = [str(c) for c in row.get("captions", []) if str(c).strip()]
                if row["utt"] in captions and extra:
                    captions[row["utt"]] = list(dict.fromkeys(extra))
        hard: dict[str, list[tuple[str, str]]] = {}
        if (path / "hard_negatives.jsonl").is_file():
            for row in read_jsonl(path / "hard_negatives.jsonl"):
                if row["utt"] in captions and str(row.get("caption", "")).strip():
                    hard.setdefault(row["utt"], []).append((str(row.get("kind", "")), str(row["caption"])))
        labels: dict[str, dict[str, Any]] = {}
        if (path / "utt2labels").is_file():
            for utt, raw in read_keyed_file(path / "utt2labels").entries.items():
                try:
                    labels[utt] = json.loads(raw)
                except json.JSONDecodeError as exc:
                    raise DataDirError(f"{path / 'utt2labels'}: utterance {utt}: not valid JSON ({exc.msg})") from None
        return cls(path, utts, {u: dd.wav_scp[u] for u in utts}, captions, hard, labels)

    def scene_key(self, utt: str) -> str:
        """Positives for ``supcon``: clips with the same event kinds in the same relation."""
        lab = self.labels.get(utt)
        if not lab:
            return f"utt:{utt}"
        kinds = [str(e.get("kind", "")) for e in lab.get("events", [])]
        return f"{lab.get('relation', '')}|{'+'.join(kinds)}"

    def all_texts(self) -> list[str]:
        """Every caption and hard negative once, in a fixed order (the text table of training)."""
        texts = [c for u in self.utts for c in self.captions[u]]
        texts += [c for u in self.utts for _, c in self.hard_negatives.get(u, [])]
        return list(dict.fromkeys(texts))


def text_tower_id(cfg: Any) -> str:
    """What the frozen text features depend on (a ``CLAPConfig``'s text tower settings): token states for
    ``attention`` pooling are another cache than sentence embeddings (the trainable pooler is not cached)."""
    base = f"{cfg.text.path or 'bundled-minilm'}:{cfg.text.max_tokens}"
    return base if cfg.text.pooling == "mean" else f"{base}:token-states"


def text_cache_key(texts: Sequence[str], tower_id: str) -> str:
    h = hashlib.sha256(tower_id.encode())
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    return h.hexdigest()[:16]


def cached_tensors(path: Path | None, compute: Callable[[], dict[str, Tensor]]) -> dict[str, Tensor]:
    """``compute()``'s tensors, read from the safetensors file ``path`` when it exists, else computed and
    written there atomically (runs sharing a cache folder never read a partial file); ``None``: no cache."""
    from safetensors.torch import load_file, save_file

    from audiocl.utils.io import atomic_path

    if path is not None and path.is_file():
        return load_file(str(path))
    tensors = compute()
    if path is not None:
        with atomic_path(path) as tmp:
            save_file(tensors, str(tmp))
    return tensors


def cached_text_features(texts: Sequence[str], encode: Callable[[list[str]], TextFeatures],
                         cache_dir: str | Path | None, tower_id: str) -> TextFeatures:
    """Frozen-tower features of ``texts``, read from / written to ``cache_dir`` when given (one safetensors
    file per text table and tower, so a resumed or repeated run skips the encoder): sentence embeddings
    ``(N, D)`` in float32, or token states (ragged, in the dtype ``encode`` gives, float16 for a frozen
    CLAP tower) when ``encode`` returns :class:`TokenStates`."""
    def compute() -> dict[str, Tensor]:
        with torch.no_grad():
            feats = encode(list(texts))
        if isinstance(feats, TokenStates):
            return {"token_states": feats.values.detach().cpu().contiguous(), "lengths": feats.lengths.cpu()}
        return {"features": feats.detach().cpu().float().contiguous()}

    path = Path(cache_dir) / f"text_features_{text_cache_key(texts, tower_id)}.safetensors" if cache_dir else None
    saved = cached_tensors(path, compute)
    return TokenStates(saved["token_states"], saved["lengths"]) if "token_states" in saved else saved["features"]


class CaptionPairDataset(Dataset):
    """Training items: a fixed-length audio chunk (random crop of longer clips), a caption and its
    clip's hard negatives as indices into ``text_index``, the scene label id and the clip index.

    With ``logmel`` (every clip's cached log-mel, :mod:`audiocl.tasks.clap_audio_cache`) an item holds one
    chunk's log-mel frames (``feats``, ``frames`` of them the clip's) instead of its samples: no audio is read
    and no STFT runs per update."""

    def __init__(self, data: CaptionedSet, text_index: dict[str, int], sample_rate: int, chunk_samples: int,
                 *, hard_negatives: bool, random_crop: bool = True, logmel: Any = None, chunk_frames: int = 0,
                 mask: LogMelMaskConfig | None = None):
        self.data = data
        self.logmel = logmel
        self.chunk_frames = chunk_frames
        self.mask = mask
        self.text_index = text_index
        self.sample_rate = sample_rate
        self.chunk_samples = chunk_samples
        self.hard_negatives = hard_negatives
        self.random_crop = random_crop
        keys = sorted({data.scene_key(u) for u in data.utts})
        self.scene_ids = {k: i for i, k in enumerate(keys)}

    def __len__(self) -> int:
        return len(self.data.utts)

    def __getitem__(self, key: tuple[int, int] | int) -> dict[str, Any]:
        index, seed = key if isinstance(key, tuple) else (key, 0)
        rng = np.random.default_rng(seed)
        utt = self.data.utts[index]
        audio = self._logmel_item(index, rng) if self.logmel is not None else self._wav_item(utt, rng)
        if audio is None:
            return {"utt": utt, "bad": True}
        caps = self.data.captions[utt]
        caption = caps[int(rng.integers(0, len(caps)))]
        hard = [self.text_index[c] for _, c in self.data.hard_negatives.get(utt, [])] if self.hard_negatives else []
        return {"utt": utt, **audio, "text": self.text_index[caption],
                "hard": hard, "scene": self.scene_ids[self.data.scene_key(utt)], "index": index}

    def _wav_item(self, utt: str, rng: np.random.Generator) -> dict[str, Any] | None:
        try:
            wav = read_audio(self.data.wav[utt], sample_rate=self.sample_rate, utt_id=utt)
        except AudioReadError as exc:
            log.warning("skipping %s", exc)
            return None
        if len(wav) > self.chunk_samples:
            start = int(rng.integers(0, len(wav) - self.chunk_samples + 1)) if self.random_crop else 0
            wav = wav[start:start + self.chunk_samples]
        return {"wav": torch.from_numpy(np.ascontiguousarray(wav))}

    def _logmel_item(self, index: int, rng: np.random.Generator) -> dict[str, Any] | None:
        feats, valid = self.logmel.clip(index)
        if valid == 0:  # unreadable when the cache was built (warned then)
            return None
        if feats.shape[0] > self.chunk_frames:
            start = int(rng.integers(0, feats.shape[0] - self.chunk_frames + 1)) if self.random_crop else 0
            feats, valid = feats[start:start + self.chunk_frames], self.chunk_frames
        if self.mask is not None:
            feats = mask_logmel(feats, valid, self.mask, rng)
        return {"feats": feats, "frames": min(valid, self.chunk_frames)}


class CaptionPairCollate:
    """Pad to the fixed chunk length; hard negatives become ``(H,)`` text ids with their owner row."""

    def __init__(self, chunk_samples: int):
        self.chunk_samples = chunk_samples

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        good = [it for it in items if not it.get("bad")]
        n = len(good)
        hard = [(i, h) for i, it in enumerate(good) for h in it["hard"]]
        return {
            **(self._logmel(good) if good and "feats" in good[0] else self._wav(good)),
            "text": torch.tensor([it["text"] for it in good], dtype=torch.long),
            "hard_text": torch.tensor([h for _, h in hard], dtype=torch.long),
            "hard_owner": torch.tensor([i for i, _ in hard], dtype=torch.long),
            "scene": torch.tensor([it["scene"] for it in good], dtype=torch.long),
            "index": torch.tensor([it["index"] for it in good], dtype=torch.long),
            "utt_ids": [it["utt"] for it in good],
            "num_bad": len(items) - n,
        }

    def _wav(self, good: list[dict[str, Any]]) -> dict[str, Tensor]:
        wav = torch.zeros(len(good), self.chunk_samples)
        for i, it in enumerate(good):
            wav[i, : it["wav"].shape[0]] = it["wav"]
        return {"wav": wav, "lengths": torch.tensor([it["wav"].shape[0] for it in good], dtype=torch.long)}

    @staticmethod
    def _logmel(good: list[dict[str, Any]]) -> dict[str, Tensor]:
        """Cached log-mel chunks ``(B, frames, n_mels)`` (every item has one chunk's frames) and their padding
        mask (``True`` after the clip's ``frames``)."""
        feats = torch.stack([it["feats"] for it in good])
        frames = torch.tensor([it["frames"] for it in good], dtype=torch.long)
        return {"feats": feats, "padding": torch.arange(feats.shape[1])[None, :] >= frames[:, None]}
