"""Audio-text embeddings, zero-shot classification and retrieval with a CLAP model.

The method names are those users know from ``laion_clap`` and Hugging Face / ``msclap``::

    from audiocl.clap import CLAP

    model = CLAP.from_pretrained("exp/clap/release")        # a path, or any reference the hub resolves
    a = model.get_audio_embedding_from_filelist(["dog.wav", "rain.flac"], batch_size=16)
    a = model.get_audio_embedding_from_data(x, sr=44100)     # resampled to the model's rate
    t = model.get_text_embedding(["a dog barks", "rain falls"])   # or one bare string
    logits = model.compute_similarity(a, t)                  # (num_audio, num_text), scaled by the logit scale
    res = model.zero_shot_classify(a, ["dog", "rain"])       # template "This is a sound of {}."
    hits = model.retrieve("a dog barks", a, k=5)             # [[(row, score), ...]]

**Input rules.** ``x`` is one clip (1-D), a batch of mono clips ``(N, T)`` as in ``laion_clap``, a batch
of multichannel clips ``(N, C, T)``, or a list of clips, each 1-D or ``(C, T)`` (channels first, ``C < T``).
Several channels are averaged into one (the same down-mix as reading a stereo file). Integer arrays are
scaled to [-1, 1] (``int16`` by 32768). ``sr`` is required: audio at another rate is resampled.
Zero-length clips, NaN or infinite samples and a missing ``sr`` raise errors that name the clip.
A silent clip is valid input.

**Determinism.** Embeddings never use a random crop: long audio is the mean over fixed chunks from the
start (see :mod:`audiocl.models.clap`), so a clip gives the same embedding alone, in any batch and in
every call. Outputs are numpy arrays unless ``use_tensor=True``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audiocl.data.audio import resample
from audiocl.errors import AudioReadError, ConfigError, SampleRateError
from audiocl.models.clap import CLAPModel
from audiocl.models.clap_io import load_clap
from audiocl.tasks.clap_eval import (DEFAULT_TEMPLATE, class_text_embeddings, embed_clips, embed_files,
                                     evaluate_clap)

ArrayLike = Any


def _as_float(clip: np.ndarray, i: int) -> np.ndarray:
    if np.issubdtype(clip.dtype, np.integer):
        info = np.iinfo(clip.dtype)
        return clip.astype(np.float32) / float(max(abs(info.min), info.max))
    if not np.issubdtype(clip.dtype, np.floating):
        raise AudioReadError(f"clip {i} has dtype {clip.dtype}; expected float or integer samples")
    return clip.astype(np.float32)


def split_clips(x: ArrayLike) -> list[np.ndarray]:
    """The clips of ``x`` as float32 arrays ``(C, T)`` or ``(T,)`` (see the module docstring's input rules)."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)):
        clips = [np.asarray(c.detach().cpu().numpy() if isinstance(c, torch.Tensor) else c) for c in x]
    else:
        arr = np.asarray(x)
        if arr.ndim == 1:
            clips = [arr]
        elif arr.ndim in (2, 3):
            clips = list(arr)
        else:
            raise AudioReadError(f"audio array has shape {arr.shape}; expected (T,), (N, T) or (N, C, T)")
    if not clips:
        raise AudioReadError("no audio clips given (an empty list)")
    return [_as_float(c, i) for i, c in enumerate(clips)]


def to_mono(clip: np.ndarray, i: int) -> np.ndarray:
    """Average the channels of a ``(C, T)`` clip; a 1-D clip is returned as is."""
    if clip.ndim == 1:
        return clip
    if clip.ndim != 2 or clip.shape[0] >= clip.shape[1]:
        raise AudioReadError(f"clip {i} has shape {clip.shape}; a multichannel clip must be (channels, samples)")
    return clip.mean(axis=0)


@dataclass
class ZeroShotResult:
    """Zero-shot output: ``probs`` ``(num_audio, num_labels)`` (softmax of the scaled similarities)."""

    labels: list[str]
    probs: np.ndarray

    @property
    def predictions(self) -> list[str]:
        return [self.labels[i] for i in self.probs.argmax(1)]

    def top_k(self, k: int = 5) -> list[list[tuple[str, float]]]:
        order = np.argsort(-self.probs, axis=1, kind="stable")[:, :k]
        return [[(self.labels[j], float(self.probs[i, j])) for j in row] for i, row in enumerate(order)]


class CLAP:
    """Inference wrapper around a trained :class:`CLAPModel` (see the module docstring)."""

    def __init__(self, model: CLAPModel, device: str | torch.device = "cpu"):
        self.model = model.to(device).eval()
        self.device = torch.device(device)

    @classmethod
    def from_pretrained(cls, ref: str | Path, device: str | torch.device = "cpu") -> "CLAP":
        """Load a CLAP release (or training checkpoint / experiment dir) from any model reference."""
        from audiocl.hub.resolver import resolve

        return cls(load_clap(resolve(ref), map_location=device), device)

    @property
    def sample_rate(self) -> int:
        return self.model.cfg.sample_rate

    def _out(self, t: torch.Tensor, use_tensor: bool):
        return t if use_tensor else t.detach().cpu().numpy()

    # ------------------------------------------------------------- embeddings
    def get_audio_embedding_from_filelist(self, paths: str | Path | Sequence[str | Path], batch_size: int = 32,
                                          use_tensor: bool = False):
        """Embeddings ``(N, D)`` of audio files (any rate, channels averaged); a missing file is named."""
        if isinstance(paths, (str, Path)):
            paths = [paths]
        if not paths:
            raise AudioReadError("no audio files given (an empty list)")
        return self._out(embed_files(self.model, [str(p) for p in paths], batch_size), use_tensor)

    def get_audio_embedding_from_data(self, x: ArrayLike, sr: int | None = None, batch_size: int = 32,
                                      use_tensor: bool = False):
        """Embeddings ``(N, D)`` of in-memory audio at rate ``sr`` (required; resampled when it differs)."""
        if sr is None:
            raise SampleRateError(f"get_audio_embedding_from_data needs sr= (the sample rate of x); the model "
                                  f"expects {self.sample_rate} Hz and resamples other rates")
        if int(sr) <= 0:
            raise SampleRateError(f"sr must be a positive sample rate, got {sr}")
        clips = []
        for i, clip in enumerate(split_clips(x)):
            mono = to_mono(clip, i)
            if mono.shape[0] == 0:
                raise AudioReadError(f"clip {i} has zero samples")
            if not np.isfinite(mono).all():
                raise AudioReadError(f"clip {i} contains NaN or infinite samples")
            clips.append(resample(mono, int(sr), self.sample_rate))
        return self._out(embed_clips(self.model, clips, batch_size), use_tensor)

    @torch.no_grad()
    def get_text_embedding(self, texts: str | Sequence[str], use_tensor: bool = False):
        """Embeddings ``(N, D)`` of captions; a bare string is one caption; over-long ones are truncated
        with a warning; an empty caption is an error naming its position."""
        return self._out(self.model.embed_text(texts).cpu(), use_tensor)

    # ------------------------------------------------------------- scoring
    def compute_similarity(self, audio_embeddings: ArrayLike, text_embeddings: ArrayLike, use_tensor: bool = False):
        """``logit_scale * audio @ text.T`` ``(num_audio, num_text)``: the logits the model was trained on."""
        a = torch.as_tensor(np.asarray(audio_embeddings), dtype=torch.float32)
        t = torch.as_tensor(np.asarray(text_embeddings), dtype=torch.float32)
        a, t = a.reshape(-1, a.shape[-1]), t.reshape(-1, t.shape[-1])
        with torch.no_grad():
            sim = self.model.logit_scale().detach().cpu() * a @ t.T
        return self._out(sim, use_tensor)

    def zero_shot_classify(self, audio: ArrayLike, labels: Sequence[str], template: str = DEFAULT_TEMPLATE,
                           templates: Sequence[str] | None = None, sr: int | None = None) -> ZeroShotResult:
        """Classify clips among ``labels`` by their text embeddings (``template.format(label)``, or the mean
        over ``templates``). ``audio``: embeddings ``(N, D)``, file paths, or raw audio with ``sr``."""
        labels = [str(lb) for lb in labels]
        if not labels:
            raise ConfigError("zero_shot_classify needs at least one label")
        for t in [template, *(templates or [])]:
            if "{}" not in t:
                raise ConfigError(f"template {t!r} has no '{{}}' for the label")
        emb = self._audio(audio, sr)
        with torch.no_grad():
            classes = class_text_embeddings(self.model, labels, list(templates) if templates else [template])
        logits = self.compute_similarity(emb, classes, use_tensor=True)
        return ZeroShotResult(labels, torch.softmax(logits, dim=1).numpy())

    def retrieve(self, query: str | Sequence[str] | ArrayLike, index: ArrayLike, k: int = 10,
                 ids: Sequence[str] | None = None) -> list[list[tuple[Any, float]]]:
        """The ``k`` nearest items of ``index`` (an embedding matrix ``(M, D)``) for each query (text, texts or
        embeddings), as ``(id, cosine)`` pairs, best first; ``ids`` name the rows (default: row numbers)."""
        if isinstance(query, str) or (isinstance(query, (list, tuple)) and query and isinstance(query[0], str)):
            q = np.asarray(self.get_text_embedding(query))
        else:
            q = np.asarray(query, dtype=np.float32).reshape(-1, np.shape(query)[-1])
        idx = np.asarray(index, dtype=np.float32)
        if idx.ndim != 2 or idx.shape[1] != q.shape[1]:
            raise ConfigError(f"index must be an embedding matrix (M, {q.shape[1]}), got shape {idx.shape}")
        names = list(ids) if ids is not None else list(range(idx.shape[0]))
        if len(names) != idx.shape[0]:
            raise ConfigError(f"{len(names)} ids for an index of {idx.shape[0]} rows")
        sim = q @ idx.T
        order = np.argsort(-sim, axis=1, kind="stable")[:, : max(1, k)]
        return [[(names[j], float(sim[i, j])) for j in row] for i, row in enumerate(order)]

    def evaluate(self, data_dir: str | Path, out_dir: str | Path | None = None, batch_size: int = 32,
                 text_cache_dir: str | Path | None = None) -> dict:
        """Retrieval, zero-shot and CompA metrics on a CLAP data dir (:mod:`audiocl.tasks.clap_eval`);
        ``text_cache_dir`` caches the frozen text tower's caption features for later evaluations."""
        return evaluate_clap(self.model, data_dir, out_dir, batch_size, text_cache_dir)

    def _audio(self, audio: ArrayLike, sr: int | None):
        if isinstance(audio, (str, Path)) or (isinstance(audio, (list, tuple)) and audio
                                               and isinstance(audio[0], (str, Path))):
            return self.get_audio_embedding_from_filelist(audio)
        if sr is not None:
            return self.get_audio_embedding_from_data(audio, sr)
        arr = np.asarray(audio)
        if arr.ndim == 2 and arr.shape[1] == self.model.cfg.embed_dim:
            return arr
        raise SampleRateError("raw audio needs sr=; pass embeddings, file paths, or audio with its sample rate")
