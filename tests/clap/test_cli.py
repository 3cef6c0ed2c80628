"""`audiocl clap-train` and `audiocl clap embed|classify|retrieve|evaluate|report|export` end to end."""

from __future__ import annotations

import numpy as np

from audiocl.cli.main import main

OVERRIDES = ["model.chunk_seconds=1.0", "model.cnn.channels=[8]", "model.embed_dim=16", "model.proj_hidden=16",
             "data.batch_size=8", "trainer.max_steps=4", "trainer.num_threads=1", "trainer.progress_bar=false",
             "schedule.warmup_steps=1"]


def test_train_evaluate_report_and_use(clap_dir, tmp_path, capsys):
    root = tmp_path / "exp"
    cache = f"data.text_cache_dir={tmp_path / 'cache'}"
    assert main(["clap-train", "--init-only", "--exp-dir", str(root / "untrained" / "seed1"),
                 f"data.train_dir={clap_dir}", cache, *OVERRIDES]) == 0
    assert list((tmp_path / "cache").glob("text_features_*.safetensors"))
    assert main(["clap-train", "--exp-dir", str(root / "infonce_hn" / "seed1"), f"data.train_dir={clap_dir}", cache,
                 "objective.hard_negatives=true", *OVERRIDES]) == 0
    for tag in ("untrained", "infonce_hn"):
        run = root / tag / "seed1"
        assert main(["clap", "evaluate", "--model", str(run / "release"), "--data", str(clap_dir),
                     "--out", str(run / "eval_test"), "--text-cache", str(tmp_path / "cache")]) == 0
    assert "text-to-audio R@1" in capsys.readouterr().out
    results = tmp_path / "RESULTS.md"
    assert main(["clap", "report", "--exp-root", str(root), "--trained", "infonce_hn", "--out", str(results)]) == 0
    text = results.read_text()
    assert "| text-to-audio R@10 | 41.7 |" in text  # chance for 24 clips: 10/24
    assert "zero-shot first top-1" in text and "`infonce_hn` | 1 |" in text

    release = root / "infonce_hn" / "seed1" / "release"
    wavs = sorted(str(p) for p in (clap_dir / "wav").glob("*.wav"))[:3]
    assert main(["clap", "embed", "--model", str(release), "--audio", *wavs, "--text", "a high beep",
                 "--out", str(tmp_path / "emb.npy")]) == 0
    emb = np.load(tmp_path / "emb.npy")
    assert emb.shape == (4, 16) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    capsys.readouterr()
    assert main(["clap", "classify", "--model", str(release), "--labels", "low", "high", "noise", "--top-k", "2",
                 *wavs]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and all(len(line.split("\t")) == 3 for line in lines)
    assert main(["clap", "retrieve", "--model", str(release), "--query", "white noise", "-k", "2", *wavs]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 2
    assert main(["clap", "export", "--exp", str(root / "infonce_hn" / "seed1"), "--out", str(tmp_path / "rel")]) == 0
    assert (tmp_path / "rel" / "model.safetensors").is_file()


def test_missing_file_and_bad_override_are_clean_errors(clap_dir, tmp_path, capsys):
    assert main(["clap-train", "--exp-dir", str(tmp_path / "x"), f"data.train_dir={clap_dir}",
                 "objective.kwargs={temperature: 0.1}", *OVERRIDES]) == 1
    assert "logit scale" in capsys.readouterr().err
    assert main(["clap-train", "--init-only", "--exp-dir", str(tmp_path / "u"), *OVERRIDES]) == 0
    assert main(["clap", "embed", "--model", str(tmp_path / "u" / "release"), "--audio",
                 str(tmp_path / "missing.wav"), "--out", str(tmp_path / "e.npy")]) == 1
    assert "missing.wav" in capsys.readouterr().err
