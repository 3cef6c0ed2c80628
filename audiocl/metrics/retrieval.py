"""Audio-text retrieval, zero-shot classification and CompA-style metrics, with LAION-CLAP's definitions.

Every score is over the whole evaluation set at once (never within a batch). ``docs/clap.md`` writes the
definitions out; in short, with the 0-based rank ``r`` of the relevant item in a query's descending list:

- ``R@k`` = mean over queries of ``[r < k]``; ``mAP@10`` = mean of ``1/(r+1)`` if ``r < 10`` else 0
  (one relevant item); ``median_rank`` = ``floor(median(r)) + 1``; ``mean_rank`` = ``mean(r) + 1``;
- several captions per clip (Clotho, AudioCaps): text-to-audio as above with every caption a query;
  audio-to-text ``r`` is the best rank among the clip's captions, and ``mAP@10`` sums the precision
  at each of the clip's captions found in the top 10, divided by the clip's number of captions;
- zero-shot: the predicted class is the label whose text embedding is nearest; top-1 / top-5 accuracy;
- CompA / Winoground: for pairs ``(a0, c0), (a1, c1)`` the text score holds when each audio is closer to
  its own caption than to the other one, the audio score when each caption is closer to its own audio,
  the group score when both hold.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from audiocl.utils.plotting import pyplot, save_figure


def _ranks(sim: np.ndarray, relevant: Sequence[Sequence[int]]) -> list[np.ndarray]:
    """0-based ranks of each row's relevant columns in the row's descending order (stable on ties)."""
    order = np.argsort(-sim, axis=1, kind="stable")
    pos = np.empty_like(order)
    rows = np.arange(sim.shape[0])[:, None]
    pos[rows, order] = np.arange(sim.shape[1])[None, :]
    return [pos[i, list(rel)] for i, rel in enumerate(relevant)]


def _rank_metrics(best: np.ndarray, ap10: np.ndarray, prefix: str, ks: Sequence[int]) -> dict[str, float]:
    out = {f"{prefix}R@{k}": float(np.mean(best < k)) for k in ks}
    out[f"{prefix}mAP@10"] = float(np.mean(ap10))
    out[f"{prefix}median_rank"] = float(np.floor(np.median(best)) + 1)
    out[f"{prefix}mean_rank"] = float(np.mean(best) + 1)
    return out


def _ap_at_10(ranks: np.ndarray) -> float:
    hits = np.sort(ranks[ranks < 10]) + 1
    return float(np.sum(np.arange(1, len(hits) + 1) / hits) / len(ranks)) if len(ranks) else 0.0


def retrieval_metrics(sim: np.ndarray, caption_owner: Sequence[int] | None = None,
                      ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Text-to-audio and audio-to-text metrics from ``sim`` ``(num_audio, num_captions)``.

    ``caption_owner[j]`` is the clip of caption ``j``; ``None`` means one caption per clip, in order
    (``sim`` square, the relevant pairs on the diagonal).
    """
    sim = np.asarray(sim, dtype=np.float64)
    n_audio, n_text = sim.shape
    owner = np.arange(n_text) if caption_owner is None else np.asarray(caption_owner)
    if caption_owner is None and n_audio != n_text:
        raise ValueError(f"one caption per clip needs a square similarity matrix, got {sim.shape}")
    if owner.shape != (n_text,) or owner.min(initial=0) < 0 or owner.max(initial=0) >= n_audio:
        raise ValueError("caption_owner must give a clip index in [0, num_audio) for every caption")
    t2a = np.concatenate(_ranks(sim.T, [[o] for o in owner]))
    out = _rank_metrics(t2a, np.where(t2a < 10, 1.0 / (t2a + 1), 0.0), "text_to_audio/", ks)
    captions_of = [np.flatnonzero(owner == i) for i in range(n_audio)]
    if any(len(c) == 0 for c in captions_of):
        raise ValueError("every clip needs at least one caption for audio-to-text retrieval")
    a2t_all = _ranks(sim, captions_of)
    best = np.array([r.min() for r in a2t_all])
    out.update(_rank_metrics(best, np.array([_ap_at_10(r) for r in a2t_all]), "audio_to_text/", ks))
    return out


def retrieval_chance(num_audio: int, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Expected text-to-audio scores of a random ranking with one relevant clip among ``num_audio``."""
    n = num_audio
    out = {f"text_to_audio/R@{k}": min(k, n) / n for k in ks}
    out["text_to_audio/mAP@10"] = sum(1.0 / r for r in range(1, min(10, n) + 1)) / n
    out["text_to_audio/median_rank"] = float(np.floor(np.median(np.arange(n))) + 1)
    return out


def zero_shot_accuracy(sim: np.ndarray, labels: Sequence[int], ks: Sequence[int] = (1, 5)) -> dict[str, float]:
    """Top-k accuracy of ``sim`` ``(num_clips, num_classes)`` against class indices ``labels``."""
    sim = np.asarray(sim, dtype=np.float64)
    ranks = np.concatenate(_ranks(sim, [[int(y)] for y in labels])) if len(labels) else np.zeros(0)
    return {f"top{k}": float(np.mean(ranks < k)) if len(ranks) else float("nan") for k in ks}


def compa_scores(sim_pairs: np.ndarray) -> dict[str, float]:
    """Winoground / CompA text, audio and group scores from ``(P, 2, 2)`` similarities
    ``sim[p, i, j] = sim(audio_i, caption_j)`` of each pair ``p``."""
    s = np.asarray(sim_pairs, dtype=np.float64)
    if s.ndim != 3 or s.shape[1:] != (2, 2):
        raise ValueError(f"expected (P, 2, 2) pair similarities, got {s.shape}")
    text = (s[:, 0, 0] > s[:, 0, 1]) & (s[:, 1, 1] > s[:, 1, 0])
    audio = (s[:, 0, 0] > s[:, 1, 0]) & (s[:, 1, 1] > s[:, 0, 1])
    return {"text": float(text.mean()), "audio": float(audio.mean()), "group": float((text & audio).mean()),
            "pairs": int(s.shape[0])}


COMPA_CHANCE = {"text": 0.25, "audio": 0.25, "group": 1.0 / 6.0}
"""Scores of random similarities (Winoground's chance levels)."""


def plot_similarity(sim: np.ndarray, path: str | Path, title: str = "", max_items: int = 64) -> Path:
    """Heat map of the first ``max_items`` rows and columns of an audio x caption similarity matrix."""
    plt = pyplot()
    sim = np.asarray(sim)[:max_items, :max_items]
    fig, ax = plt.subplots(figsize=(6, 5))
    im = ax.imshow(sim, cmap="viridis", aspect="auto")
    ax.set_xlabel("caption")
    ax.set_ylabel("audio clip")
    ax.set_title(title or "audio-text cosine similarity")
    fig.colorbar(im, ax=ax)
    fig.tight_layout()
    return save_figure(fig, path)
