"""Several CLAP models evaluated in one pass give each model's own single-model metrics; the frozen text tower
encodes each caption and prompt list once; the CLI takes repeated --model/--out pairs."""

from __future__ import annotations

import json

import pytest
import soundfile as sf
import torch

from audiocl.cli.main import main
from audiocl.features.config import LogMelConfig
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.models.clap_io import save_clap_release
from audiocl.nn.audio_cnn import AudioCNNConfig
from audiocl.tasks.clap_eval import embed_files, embed_files_models, evaluate_clap, evaluate_clap_models

from .conftest import SR, write_clap_dir


def _model(seed: int, chunk_seconds: float = 0.6, n_mels: int = 16) -> CLAPModel:
    torch.manual_seed(seed)
    cfg = CLAPConfig(chunk_seconds=chunk_seconds, min_tail_seconds=0.1, embed_dim=16, proj_hidden=16,
                     cnn=AudioCNNConfig(channels=[8, 16]),
                     logmel=LogMelConfig(sample_rate=SR, n_fft=400, hop_length=160, n_mels=n_mels))
    model = CLAPModel(cfg)
    with torch.no_grad():  # batch-norm statistics that are not the identity, so a wrong input would show
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    return model.eval()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_clap_dir(tmp_path_factory.mktemp("d") / "test", num=10, seconds=1.0)


def test_audio_of_several_models_equals_each_alone(data_dir):
    """Two models sharing a front end and one with another chunk length and mel count (1 s clips: the 0.6 s
    chunk models cut two chunks per clip); batch size 3 so that groups and chunk batches do not line up."""
    models = [_model(0), _model(1), _model(2, chunk_seconds=0.5, n_mels=20)]
    specs = sorted(str(p) for p in (data_dir / "wav").glob("*.wav"))
    together = embed_files_models(models, specs, batch_size=3)
    for model, emb in zip(models, together):
        alone = embed_files(model, specs, batch_size=3)
        ref = model.embed_audio([torch.from_numpy(sf.read(p, dtype="float32")[0]) for p in specs], batch_size=3)
        assert emb.shape == (10, 16) and torch.equal(emb, alone)
        assert (emb - ref).abs().max() < 1e-6
    assert not torch.allclose(together[0], together[1])


def test_metrics_of_several_models_equal_each_alone_and_text_is_encoded_once(data_dir, tmp_path, monkeypatch):
    models = [_model(3), _model(4)]
    calls: list[int] = []
    real = CLAPModel.text_features
    monkeypatch.setattr(CLAPModel, "text_features", lambda self, texts: calls.append(len(texts)) or real(self, texts))
    alone = [evaluate_clap(m, data_dir, tmp_path / f"alone{i}") for i, m in enumerate(models)]
    calls_alone = len(calls)
    calls.clear()
    together = evaluate_clap_models(models, data_dir, [tmp_path / "t0", tmp_path / "t1"])
    assert len(calls) * 2 == calls_alone  # captions, prompts and CompA captions: once for both models
    for a, t, i in zip(alone, together, range(2)):
        assert t == a
        assert json.loads((tmp_path / f"t{i}" / "metrics.json").read_text()) == \
            json.loads((tmp_path / f"alone{i}" / "metrics.json").read_text())
    assert together[0]["retrieval"] != together[1]["retrieval"]
    assert together[0]["zero_shot"]["first"]["clips"] == 10


def test_cli_evaluates_several_models_in_one_call(data_dir, tmp_path, capsys):
    refs = []
    for i in range(2):
        refs.append(str(save_clap_release(_model(5 + i), tmp_path / f"rel{i}")))
    cache = str(tmp_path / "cache")
    assert main(["clap", "evaluate", "--model", refs[0], "--data", str(data_dir), "--out", str(tmp_path / "a0"),
                 "--text-cache", cache]) == 0
    assert main(["clap", "evaluate", "--model", refs[0], "--model", refs[1], "--data", str(data_dir),
                 "--out", str(tmp_path / "b0"), "--out", str(tmp_path / "b1"), "--text-cache", cache]) == 0
    b0 = json.loads((tmp_path / "b0" / "metrics.json").read_text())
    assert b0 == json.loads((tmp_path / "a0" / "metrics.json").read_text())
    assert (tmp_path / "b1" / "metrics.json").is_file() and (tmp_path / "b1" / "similarity.png").is_file()
    capsys.readouterr()
    assert main(["clap", "evaluate", "--model", refs[0], "--model", refs[1], "--data", str(data_dir),
                 "--out", str(tmp_path / "c0")]) == 1
    assert "--out" in capsys.readouterr().err

