"""Label-fraction subsets and LibriSpeech low-resource splits: nested, reproducible, Libri-light lists."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiocl.corpora.librilight import prepare_ft_splits
from audiocl.errors import ConfigError
from audiocl.tasks.label_fraction import choose_fraction, make_label_fraction


def test_fractions_are_nested_reproducible_and_stratified():
    utts = [f"u{i:03d}" for i in range(300)]
    small, big = choose_fraction(utts, 0.01, seed=3), choose_fraction(utts, 0.1, seed=3)
    assert len(small) == 3 and len(big) == 30 and set(small) <= set(big)
    assert choose_fraction(utts, 0.1, seed=3) == big and choose_fraction(utts, 0.1, seed=4) != big
    groups = {u: "abcd"[i % 4] for i, u in enumerate(utts)}
    strat = choose_fraction(utts, 0.02, seed=0, groups=groups)
    assert len(strat) == 6 and {groups[u] for u in strat} == set("abcd")
    with pytest.raises(ConfigError):
        choose_fraction(utts, 0.0)


def test_make_label_fraction_writes_a_valid_data_dir(tmp_path, write_data_dir):
    src = write_data_dir(tmp_path / "train", {f"u{i}": ("HELLO", 0.3, "low" if i % 2 else "high") for i in range(10)})
    kept = make_label_fraction(src, tmp_path / "sub", 0.2, seed=1, stratify_by="utt2style")
    assert len(kept) == 2
    assert sorted((tmp_path / "sub" / "text").read_text().split()[0::2]) == kept
    assert {line.split()[1] for line in (tmp_path / "sub" / "utt2style").read_text().splitlines()} == {"low", "high"}


def test_ft_splits_fallback_and_librilight(tmp_path, write_data_dir):
    src = write_data_dir(tmp_path / "train", {f"s{i:02d}": ("A B", 1.0, "low") for i in range(30)})
    (src / "utt2dur").write_text("".join(f"s{i:02d} 150.0\n" for i in range(30)))
    res = prepare_ft_splits(tmp_path / "data", ["10min", "1h", "100h"], train_data=src)
    assert res["10min"] == 4 and res["1h"] == 24 and res["100h"] == 30
    ten = set((tmp_path / "data" / "train_10min" / "text").read_text().split()[0::3])
    one = set((tmp_path / "data" / "train_1h" / "text").read_text().split()[0::3])
    assert ten <= one
    ll = tmp_path / "librispeech_finetuning"
    for fold in ["1h/0/clean", "1h/1/other", "9h/clean"]:
        d = ll / fold / "103" / "1240"
        d.mkdir(parents=True)
        n = len(list(ll.rglob("*.flac")))
        sf.write(d / f"103-1240-{n:04d}.flac", np.zeros(1600, dtype=np.float32), 16000)
        (d / "103-1240.trans.txt").write_text(f"103-1240-{n:04d} SOME WORDS\n")
    for k in range(2, 6):
        (ll / "1h" / str(k)).mkdir(parents=True)
    res = prepare_ft_splits(tmp_path / "ll", ["10min", "1h", "10h"], librilight=ll)
    assert res == {"splits_source": "librilight", "10min": 1, "1h": 2, "10h": 3}
