"""Time series, self-contained: data, augmentations, the contrastive methods, evaluation, the UCR/UEA
recipe and the sktime estimator. Built on :mod:`audiocl.nn` and :mod:`audiocl.losses` (plus ``config``,
``utils``, ``errors``); never imports ``models``, ``tasks`` or ``hub``.

- :mod:`~audiocl.ts.data`: sktime-shipped UCR/UEA sets (offline), numpy / pandas / CSV / ``.ts`` input,
  NaN padding, input checks, per-dataset normalisation.
- :mod:`~audiocl.ts.augment`: jitter, scaling, permutation, TS2Vec's overlapping crops and timestamp masks.
- :mod:`~audiocl.ts.config`: the typed configs of all methods (``ts2vec``, ``simclr``, ``ts_tcc``).
- :mod:`~audiocl.ts.model`: the TS2Vec / SimCLR model and its training loop (numpy in, numpy out).
- :mod:`~audiocl.ts.tstcc`: TS-TCC on the same loop.
- :mod:`~audiocl.ts.factory`: ``build_model`` / ``fit_model`` / ``load_model`` for any method.
- :mod:`~audiocl.ts.evaluate`: TS2Vec's SVM protocol and a linear probe on frozen embeddings.
- :mod:`~audiocl.ts.ucr_uea`, :mod:`~audiocl.ts.ucr_uea_results`, :mod:`~audiocl.ts.dbpm_experiment`:
  the recipe's runs, its ``RESULTS.md`` tables, the DBPM corrupted-pairs experiment (``audiocl ts-*``).
- :mod:`~audiocl.ts.sktime_adapter`: :class:`ContrastiveTransformer`, an sktime transformer.

``audiocl.ts.ContrastiveTransformer`` is imported lazily so that ``import audiocl.ts`` does not
pull in sktime.
"""

from __future__ import annotations


def __getattr__(name: str):
    if name == "ContrastiveTransformer":
        from audiocl.ts.sktime_adapter import ContrastiveTransformer

        return ContrastiveTransformer
    raise AttributeError(f"module 'audiocl.ts' has no attribute {name!r}")


__all__ = ["ContrastiveTransformer"]
