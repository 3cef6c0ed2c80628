"""Downstream evaluation of frozen time-series embeddings: TS2Vec's SVM protocol and a linear probe.

TS2Vec protocol ("TS2Vec: Towards Universal Representation of Time Series", Yue et al., AAAI 2022,
Sec. 4.1 and its ``tasks/_eval_protocols.py``): the full series is encoded and max-pooled to one
vector; an RBF SVM (``gamma='scale'``) is trained on the train embeddings. When the train set has
fewer than 5 series per class or fewer than 50 series, the SVM is fitted directly with ``C = inf``;
otherwise ``C`` is chosen by 5-fold grid search over ``{1e-4, ..., 1e4, inf}``.

Labels of the test split that never occur in train cannot be predicted by any classifier trained on
train: :func:`check_labels` raises :class:`TimeSeriesInputError` naming them (``allow_unseen=True``
counts them as errors instead, which is how the accuracy of such a split is defined).
"""

from __future__ import annotations

import warnings

import numpy as np

from audiocl.errors import TimeSeriesInputError

SVM_C_GRID = [1e-4, 1e-3, 1e-2, 1e-1, 1, 10, 100, 1000, 10000, np.inf]


def check_labels(y_train: np.ndarray, y_test: np.ndarray, *, allow_unseen: bool = False) -> None:
    unseen = sorted(set(np.asarray(y_test).tolist()) - set(np.asarray(y_train).tolist()))
    if unseen and not allow_unseen:
        raise TimeSeriesInputError(
            f"test labels {unseen[:10]} never occur in the training labels; a classifier trained on train cannot "
            "predict them (pass allow_unseen=True to score them as errors)"
        )


def _c_for_svc(c: float) -> float:
    # sklearn rejects C=inf in recent versions; a huge finite C is the same hard-margin SVM
    return 1e12 if not np.isfinite(c) else c


def fit_svm(train_repr: np.ndarray, train_y: np.ndarray, seed: int = 0):
    """TS2Vec's SVM protocol (see module docstring); returns the fitted classifier."""
    from sklearn.model_selection import GridSearchCV
    from sklearn.svm import SVC

    n = len(train_y)
    _, counts = np.unique(train_y, return_counts=True)
    if n // len(counts) < 5 or n < 50:
        return SVC(C=_c_for_svc(np.inf), gamma="scale").fit(train_repr, train_y)
    grid = GridSearchCV(
        SVC(gamma="scale"),
        {"C": [_c_for_svc(c) for c in SVM_C_GRID]},
        cv=5,
        n_jobs=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # folds with a missing class warn
        grid.fit(train_repr, train_y)
    return grid.best_estimator_


def fit_linear_probe(train_repr: np.ndarray, train_y: np.ndarray, seed: int = 0):
    """Standardised features + multinomial logistic regression (L2, C=1): the linear probe."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed)).fit(train_repr, train_y)


def evaluate_embeddings(
    train_repr: np.ndarray, train_y: np.ndarray, test_repr: np.ndarray, test_y: np.ndarray,
    *, seed: int = 0, allow_unseen: bool = False,
) -> dict[str, float]:
    """Accuracy of the SVM protocol and the linear probe on frozen embeddings."""
    check_labels(train_y, test_y, allow_unseen=allow_unseen)
    out = {}
    svm = fit_svm(train_repr, train_y, seed)
    out["svm_acc"] = float((svm.predict(test_repr) == test_y).mean())
    probe = fit_linear_probe(train_repr, train_y, seed)
    out["linear_acc"] = float((probe.predict(test_repr) == test_y).mean())
    return out


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and population standard deviation (NaN, NaN for no values)."""
    a = np.asarray(values, dtype=float)
    if not len(a):
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=0))


def format_mean_std(values: list[float], *, show_n: bool = True) -> str:
    """One cell of a results table: ``"0.815 ± 0.013 (n=5)"`` over the non-NaN ``values`` (without
    ``(n=..)`` if ``show_n`` is false), or ``"—"`` when there are none."""
    vals = [v for v in values if v == v]
    if not vals:
        return "—"
    m, s = mean_std(vals)
    return f"{m:.3f} ± {s:.3f}" + (f" (n={len(vals)})" if show_n else "")


__all__ = ["SVM_C_GRID", "check_labels", "evaluate_embeddings", "fit_linear_probe", "fit_svm", "format_mean_std",
           "mean_std"]
