"""Utterance-classification metrics: weighted/unweighted accuracy, macro-F1, confusion matrix.

Emotion recognition papers (IEMOCAP) report both *weighted accuracy* (WA, overall accuracy: every
utterance counts once) and *unweighted accuracy* (UA, the mean of per-class recalls: every class
counts once), because the classes are imbalanced. Macro-F1 averages per-class F1 the same way.
Classes that never occur in the references are left out of UA (their recall is undefined) but are
kept in the confusion matrix so the figure shows where predictions went.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from audiocl.utils.plotting import pyplot, save_figure


def confusion_matrix(refs: Sequence[int], hyps: Sequence[int], num_classes: int) -> np.ndarray:
    """``(num_classes, num_classes)`` counts: row = reference class, column = predicted class."""
    refs = np.asarray(refs, dtype=np.int64)
    hyps = np.asarray(hyps, dtype=np.int64)
    if refs.shape != hyps.shape:
        raise ValueError(f"{refs.shape[0]} references but {hyps.shape[0]} predictions")
    cm = np.zeros((num_classes, num_classes), dtype=np.int64)
    np.add.at(cm, (refs, hyps), 1)
    return cm


def classification_metrics(refs: Sequence[int], hyps: Sequence[int], labels: Sequence[str]) -> dict:
    """``{"wa", "ua", "macro_f1", "num_utts", "per_class": {label: {recall, precision, f1, support}},
    "confusion": [[...]], "labels": [...]}``."""
    cm = confusion_matrix(refs, hyps, len(labels))
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    diag = np.diag(cm)
    total = int(cm.sum())
    present = support > 0
    recall = np.divide(diag, support, out=np.zeros(len(labels)), where=present)
    precision = np.divide(diag, predicted, out=np.zeros(len(labels)), where=predicted > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(len(labels)), where=denom > 0)
    return {
        "num_utts": total,
        "wa": float(diag.sum() / total) if total else 0.0,
        "ua": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "labels": list(labels),
        "per_class": {
            lab: {"recall": float(recall[i]), "precision": float(precision[i]), "f1": float(f1[i]),
                  "support": int(support[i])}
            for i, lab in enumerate(labels)
        },
        "confusion": cm.tolist(),
    }


def plot_confusion(cm: np.ndarray | list, labels: Sequence[str], path: str | Path, title: str = "") -> Path:
    """Write a row-normalised confusion-matrix PNG (counts printed in each cell), atomically."""
    plt = pyplot()

    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    norm = np.divide(cm, rows, out=np.zeros(cm.shape, dtype=float), where=rows > 0)
    size = max(3.0, 0.6 * len(labels) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    im = ax.imshow(norm, vmin=0.0, vmax=1.0, cmap="Blues")
    ax.set_xticks(range(len(labels)), labels=list(labels), rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels=list(labels))
    ax.set_xlabel("predicted")
    ax.set_ylabel("reference")
    if title:
        ax.set_title(title)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(int(cm[i, j])), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return save_figure(fig, path)
