"""Pretraining config resolution, the task end to end on tiny data, release export/load, bad input."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from audiocl.errors import AudioclError, ConfigError
from audiocl.tasks.pretrain_config import pretrain_config_from_dict, resolve_pretrain_config

from .conftest import MICRO_W2V

PRESETS = Path("configs/pretrain")


@pytest.mark.parametrize("name,kind", [("tiny", "wav2vec2"), ("base", "wav2vec2"), ("large", "wav2vec2"),
                                       ("cpc_tiny", "cpc")])
def test_presets_resolve(name, kind):
    cfg = resolve_pretrain_config([PRESETS / f"{name}.yaml"])
    assert cfg.ssl_type == kind
    assert type(cfg.model).__name__ == ("Wav2Vec2Config" if kind == "wav2vec2" else "CPCConfig")


def test_base_preset_is_fairseq_base():
    cfg = resolve_pretrain_config([PRESETS / "base.yaml"])
    assert (cfg.optim.lr, cfg.schedule.warmup_steps, cfg.trainer.max_steps) == (5e-4, 32000, 400000)
    assert cfg.data.max_batch_seconds * cfg.data.sample_rate == 1_400_000
    assert int(cfg.trainer.devices) * cfg.trainer.num_nodes == 64
    assert (cfg.model.encoder_layers, cfg.model.encoder_embed_dim, cfg.model.latent_vars) == (12, 768, 320)


def test_overrides_win_and_errors_name_their_source(tmp_path):
    cfg = resolve_pretrain_config([PRESETS / "tiny.yaml"], ["optim.lr=0.02", "model.encoder_layers=3"])
    assert cfg.optim.lr == 0.02 and cfg.model.encoder_layers == 3
    with pytest.raises(ConfigError, match="cpc_tiny.yaml.*--ssl-type wav2vec2"):
        resolve_pretrain_config([PRESETS / "cpc_tiny.yaml"], ssl_type="wav2vec2")
    with pytest.raises(ConfigError, match="model.not_a_key"):
        resolve_pretrain_config([PRESETS / "tiny.yaml"], ["model.not_a_key=1"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim:\n  lr: fast\n")
    with pytest.raises(ConfigError, match="bad.yaml"):
        resolve_pretrain_config([PRESETS / "tiny.yaml", bad])


def test_micro_run_layout_metrics_and_resolved_config(micro_run):
    for rel in ("config.yaml", "checkpoints/last.ckpt", "loss_curve.png", "metrics.json"):
        assert (micro_run / rel).is_file(), rel
    assert list((micro_run / "log" / "tensorboard").glob("version_0/events.*"))
    metrics = json.loads((micro_run / "metrics.json").read_text())
    assert metrics["global_step"] == 4 and metrics["ssl_type"] == "wav2vec2"
    final = metrics["final_mean_last_logged"]
    for key in ("train/loss", "train/acc", "train/prob_perplexity", "train/code_perplexity",
                "train/gumbel_temperature", "train/grad_norm", "train/lr", "train/contrastive", "train/diversity"):
        assert key in final and math.isfinite(final[key]), key
    from omegaconf import OmegaConf

    saved = pretrain_config_from_dict(OmegaConf.to_container(OmegaConf.load(micro_run / "config.yaml")))
    assert saved.trainer.max_steps == 4 and saved.model.encoder_embed_dim == 32
    # the checkpoint loads with weights_only=True (no pickled objects)
    ckpt = torch.load(micro_run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 4 and ckpt["audiocl_config"]["ssl_type"] == "wav2vec2"


def test_export_release_roundtrip(micro_run, tmp_path):
    from audiocl.cli.main import main
    from audiocl.hub.release import load_release

    out = tmp_path / "release"
    assert main(["export", "--ckpt", str(micro_run), "--out", str(out)]) == 0
    assert (out / "model.safetensors").is_file() and (out / "config.yaml").is_file()
    m1, cfg1 = load_release(out)
    m2, cfg2 = load_release(micro_run / "checkpoints" / "last.ckpt")
    assert cfg1.ssl_type == cfg2.ssl_type == "wav2vec2"
    wav = torch.randn(2, 8000) * 0.1
    l1, n1 = m1.extract_layers(wav, torch.tensor([8000, 6000]))
    l2, n2 = m2.extract_layers(wav, torch.tensor([8000, 6000]))
    assert len(l1) == 3 and torch.equal(n1, n2)
    for a, b in zip(l1, l2):
        assert torch.equal(a, b)
    with pytest.raises(AudioclError, match="not a model release"):
        load_release(tmp_path)


def test_nan_batch_is_skipped_and_counted(tone_data_dir):
    from audiocl.tasks.pretrain import PretrainTask

    cfg = resolve_pretrain_config([PRESETS / "tiny.yaml"], MICRO_W2V)
    task = PretrainTask(cfg, tone_data_dir)
    wav = torch.randn(2, 16000) * 0.1
    wav[1, 100] = float("nan")
    batch = {"wav": wav, "lengths": torch.tensor([16000, 16000]), "utt_ids": ["a", "b"], "num_bad": 0}
    assert task.training_step(batch, 0) is None
    assert task.skipped_batches == 1
    zero = {"wav": torch.zeros(2, 16000), "lengths": torch.tensor([16000, 16000]), "utt_ids": ["z1", "z2"]}
    out = task.training_step(zero, 1)  # all-zero audio: a finite loss or a counted skip, never NaN
    assert out is None or torch.isfinite(out)
    task.max_consecutive_bad_batches = 2
    with pytest.raises(AudioclError, match="consecutive batches were skipped"):
        task.training_step(batch, 2)
        task.training_step(batch, 3)


def test_too_short_utterances_are_left_out(tmp_path, make_data_dir):
    from audiocl.tasks.pretrain import PretrainTask

    d = make_data_dir(tmp_path / "d", num_utts=4)
    cfg = resolve_pretrain_config([PRESETS / "tiny.yaml"], [*MICRO_W2V, "data.min_seconds=0.0"])
    # every utterance is at most 1.6 s: asking for 5 s leaves none, which is a clear error naming the dir
    cfg.data.min_seconds = 5.0
    with pytest.raises(AudioclError, match="no utterance is left"):
        PretrainTask(cfg, d).dataset()
