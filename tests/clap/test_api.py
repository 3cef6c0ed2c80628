"""The inference API: laion_clap / HF names, deterministic embeddings, and bad input, one test each."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from audiocl.clap import CLAP
from audiocl.errors import AudioReadError, ConfigError, SampleRateError
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.models.clap_io import load_clap, save_clap_release
from audiocl.nn.audio_cnn import AudioCNNConfig

SR = 16000


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    torch.manual_seed(0)
    cfg = CLAPConfig(chunk_seconds=1.0, min_tail_seconds=0.25, cnn=AudioCNNConfig(channels=[8, 16]),
                     embed_dim=32, proj_hidden=32)
    model = CLAPModel(cfg)
    with torch.no_grad():  # non-trivial batch-norm statistics, as after training
        for m in model.modules():
            if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return save_clap_release(model, tmp_path_factory.mktemp("clap") / "release")


@pytest.fixture(scope="module")
def clap(release):
    return CLAP.from_pretrained(release)


def _clips(n=7, seed=0):
    rng = np.random.default_rng(seed)
    # lengths below, at and above one chunk, up to several chunks
    lengths = [4000, 16000, 23000, 40000, 9000, 16001, 55000][:n]
    return [(0.2 * rng.standard_normal(n_)).astype(np.float32) for n_ in lengths]


def test_release_roundtrip(release, clap):
    again = load_clap(release)
    for (k, v), (k2, v2) in zip(clap.model.state_dict().items(), again.state_dict().items()):
        assert k == k2 and torch.equal(v.cpu(), v2)


def test_same_clip_alone_in_batch_of_7_and_across_calls(clap):
    clips = _clips()
    batch = clap.get_audio_embedding_from_data(clips, sr=SR)
    assert batch.shape == (7, 32)
    for i, c in enumerate(clips):
        alone = clap.get_audio_embedding_from_data(c, sr=SR)
        assert np.abs(alone[0] - batch[i]).max() <= 1e-5
    again = clap.get_audio_embedding_from_data(clips, sr=SR)
    assert np.abs(again - batch).max() <= 1e-5
    assert np.allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)


def test_long_audio_is_mean_of_fixed_chunks(clap):
    rng = np.random.default_rng(1)
    a, b = (0.2 * rng.standard_normal(SR)).astype(np.float32), (0.2 * rng.standard_normal(SR)).astype(np.float32)
    whole = clap.get_audio_embedding_from_data(np.concatenate([a, b]), sr=SR)[0]
    parts = clap.get_audio_embedding_from_data([a, b], sr=SR)
    mean = parts.mean(0)
    assert np.abs(whole - mean / np.linalg.norm(mean)).max() < 1e-5


def test_filelist_matches_data_and_resamples(clap, tmp_path):
    clip = _clips(3)[2]
    sf.write(tmp_path / "a.wav", clip, SR)
    from_file = clap.get_audio_embedding_from_filelist([tmp_path / "a.wav"])
    from_data = clap.get_audio_embedding_from_data(clip, sr=SR)
    assert np.abs(from_file - from_data).max() < 1e-4  # PCM_16 quantisation of the file
    up = clap.get_audio_embedding_from_data(np.interp(np.arange(0, len(clip), 0.5), np.arange(len(clip)), clip),
                                            sr=2 * SR)
    assert float(up[0] @ from_data[0]) > 0.95


def test_text_bare_string_and_one_element_list(clap):
    one = clap.get_text_embedding("a dog barks")
    lst = clap.get_text_embedding(["a dog barks"])
    assert one.shape == lst.shape == (1, 32)
    assert np.abs(one - lst).max() < 1e-6
    assert clap.get_text_embedding(["a dog barks", "rain"]).shape == (2, 32)


def test_similarity_zero_shot_and_retrieve(clap):
    a = clap.get_audio_embedding_from_data(_clips(3), sr=SR)
    t = clap.get_text_embedding(["a", "b c", "d e f"])
    sim = clap.compute_similarity(a, t)
    scale = float(clap.model.logit_scale().detach())
    assert sim.shape == (3, 3) and np.allclose(sim, scale * a @ t.T, atol=1e-4)
    res = clap.zero_shot_classify(a, ["dog", "rain", "piano"])
    assert res.probs.shape == (3, 3) and np.allclose(res.probs.sum(1), 1.0, atol=1e-5)
    assert len(res.predictions) == 3 and len(res.top_k(2)[0]) == 2
    ens = clap.zero_shot_classify(a, ["dog", "rain"], templates=["{}", "the sound of {}"])
    assert ens.probs.shape == (3, 2)
    hits = clap.retrieve(["a", "b c"], a, k=2, ids=["x", "y", "z"])
    assert [len(h) for h in hits] == [2, 2]
    assert hits[0][0][1] >= hits[0][1][1]
    best = int(np.argmax(a @ t[0]))
    assert hits[0][0][0] == ["x", "y", "z"][best]


# ----------------------------------------------------------------- bad input, one test each
def test_silent_clip_gives_a_finite_deterministic_embedding(clap):
    e = clap.get_audio_embedding_from_data(np.zeros(SR, dtype=np.float32), sr=SR)
    assert np.isfinite(e).all()
    assert np.abs(e - clap.get_audio_embedding_from_data(np.zeros(SR, dtype=np.float32), sr=SR)).max() == 0


def test_zero_length_audio_is_named(clap):
    with pytest.raises(AudioReadError, match="clip 1 has zero samples"):
        clap.get_audio_embedding_from_data([np.zeros(100, np.float32), np.zeros(0, np.float32)], sr=SR)


def test_nan_samples_are_named(clap):
    x = np.zeros(SR, dtype=np.float32)
    x[10] = np.nan
    with pytest.raises(AudioReadError, match="clip 0 contains NaN"):
        clap.get_audio_embedding_from_data(x, sr=SR)


def test_array_without_sr_is_an_error(clap):
    with pytest.raises(SampleRateError, match="needs sr="):
        clap.get_audio_embedding_from_data(np.zeros(SR, dtype=np.float32))


def test_stereo_is_downmixed_by_averaging(clap):
    rng = np.random.default_rng(2)
    left, right = (0.2 * rng.standard_normal((2, SR))).astype(np.float32)
    stereo = clap.get_audio_embedding_from_data([np.stack([left, right])], sr=SR)
    mono = clap.get_audio_embedding_from_data((left + right) / 2, sr=SR)
    assert np.abs(stereo - mono).max() < 1e-5
    batched = clap.get_audio_embedding_from_data(np.stack([left, right])[None], sr=SR)  # (N, C, T)
    assert np.abs(batched - mono).max() < 1e-5
    with pytest.raises(AudioReadError, match=r"\(channels, samples\)"):
        clap.get_audio_embedding_from_data([np.stack([left, right]).T], sr=SR)


def test_empty_caption_is_named(clap):
    with pytest.raises(ConfigError, match="text 1 is empty"):
        clap.get_text_embedding(["a dog", "  "])


def test_overlong_caption_is_truncated_with_a_warning(clap):
    long = " ".join(["word"] * 400)
    with pytest.warns(UserWarning, match="truncated"):
        e = clap.get_text_embedding(long)
    assert np.isfinite(e).all()
    cut = clap.model.text_tower().tokenizer.decode(clap.model.text_tower().tokenize(long)["input_ids"][0],
                                                   skip_special_tokens=True)
    assert np.abs(clap.get_text_embedding(cut) - e).max() < 1e-4


def test_missing_file_is_named(clap, tmp_path):
    with pytest.raises(AudioReadError, match="nope.wav"):
        clap.get_audio_embedding_from_filelist([tmp_path / "nope.wav"])
