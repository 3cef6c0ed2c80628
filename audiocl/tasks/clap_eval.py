"""Evaluate a CLAP model on a data dir: retrieval, zero-shot classification, CompA pairs, a similarity PNG.

What is read from ``DATA`` (a CLAP data dir, see :mod:`audiocl.tasks.clap_data`):

- ``text`` / ``captions.jsonl``: retrieval queries (several captions per clip use the multi-caption rules);
- ``utt2<set>`` with the class names of ``<set>`` in ``zeroshot_labels.json`` (in ``DATA`` or its parent):
  zero-shot top-1 / top-5 with one template and with the template ensemble, over the clips whose value
  is not ``-`` (the set does not apply to them);
- ``compa_pairs.jsonl``: ``{"kind", "utt_a", "utt_b", "caption_a", "caption_b"}``, CompA-style scores per kind.

Every score is over the whole set (:mod:`audiocl.metrics.retrieval`), next to its chance level.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from audiocl.data.audio import read_audio
from audiocl.data.kaldi_files import read_keyed_file
from audiocl.errors import DataDirError
from audiocl.metrics.retrieval import (COMPA_CHANCE, compa_scores, plot_similarity, retrieval_chance,
                                       retrieval_metrics, zero_shot_accuracy)
from audiocl.models.clap import CLAPModel, pool_chunks
from audiocl.tasks.clap_data import CaptionedSet, cached_text_features, read_jsonl, text_tower_id
from audiocl.utils.io import atomic_write_text

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "This is a sound of {}."
NO_LABEL = "-"
"""Value of a zero-shot label file for a clip the label set does not apply to."""
ENSEMBLE_TEMPLATES = (
    "This is a sound of {}.",
    "A recording of {}.",
    "The sound of {}.",
    "{} can be heard.",
    "A clip with {}.",
)


@torch.no_grad()
def embed_clips(model: CLAPModel, clips: Sequence[np.ndarray], batch_size: int = 32) -> torch.Tensor:
    """Deterministic embeddings of mono clips at the model's rate (fixed chunks, see :class:`CLAPModel`)."""
    model.eval()
    return model.embed_audio([torch.from_numpy(np.ascontiguousarray(c, dtype=np.float32)) for c in clips],
                             batch_size=batch_size).cpu()


@torch.no_grad()
def embed_files(model: CLAPModel, specs: Sequence[str], batch_size: int = 32,
                utt_ids: Sequence[str] | None = None) -> torch.Tensor:
    """Embeddings of audio files / ``cmd |`` pipes, read in groups of ``batch_size`` clips; a missing or
    unreadable file is an :class:`AudioReadError` naming it."""
    return embed_files_models([model], specs, batch_size, utt_ids)[0]


def _front_end_key(model: CLAPModel) -> str:
    """Models with equal keys cut a clip into the same chunks and (log-mel CNN towers) the same CNN input."""
    c = model.cfg
    return json.dumps({"sr": c.sample_rate, "chunk": c.chunk_samples, "tail": c.min_tail_seconds,
                       "logmel": asdict(c.logmel) if c.audio_tower == "cnn" else None,
                       "device": str(model.log_logit_scale.device)}, sort_keys=True)


@torch.no_grad()
def embed_files_models(models: Sequence[CLAPModel], specs: Sequence[str], batch_size: int = 32,
                       utt_ids: Sequence[str] | None = None) -> list[torch.Tensor]:
    """:func:`embed_files` of several models at once: each group of ``batch_size`` files is read once (per
    sample rate) and cut and framed once per front end; only the towers run per model. Every model sees the
    chunk batches it would see alone, so its embeddings equal its own :func:`embed_files`."""
    out: list[list[torch.Tensor]] = [[] for _ in models]
    for model in models:
        model.eval()
    for s in range(0, len(specs), batch_size):
        group = specs[s:s + batch_size]
        ids = utt_ids[s:s + batch_size] if utt_ids is not None else [None] * len(group)
        clips: dict[int, list[torch.Tensor]] = {}
        inputs: dict[str, tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor]] = {}
        for j, model in enumerate(models):
            sr, cnn = model.cfg.sample_rate, model.cfg.audio_tower == "cnn"
            if sr not in clips:
                clips[sr] = [torch.from_numpy(np.ascontiguousarray(read_audio(p, sample_rate=sr, utt_id=u),
                                                                   dtype=np.float32)) for p, u in zip(group, ids)]
            key = _front_end_key(model)
            if key not in inputs:
                chunks, lengths, owner = model.chunk(clips[sr])
                batches = [(chunks[a:a + batch_size], lengths[a:a + batch_size])
                           for a in range(0, chunks.shape[0], batch_size)]
                inputs[key] = ([model.chunk_logmel(*b) for b in batches] if cnn else batches, owner)
            batches, owner = inputs[key]
            embed = model.embed_logmel_chunks if cnn else model.embed_audio_chunks
            per_chunk = torch.cat([embed(*b) for b in batches], 0)
            out[j].append(pool_chunks(per_chunk, owner, len(group)).cpu())
    return [torch.cat(o, 0) if o else torch.zeros(0, m.cfg.embed_dim) for o, m in zip(out, models)]


TextEmbedder = Callable[[CLAPModel, Sequence[str]], torch.Tensor]


class FrozenTextMemo:
    """Text embeddings for evaluating several models in one process: a frozen text tower's outputs
    (:meth:`CLAPModel.text_features`) depend on the tower alone, so each list of prompts or captions is
    encoded once per tower and only each model's own head (:meth:`CLAPModel.embed_text_features`) runs per model.
    A model whose text tower is trained encodes everything itself."""

    def __init__(self) -> None:
        self._features: dict[tuple[str, tuple[str, ...]], Any] = {}

    def features(self, model: CLAPModel, texts: Sequence[str], encode: Callable[[list[str]], Any] | None = None):
        """The frozen tower's features of ``texts`` (``encode`` computes them on a miss; default the tower)."""
        key = (text_tower_id(model.cfg), tuple(texts))
        if key not in self._features:
            self._features[key] = (encode or model.text_features)(list(texts))
        return self._features[key]

    def __call__(self, model: CLAPModel, texts: Sequence[str]) -> torch.Tensor:
        if not model.cfg.text.freeze:
            return model.embed_text(list(texts))
        return model.embed_text_features(self.features(model, texts))


@torch.no_grad()
def class_text_embeddings(model: CLAPModel, classes: Sequence[str], templates: Sequence[str],
                          text: TextEmbedder | None = None) -> torch.Tensor:
    """One embedding per class: the normalised mean over templates (CLIP's prompt ensembling)."""
    text = text or (lambda m, texts: m.embed_text(list(texts)))
    per_template = [text(model, [t.format(c) for c in classes]) for t in templates]
    mean = torch.stack(per_template).mean(0)
    return torch.nn.functional.normalize(mean, dim=-1).cpu()


def zeroshot_label_sets(data_dir: Path) -> dict[str, list[str]]:
    """``{set: class names}`` from ``zeroshot_labels.json`` in ``data_dir`` or its parent; a file that is
    not an object of lists of names is a :class:`DataDirError` naming it (never a bare JSON traceback)."""
    for candidate in (data_dir / "zeroshot_labels.json", data_dir.parent / "zeroshot_labels.json"):
        if candidate.is_file():
            try:
                sets = json.loads(candidate.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise DataDirError(f"{candidate}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
            if not isinstance(sets, dict) or not all(isinstance(v, list) and v for v in sets.values()):
                raise DataDirError(f"{candidate}: expected an object mapping each label set to a non-empty list "
                                   'of class names, e.g. {"category": ["dog", "rain"]}')
            return {str(k): [str(c) for c in v] for k, v in sets.items()}
    return {}


def _zero_shot(model: CLAPModel, data_dir: Path, index: dict[str, int], audio: torch.Tensor,
               text: TextEmbedder) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, classes in zeroshot_label_sets(data_dir).items():
        f = data_dir / f"utt2{name}"
        if not f.is_file():
            continue
        pairs = [(u, c) for u, c in read_keyed_file(f).entries.items() if u in index and c != NO_LABEL]
        unknown = sorted({c for _, c in pairs if c not in classes})
        if unknown:
            raise DataDirError(f"{f}: labels {unknown[:5]} are not in zeroshot_labels.json[{name!r}]")
        if not pairs:
            continue
        rows = audio[[index[u] for u, _ in pairs]]
        y = [classes.index(c) for _, c in pairs]
        single = zero_shot_accuracy((rows @ class_text_embeddings(model, classes, [DEFAULT_TEMPLATE], text).T).numpy(), y)
        ens = zero_shot_accuracy((rows @ class_text_embeddings(model, classes, ENSEMBLE_TEMPLATES, text).T).numpy(), y)
        out[name] = {"clips": len(pairs), "classes": len(classes), "top1": single["top1"], "top5": single["top5"],
                     "ensemble_top1": ens["top1"], "ensemble_top5": ens["top5"],
                     "chance_top1": 1.0 / len(classes), "chance_top5": min(5, len(classes)) / len(classes)}
    return out


def _compa(model: CLAPModel, data_dir: Path, index: dict[str, int], audio: torch.Tensor,
           text: TextEmbedder) -> dict[str, Any]:
    path = data_dir / "compa_pairs.jsonl"
    if not path.is_file():
        return {}
    rows = [r for r in read_jsonl(path, key="utt_a") if r.get("utt_a") in index and r.get("utt_b") in index]
    by_kind: dict[str, list[dict]] = {}
    for r in rows:
        by_kind.setdefault(str(r.get("kind", "")), []).append(r)
    out: dict[str, Any] = {}
    with torch.no_grad():
        for kind, group in sorted(by_kind.items()):
            a = torch.stack([torch.stack([audio[index[r["utt_a"]]], audio[index[r["utt_b"]]]]) for r in group])
            t = text(model, [c for r in group for c in (r["caption_a"], r["caption_b"])]).cpu()
            t = t.view(len(group), 2, -1)
            out[kind] = compa_scores(torch.einsum("pie,pje->pij", a, t).numpy())
    out["chance"] = dict(COMPA_CHANCE)
    return out


@torch.no_grad()
def embed_captions(model: CLAPModel, texts: Sequence[str], cache_dir: str | Path | None = None,
                   memo: FrozenTextMemo | None = None) -> torch.Tensor:
    """Caption embeddings; a frozen tower's features go through the on-disk cache when ``cache_dir`` is given
    (every model with the same text tower evaluated on the same set shares them) and through ``memo``."""
    if model.cfg.text.freeze:
        def encode(t: list[str]):
            return cached_text_features(t, model.text_features, cache_dir, text_tower_id(model.cfg))

        feats = (memo or FrozenTextMemo()).features(model, texts, encode)
        return model.embed_text_features(feats.to(model.log_logit_scale.device)).cpu()
    return torch.cat([model.embed_text(list(texts[s:s + 256])).cpu() for s in range(0, len(texts), 256)])


def evaluate_clap(model: CLAPModel, data_dir: str | Path, out_dir: str | Path | None = None,
                  batch_size: int = 32, text_cache_dir: str | Path | None = None) -> dict[str, Any]:
    """All metrics of ``model`` on ``data_dir``; with ``out_dir`` also ``metrics.json`` and ``similarity.png``."""
    return evaluate_clap_models([model], data_dir, [out_dir], batch_size, text_cache_dir)[0]


def evaluate_clap_models(models: Sequence[CLAPModel], data_dir: str | Path,
                         out_dirs: Sequence[str | Path | None] | None = None, batch_size: int = 32,
                         text_cache_dir: str | Path | None = None) -> list[dict[str, Any]]:
    """:func:`evaluate_clap` of several models (e.g. every seed of a recipe) in one pass over the data: the
    audio is read and framed once (:func:`embed_files_models`) and a frozen text tower encodes each caption
    and prompt once (:class:`FrozenTextMemo`); each model's metrics equal its own :func:`evaluate_clap`."""
    data_dir = Path(data_dir)
    out_dirs = list(out_dirs) if out_dirs is not None else [None] * len(models)
    if len(out_dirs) != len(models):
        raise ValueError(f"{len(models)} models but {len(out_dirs)} output dirs")
    data = CaptionedSet.load(data_dir)
    audios = embed_files_models(models, [data.wav[u] for u in data.utts], batch_size, data.utts)
    index = {u: i for i, u in enumerate(data.utts)}
    captions = [(i, c) for i, u in enumerate(data.utts) for c in data.captions[u]]
    memo = FrozenTextMemo()
    results = []
    for model, audio, out_dir in zip(models, audios, out_dirs):
        text = embed_captions(model, [c for _, c in captions], text_cache_dir, memo)
        sim = (audio @ text.T).numpy()
        multi = any(len(data.captions[u]) > 1 for u in data.utts)
        result: dict[str, Any] = {
            "data_dir": str(data_dir), "clips": len(data.utts), "captions": len(captions),
            "retrieval": retrieval_metrics(sim, [i for i, _ in captions] if multi else None),
            "retrieval_chance": retrieval_chance(len(data.utts)),
            "zero_shot": _zero_shot(model, data_dir, index, audio, memo),
            "compa": _compa(model, data_dir, index, audio, memo),
        }
        if out_dir is not None:
            out = Path(out_dir)
            out.mkdir(parents=True, exist_ok=True)
            first = np.array([next(j for j, (i, _) in enumerate(captions) if i == k) for k in range(len(data.utts))])
            plot_similarity(sim[:, first], out / "similarity.png", title=f"{data_dir.name}: audio x first caption")
            atomic_write_text(out / "metrics.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
        results.append(result)
    return results
