"""The contrastive model (fit/encode/save/load, DBPM, corruption hook), the sktime adapter and the recipe."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audiocl.errors import TimeSeriesInputError
from audiocl.ts.config import TSContrastiveConfig, default_iters
from audiocl.ts.model import TSContrastiveModel
from audiocl.nn.ts_encoders import TSEncoderConfig

TINY = TSEncoderConfig(hidden=8, repr_dim=16, depth=2)


def _two_class(n=24, t=32, c=1, seed=0):
    rng = np.random.default_rng(seed)
    y = np.array(["a", "b"] * (n // 2))
    freq = np.where(y == "a", 1.0, 4.0)[:, None, None]  # slow vs fast oscillation
    base = np.sin(freq * np.linspace(0, 6, t)[None, :, None])
    X = (base + 0.3 * rng.standard_normal((n, t, c))).astype(np.float32)
    return X, y


@pytest.mark.parametrize("method,dbpm", [("ts2vec", False), ("ts2vec", True), ("simclr", False)])
def test_fit_encode_and_save_load_roundtrip(tmp_path, method, dbpm):
    X, _ = _two_class()
    X[0, 28:] = np.nan  # variable length
    X[1, 5] = np.nan  # a missing value
    cfg = TSContrastiveConfig(encoder=TINY, method=method, dbpm=dbpm, batch_size=4, seed=1)
    cfg.dbpm_cfg.warmup_epochs = 1
    m = TSContrastiveModel(cfg, 1).fit(X, iters=12)
    assert m.history[-1]["iters"] == 12
    e = m.encode(X)
    assert e.shape == (24, 16) and np.isfinite(e).all()
    if dbpm:
        assert m.dbpm is not None and int(m.dbpm.epoch) == 2 and m.dbpm.active
    m.save(tmp_path / "m")
    m2, meta = TSContrastiveModel.load(tmp_path / "m")
    assert meta["in_channels"] == 1
    np.testing.assert_allclose(m2.encode(X), e, rtol=1e-5, atol=1e-6)


def test_training_is_seeded_and_reduces_loss():
    X, _ = _two_class()
    cfg = TSContrastiveConfig(encoder=TINY, batch_size=8, seed=3)
    a = TSContrastiveModel(cfg, 1).fit(X, iters=15)
    b = TSContrastiveModel(cfg, 1).fit(X, iters=15)
    np.testing.assert_allclose(a.encode(X), b.encode(X), rtol=1e-5, atol=1e-6)
    assert a.history[-1]["loss"] < a.history[0]["loss"]


def test_ts2vec_releases_the_mean_of_all_iterates():
    """TS2Vec's weight averaging: the released encoder is the mean of the initial weights and the weights
    after each of the n steps (each k-th iterate is the last one of a seeded k-step run without it)."""
    X, _ = _two_class()
    last = dict(encoder=TINY, batch_size=8, seed=1)  # weight_averaging off: the last iterate
    base = dict(last, weight_averaging=True)
    snapshots = [TSContrastiveModel(TSContrastiveConfig(**last), 1).encoder.state_dict()]
    snapshots += [TSContrastiveModel(TSContrastiveConfig(**last), 1).fit(X, iters=k).encoder.state_dict() for k in (1, 2, 3)]
    averaged = TSContrastiveModel(TSContrastiveConfig(**base), 1).fit(X, iters=3).encoder.state_dict()
    name = next(k for k, v in averaged.items() if v.is_floating_point() and v.numel() > 1)
    expected = sum(sn[name] for sn in snapshots) / 4
    torch.testing.assert_close(averaged[name], expected, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(averaged[name], snapshots[-1][name])  # not the last iterate


def test_averaging_start_averages_only_the_later_iterates():
    """``averaging_start=0.5`` of 4 iterations: the released encoder is the mean of iterates 2, 3 and 4."""
    X, _ = _two_class()
    last = dict(encoder=TINY, batch_size=8, seed=1)
    snapshots = [TSContrastiveModel(TSContrastiveConfig(**last), 1).fit(X, iters=k).encoder.state_dict() for k in (2, 3, 4)]
    cfg = TSContrastiveConfig(**last, weight_averaging=True, averaging_start=0.5)
    averaged = TSContrastiveModel(cfg, 1).fit(X, iters=4).encoder.state_dict()
    name = next(k for k, v in averaged.items() if v.is_floating_point() and v.numel() > 1)
    torch.testing.assert_close(averaged[name], sum(sn[name] for sn in snapshots) / 3, rtol=1e-5, atol=1e-6)


def test_channel_mismatch_and_iteration_rule():
    X, _ = _two_class(c=2)
    m = TSContrastiveModel(TSContrastiveConfig(encoder=TINY), 2)
    with pytest.raises(TimeSeriesInputError, match="has 3 channels but the model was built/fitted with 2"):
        m.encode(np.zeros((2, 10, 3), np.float32))
    assert default_iters(np.zeros((100, 1000, 1))) == 200 and default_iters(np.zeros((101, 1000, 1))) == 600


def test_corruption_hook_and_dbpm_flags_corrupted_pairs():
    from audiocl.ts.dbpm_experiment import PairCorruptor

    X, y = _two_class(n=40)
    corr = PairCorruptor(X, y, fraction=0.1, mode="noise", seed=0)
    assert corr.corrupted.sum() == 4
    out = corr(X[:8], np.arange(8))
    clean = ~corr.corrupted[:8]
    np.testing.assert_array_equal(out[clean], X[:8][clean])
    cfg = TSContrastiveConfig(encoder=TINY, batch_size=8, dbpm=True, seed=0)
    cfg.dbpm_cfg.warmup_epochs = 2
    m = TSContrastiveModel(cfg, 1)
    m.pair_hook = corr
    m.fit(X, iters=40)
    stat = m.dbpm.statistic().numpy()
    assert stat[corr.corrupted].mean() > stat[~corr.corrupted].mean()  # noise pairs are harder


def test_contrastive_transformer_embeds_with_averaged_weights_by_default():
    """The adapter's default is TS2Vec's weight averaging (seed stability); ``weight_averaging=False``
    gives the last iterate."""
    from audiocl.ts import ContrastiveTransformer
    from audiocl.ts.data import Normalizer

    X, _ = _two_class()
    X3 = np.ascontiguousarray(np.transpose(X, (0, 2, 1)))  # sktime's (N, C, T)
    kw = dict(repr_dim=16, hidden=8, depth=2, iters=3, random_state=1)
    emb = ContrastiveTransformer(**kw).fit_transform(X3).to_numpy()
    emb_last = ContrastiveTransformer(**kw, weight_averaging=False).fit_transform(X3).to_numpy()
    xn = Normalizer().fit(X).transform(X)
    ref = TSContrastiveModel(TSContrastiveConfig(encoder=TINY, seed=1, weight_averaging=True), 1).fit(xn, iters=3)
    np.testing.assert_allclose(emb, ref.encode(xn), rtol=1e-5, atol=1e-6)
    assert not np.allclose(emb, emb_last)


def test_contrastive_transformer_passes_check_estimator():
    from sktime.utils.estimator_checks import check_estimator

    from audiocl.ts import ContrastiveTransformer

    # one instance (the first test-parameter set) keeps this within the test-time budget; sktime's
    # own CI would also run the second set (simclr + DBPM), which test_fit_encode... covers here
    est = ContrastiveTransformer(**ContrastiveTransformer.get_test_params()[0])
    results = check_estimator(est, raise_exceptions=False, verbose=False)
    failed = {k: v for k, v in results.items() if v != "PASSED"}
    assert len(results) > 100 and not failed, failed


def test_sktime_pipeline_save_load_and_bad_input(tmp_path):
    from sklearn.svm import SVC
    from sktime.base import load
    from sktime.classification.compose import SklearnClassifierPipeline

    from audiocl.ts import ContrastiveTransformer

    X, y = _two_class(n=24, c=2)
    Xs = np.transpose(X, (0, 2, 1))  # sktime numpy3D: (N, C, T)
    params = dict(repr_dim=8, hidden=4, depth=1, iters=10, batch_size=8)
    pipe = SklearnClassifierPipeline(SVC(), transformers=[ContrastiveTransformer(**params)])
    pipe.fit(Xs, y)
    assert (pipe.predict(Xs) == y).mean() > 0.8
    t = ContrastiveTransformer(**params).fit(Xs)
    ref = t.transform(Xs).to_numpy()
    t.save(tmp_path / "est")
    import zipfile

    with zipfile.ZipFile(tmp_path / "est.zip") as zf:
        assert {"model.safetensors", "config.yaml", "estimator.json"} <= set(zf.namelist())
        assert json.loads(zf.read("estimator.json"))["params"]["repr_dim"] == 8
    for loaded in (ContrastiveTransformer.load(tmp_path / "est"), load(str(tmp_path / "est"))):
        np.testing.assert_allclose(loaded.transform(Xs).to_numpy(), ref, rtol=1e-5, atol=1e-6)
    with pytest.raises(TimeSeriesInputError, match="has 1 channels, but fit saw 2"):
        t.transform(Xs[:, :1])
    bad = Xs.copy()
    bad[3] = np.nan
    with pytest.raises(TimeSeriesInputError, match="entirely NaN"):
        ContrastiveTransformer(**params).fit(bad)
    with pytest.raises(TimeSeriesInputError, match="fewer than 2 time steps"):
        t.transform(Xs[:, :, :1])


def test_recipe_run_is_resumable_and_writes_results(tmp_path):
    from audiocl.cli.main import main

    ov = ["encoder.hidden=4", "encoder.repr_dim=8", "encoder.depth=1", "iters=3", "num_threads=1"]
    run = ["ts-recipe", "run", "--exp", str(tmp_path), "--datasets", "ItalyPowerDemand", "--seeds", "0"]
    assert main([*run, "--dbpm", "both", "--", *ov]) == 0
    res = tmp_path / "ItalyPowerDemand" / "dbpm" / "seed0" / "result.json"
    first = json.loads(res.read_text())
    assert 0 <= first["svm_acc"] <= 1 and first["iters"] == 3
    mtime = res.stat().st_mtime_ns
    assert main([*run, "--", *ov]) == 0
    assert res.stat().st_mtime_ns == mtime  # finished runs are skipped
    assert main(["ts-recipe", "collect", "--exp", str(tmp_path), "--out", str(tmp_path / "RESULTS.md")]) == 0
    md = (tmp_path / "RESULTS.md").read_text()
    assert "| ItalyPowerDemand | 67 / 1029 | 24 × 1 | 3 |" in md
    # the commands that reproduce the table are generated from the result files
    assert (f"audiocl ts-recipe run --exp {tmp_path} --datasets ItalyPowerDemand --seeds 0 --dbpm both -- "
            + " ".join(ov)) in md
    assert main(["ts-recipe", "run", "--exp", str(tmp_path), "--datasets", "NoSuchSet", "--seeds", "0", "--", *ov]) == 1


def test_recipe_jobs_split_the_grid(tmp_path):
    from audiocl.ts.ucr_uea import RecipeRunOptions, run_recipe

    ov = ["encoder.hidden=4", "encoder.repr_dim=8", "encoder.depth=1", "iters=1", "num_threads=1"]
    grid = dict(exp=tmp_path, datasets=["ItalyPowerDemand", "GunPoint"], seeds=[0, 1], dbpm="off", overrides=ov)
    done = [[(r["dataset"], r["seed"]) for r in run_recipe(RecipeRunOptions(**grid, job=j, num_jobs=3))] for j in (1, 2, 3)]
    assert sorted(sum(done, [])) == sorted((d, s) for d in grid["datasets"] for s in grid["seeds"])
    assert [len(d) for d in done] == [2, 1, 1]


def test_cli_pretrain_and_encode(tmp_path):
    from audiocl.cli.main import main

    X, _ = _two_class(n=16, t=20)
    np.save(tmp_path / "train.npy", X)
    rc = main(["ts-pretrain", "--train", str(tmp_path / "train.npy"), "--out", str(tmp_path / "m"),
               "encoder.hidden=4", "encoder.repr_dim=6", "encoder.depth=1", "iters=3"])
    assert rc == 0 and (tmp_path / "m" / "model.safetensors").is_file()
    assert main(["ts-encode", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "train.npy"), "--out", str(tmp_path / "e.npy")]) == 0
    assert np.load(tmp_path / "e.npy").shape == (16, 6)
    bad = X.copy()
    bad[2] = np.nan
    np.save(tmp_path / "bad.npy", bad)
    assert main(["ts-encode", "--model", str(tmp_path / "m"), "--data", str(tmp_path / "bad.npy"), "--out", str(tmp_path / "x.npy")]) == 1
