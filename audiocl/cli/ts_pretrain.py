"""``audiocl ts-pretrain`` / ``audiocl ts-encode``: contrastive pretraining on time series from files.

    audiocl ts-pretrain --train GunPoint_TRAIN.ts --out exp/gp [--config configs/ts/ts2vec.yaml] [dbpm=true ...]
    audiocl ts-pretrain --train GunPoint_TRAIN.ts --out exp/gp_tcc --config configs/ts/ts_tcc.yaml
    audiocl ts-encode --model exp/gp --data GunPoint_TEST.ts --out emb.npy

Input files: ``.ts`` (sktime/UEA format), ``.npy`` (``(N, T)`` or ``(N, T, C)``, NaN = missing /
padding), ``.csv`` / ``.tsv`` (one univariate series per row, label in the first column unless
``--no-label``). Argument parsing only; the work is in :mod:`audiocl.ts` (``audiocl.ts.factory``
builds the model of ``method``: ts2vec, simclr or ts_tcc).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def _pretrain(args: argparse.Namespace) -> int:
    from audiocl.config import resolve_config
    from audiocl.ts.config import TSPretrainConfig
    from audiocl.ts.data import load_series_file
    from audiocl.ts.factory import fit_model

    X = load_series_file(args.train, not args.no_label)
    cfg = resolve_config(TSPretrainConfig, presets=args.config or [], overrides=args.overrides)
    model, norm = fit_model(cfg, X, what=str(args.train), verbose=True)
    model.save(args.out, extra={"normalizer": norm.to_dict()})
    print(f"trained {model.history[-1]['iters']} iterations in {model.train_seconds:.1f}s -> {args.out}")
    return 0


def _encode(args: argparse.Namespace) -> int:
    import numpy as np

    from audiocl.ts.data import Normalizer, check_series, load_series_file
    from audiocl.ts.factory import load_model
    from audiocl.utils.io import atomic_path

    model, meta = load_model(args.model)
    X = load_series_file(args.data, not args.no_label)
    check_series(X, what=str(args.data))
    if "normalizer" in meta:
        X = Normalizer.from_dict(meta["normalizer"]).transform(X)
    emb = model.encode(X)
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, emb)
    print(f"{emb.shape[0]} embeddings of size {emb.shape[1]} -> {args.out}")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("ts-pretrain", help="contrastive pretraining (TS2Vec / SimCLR / TS-TCC, optional DBPM) on a time-series file")
    p.add_argument("--train", type=Path, required=True)
    p.add_argument("--out", type=Path, required=True, help="model folder (model.safetensors, config.yaml, meta.json)")
    p.add_argument("--config", type=Path, action="append", help="YAML preset(s), e.g. configs/ts/ts2vec.yaml")
    p.add_argument("--no-label", action="store_true", help="CSV rows have no label column")
    p.add_argument("overrides", nargs="*", help="key=value config overrides (dbpm=true, iters=100, encoder.depth=4)")
    p.set_defaults(func=_pretrain)
    e = subparsers.add_parser("ts-encode", help="fixed-size embeddings (max-pooled) of a time-series file")
    e.add_argument("--model", type=Path, required=True)
    e.add_argument("--data", type=Path, required=True)
    e.add_argument("--out", type=Path, required=True, help=".npy file")
    e.add_argument("--no-label", action="store_true")
    e.set_defaults(func=_encode)
