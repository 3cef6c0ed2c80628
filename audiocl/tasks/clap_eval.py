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
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from audiocl.data.audio import read_audio
from audiocl.data.kaldi_files import read_keyed_file
from audiocl.errors import DataDirError
from audiocl.metrics.retrieval import (COMPA_CHANCE, compa_scores, plot_similarity, retrieval_chance,
                                       retrieval_metrics, zero_shot_accuracy)
from audiocl.models.clap import CLAPModel
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
    out = []
    for s in range(0, len(specs), batch_size):
        group = specs[s:s + batch_size]
        ids = utt_ids[s:s + batch_size] if utt_ids is not None else [None] * len(group)
        clips = [read_audio(p, sample_rate=model.cfg.sample_rate, utt_id=u) for p, u in zip(group, ids)]
        out.append(embed_clips(model, clips, batch_size))
    return torch.cat(out, 0) if out else torch.zeros(0, model.cfg.embed_dim)


@torch.no_grad()
def class_text_embeddings(model: CLAPModel, classes: Sequence[str], templates: Sequence[str]) -> torch.Tensor:
    """One embedding per class: the normalised mean over templates (CLIP's prompt ensembling)."""
    per_template = [model.embed_text([t.format(c) for c in classes]) for t in templates]
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


def _zero_shot(model: CLAPModel, data_dir: Path, index: dict[str, int], audio: torch.Tensor) -> dict[str, Any]:
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
        single = zero_shot_accuracy((rows @ class_text_embeddings(model, classes, [DEFAULT_TEMPLATE]).T).numpy(), y)
        ens = zero_shot_accuracy((rows @ class_text_embeddings(model, classes, ENSEMBLE_TEMPLATES).T).numpy(), y)
        out[name] = {"clips": len(pairs), "classes": len(classes), "top1": single["top1"], "top5": single["top5"],
                     "ensemble_top1": ens["top1"], "ensemble_top5": ens["top5"],
                     "chance_top1": 1.0 / len(classes), "chance_top5": min(5, len(classes)) / len(classes)}
    return out


def _compa(model: CLAPModel, data_dir: Path, index: dict[str, int], audio: torch.Tensor) -> dict[str, Any]:
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
            t = model.embed_text([c for r in group for c in (r["caption_a"], r["caption_b"])]).cpu()
            t = t.view(len(group), 2, -1)
            out[kind] = compa_scores(torch.einsum("pie,pje->pij", a, t).numpy())
    out["chance"] = dict(COMPA_CHANCE)
    return out


@torch.no_grad()
def embed_captions(model: CLAPModel, texts: Sequence[str], cache_dir: str | Path | None = None) -> torch.Tensor:
    """Caption embeddings; a frozen tower's features go through the on-disk cache when ``cache_dir`` is given
    (every model with the same text tower evaluated on the same set shares them)."""
    if model.cfg.text.freeze:
        feats = cached_text_features(texts, model.text_features, cache_dir, text_tower_id(model.cfg))
        return model.embed_text_features(feats.to(model.log_logit_scale.device)).cpu()
    return torch.cat([model.embed_text(list(texts[s:s + 256])).cpu() for s in range(0, len(texts), 256)])


def evaluate_clap(model: CLAPModel, data_dir: str | Path, out_dir: str | Path | None = None,
                  batch_size: int = 32, text_cache_dir: str | Path | None = None) -> dict[str, Any]:
    """All metrics of ``model`` on ``data_dir``; with ``out_dir`` also ``metrics.json`` and ``similarity.png``."""
    data_dir = Path(data_dir)
    data = CaptionedSet.load(data_dir)
    model.eval()
    audio = embed_files(model, [data.wav[u] for u in data.utts], batch_size, data.utts)
    index = {u: i for i, u in enumerate(data.utts)}
    captions = [(i, c) for i, u in enumerate(data.utts) for c in data.captions[u]]
    text = embed_captions(model, [c for _, c in captions], text_cache_dir)
    sim = (audio @ text.T).numpy()
    multi = any(len(data.captions[u]) > 1 for u in data.utts)
    result: dict[str, Any] = {
        "data_dir": str(data_dir), "clips": len(data.utts), "captions": len(captions),
        "retrieval": retrieval_metrics(sim, [i for i, _ in captions] if multi else None),
        "retrieval_chance": retrieval_chance(len(data.utts)),
        "zero_shot": _zero_shot(model, data_dir, index, audio),
        "compa": _compa(model, data_dir, index, audio),
    }
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        first = np.array([next(j for j, (i, _) in enumerate(captions) if i == k) for k in range(len(data.utts))])
        plot_similarity(sim[:, first], out / "similarity.png", title=f"{data_dir.name}: audio x first caption")
        atomic_write_text(out / "metrics.json", json.dumps(result, indent=2, sort_keys=True) + "\n")
    return result
