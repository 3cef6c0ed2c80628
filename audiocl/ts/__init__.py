"""Time series: data loading (sktime-shipped UCR/UEA, numpy/pandas/CSV), augmentations, evaluation
protocols, the UCR/UEA recipe logic and the sktime estimator adapter.

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
