"""Log-mel features of a CLAP training set, computed once and cached on disk.

Reading 64 clips and framing them with an STFT on every update costs about a quarter of a CPU update of
the mini_clap recipe, and gives the same numbers every time (only the crop changes). So every clip's
log-mel is computed once (:meth:`CLAPModel.chunk_logmel`, the audio tower's own front end) and kept in one
safetensors file per data set and front-end configuration; training crops frames from it.

- A clip no longer than one chunk is framed as the model frames it, zero-padded to a full chunk: its cached
  frames are exactly the CNN's input at inference.
- A longer clip is framed over its whole length; training takes a random window of one chunk's frames
  (a crop at frame granularity; its edge frames see the clip's real neighbouring samples where a crop of the
  samples would see zero padding). Inference never crops (:class:`CLAPModel` cuts fixed chunks).

The cache key covers the log-mel configuration, the sample rate and chunk length, every utterance id and
``wav.scp`` entry, and the bytes of every audio file (a ``cmd |`` pipe is keyed by its command), so an edited
config or a re-rendered clip gets a new file and a stale one is never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor

from audiocl.data.audio import is_ark, is_pipe, read_audio
from audiocl.errors import AudioReadError
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.tasks.clap_data import CaptionedSet, cached_tensors

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclass
class ClipLogMel:
    """Every clip's log-mel frames, concatenated: clip ``i`` is ``frames[offsets[i]:offsets[i + 1]]`` with
    ``valid[i]`` of them belonging to the clip (the rest is chunk padding). An unreadable clip has no frames."""

    frames: Tensor
    offsets: Tensor
    valid: Tensor

    def clip(self, index: int) -> tuple[Tensor, int]:
        a, b = int(self.offsets[index]), int(self.offsets[index + 1])
        return self.frames[a:b], int(self.valid[index])


def chunk_frames(cfg: CLAPConfig) -> int:
    """Frames of one chunk (the CNN's input length)."""
    return int(cfg.chunk_samples // cfg.logmel.hop_length + 1) if cfg.logmel.center else \
        int((cfg.chunk_samples - cfg.logmel.n_fft) // cfg.logmel.hop_length + 1)


def logmel_cache_key(data: CaptionedSet, cfg: CLAPConfig) -> str:
    """What the cached features depend on: the front end, the chunk length and every clip's audio."""
    h = hashlib.sha256(json.dumps({"version": CACHE_VERSION, "logmel": asdict(cfg.logmel),
                                   "sample_rate": cfg.sample_rate, "chunk_samples": cfg.chunk_samples},
                                  sort_keys=True).encode())
    for utt in data.utts:
        spec = data.wav[utt]
        h.update(f"{utt}\0{spec}\0".encode())
        if not (is_pipe(spec) or is_ark(spec)) and Path(spec).is_file():
            h.update(hashlib.blake2b(Path(spec).read_bytes(), digest_size=16).digest())
    return h.hexdigest()[:16]


@torch.no_grad()
def compute_clip_logmel(data: CaptionedSet, model: CLAPModel) -> ClipLogMel:
    """Log-mel of every clip of ``data`` through ``model``'s front end (module docstring)."""
    cfg = model.cfg
    pieces, valid, offsets = [], [], [0]
    for utt in data.utts:
        try:
            wav = torch.from_numpy(read_audio(data.wav[utt], sample_rate=cfg.sample_rate, utt_id=utt).copy())
        except AudioReadError as exc:
            log.warning("skipping %s", exc)
            pieces.append(torch.zeros(0, cfg.logmel.n_mels))
            valid.append(0)
            offsets.append(offsets[-1])
            continue
        padded = torch.nn.functional.pad(wav, (0, max(0, cfg.chunk_samples - wav.shape[0])))
        feats, padding = model.chunk_logmel(padded[None].float(), torch.tensor([wav.shape[0]]))
        pieces.append(feats[0].float())
        valid.append(int((~padding[0]).sum()))
        offsets.append(offsets[-1] + feats.shape[1])
    return ClipLogMel(torch.cat(pieces).contiguous(), torch.tensor(offsets), torch.tensor(valid))


def cached_clip_logmel(data: CaptionedSet, model: CLAPModel, cache_dir: str | Path | None) -> ClipLogMel:
    """:func:`compute_clip_logmel`, read from / written to ``cache_dir`` when given (one safetensors file per
    key, written atomically, so parallel runs sharing the folder never read a partial file)."""
    def compute() -> dict[str, Tensor]:
        feats = compute_clip_logmel(data, model)
        log.info("computed the log-mel of %d clips", len(data.utts))
        return {"frames": feats.frames, "offsets": feats.offsets, "valid": feats.valid}

    path = Path(cache_dir) / f"logmel_{logmel_cache_key(data, model.cfg)}.safetensors" if cache_dir else None
    d = cached_tensors(path, compute)
    return ClipLogMel(d["frames"], d["offsets"], d["valid"])
