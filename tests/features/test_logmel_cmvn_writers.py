"""Log-mel vs librosa, CMVN (Kaldi layout, per utterance), ark/scp + npy writers, config checks."""

from __future__ import annotations

import kaldiio
import librosa
import numpy as np
import pytest
import torch

from audiocl.errors import FeatureError
from audiocl.features import FbankConfig, LogMelConfig, MfccConfig, compute_features, compute_features_batch
from audiocl.features.cmvn import (CmvnStats, apply_cmvn, compute_cmvn_stats, read_cmvn_stats, utterance_cmvn,
                                   write_cmvn_stats)
from audiocl.features.logmel import slaney_mel_filters
from audiocl.features.writers import ArkWriter, FeatureReader, NpyWriter, merge_index_files


def test_slaney_filters_match_librosa():
    ours = slaney_mel_filters(16000, 400, 80, 0.0, 8000.0)
    ref = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)
    np.testing.assert_allclose(ours.T, ref, atol=1e-6)


def test_logmel_matches_librosa(real_speech):
    cfg = LogMelConfig()
    wavs = [w for _, w in real_speech]
    for wav, ours in zip(wavs, compute_features_batch(wavs, cfg).unpad()):
        mel = librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=400, hop_length=160, n_mels=80)
        ref = np.log(np.maximum(mel, 1e-10)).T
        assert ours.shape == ref.shape
        diff = np.abs(ours - ref)
        # librosa windows and FFTs in float64, we in float32: agreement is ~1e-4 except in bins whose
        # energy is below float32 resolution of the frame (MP3-band-limited LibriVox: up to ~2e-3)
        assert float(diff.mean()) < 1e-4 and float(diff.max()) < 5e-3


def test_logmel_non_default_window_and_range(real_speech):
    wav = real_speech[0][1]
    cfg = LogMelConfig(n_fft=512, win_length=400, hop_length=128, n_mels=40, fmin=50.0, fmax=7000.0)
    ours = compute_features(wav, cfg)
    mel = librosa.feature.melspectrogram(y=wav, sr=16000, n_fft=512, win_length=400, hop_length=128, n_mels=40,
                                         fmin=50.0, fmax=7000.0)
    ref = np.log(np.maximum(mel, 1e-10)).T
    assert ours.shape == ref.shape and float(np.abs(ours - ref).mean()) < 1e-4


def test_bad_options_and_too_short_audio():
    with pytest.raises(FeatureError, match="window_type"):
        compute_features(np.zeros(16000, np.float32), FbankConfig(window_type="kaiser"))
    with pytest.raises(FeatureError, match="high_freq"):
        compute_features(np.zeros(16000, np.float32), MfccConfig(low_freq=7000, high_freq=6000))
    with pytest.raises(FeatureError, match="num_ceps"):
        compute_features(np.zeros(16000, np.float32), MfccConfig(num_ceps=30))
    with pytest.raises(FeatureError, match="shorter than one frame"):
        compute_features(np.zeros(300, np.float32), FbankConfig())
    # without snip_edges 300 samples still give 2 frames (Kaldi: (300 + 80) // 160)
    assert compute_features(np.zeros(300, np.float32), FbankConfig(snip_edges=False)).shape == (2, 80)
    # digital silence: log energy floored at log(energy_floor) = 0, log mel at log(eps)
    feats = compute_features(np.zeros(16000, np.float32), FbankConfig(use_energy=True))
    assert np.all(feats[:, 0] == 0.0) and np.allclose(feats[:, 1:], np.log(np.finfo(np.float32).eps))


def test_cmvn_kaldi_layout_roundtrip_and_apply(tmp_path):
    rng = np.random.default_rng(0)
    utts = [rng.normal(3.0, 2.0, size=(n, 5)).astype(np.float32) for n in (50, 70, 30)]
    stats = compute_cmvn_stats(utts)
    allf = np.concatenate(utts).astype(np.float64)
    assert stats.shape == (2, 6) and stats[0, -1] == 150 and stats[1, -1] == 0
    np.testing.assert_allclose(stats[0, :5], allf.sum(0))
    np.testing.assert_allclose(stats[1, :5], (allf**2).sum(0))
    path = write_cmvn_stats(tmp_path / "cmvn.ark", stats)
    np.testing.assert_array_equal(kaldiio.load_mat(str(path)), stats)  # a plain Kaldi binary matrix
    back = read_cmvn_stats(path)
    out = apply_cmvn(np.concatenate(utts), back, norm_vars=True)
    np.testing.assert_allclose(out.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(0), 1, atol=1e-4)
    only_mean = apply_cmvn(torch.from_numpy(utts[0]), back)
    np.testing.assert_allclose(only_mean.numpy(), utts[0] - allf.mean(0), atol=1e-5)
    # parallel jobs merge to the same stats
    a, b = CmvnStats(), CmvnStats()
    a.accumulate(utts[0]); b.accumulate(utts[1]); b.accumulate(utts[2]); a.merge(b)
    np.testing.assert_allclose(a.stats, stats)
    with pytest.raises(FeatureError, match="dim"):
        a.accumulate(np.zeros((3, 4)), "u9")
    with pytest.raises(FeatureError, match="not a Kaldi matrix"):
        (tmp_path / "junk").write_bytes(b"\x00\x01junk")
        read_cmvn_stats(tmp_path / "junk")


def test_utterance_cmvn_batched_ignores_padding():
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.normal(5, 3, size=(2, 40, 4)).astype(np.float32))
    lengths = torch.tensor([40, 25])
    x[1, 25:] = 1000.0  # padding must not leak into the statistics
    out = utterance_cmvn(x, lengths, norm_vars=True)
    for b, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(out[b, :n].mean(0).numpy(), 0, atol=1e-5)
        np.testing.assert_allclose(out[b, :n].std(0, unbiased=False).numpy(), 1, atol=1e-4)
    assert torch.all(out[1, 25:] == 0)
    single = utterance_cmvn(x[1, :25].numpy())
    np.testing.assert_allclose(single, (x[1, :25] - x[1, :25].mean(0)).numpy(), atol=1e-5)


def test_ark_and_npy_writers_roundtrip(tmp_path):
    rng = np.random.default_rng(2)
    feats = {f"utt{i}": rng.normal(size=(10 + i, 3)).astype(np.float32) for i in range(4)}
    feats["a/b"] = rng.normal(size=(2, 3)).astype(np.float32)  # id that is not a plain file name
    with ArkWriter(tmp_path / "ark" / "feats.1.ark", tmp_path / "ark" / "feats.1.scp") as w:
        for u, x in feats.items():
            w.write(u, x)
    loaded = kaldiio.load_scp(str(tmp_path / "ark" / "feats.1.scp"))  # a real Kaldi scp
    for u, x in feats.items():
        np.testing.assert_array_equal(loaded[u], x)
    with NpyWriter(tmp_path / "npy" / "feats.1", tmp_path / "npy" / "feats.1.scp") as w:
        for u, x in feats.items():
            w.write(u, x)
    reader = FeatureReader(tmp_path / "npy" / "feats.1.scp")
    assert list(reader) == list(feats)
    for u, x in feats.items():
        np.testing.assert_array_equal(reader[u], x)
    merged = merge_index_files([tmp_path / "ark" / "feats.1.scp", tmp_path / "npy" / "feats.1.scp"], tmp_path / "m.scp")
    assert len(merged.read_text().splitlines()) == 10


def test_failed_ark_job_leaves_nothing(tmp_path):
    out = tmp_path / "out"
    with pytest.raises(RuntimeError):
        with ArkWriter(out / "feats.1.ark", out / "feats.1.scp") as w:
            w.write("u1", np.zeros((3, 2), np.float32))
            raise RuntimeError("job killed")
    assert list(out.iterdir()) == []
    with pytest.raises(FeatureError, match="whitespace"):
        ArkWriter(out / "x.ark", out / "x.scp").write("bad id", np.zeros((1, 1)))


def test_dither_is_small_and_reproducible_with_a_generator(real_speech):
    wav = real_speech[0][1]
    plain = compute_features_batch([wav], FbankConfig()).feats
    cfg = FbankConfig(dither=1.0)
    a = compute_features_batch([wav], cfg, generator=torch.Generator().manual_seed(3)).feats
    b = compute_features_batch([wav], cfg, generator=torch.Generator().manual_seed(3)).feats
    c = compute_features_batch([wav], cfg, generator=torch.Generator().manual_seed(4)).feats
    assert torch.equal(a, b) and not torch.equal(a, c)
    # dither of 1 int16 step only matters in near-silent bins: the median change stays tiny
    assert float((a - plain).abs().median()) < 0.05 and float((a - plain).abs().max()) > 0
