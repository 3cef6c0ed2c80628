"""Offline UCR/UEA loading, numpy/pandas/CSV input, padding, normalisation and bad-input checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audiocl.errors import TimeSeriesInputError
from audiocl.ts.data import Normalizer, as_3d, check_series, from_csv, load_ucr_uea, series_lengths
from audiocl.ts.evaluate import check_labels, evaluate_embeddings


def test_shipped_sets_load_offline_with_padding():
    gp = load_ucr_uea("GunPoint", "train")
    assert gp.X.shape == (50, 150, 1) and len(gp.y) == 50 and set(gp.y) == {"1", "2"}
    jv = load_ucr_uea("JapaneseVowels", "train")  # unequal length, 12 channels
    assert jv.X.shape[2] == 12
    assert jv.lengths.min() < jv.lengths.max() == jv.X.shape[1]
    i = int(np.argmin(jv.lengths))
    assert np.isnan(jv.X[i, jv.lengths[i]:]).all() and np.isfinite(jv.X[i, : jv.lengths[i]]).all()
    assert np.array_equal(series_lengths(jv.X), jv.lengths)


def test_missing_dataset_is_a_clear_error_not_a_download():
    with pytest.raises(TimeSeriesInputError, match="never downloads"):
        load_ucr_uea("Crop", "train")


def test_numpy_list_and_dataframe_inputs():
    assert as_3d(np.zeros((3, 5))).shape == (3, 5, 1)
    ragged = as_3d([np.arange(3.0), np.arange(5.0)])
    assert ragged.shape == (2, 5, 1) and np.isnan(ragged[0, 3:]).all()
    df = pd.DataFrame({"a": [pd.Series([1.0, 2.0, 3.0]), pd.Series([1.0, 2.0])], "b": [pd.Series([0.0] * 3), pd.Series([0.0] * 2)]})
    assert as_3d(df).shape == (2, 3, 2)
    with pytest.raises(TimeSeriesInputError, match="expected"):
        as_3d(np.zeros((2, 3, 4, 5)))
    with pytest.raises(TimeSeriesInputError, match="one channel count"):
        as_3d([np.zeros((3, 2)), np.zeros((3, 1))])


def test_csv_input(tmp_path):
    f = tmp_path / "train.tsv"
    f.write_text("a\t1\t2\t3\nb\t4\t5\n")
    X, y = from_csv(f)
    assert X.shape == (2, 3, 1) and list(y) == ["a", "b"] and np.isnan(X[1, 2, 0])
    bad = tmp_path / "bad.csv"
    bad.write_text("a,1,2\nb,1,x\n")
    with pytest.raises(TimeSeriesInputError, match=r"bad.csv:2"):
        from_csv(bad)


def test_bad_series_are_named():
    X = np.random.default_rng(0).standard_normal((4, 6, 1)).astype(np.float32)
    check_series(X)
    allnan = X.copy()
    allnan[2] = np.nan
    with pytest.raises(TimeSeriesInputError, match=r"series \[2\] are entirely NaN"):
        check_series(allnan)
    short = X.copy()
    short[1, 1:] = np.nan
    with pytest.raises(TimeSeriesInputError, match=r"series \[1\].*length 1"):
        check_series(short)
    inf = X.copy()
    inf[3, 2] = np.inf
    with pytest.raises(TimeSeriesInputError, match="series 3 contains"):
        check_series(inf)
    const = X.copy()
    const[0] = 5.0
    check_series(const)  # constant series are allowed (documented)
    assert np.isfinite(Normalizer().fit(const).transform(const)).all()


def test_normaliser_is_fitted_on_train_and_skips_znormalised_sets():
    rng = np.random.default_rng(0)
    X = (10 + 3 * rng.standard_normal((20, 30, 2))).astype(np.float32)
    n = Normalizer().fit(X)
    Z = n.transform(X)
    assert np.allclose(np.nanmean(Z.reshape(-1, 2), 0), 0, atol=1e-4)
    z = rng.standard_normal((10, 50, 1))
    z = ((z - z.mean(1, keepdims=True)) / z.std(1, keepdims=True)).astype(np.float32)
    nz = Normalizer().fit(z)
    assert np.array_equal(nz.transform(z), z)
    assert np.array_equal(Normalizer.from_dict(n.to_dict()).transform(X), Z)


def test_unseen_test_labels():
    with pytest.raises(TimeSeriesInputError, match=r"test labels \['c'\] never occur"):
        check_labels(np.array(["a", "b"]), np.array(["a", "c"]))
    rng = np.random.default_rng(0)
    tr = np.concatenate([rng.normal(0, 1, (10, 3)), rng.normal(5, 1, (10, 3))])
    ytr = np.array(["a"] * 10 + ["b"] * 10)
    te = np.concatenate([rng.normal(0, 1, (4, 3)), rng.normal(5, 1, (4, 3))])
    yte = np.array(["a"] * 4 + ["c"] * 4)
    m = evaluate_embeddings(tr, ytr, te, yte, allow_unseen=True)
    assert m["svm_acc"] == 0.5  # the unseen class is scored as errors


def test_pad_series_lengths_and_file_loading(tmp_path):
    from audiocl.ts.data import load_series_file, pad_series

    # channels of one series may end at different steps (as in .ts files); each is NaN after its own end
    X = pad_series([[np.arange(3.0), np.arange(2.0)], [np.arange(1.0), np.arange(4.0)]])
    assert X.shape == (2, 4, 2) and X.dtype == np.float32
    assert np.isnan(X[0, 2:, 1]).all() and X[0, 2, 0] == 2 and np.isnan(X[1, 1:, 0]).all() and X[1, 3, 1] == 3
    assert series_lengths(X).tolist() == [3, 4]
    empty = np.full((2, 5, 1), np.nan, np.float32)
    assert series_lengths(empty).tolist() == [0, 0] and series_lengths(empty, minimum=1).tolist() == [1, 1]
    np.save(tmp_path / "x.npy", np.zeros((3, 7)))
    assert load_series_file(tmp_path / "x.npy").shape == (3, 7, 1)
    (tmp_path / "x.parquet").write_bytes(b"")
    with pytest.raises(TimeSeriesInputError, match="unsupported extension '.parquet'"):
        load_series_file(tmp_path / "x.parquet")
    with pytest.raises(TimeSeriesInputError, match="no such file"):
        load_series_file(tmp_path / "missing.ts")
    identity = Normalizer.identity(2)
    assert np.array_equal(identity.transform(X), X, equal_nan=True)
