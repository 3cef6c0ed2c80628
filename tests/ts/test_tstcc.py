"""TS-TCC as a training method: config selection, shapes, NaN / variable length, errors, DBPM, training."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from audiocl.config import resolve_config
from audiocl.errors import ConfigError, TimeSeriesInputError
from audiocl.ts.config import TSPretrainConfig
from audiocl.ts.factory import build_model, load_model
from audiocl.ts.model import TSContrastiveModel
from audiocl.ts.tstcc import TSTCCModel

TINY = ["method=ts_tcc", "encoder.depth=1", "encoder.hidden=8", "encoder.repr_dim=16", "tstcc.hidden=8",
        "tstcc.depth=1", "tstcc.heads=2", "tstcc.mlp_dim=16", "batch_size=8", "num_threads=1"]


def _cfg(*extra):
    return resolve_config(TSPretrainConfig, overrides=[*TINY, *extra])


def _two_classes(n=24, t=24, seed=0):
    rng = np.random.default_rng(seed)
    steps = np.arange(t)
    y = np.arange(n) % 2
    X = np.stack([np.sin(steps * (0.3 if c else 0.9) + rng.uniform(0, 6)) for c in y])[:, :, None]
    return (X + 0.1 * rng.standard_normal(X.shape)).astype(np.float32), y


def test_preset_selects_tstcc():
    cfg = resolve_config(TSPretrainConfig, presets=["configs/ts/ts_tcc.yaml"])
    assert cfg.method == "ts_tcc" and cfg.tstcc.lambda_cc == 0.7 and cfg.tstcc.temperature == 0.2
    assert isinstance(build_model(_cfg(), 1), TSTCCModel)
    assert type(build_model(resolve_config(TSPretrainConfig, overrides=["encoder.depth=1"]), 1)).__name__ == "TSContrastiveModel"
    with pytest.raises(ConfigError):
        build_model(resolve_config(TSPretrainConfig, overrides=["method=cpc"]), 1)
    with pytest.raises(ConfigError):
        build_model(_cfg("tstcc.pool=0"), 1)
    # each class checks the methods it trains itself
    with pytest.raises(ConfigError, match="TSContrastiveModel: method must be one of ts2vec, simclr"):
        TSContrastiveModel(_cfg(), 1)
    with pytest.raises(ConfigError, match="TSTCCModel: method must be one of ts_tcc"):
        TSTCCModel(resolve_config(TSPretrainConfig), 1)


def test_loss_step_shapes_with_nan_and_variable_length():
    X, _ = _two_classes(8, 20)
    X[2, 14:] = np.nan  # shorter series
    X[5, 3, 0] = np.nan  # missing value
    model = build_model(_cfg(), 1)
    out = model.loss_output(torch.from_numpy(X), np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert out.per_sample.shape == (8,)
    assert torch.isfinite(out.per_sample).all()
    out.loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_short_series_predict_fewer_steps():
    X, _ = _two_classes(6, 4)  # K = 6 > length - 1 = 3: K shrinks to 3
    model = build_model(_cfg(), 1)
    out = model.loss_output(torch.from_numpy(X), np.random.default_rng(0), torch.Generator().manual_seed(0))
    assert torch.isfinite(out.loss)


def test_bad_input_errors():
    X, _ = _two_classes(6, 10)
    with pytest.raises(TimeSeriesInputError, match="at least 2 series"):
        build_model(_cfg(), 1).fit(X[:1], iters=1)
    X1 = X.copy()
    X1[4, 1:] = np.nan  # series 4 has one step
    with pytest.raises(TimeSeriesInputError, match=r"series \[4\]"):
        build_model(_cfg(), 1).fit(X1, iters=1)
    with pytest.raises(TimeSeriesInputError, match="channels"):
        build_model(_cfg(), 2).fit(X, iters=1)


def test_fit_encode_save_load_and_dbpm(tmp_path):
    X, _ = _two_classes(16, 16)
    model = build_model(_cfg("dbpm=true", "dbpm_cfg.warmup_epochs=1"), 1).fit(X, iters=8)
    assert model.dbpm is not None and model.dbpm.epoch >= 2
    emb = model.encode(X)
    assert emb.shape == (16, 16) and np.isfinite(emb).all()
    model.save(tmp_path / "m")
    again, _ = load_model(tmp_path / "m")
    assert isinstance(again, TSTCCModel)
    np.testing.assert_allclose(again.encode(X), emb, atol=1e-5)


def test_training_lowers_the_loss():
    X, _ = _two_classes(24, 24)
    model = build_model(_cfg("seed=0", "lr=0.003"), 1).fit(X, iters=45)
    losses = [h["loss"] for h in model.history]
    assert np.mean(losses[-3:]) < np.mean(losses[:3]) - 0.1


def test_sktime_adapter_accepts_tstcc():
    from audiocl.ts import ContrastiveTransformer

    X, _ = _two_classes(8, 12)
    est = ContrastiveTransformer(method="ts_tcc", repr_dim=8, hidden=4, depth=1, iters=2, batch_size=4, random_state=0)
    emb = est.fit_transform(X.transpose(0, 2, 1))
    assert emb.shape == (8, 8)


def test_dbpm_experiment_reference_arms_resume(tmp_path):
    from audiocl.cli.main import main
    from audiocl.ts.dbpm_experiment import report_commands, report_markdown

    ov = ["encoder.depth=1", "encoder.hidden=4", "encoder.repr_dim=8", "iters=2", "num_threads=1", "method=simclr"]
    args = ["ts-dbpm", "--dataset", "ItalyPowerDemand", "--fraction", "0.2", "--seeds", "0", "--out", str(tmp_path)]
    assert main([*args, "--arms", "untrained", "clean", "--", *ov]) == 0
    f = next(tmp_path.glob("*.json"))
    first = f.read_text()
    assert '"untrained_svm_acc"' in first and '"base_svm_acc"' not in first
    assert main([*args, "--arms", "untrained", "clean", "base", "--", *ov]) == 0  # adds base, keeps the rest
    import json

    r, r0 = json.loads(f.read_text()), json.loads(first)
    assert r["clean_svm_acc"] == r0["clean_svm_acc"] and "base_svm_acc" in r
    assert main([*args, "--arms", "oracle", "--", *ov]) == 0  # trains on the uncorrupted series only
    r = json.loads(f.read_text())
    assert r["oracle_train_series"] == 67 - round(0.2 * 67) and 0 <= r["oracle_svm_acc"] <= 1
    assert "| ItalyPowerDemand | swap | 0.2 |" in report_markdown(tmp_path)
    assert report_commands(tmp_path) == [
        f"audiocl ts-dbpm --dataset ItalyPowerDemand --mode swap --fraction 0.2 --seeds 0 --arms untrained clean base oracle "
        f"--out {tmp_path} -- {' '.join(ov)}"]
    assert main([*args, "--arms", "nonsense", "--", *ov]) == 1  # a user error, not a traceback


def test_results_table_has_tstcc_columns():
    from audiocl.ts.ucr_uea import run_tag
    from audiocl.ts.ucr_uea_results import results_table

    assert run_tag("ts2vec", False) == "base" and run_tag("ts2vec", True) == "dbpm"
    assert run_tag("ts_tcc", False) == "ts_tcc" and run_tag("ts_tcc", True) == "ts_tcc_dbpm"
    row = {"dataset": "GunPoint", "n_train": 50, "n_test": 150, "length": 150, "channels": 1, "iters": 200,
           "train_seconds": 10.0, "overrides": ["num_threads=1"]}
    results = [{**row, "dbpm": False, "seed": 0, "svm_acc": 0.9, "linear_acc": 0.8},
               {**row, "method": "ts_tcc", "dbpm": False, "seed": 0, "svm_acc": 0.7, "linear_acc": 0.6,
                "overrides": ["num_threads=1", "method=ts_tcc"]}]
    md = results_table(results)
    line = next(x for x in md.splitlines() if x.startswith("| GunPoint"))
    cells = [c.strip() for c in line.split("|")[1:-1]]
    assert cells[4].startswith("0.900") and cells[5] == "—" and cells[6].startswith("0.700")
    assert cells[9].startswith("0.600") and cells[-1] == "—"
    assert cells[10] == "0.980" and cells[11] == "-0.080"  # TS2Vec paper, GunPoint (B=8), and our gap to it
