"""Clotho, AudioCaps and ESC-50 preparation on small folders in their published layouts (tiny wavs, built by
``caption_layouts`` of this folder's conftest)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import soundfile as sf

from audiocl.cli.main import main
from audiocl.corpora.audiocaps import prepare_audiocaps
from audiocl.corpora.clotho import prepare_clotho
from audiocl.corpora.esc50 import prepare_esc50
from audiocl.data.datadir import DataDir, check_data_dir
from audiocl.errors import DataDirError, SampleRateError


def _captions(d: Path) -> dict[str, list[str]]:
    return {r["utt"]: r["captions"] for r in map(json.loads, (d / "captions.jsonl").read_text().splitlines())}


def _check_audio(data: DataDir) -> None:
    for utt in data.utt_ids:
        info = sf.info(data.wav_scp[utt])
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - data.utt2dur[utt]) < 1e-3


# ------------------------------------------------------------------------------------------ Clotho
def test_clotho_five_captions_per_clip_and_audio_at_16k(tmp_path, caption_layouts):
    caption_layouts.clotho(tmp_path / "clotho")
    counts = prepare_clotho(tmp_path / "clotho", tmp_path / "data")
    assert counts == {"development": 2, "evaluation": 1}
    dev = tmp_path / "data" / "development"
    assert check_data_dir(dev).ok
    data = DataDir.load(dev)
    assert data.utt_ids == ["clotho-development-Rain_on_a_tin_roof", "clotho-development-birds_morning"]
    caps = _captions(dev)
    utt = "clotho-development-birds_morning"
    assert caps[utt] == [f"birds, morning caption {i}, with a comma" for i in range(1, 6)]
    assert data.text[utt] == caps[utt][0] and data.utt2spk[utt] == utt
    _check_audio(data)
    assert data.utt2dur[utt] == pytest.approx(0.5, abs=1e-3)
    # a re-run finds the converted audio and does not write it again
    wav = Path(data.wav_scp[utt])
    mtime = wav.stat().st_mtime_ns
    prepare_clotho(tmp_path / "clotho", tmp_path / "data")
    assert wav.stat().st_mtime_ns == mtime


def test_clotho_bad_input_is_named(tmp_path, caption_layouts):
    root = tmp_path / "clotho"
    caption_layouts.clotho(root)
    rows = list(csv.reader(open(root / "clotho_captions_evaluation.csv", encoding="utf-8")))
    rows[1][3] = "   "
    caption_layouts.csv(root / "clotho_captions_evaluation.csv", rows[0], rows[1:])
    with pytest.raises(DataDirError, match=r"clotho_captions_evaluation.csv line 2 \(caption_3\): clip Door creak 01.wav: empty caption"):
        prepare_clotho(root, tmp_path / "data")
    rows[1][3] = "fine"
    caption_layouts.csv(root / "clotho_captions_evaluation.csv", rows[0], rows[1:])
    (root / "development" / "birds, morning.wav").unlink()
    with pytest.raises(DataDirError, match=r"line 3: clip birds, morning.wav: audio file .*birds, morning.wav is missing"):
        prepare_clotho(root, tmp_path / "data")


def test_clotho_unreadable_audio_names_the_clip(tmp_path, caption_layouts):
    from audiocl.errors import AudioReadError

    root = tmp_path / "clotho"
    caption_layouts.clotho(root)
    (root / "evaluation" / "Door creak 01.wav").write_bytes(b"RIFF\x00\x00 not a wav")
    with pytest.raises(AudioReadError, match="utterance clotho-evaluation-Door_creak_01"):
        prepare_clotho(root, tmp_path / "data")


# ------------------------------------------------------------------------------------------ AudioCaps
def test_audiocaps_clips_grouped_naming_conventions_and_stereo(tmp_path, caption_layouts):
    root = tmp_path / "ac"
    caption_layouts.audiocaps(root)
    counts = prepare_audiocaps(root, tmp_path / "data")
    assert counts == {"train": 2, "test": 1}
    train = DataDir.load(tmp_path / "data" / "train")
    assert train.utt_ids == ["audiocaps-train-abc-DEF_123-30", "audiocaps-train-zzz-0"]
    assert train.text["audiocaps-train-abc-DEF_123-30"] == "A dog barks twice"
    _check_audio(train)
    # a 16 kHz mono source is used in place; the stereo 32 kHz one was down-mixed and resampled
    assert train.wav_scp["audiocaps-train-zzz-0"] == str((root / "audio" / "train" / "Yzzz.wav").absolute())
    assert "data/wav/" in train.wav_scp["audiocaps-train-abc-DEF_123-30"]
    test_caps = _captions(tmp_path / "data" / "test")
    assert test_caps == {"audiocaps-test-tst1-20": [f"caption {i}" for i in range(1, 6)]}


def test_audiocaps_missing_audio_is_named_or_skipped(tmp_path, caption_layouts):
    root = tmp_path / "ac"
    caption_layouts.audiocaps(root)
    (root / "audio" / "train" / "Yzzz.wav").unlink()
    with pytest.raises(DataDirError, match=r"train.csv line 3: clip zzz at 0 s: no audio .*--skip-missing"):
        prepare_audiocaps(root, tmp_path / "data")
    counts = prepare_audiocaps(root, tmp_path / "data", skip_missing=True)
    assert counts["train"] == 1
    assert (tmp_path / "data" / "train" / "missing_clips.txt").read_text() == "zzz 0\n"


# ------------------------------------------------------------------------------------------ ESC-50
def test_esc50_all_and_folds_with_zero_shot_classes(tmp_path, caption_layouts):
    caption_layouts.esc50(tmp_path / "ESC-50")
    counts = prepare_esc50(tmp_path / "ESC-50", tmp_path / "data")
    assert counts == {"all": 4, "fold1": 2, "fold2": 2}
    assert json.loads((tmp_path / "data" / "zeroshot_labels.json").read_text()) == {"category": ["dog", "chirping birds"]}
    fold1 = DataDir.load(tmp_path / "data" / "fold1")
    assert fold1.extra["utt2category"] == {"esc50-1-10000-A-0": "dog", "esc50-1-10001-A-1": "chirping birds"}
    assert set(fold1.extra["utt2fold"].values()) == {"1"}
    assert fold1.text == fold1.extra["utt2category"]
    _check_audio(DataDir.load(tmp_path / "data" / "all"))


def test_esc50_strict_sample_rate_and_inconsistent_classes(tmp_path, caption_layouts):
    caption_layouts.esc50(tmp_path / "ESC-50")
    with pytest.raises(SampleRateError, match="utterance esc50-1-10000-A-0.*44100 Hz"):
        prepare_esc50(tmp_path / "ESC-50", tmp_path / "data", strict_sample_rate=True)
    rows = list(csv.reader(open(tmp_path / "ESC-50" / "meta" / "esc50.csv")))
    rows[3][3] = "cat"  # target 0 named differently
    caption_layouts.csv(tmp_path / "ESC-50" / "meta" / "esc50.csv", rows[0], rows[1:])
    with pytest.raises(DataDirError, match="line 4: clip 2-10000-A-0.wav: target 0 is 'cat' here but 'dog' before"):
        prepare_esc50(tmp_path / "ESC-50", tmp_path / "data")


def test_cli_prepare_commands(tmp_path, caption_layouts, capsys):
    caption_layouts.esc50(tmp_path / "ESC-50", sr=16000)
    assert main(["prepare-esc50", "--root", str(tmp_path / "ESC-50"), "--out", str(tmp_path / "esc")]) == 0
    assert "fold2: 2 clips" in capsys.readouterr().out
    assert main(["prepare-clotho", "--root", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 1
    assert "no clotho_captions_<split>.csv" in capsys.readouterr().err
