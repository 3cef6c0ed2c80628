"""The synthetic corpus: held-out voices and sentences, determinism, resumability, valid data dirs."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiocl.corpora import mini_tts
from audiocl.data.datadir import DataDir, validate_data_dir


def test_plan_holds_out_voices_and_sentences():
    specs = mini_tts.plan_corpus(300, seed=3)
    by_split = {s: [x for x in specs if x.split == s] for s in ("train", "dev", "test")}
    assert [len(v) for v in by_split.values()] == [240, 30, 30]
    voices = {s: {x.voice.speaker for x in v} for s, v in by_split.items()}
    texts = {s: {x.text for x in v} for s, v in by_split.items()}
    for held_out in ("dev", "test"):
        assert not voices[held_out] & voices["train"]
        assert not texts[held_out] & texts["train"]
    assert not texts["dev"] & texts["test"]
    assert {x.style for x in specs} == set(mini_tts.STYLES)
    # every word of the held-out sentences is seen in training (characters/words are learnable)
    train_words = {w for t in texts["train"] for w in t.split()}
    test_words = {w for t in texts["test"] for w in t.split()}
    assert len(test_words - train_words) <= 2


def test_plan_is_deterministic_for_a_seed():
    assert mini_tts.plan_corpus(50, seed=1) == mini_tts.plan_corpus(50, seed=1)
    assert mini_tts.plan_corpus(50, seed=1) != mini_tts.plan_corpus(50, seed=2)


def test_too_small_corpus_is_a_clear_error():
    from audiocl.errors import RecipeError

    with pytest.raises(RecipeError, match="num-utts"):
        mini_tts.plan_corpus(3)


def test_prepare_writes_valid_data_dirs_and_resumes(tmp_path):
    out = tmp_path / "data"
    dirs = mini_tts.prepare_mini_tts(out, num_utts=20, seed=0, nj=2)
    assert set(dirs) >= {"train", "dev", "test"}
    for split in ("train", "dev", "test"):
        assert validate_data_dir(out / split) == []
        data = DataDir.load(out / split)
        assert set(data.extra["utt2style"].values()) <= set(mini_tts.STYLES)
        utt = data.utt_ids[0]
        wav, rate = sf.read(data.wav_scp[utt], dtype="float32")
        assert rate == 16000 and wav.ndim == 1
        assert 0.5 < len(wav) / rate < 10
        assert abs(data.utt2dur[utt] - len(wav) / rate) < 1e-3
        assert np.abs(wav).max() > 0.1  # speech, not silence
    # a re-run does not re-synthesize finished audio
    first = next((out / "wav" / "train").glob("*.wav"))
    mtime = first.stat().st_mtime_ns
    mini_tts.prepare_mini_tts(out, num_utts=20, seed=0, nj=2)
    assert first.stat().st_mtime_ns == mtime


def test_corrupt_leftover_audio_is_remade(tmp_path):
    spec = mini_tts.plan_corpus(10, seed=0)[0]
    path = tmp_path / "x.wav"
    path.write_bytes(b"RIFF\x00garbage")
    duration = mini_tts.synthesize_utterance(spec, path)
    assert duration > 0.5
    assert sf.info(str(path)).samplerate == 16000


def test_the_same_spec_synthesizes_the_same_bytes(tmp_path):
    """sox dithers its 16-bit output from a random seed unless run repeatable; a styled (tempo / pitch)
    utterance must come out byte-identical every time, or results made from the corpus do not reproduce."""
    specs = [s for s in mini_tts.plan_corpus(40, seed=0) if s.style != "neutral"][:2]
    assert specs
    for spec in specs:
        a, b = tmp_path / f"{spec.utt_id}.a.wav", tmp_path / f"{spec.utt_id}.b.wav"
        mini_tts.synthesize_utterance(spec, a)
        mini_tts.synthesize_utterance(spec, b)
        assert a.read_bytes() == b.read_bytes(), spec.utt_id


@pytest.mark.skipif(not mini_tts.LIBRIVOX_DIR.is_dir(), reason="Debian pocketsphinx-testdata not installed")
def test_real_smoke_dir_from_librivox(tmp_path):
    data = mini_tts.prepare_real_smoke(tmp_path / "real_smoke")
    assert len(data.utt_ids) == 5
    assert validate_data_dir(tmp_path / "real_smoke") == []
    assert data.text["austen-0880"] == "HE WAS NOT AN ILL DISPOSED YOUNG MAN"
