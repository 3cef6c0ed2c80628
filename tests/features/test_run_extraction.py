"""The extraction library called from Python: typed options and a feature config, no command line."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from audiocl.data.audio import read_audio
from audiocl.errors import FeatureError
from audiocl.features import FbankConfig, LogMelConfig, compute_features
from audiocl.features.extract import ExtractOptions, collect_inputs, run_extraction
from audiocl.features.writers import FeatureReader


def test_run_extraction_from_python(tmp_path, write_tone):
    wavs = {f"u{i}": write_tone(f"in/u{i}.wav", seconds=0.4 + 0.2 * i, seed=i) for i in range(3)}
    (tmp_path / "in" / "dead.wav").symlink_to(tmp_path / "nowhere.wav")
    items, datadir = collect_inputs([tmp_path / "in"])
    assert datadir is None and [i.utt_id for i in items] == ["dead", "u0", "u1", "u2"]
    cfg = FbankConfig(num_mel_bins=40)
    result = run_extraction(items, ExtractOptions(out_dir=tmp_path / "out", progress=False), cfg)
    assert (result.num_inputs, result.num_done, result.dim) == (4, 3, 40)
    assert [(b.utt_id, b.path) for b in result.bad] == [("dead", str(tmp_path / "in" / "dead.wav"))]
    assert "broken symbolic link" in result.bad[0].reason
    assert result.bad_inputs_path.read_text().startswith("dead\t")
    feats = FeatureReader(result.scp_path)
    for u, path in wavs.items():
        np.testing.assert_allclose(feats[u], compute_features(read_audio(str(path)), cfg), atol=1e-5)
    info = yaml.safe_load((tmp_path / "out" / "feature_info.yaml").read_text())
    assert info["type"] == "fbank" and info["dim"] == 40 and info["config"]["num_mel_bins"] == 40
    assert info["frame_shift"] == pytest.approx(0.01)


def test_run_extraction_checks_options_and_config(tmp_path, write_tone):
    items, _ = collect_inputs([write_tone("a.wav", seconds=0.3)])
    with pytest.raises(FeatureError, match="nj"):
        run_extraction(items, ExtractOptions(out_dir=tmp_path / "o", nj=0, progress=False), FbankConfig())
    with pytest.raises(FeatureError, match="n_fft"):
        run_extraction(items, ExtractOptions(out_dir=tmp_path / "o", progress=False), LogMelConfig(n_fft=1))
    assert not (tmp_path / "o").exists()
    with pytest.raises(FeatureError, match="no utterances"):
        run_extraction([], ExtractOptions(out_dir=tmp_path / "o", progress=False), FbankConfig())
