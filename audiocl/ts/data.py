"""Time-series input: sktime's shipped UCR/UEA sets (offline), numpy / pandas / CSV, padding, normalisation.

Everything becomes one layout, ``X (N, T, C)`` float32 with ``NaN`` after each series' end
(variable length) or at missing values, plus ``lengths (N,)``. The encoders treat NaN steps as
masked, so unequal-length sets (JapaneseVowels, PLAID) need no resampling.

UCR/UEA data is read from the ``.ts`` files inside the installed sktime wheel
(``sktime/datasets/data/<Name>/<Name>_{TRAIN,TEST}.ts``) with ``load_from_tsfile``; nothing is
downloaded. A set that is not shipped raises :class:`TimeSeriesInputError` naming where we looked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from audiocl.errors import TimeSeriesInputError

SHIPPED_CLASSIFICATION = [
    "ACSF1", "ArrowHead", "BasicMotions", "GunPoint", "ItalyPowerDemand", "JapaneseVowels", "OSULeaf", "PLAID",
]
"""Classification sets whose ``_TRAIN.ts`` / ``_TEST.ts`` ship inside sktime 1.x's wheel."""


def sktime_data_dir() -> Path:
    import sktime

    return Path(os.path.dirname(sktime.__file__)) / "datasets" / "data"


@dataclass
class TSDataset:
    """A split of a classification set in our layout."""

    name: str
    X: np.ndarray  # (N, T, C) float32, NaN-padded
    y: np.ndarray  # (N,) str labels
    lengths: np.ndarray  # (N,) int

    @property
    def n_channels(self) -> int:
        return self.X.shape[2]


def pad_series(rows: Sequence[Sequence[np.ndarray]]) -> np.ndarray:
    """Series given as per-channel 1-D arrays (lengths may differ, also between the channels of one
    series) -> ``(N, T_max, C)`` float32, NaN after the end of each channel. Every row must have the
    same number of channels (the callers check it, naming their input)."""
    n = len(rows)
    c = len(rows[0]) if n else 0
    t = max((len(ch) for row in rows for ch in row), default=0)
    out = np.full((n, t, c), np.nan, dtype=np.float32)
    for i, row in enumerate(rows):
        for j, ch in enumerate(row):
            out[i, : len(ch), j] = ch
    return out


def nested_to_padded(df) -> tuple[np.ndarray, np.ndarray]:
    """sktime ``nested_univ`` DataFrame (cells = pd.Series) -> ``(N, T_max, C)`` NaN-padded + lengths."""
    n, c = df.shape
    cells = [[np.asarray(df.iat[i, j], dtype=np.float32) for j in range(c)] for i in range(n)]
    lengths = np.array([max(len(s) for s in row) for row in cells], dtype=np.int64)
    return pad_series(cells), lengths


def read_ts_file(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read a classification ``.ts`` file (sktime/UEA format, no timestamps) -> ``(X (N,T,C), y)``.

    Our own small reader: sktime's ``load_from_tsfile`` builds a nested DataFrame of pandas Series
    and takes ~20 s on JapaneseVowels; this reads the same numbers straight into a NaN-padded array.
    Format: ``#`` comments, ``@`` header lines, then one case per line, dimensions separated by
    ``:``, values by ``,``, the class label last; ``?`` or ``NaN`` = missing.
    """
    path = Path(path)
    has_label, timestamps = True, False
    cases: list[list[np.ndarray]] = []
    labels: list[str] = []
    in_data = False
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                low = line.lower()
                if low.startswith("@classlabel") or low.startswith("@targetlabel"):
                    has_label = low.split()[1] == "true"
                elif low.startswith("@timestamps"):
                    timestamps = low.split()[1] == "true"
                elif low.startswith("@data"):
                    in_data = True
                    if timestamps:
                        raise TimeSeriesInputError(f"{path}: .ts files with timestamps are not supported")
                continue
            parts = line.split(":")
            if has_label:
                labels.append(parts.pop().strip())
            try:
                dims = [np.array([np.nan if v.strip() in ("?", "NaN", "nan", "") else float(v) for v in d.split(",")], dtype=np.float32)
                        for d in parts]
            except ValueError as exc:
                raise TimeSeriesInputError(f"{path}:{lineno}: cannot parse value ({exc})") from None
            if cases and len(dims) != len(cases[0]):
                raise TimeSeriesInputError(f"{path}:{lineno}: {len(dims)} dimensions, the first case has {len(cases[0])}")
            cases.append(dims)
    if not cases:
        raise TimeSeriesInputError(f"{path}: no cases after @data")
    return pad_series(cases), np.asarray(labels if has_label else [""] * len(cases)).astype(str)


def load_ucr_uea(name: str, split: str) -> TSDataset:
    """Load ``name``'s ``train`` or ``test`` split from the sktime wheel (never downloads)."""
    if split not in ("train", "test"):
        raise TimeSeriesInputError(f"split must be 'train' or 'test', got {split!r}")
    path = sktime_data_dir() / name / f"{name}_{split.upper()}.ts"
    if not path.is_file():
        raise TimeSeriesInputError(
            f"{name}: {path} not found; shipped classification sets: {', '.join(SHIPPED_CLASSIFICATION)} "
            "(audiocl never downloads UCR/UEA data; put the .ts files there or load your own with from_numpy/from_csv)"
        )
    X, y = read_ts_file(path)
    return TSDataset(name=name, X=X, y=y, lengths=series_lengths(X))


def as_3d(X, *, what: str = "X") -> np.ndarray:
    """numpy ``(N, T)`` / ``(N, T, C)``, list of ``(T_i,)`` / ``(T_i, C)`` arrays, or a nested DataFrame
    -> ``(N, T_max, C)`` float32 NaN-padded. Raises :class:`TimeSeriesInputError` on bad shapes."""
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(X, pd.DataFrame):
        return nested_to_padded(X)[0]
    if isinstance(X, (list, tuple)):
        if not X:
            raise TimeSeriesInputError(f"{what}: empty list of series")
        arrs = [np.asarray(a, dtype=np.float32) for a in X]
        arrs = [a[:, None] if a.ndim == 1 else a for a in arrs]
        chans = {a.shape[1] for a in arrs if a.ndim == 2}
        if any(a.ndim != 2 for a in arrs) or len(chans) != 1:
            raise TimeSeriesInputError(f"{what}: every series must be (T,) or (T, C) with one channel count, got shapes {[a.shape for a in arrs[:5]]}")
        return pad_series([a.T for a in arrs])
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    if arr.ndim != 3:
        raise TimeSeriesInputError(f"{what}: expected (N, T) or (N, T, C), got shape {arr.shape}")
    return arr


def from_csv(path: str | Path, *, label_column: int | None = 0, delimiter: str | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """One univariate series per row (UCR ``.tsv``/``.csv`` layout: label first). Empty / NaN cells pad.

    Returns ``X (N, T, 1)`` and labels (``None`` if ``label_column`` is ``None``).
    """
    path = Path(path)
    if not path.is_file():
        raise TimeSeriesInputError(f"{path}: no such file")
    if delimiter is None:
        delimiter = "\t" if path.suffix in (".tsv", ".txt") else ","
    rows, labels = [], []
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            cells = line.rstrip("\n").split(delimiter)
            if label_column is not None:
                labels.append(cells.pop(label_column).strip())
            try:
                rows.append([float(c) if c.strip() not in ("", "nan", "NaN", "?") else np.nan for c in cells])
            except ValueError as exc:
                raise TimeSeriesInputError(f"{path}:{lineno}: non-numeric value ({exc})") from None
    if not rows:
        raise TimeSeriesInputError(f"{path}: no series")
    return as_3d([np.asarray(r) for r in rows], what=str(path)), (np.asarray(labels) if label_column is not None else None)


def series_lengths(X: np.ndarray, minimum: int = 0) -> np.ndarray:
    """Length of each series = index after its last step with any finite value (at least ``minimum``:
    the models use 1, so that a batch of all-NaN rows still has one step to encode)."""
    finite = np.isfinite(X).any(axis=2)
    rev = finite[:, ::-1]
    last = X.shape[1] - np.argmax(rev, axis=1)
    return np.maximum(np.where(finite.any(axis=1), last, 0), minimum).astype(np.int64)


def load_series_file(path: str | Path, has_label: bool = True) -> np.ndarray:
    """Series of a file as ``(N, T, C)``: ``.ts`` (sktime/UEA format), ``.npy`` (``(N, T)`` or
    ``(N, T, C)``, NaN = missing / padding) or ``.csv`` / ``.tsv`` / ``.txt`` (one univariate series
    per row, the label in the first column unless ``has_label`` is false). Labels are dropped."""
    path = Path(path)
    if not path.is_file():
        raise TimeSeriesInputError(f"{path}: no such file")
    if path.suffix == ".ts":
        return read_ts_file(path)[0]
    if path.suffix == ".npy":
        return as_3d(np.load(path, allow_pickle=False), what=str(path))
    if path.suffix in (".csv", ".tsv", ".txt"):
        return from_csv(path, label_column=0 if has_label else None)[0]
    raise TimeSeriesInputError(f"{path}: unsupported extension {path.suffix!r} (use .ts, .npy, .csv or .tsv)")


def check_series(X: np.ndarray, *, what: str = "X", min_length: int = 2) -> None:
    """Reject input no contrastive model can use, naming the offending series.

    - a series that is entirely NaN (no observed value),
    - a series shorter than ``min_length`` observed steps (length 1 has no temporal structure and
      TS2Vec's crops need 2 steps),
    - +/-inf values.
    Constant series are *allowed* (documented): normalisation maps them to 0 and they embed to a
    constant vector.
    """
    if X.shape[0] == 0:
        raise TimeSeriesInputError(f"{what}: no series")
    if np.isinf(X).any():
        i = int(np.argwhere(np.isinf(X))[0, 0])
        raise TimeSeriesInputError(f"{what}: series {i} contains +/-inf; replace with NaN (missing) or a finite value")
    lengths = series_lengths(X)
    empty = np.flatnonzero(lengths == 0)
    if empty.size:
        raise TimeSeriesInputError(f"{what}: series {empty[:10].tolist()} are entirely NaN (no observed values); drop them")
    short = np.flatnonzero(lengths < min_length)
    if short.size:
        raise TimeSeriesInputError(
            f"{what}: series {short[:10].tolist()} have fewer than {min_length} time steps (length {int(lengths[short[0]])}); "
            "contrastive time-series models need at least 2"
        )


@dataclass
class Normalizer:
    """TS2Vec-style per-dataset normalisation, fitted on the training split only.

    TS2Vec's loaders standardise UEA (multivariate) sets per channel with statistics over all train
    timesteps, and univariate UCR sets with the train split's global mean/std for the sets that are
    not already z-normalised per series. We apply the same rule by measuring instead of keeping
    TS2Vec's hard-coded list: if every train series already has mean ~0 and std ~1 we leave the data
    alone, otherwise we standardise per channel. NaN (missing/padding) is ignored and preserved.
    """

    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> "Normalizer":
        with np.errstate(all="ignore"):
            if X.shape[2] == 1 and _already_znormalised(X):
                self.mean = np.zeros(1, np.float32)
                self.std = np.ones(1, np.float32)
                return self
            flat = X.reshape(-1, X.shape[2])
            mean = np.nanmean(flat, axis=0)
            std = np.nanstd(flat, axis=0)
        self.mean = np.nan_to_num(mean).astype(np.float32)
        self.std = np.where(np.isfinite(std) & (std > 1e-8), std, 1.0).astype(np.float32)
        return self

    @classmethod
    def identity(cls, n_channels: int) -> "Normalizer":
        """A normaliser that leaves ``n_channels``-channel data unchanged."""
        return cls(mean=np.zeros(n_channels, np.float32), std=np.ones(n_channels, np.float32))

    def transform(self, X: np.ndarray) -> np.ndarray:
        if self.mean is None:
            raise RuntimeError("Normalizer.transform before fit")
        return ((X - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict:
        return {"mean": np.asarray(self.mean).tolist(), "std": np.asarray(self.std).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> "Normalizer":
        return cls(mean=np.asarray(d["mean"], np.float32), std=np.asarray(d["std"], np.float32))


def load_ucr_uea_normalised(name: str) -> tuple[TSDataset, TSDataset, np.ndarray, np.ndarray, Normalizer]:
    """Both splits of a shipped set, checked, and normalised with statistics of the train split.

    Returns ``(train, test, x_train, x_test, normalizer)``: the raw datasets (for labels and lengths),
    the normalised arrays every UCR/UEA experiment trains and encodes on, and the fitted
    :class:`Normalizer` (saved with a model so new data gets the same transform)."""
    tr, te = load_ucr_uea(name, "train"), load_ucr_uea(name, "test")
    check_series(tr.X, what=f"{name} train")
    check_series(te.X, what=f"{name} test")
    norm = Normalizer().fit(tr.X)
    return tr, te, norm.transform(tr.X), norm.transform(te.X), norm


def _already_znormalised(X: np.ndarray, tol: float = 0.05) -> bool:
    m = np.nanmean(X[:, :, 0], axis=1)
    s = np.nanstd(X[:, :, 0], axis=1)
    return bool(np.all(np.abs(m) < tol) and np.all(np.abs(s - 1) < tol))


__all__ = [
    "SHIPPED_CLASSIFICATION",
    "TSDataset",
    "Normalizer",
    "as_3d",
    "check_series",
    "from_csv",
    "load_ucr_uea_normalised",
    "load_series_file",
    "load_ucr_uea",
    "nested_to_padded",
    "pad_series",
    "read_ts_file",
    "series_lengths",
    "sktime_data_dir",
]
