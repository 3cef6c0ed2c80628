"""IEMOCAP preparation (4 classes, leave-one-session-out) and the recipe's stages 1, 6 and 7 on a fake layout."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audiocl.corpora.iemocap import prepare_iemocap, read_iemocap
from audiocl.errors import DataDirError

ROOT = Path(__file__).resolve().parents[2]
F0 = {"neu": 120, "hap": 220, "exc": 230, "ang": 300, "sad": 90, "fru": 150, "xxx": 140}


def make_iemocap(root: Path, per_label: int = 2) -> Path:
    rng = np.random.default_rng(0)
    for k in range(1, 6):
        sess = root / f"Session{k}"
        dialog = f"Ses0{k}F_impro01"
        wav_dir = sess / "sentences" / "wav" / dialog
        wav_dir.mkdir(parents=True)
        (sess / "dialog" / "EmoEvaluation").mkdir(parents=True)
        (sess / "dialog" / "transcriptions").mkdir(parents=True)
        evals, trans = ["% header line"], []
        n = 0
        for emo, f0 in F0.items():
            for i in range(per_label):
                gender = "F" if (n % 2 == 0) else "M"
                utt = f"{dialog}_{gender}{n:03d}"
                t = np.arange(int(0.6 * 16000)) / 16000
                wav = sum(0.2 / h * np.sin(2 * np.pi * h * f0 * (1 + 0.03 * rng.random()) * t) for h in range(1, 5))
                sf.write(wav_dir / f"{utt}.wav", (wav + 0.01 * rng.standard_normal(t.shape)).astype(np.float32), 16000)
                evals.append(f"[{n:.4f} - {n + 0.6:.4f}]\t{utt}\t{emo}\t[2.5000, 2.5000, 2.5000]")
                trans.append(f"{utt} [{n:08.4f}-{n + 0.6:08.4f}]: Some words number {n}.")
                n += 1
        (sess / "dialog" / "EmoEvaluation" / f"{dialog}.txt").write_text("\n".join(evals) + "\n")
        (sess / "dialog" / "transcriptions" / f"{dialog}.txt").write_text("\n".join(trans) + "\n")
    return root


def test_prepare_iemocap_four_classes_and_folds(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP")
    rows = read_iemocap(root)
    assert {r["emo"] for r in rows} == {"neutral", "happy", "angry", "sad"}
    assert len(rows) == 5 * 2 * 5  # neu, hap, exc (-> happy), ang, sad; fru and xxx left out
    assert rows[0]["utt"].startswith(rows[0]["spk"] + "-")
    counts = prepare_iemocap(root, tmp_path / "data")
    assert counts["fold3_train"] == 40 and counts["fold3_test"] == 10
    train_spk = set((tmp_path / "data" / "fold3_train" / "utt2spk").read_text().split()[1::2])
    test_spk = set((tmp_path / "data" / "fold3_test" / "utt2spk").read_text().split()[1::2])
    assert train_spk.isdisjoint(test_spk) and test_spk == {"Ses03F", "Ses03M"}
    emo = (tmp_path / "data" / "all" / "utt2emo").read_text()
    assert "happy" in emo and "exc" not in emo and (tmp_path / "data" / "all" / "utt2dur").is_file()


def test_prepare_iemocap_reports_missing_audio(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP", per_label=1)
    next((root / "Session2" / "sentences" / "wav").rglob("*.wav")).unlink()
    with pytest.raises(DataDirError, match="Session2.*is missing"):
        read_iemocap(root)
    with pytest.raises(DataDirError, match="no Session1"):
        read_iemocap(tmp_path)


@pytest.mark.integration
def test_iemocap_recipe_stages_1_6_7(tmp_path):
    root = make_iemocap(tmp_path / "IEMOCAP")
    env = dict(os.environ, PATH=f"{ROOT / '.venv' / 'bin'}:{os.environ['PATH']}")
    common = ["bash", str(ROOT / "egs" / "iemocap" / "run.sh"), "--iemocap-root", str(root),
              "--datadir", str(tmp_path / "data"), "--expdir", str(tmp_path / "exp")]
    subprocess.run(common + ["--stage", "1", "--stop-stage", "1"], check=True, env=env, capture_output=True)
    proc = subprocess.run(common + ["--stage", "6", "--stop-stage", "7", "--cls-upstreams", "fbank",
                                    "--cls-tasks", "fold2_train:fold2_test", "--results-file", str(tmp_path / "RESULTS.md"),
                                    "--cls-opts", "trainer.max_steps=3 trainer.num_threads=1 trainer.progress_bar=false"],
                          env=env, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    metrics = json.loads((tmp_path / "exp" / "emo_fbank_fold2_train" / "eval_fold2_test" / "metrics.json").read_text())
    assert metrics["num_utts"] == 10 and set(metrics["labels"]) == {"angry", "happy", "neutral", "sad"}
    assert (tmp_path / "exp" / "emo_fbank_fold2_train" / "eval_fold2_test" / "confusion.png").is_file()
    assert "emo_fbank_fold2_train|fold2_test|10|" in (tmp_path / "RESULTS.md").read_text()
