"""``audiocl extract --model CKPT --layer N|all`` writes the model's hidden states, as acoustic features are written."""

from __future__ import annotations

import kaldiio
import numpy as np
import pytest
import torch

from audiocl.data.audio import read_audio
from audiocl.hub.release import load_release


def _read_scp(path):
    return {k: np.asarray(v) for k, v in kaldiio.load_scp(str(path)).items()}


def test_extract_layer_and_all_layers_match_the_model(micro_run, tone_data_dir, tmp_path):
    from audiocl.cli.main import main

    out1, out_all = tmp_path / "l1", tmp_path / "all"
    base = ["extract", str(tone_data_dir), "--model", str(micro_run), "--no-progress", "--no-update-data-dir"]
    assert main([*base, "--layer", "1", "--out", str(out1)]) == 0
    assert main([*base, "--layer", "all", "--out", str(out_all)]) == 0
    l1, la = _read_scp(out1 / "feats.scp"), _read_scp(out_all / "feats.scp")
    assert len(l1) == 10 and l1.keys() == la.keys()

    model, cfg = load_release(micro_run)
    utt = sorted(l1)[3]
    spec = (tone_data_dir / "wav.scp").read_text().splitlines()
    path = dict(line.split(" ", 1) for line in spec)[utt]
    wav = torch.from_numpy(read_audio(path, sample_rate=16000))[None]
    with torch.inference_mode():
        layers, flen = model.extract_layers(wav, torch.tensor([wav.shape[1]]))
    ref1 = layers[1][0, : int(flen[0])].numpy()
    np.testing.assert_allclose(l1[utt], ref1, rtol=1e-4, atol=1e-5)
    assert la[utt].shape == (ref1.shape[0], 32 * len(layers))  # 3 layers x 32 channels, layer 0 first
    np.testing.assert_allclose(la[utt][:, 32:64], ref1, rtol=1e-4, atol=1e-5)


def test_bad_layer_is_a_clear_error(micro_run, tone_data_dir, tmp_path, capsys):
    from audiocl.cli.main import main

    rc = main(["extract", str(tone_data_dir), "--model", str(micro_run), "--layer", "7", "--out", str(tmp_path / "x"),
               "--no-progress", "--no-update-data-dir"])
    assert rc == 1
    assert "layers 0..2" in capsys.readouterr().err
