"""Clotho, AudioCaps and ESC-50 preparation on small folders in their published layouts (tiny wavs)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiocl.cli.main import main
from audiocl.corpora.audiocaps import prepare_audiocaps
from audiocl.corpora.clotho import prepare_clotho
from audiocl.corpora.esc50 import prepare_esc50
from audiocl.data.datadir import DataDir, check_data_dir
from audiocl.errors import DataDirError, SampleRateError


def _wav(path: Path, sr: int = 44100, seconds: float = 0.5, channels: int = 1, freq: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(sr * seconds)) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(str(path), np.stack([x] * channels, axis=1) if channels > 1 else x, sr, subtype="PCM_16")


def _csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)


def _captions(d: Path) -> dict[str, list[str]]:
    return {r["utt"]: r["captions"] for r in map(json.loads, (d / "captions.jsonl").read_text().splitlines())}


def _check_audio(data: DataDir) -> None:
    for utt in data.utt_ids:
        info = sf.info(data.wav_scp[utt])
        assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "PCM_16")
        assert abs(info.duration - data.utt2dur[utt]) < 1e-3


# ------------------------------------------------------------------------------------------ Clotho
CLOTHO_HEADER = ["file_name"] + [f"caption_{i}" for i in range(1, 6)]


def _clotho(root: Path) -> None:
    for split, names in (("development", ["Rain on a tin roof.wav", "birds, morning.wav"]),
                         ("evaluation", ["Door creak 01.wav"])):
        rows = []
        for k, name in enumerate(names):
            _wav(root / split / name, freq=300 + 100 * k)
            rows.append([name] + [f"{name[:-4].lower()} caption {i}, with a comma" for i in range(1, 6)])
        _csv(root / f"clotho_captions_{split}.csv", CLOTHO_HEADER, rows)


def test_clotho_five_captions_per_clip_and_audio_at_16k(tmp_path):
    _clotho(tmp_path / "clotho")
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


def test_clotho_bad_input_is_named(tmp_path):
    root = tmp_path / "clotho"
    _clotho(root)
    rows = list(csv.reader(open(root / "clotho_captions_evaluation.csv", encoding="utf-8")))
    rows[1][3] = "   "
    _csv(root / "clotho_captions_evaluation.csv", rows[0], rows[1:])
    with pytest.raises(DataDirError, match=r"clotho_captions_evaluation.csv line 2 \(caption_3\): clip Door creak 01.wav: empty caption"):
        prepare_clotho(root, tmp_path / "data")
    rows[1][3] = "fine"
    _csv(root / "clotho_captions_evaluation.csv", rows[0], rows[1:])
    (root / "development" / "birds, morning.wav").unlink()
    with pytest.raises(DataDirError, match=r"line 3: clip birds, morning.wav: audio file .*birds, morning.wav is missing"):
        prepare_clotho(root, tmp_path / "data")


def test_clotho_unreadable_audio_names_the_clip(tmp_path):
    from audiocl.errors import AudioReadError

    root = tmp_path / "clotho"
    _clotho(root)
    (root / "evaluation" / "Door creak 01.wav").write_bytes(b"RIFF\x00\x00 not a wav")
    with pytest.raises(AudioReadError, match="utterance clotho-evaluation-Door_creak_01"):
        prepare_clotho(root, tmp_path / "data")


# ------------------------------------------------------------------------------------------ AudioCaps
def _audiocaps(root: Path) -> None:
    _csv(root / "train.csv", ["audiocap_id", "youtube_id", "start_time", "caption"],
         [[10, "abc-DEF_123", 30, "A dog barks twice"], [11, "zzz", 0, "Wind blows hard"]])
    # five captions per test clip, rows out of audiocap_id order
    _csv(root / "test.csv", ["audiocap_id", "youtube_id", "start_time", "caption"],
         [[105 - i, "tst1", 20, f"caption {5 - i}"] for i in range(5)])
    _wav(root / "audio" / "train" / "abc-DEF_123.wav", sr=32000, channels=2)
    _wav(root / "audio" / "train" / "Yzzz.wav", sr=16000)
    _wav(root / "audio" / "test" / "tst1_20.wav", sr=48000)


def test_audiocaps_clips_grouped_naming_conventions_and_stereo(tmp_path):
    root = tmp_path / "ac"
    _audiocaps(root)
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


def test_audiocaps_missing_audio_is_named_or_skipped(tmp_path):
    root = tmp_path / "ac"
    _audiocaps(root)
    (root / "audio" / "train" / "Yzzz.wav").unlink()
    with pytest.raises(DataDirError, match=r"train.csv line 3: clip zzz at 0 s: no audio .*--skip-missing"):
        prepare_audiocaps(root, tmp_path / "data")
    counts = prepare_audiocaps(root, tmp_path / "data", skip_missing=True)
    assert counts["train"] == 1
    assert (tmp_path / "data" / "train" / "missing_clips.txt").read_text() == "zzz 0\n"


# ------------------------------------------------------------------------------------------ ESC-50
def _esc50(root: Path, sr: int = 44100) -> None:
    rows = []
    for fold in (1, 2):
        for target, category in ((0, "dog"), (1, "chirping_birds")):
            name = f"{fold}-1000{target}-A-{target}.wav"
            _wav(root / "audio" / name, sr=sr, freq=200 + 300 * target)
            rows.append([name, fold, target, category, "True", 1000 + target, "A"])
    _csv(root / "meta" / "esc50.csv", ["filename", "fold", "target", "category", "esc10", "src_file", "take"], rows)


def test_esc50_all_and_folds_with_zero_shot_classes(tmp_path):
    _esc50(tmp_path / "ESC-50")
    counts = prepare_esc50(tmp_path / "ESC-50", tmp_path / "data")
    assert counts == {"all": 4, "fold1": 2, "fold2": 2}
    assert json.loads((tmp_path / "data" / "zeroshot_labels.json").read_text()) == {"category": ["dog", "chirping birds"]}
    fold1 = DataDir.load(tmp_path / "data" / "fold1")
    assert fold1.extra["utt2category"] == {"esc50-1-10000-A-0": "dog", "esc50-1-10001-A-1": "chirping birds"}
    assert set(fold1.extra["utt2fold"].values()) == {"1"}
    assert fold1.text == fold1.extra["utt2category"]
    _check_audio(DataDir.load(tmp_path / "data" / "all"))


def test_esc50_strict_sample_rate_and_inconsistent_classes(tmp_path):
    _esc50(tmp_path / "ESC-50")
    with pytest.raises(SampleRateError, match="utterance esc50-1-10000-A-0.*44100 Hz"):
        prepare_esc50(tmp_path / "ESC-50", tmp_path / "data", strict_sample_rate=True)
    rows = list(csv.reader(open(tmp_path / "ESC-50" / "meta" / "esc50.csv")))
    rows[3][3] = "cat"  # target 0 named differently
    _csv(tmp_path / "ESC-50" / "meta" / "esc50.csv", rows[0], rows[1:])
    with pytest.raises(DataDirError, match="line 4: clip 2-10000-A-0.wav: target 0 is 'cat' here but 'dog' before"):
        prepare_esc50(tmp_path / "ESC-50", tmp_path / "data")


def test_cli_prepare_commands(tmp_path, capsys):
    _esc50(tmp_path / "ESC-50", sr=16000)
    assert main(["prepare-esc50", "--root", str(tmp_path / "ESC-50"), "--out", str(tmp_path / "esc")]) == 0
    assert "fold2: 2 clips" in capsys.readouterr().out
    assert main(["prepare-clotho", "--root", str(tmp_path / "nothing"), "--out", str(tmp_path / "c")]) == 1
    assert "no clotho_captions_<split>.csv" in capsys.readouterr().err
