"""sktime adapter: :class:`ContrastiveTransformer`, an unsupervised Panel -> Primitives transformer.

``fit(X)`` trains a time-series contrastive model (TS2Vec by default, optionally with DBPM) on the
series alone; ``transform(X)`` returns one fixed-size embedding per series (max-pooled over time),
so it drops into any sktime pipeline in front of any classifier::

    from sktime.classification.compose import ClassifierPipeline
    pipe = ContrastiveTransformer(iters=200) * SVC()   # or make_pipeline(...)

Input: any sktime Panel container (numpy3D, nested DataFrame, pd-multiindex, df-list); unequal
lengths and NaN (missing values) are handled with masks, multivariate input is supported.

Bad input (documented behaviour, all raise :class:`audiocl.errors.TimeSeriesInputError` naming the
series): an all-NaN series, a series with fewer than 2 observed steps, +/-inf values, and a channel
count in ``transform`` that differs from ``fit``. Constant series are accepted (they normalise to 0).

Persistence without pickle for weights: ``save(path)`` writes ``path.zip`` holding
``model.safetensors``, ``config.yaml`` (model config) and ``estimator.json`` (constructor params,
normaliser, channel count), plus the one-line ``_metadata`` class reference that
``sktime.base.load`` needs to find this class. ``ContrastiveTransformer.load(path)`` and
``sktime.base.load(path)`` both restore it; neither unpickles the model.
"""

from __future__ import annotations

import io
import json
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from sktime.transformations.base import BaseTransformer

from audiocl.errors import TimeSeriesInputError
from audiocl.nn.ts_encoders import TSEncoderConfig
from audiocl.ts.config import TSPretrainConfig
from audiocl.ts.data import Normalizer, as_3d, check_series
from audiocl.ts.factory import fit_model, load_model
from audiocl.ts.model import MODEL_FILES
from audiocl.utils.io import atomic_write_bytes


def _panel_to_ntc(X, what: str) -> np.ndarray:
    """sktime inner mtype (numpy3D ``(N, C, T)`` or df-list) -> our ``(N, T, C)`` NaN-padded."""
    if isinstance(X, np.ndarray):
        return np.ascontiguousarray(np.transpose(X, (0, 2, 1)), dtype=np.float32)
    if isinstance(X, list):
        return as_3d([df.to_numpy(dtype=float) for df in X], what=what)
    raise TimeSeriesInputError(f"{what}: unsupported inner container {type(X).__name__}")


class ContrastiveTransformer(BaseTransformer):
    """Self-supervised contrastive embeddings for time series (TS2Vec / SimCLR / TS-TCC, optional DBPM).

    Parameters
    ----------
    method : "ts2vec", "simclr" or "ts_tcc" (TS-TCC: needs at least 2 series of at least 2 steps)
    encoder : "dilated_cnn", "resnet1d" or "transformer"
    repr_dim, hidden, depth : encoder sizes (TS2Vec defaults 320 / 64 / 10)
    loss : name of any objective in ``audiocl.losses`` (default ``infonce``)
    iters : training iterations (0 = TS2Vec's rule: 200, or 600 for > 100 000 values)
    batch_size, lr : TS2Vec defaults 8 and 1e-3
    dbpm : wrap the objective in Dynamic Bad Pair Mining
    normalize : standardise with train statistics (TS2Vec's per-dataset normalisation)
    weight_averaging : embed with the mean of the encoder's weights over the training iterates, as the
        TS2Vec authors' code does (default). The last iterate of a short run (200 iterations of
        batch 8) moves with every batch, so its embeddings, and a classifier on them, vary from seed
        to seed; the mean does not (docs/experiments/ts-seed-stability.md)
    averaging_start : with ``weight_averaging``, the fraction of iterations after which iterates
        enter the mean (0 = from the initial weights on, as TS2Vec's code)
    random_state : seed (``None`` = 0, so fits are reproducible)

    Examples
    --------
    >>> import numpy as np
    >>> from audiocl.ts import ContrastiveTransformer
    >>> X = np.random.default_rng(0).standard_normal((6, 1, 20))  # (instances, channels, time)
    >>> t = ContrastiveTransformer(repr_dim=8, hidden=4, depth=1, iters=2, batch_size=4)
    >>> t.fit_transform(X).shape
    (6, 8)
    """

    _tags = {
        "authors": ["audiocl"],
        "scitype:transform-input": "Series",
        "scitype:transform-output": "Primitives",
        "scitype:instancewise": True,
        "X_inner_mtype": ["numpy3D", "df-list"],
        "y_inner_mtype": "None",
        "fit_is_empty": False,
        "requires_y": False,
        "capability:multivariate": True,
        "capability:unequal_length": True,
        "capability:missing_values": True,
        "capability:random_state": True,
        "property:randomness": "derandomized",
    }

    def __init__(self, method="ts2vec", encoder="dilated_cnn", repr_dim=320, hidden=64, depth=10, loss="infonce",
                 iters=0, batch_size=8, lr=1e-3, dbpm=False, normalize=True, weight_averaging=True, averaging_start=0.0,
                 random_state=None):
        # sktime's contract: every constructor argument is stored unchanged under its own name
        self.method, self.loss, self.dbpm = method, loss, dbpm
        self.encoder, self.repr_dim, self.hidden, self.depth = encoder, repr_dim, hidden, depth
        self.iters, self.batch_size, self.lr = iters, batch_size, lr
        self.normalize, self.random_state = normalize, random_state
        self.weight_averaging, self.averaging_start = weight_averaging, averaging_start
        super().__init__()

    # -- config ---------------------------------------------------------------------------------
    def _model_config(self) -> TSPretrainConfig:
        rs = self.random_state
        if rs is None:
            seed = 0
        elif isinstance(rs, (int, np.integer)):
            seed = int(rs)
        else:  # a np.random.RandomState
            seed = int(rs.randint(2**31 - 1))
        return TSPretrainConfig(
            encoder=TSEncoderConfig(name=self.encoder, hidden=self.hidden, repr_dim=self.repr_dim, depth=self.depth),
            method=self.method, loss=self.loss, iters=int(self.iters), batch_size=self.batch_size, lr=self.lr,
            dbpm=bool(self.dbpm), seed=seed, weight_averaging=bool(self.weight_averaging),
            averaging_start=float(self.averaging_start),
        )

    # -- sktime hooks -----------------------------------------------------------------------------
    def _fit(self, X, y=None):
        what = "ContrastiveTransformer.fit X"
        arr = _panel_to_ntc(X, what)
        self.model_, self.normalizer_ = fit_model(self._model_config(), arr, what=what, normalize=self.normalize)
        self.n_channels_ = int(arr.shape[2])
        return self

    def _transform(self, X, y=None):
        arr = _panel_to_ntc(X, "ContrastiveTransformer.transform X")
        if arr.shape[2] != self.n_channels_:
            raise TimeSeriesInputError(
                f"ContrastiveTransformer.transform: X has {arr.shape[2]} channels, but fit saw {self.n_channels_}"
            )
        check_series(arr, what="ContrastiveTransformer.transform X")
        emb = self.model_.encode(self.normalizer_.transform(arr))
        return pd.DataFrame(emb, columns=[f"emb_{i}" for i in range(emb.shape[1])])

    @classmethod
    def get_test_params(cls, parameter_set="default"):
        """Tiny models so sktime's ``check_estimator`` runs in seconds."""
        return [
            {"repr_dim": 8, "hidden": 4, "depth": 1, "iters": 2, "batch_size": 4},
            {"repr_dim": 6, "hidden": 4, "depth": 1, "iters": 2, "batch_size": 4, "method": "simclr", "dbpm": True},
        ]

    # -- persistence ------------------------------------------------------------------------------
    def _archive_bytes(self) -> bytes:
        params = self.get_params(deep=False)
        state = {"params": params, "fitted": bool(getattr(self, "_is_fitted", False))}
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("_metadata", pickle.dumps(type(self)))  # class reference only, as sktime.base.load expects
            if state["fitted"]:
                state["normalizer"] = self.normalizer_.to_dict()
                state["n_channels"] = self.n_channels_
                with tempfile.TemporaryDirectory() as tmp:
                    self.model_.save(tmp)
                    for f in MODEL_FILES:
                        zf.write(Path(tmp) / f, f)
            zf.writestr("estimator.json", json.dumps(state, indent=1, default=float))
        return buf.getvalue()

    @classmethod
    def _from_archive(cls, data: bytes) -> "ContrastiveTransformer":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            names = set(zf.namelist())
            if "estimator.json" not in names:
                raise TimeSeriesInputError("not a saved ContrastiveTransformer (estimator.json missing)")
            state = json.loads(zf.read("estimator.json"))
            est = cls(**state["params"])
            if state["fitted"]:
                with tempfile.TemporaryDirectory() as tmp:
                    for f in MODEL_FILES:
                        (Path(tmp) / f).write_bytes(zf.read(f))
                    est.model_, _ = load_model(tmp)
                est.normalizer_ = Normalizer.from_dict(state["normalizer"])
                est.n_channels_ = int(state["n_channels"])
                est._is_fitted = True
        return est

    def save(self, path=None, serialization_format="pickle"):
        """``path=None``: in-memory ``(cls, bytes)``; else write ``<path>.zip`` (see module docstring).

        ``serialization_format`` is accepted for sktime compatibility and ignored: weights are
        always stored as safetensors.
        """
        if getattr(self, "_is_fitted", False) and not hasattr(self, "model_"):
            # fitted per instance of a hierarchical input (sktime vectorised over levels and keeps
            # clones in ``transformers_``): fall back to sktime's own serialisation
            return super().save(path, serialization_format)
        data = self._archive_bytes()
        if path is None:
            return (type(self), data)
        path = Path(path)
        target = path if path.suffix == ".zip" else path.with_name(path.name + ".zip")
        atomic_write_bytes(target, data)
        return zipfile.ZipFile(target)

    @classmethod
    def load_from_serial(cls, serial):
        if isinstance(serial, bytes) and serial[:2] == b"PK":
            return cls._from_archive(serial)
        return super().load_from_serial(serial)  # vectorised fit saved by sktime (see save)

    @classmethod
    def load_from_path(cls, serial):
        p = Path(serial.filename) if isinstance(serial, zipfile.ZipFile) else Path(serial)
        with zipfile.ZipFile(p) as zf:
            if "estimator.json" not in zf.namelist():
                return super().load_from_path(serial)  # vectorised fit saved by sktime (see save)
        return cls._from_archive(p.read_bytes())

    @classmethod
    def load(cls, path) -> "ContrastiveTransformer":
        """Restore an estimator written by :meth:`save` (``path`` with or without ``.zip``)."""
        p = Path(path)
        if not p.is_file():
            p = p.with_name(p.name + ".zip")
        if not p.is_file():
            raise TimeSeriesInputError(f"{path}: no saved ContrastiveTransformer found (looked for {p})")
        return cls._from_archive(p.read_bytes())


__all__ = ["ContrastiveTransformer"]
