"""``audiocl extract --model URL``: a served release goes through the one resolver into feature extraction."""

from __future__ import annotations

import hashlib

import kaldiio
import numpy as np
import torch

from audiocl.cli.main import main
from audiocl.data.audio import read_audio
from audiocl.hub.release import load_release


def test_extract_with_a_served_release(server, hub_env, tiny_release, write_tone, tmp_path, monkeypatch):
    src, tar = tiny_release
    server.files["/tiny.tar.gz"] = tar
    ref = f"{server.url}/tiny.tar.gz#sha256={hashlib.sha256(tar).hexdigest()}"
    wav_dir = tmp_path / "wavs"
    for i in range(2):
        write_tone(f"wavs/u{i}.wav", seconds=0.5, seed=i)
    out = tmp_path / "feats"
    args = ["extract", str(wav_dir), "--model", ref, "--layer", "-1", "--out", str(out), "--no-progress",
            "--no-update-data-dir"]
    assert main(args) == 0
    feats = {k: np.asarray(v) for k, v in kaldiio.load_scp(str(out / "feats.scp")).items()}
    assert len(feats) == 2
    model, _ = load_release(src)
    utt = sorted(feats)[0]
    wav = torch.from_numpy(read_audio(wav_dir / "u0.wav", sample_rate=16000))[None]
    with torch.inference_mode():
        layers, flen = model.extract_layers(wav, torch.tensor([wav.shape[1]]))
    np.testing.assert_allclose(feats[utt], layers[-1][0, : int(flen[0])].numpy(), rtol=1e-4, atol=1e-5)
    # offline, the same command runs from the cache without touching the server
    n = len(server.requests)
    monkeypatch.setenv("AUDIOCL_OFFLINE", "1")
    assert main([*args[:-4], "--out", str(tmp_path / "again"), "--no-progress", "--no-update-data-dir"]) == 0
    assert len(server.requests) == n
