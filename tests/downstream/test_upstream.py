"""The one upstream mechanism: config spellings, the three kinds, one fbank normalisation, stage-2 features."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import kaldiio
import numpy as np
import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.features.config import FbankConfig
from audiocl.features.normalized_fbank import normalized_fbank
from audiocl.tasks.upstream import FbankUpstream, UpstreamConfig, load_upstream, normalize_upstream_config
from audiocl.tasks.upstream_layers import data_dir_layers

UTTS = {"a1": ("HELLO", 0.9, "low"), "a2": ("WORLD", 1.1, "high"), "a3": ("GOOD", 0.7, "low"),
        "a4": ("MORNING", 1.3, "high")}


@pytest.fixture
def data_dir(tmp_path, write_data_dir):
    return write_data_dir(tmp_path / "train", UTTS)


def _extract(data_dir, out, *extra):
    from audiocl.cli.main import main

    assert main(["extract", str(data_dir), "--out", str(out), "--no-progress", *extra]) == 0


def test_deprecated_init_spelling_maps_to_kind(caplog):
    with caplog.at_level(logging.WARNING):
        cfg = normalize_upstream_config(UpstreamConfig(init="random"))
    assert cfg.kind == "random" and cfg.init == "" and "deprecated" in caplog.text
    with pytest.raises(ConfigError, match="contradicts"):
        normalize_upstream_config(UpstreamConfig(kind="fbank", init="random"))
    with pytest.raises(ConfigError, match="pretrained, random, fbank"):
        normalize_upstream_config(UpstreamConfig(kind="mfcc"))
    cfg = normalize_upstream_config(UpstreamConfig(kind="fbank", fbank_num_mel_bins=40))
    assert cfg.fbank.num_mel_bins == 40 and cfg.fbank_num_mel_bins == 0


def test_three_kinds_from_one_loader(tiny_release):
    pre, pcfg, name = load_upstream(UpstreamConfig(path=str(tiny_release)))
    rnd, rcfg, rname = load_upstream(UpstreamConfig(kind="random", path=str(tiny_release)))
    fb, fcfg, fname = load_upstream(UpstreamConfig(kind="fbank", path=str(tiny_release)))  # path ignored
    assert (name, rname, fname) == ("wav2vec2", "wav2vec2", "fbank")
    assert pcfg == rcfg and isinstance(fb, FbankUpstream) and fcfg.num_mel_bins == 80
    assert not all(torch.equal(a, b) for a, b in zip(pre.state_dict().values(), rnd.state_dict().values()))
    wav, lengths = torch.randn(2, 8000) * 0.1, torch.tensor([8000, 5000])
    for up in (pre, rnd, fb):
        layers, frames = up.extract_layers(wav, lengths)
        assert layers[0].shape[0] == 2 and frames.tolist()[0] > frames.tolist()[1]
    with pytest.raises(ConfigError, match="no such file"):
        load_upstream(UpstreamConfig(path=str(tiny_release) + "_missing"))
    with pytest.raises(ConfigError, match="upstream.path is empty"):
        load_upstream(UpstreamConfig())


def test_fbank_upstream_and_ctc_fbank_front_end_share_one_normalisation():
    from audiocl.features.cmvn import utterance_cmvn
    from audiocl.features.kaldi import fbank_batch
    from audiocl.models.ctc_asr import FbankFrontend

    torch.manual_seed(0)
    wav, lengths = torch.randn(3, 9000) * 0.1, torch.tensor([9000, 6000, 3000])
    cfg = FbankConfig()
    feats, frames = normalized_fbank(wav, lengths, cfg)
    raw, n = fbank_batch(wav, lengths, cfg)
    # by hand: valid frames of each utterance normalised by their own statistics; padding stays zero
    for b in range(3):
        x = raw[b, : n[b]]
        ref = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
        torch.testing.assert_close(feats[b, : n[b]], ref, rtol=1e-4, atol=1e-4)
        assert torch.all(feats[b, n[b]:] == 0)
    torch.testing.assert_close(feats, utterance_cmvn(raw, n, norm_vars=True, eps=0.0, variance_offset=1e-5))
    layers, fr = FbankUpstream(cfg).extract_layers(wav, lengths)
    assert torch.equal(layers[0], feats) and torch.equal(fr, frames)
    front = FbankFrontend(out_dim=8, stack=1, dropout=0.0)
    with torch.no_grad():
        out, flen = front(wav, lengths)
        expected = front.proj(front.layer_norm(feats))
    torch.testing.assert_close(out, expected) and torch.equal(flen, frames)


def test_stage2_feats_scp_is_read_when_it_is_the_same_fbank(data_dir, tmp_path, caplog):
    up = FbankUpstream()
    from_wav = data_dir_layers(up, data_dir)
    assert sorted(from_wav) == sorted(UTTS)
    _extract(data_dir, tmp_path / "fbank")
    assert (data_dir / "feats.scp").is_file()
    with caplog.at_level(logging.INFO):
        from_scp = data_dir_layers(up, data_dir)
    assert "using the stage-2 fbank features" in caplog.text
    for u in UTTS:  # the real features: the same numbers as computing from the audio
        assert from_scp[u].shape == from_wav[u].shape
        torch.testing.assert_close(from_scp[u].float(), from_wav[u].float(), rtol=0, atol=2e-2)

    # deliberately different stored values: they are what the upstream returns
    rng = np.random.default_rng(0)
    fake = {u: rng.standard_normal((20 + i, 80)).astype(np.float32) for i, u in enumerate(sorted(UTTS))}
    kaldiio.save_ark(str(tmp_path / "fbank" / "fake.ark"), fake, scp=str(data_dir / "feats.scp"))
    got = data_dir_layers(up, data_dir)
    for u, mat in fake.items():
        x = torch.from_numpy(mat)
        ref = (x - x.mean(0)) / torch.sqrt(x.var(0, unbiased=False) + 1e-5)
        torch.testing.assert_close(got[u][0].float(), ref, rtol=0, atol=5e-3)

    # ... unless the upstream is told not to read them
    ignored = data_dir_layers(FbankUpstream(use_stored_features=False), data_dir)
    assert all(torch.equal(ignored[u], from_wav[u]) for u in UTTS)


def test_stage2_features_of_other_options_are_not_used(data_dir, tmp_path, caplog):
    up = FbankUpstream()
    from_wav = data_dir_layers(up, data_dir)
    _extract(data_dir, tmp_path / "fbank40", "--num-mel-bins", "40")
    with caplog.at_level(logging.INFO):
        got = data_dir_layers(up, data_dir)
    assert "num_mel_bins" in caplog.text and "computing fbank from the audio" in caplog.text
    assert all(torch.equal(got[u], from_wav[u]) for u in UTTS)
    # MFCC in feats.scp: refused as well
    caplog.clear()
    _extract(data_dir, tmp_path / "mfcc", "--type", "mfcc")
    with caplog.at_level(logging.INFO):
        got = data_dir_layers(up, data_dir)
    assert "features are mfcc" in caplog.text and all(torch.equal(got[u], from_wav[u]) for u in UTTS)


def test_classification_on_stage2_features_matches_computing_from_audio(data_dir, tmp_path):
    import shutil

    from audiocl.cli.main import main

    plain = tmp_path / "plain"
    shutil.copytree(data_dir, plain)
    _extract(data_dir, tmp_path / "fbank")
    common = ["upstream.kind=fbank", "data.label_file=utt2style", "trainer.max_steps=4", "trainer.progress_bar=false",
              "trainer.num_threads=1", "trainer.log_every_n_steps=1", "optim.warmup_steps=1"]
    from safetensors.torch import load_file

    results, heads = [], []
    for name, d in (("wav", plain), ("scp", data_dir)):
        exp = tmp_path / f"exp_{name}"
        assert main(["classify", "--exp-dir", str(exp), "--eval", str(d), f"data.train={d}", *common]) == 0
        metrics = json.loads((exp / f"eval_{d.name}" / "metrics.json").read_text())
        loss = json.loads((exp / "metrics.json").read_text())["final_mean_last_logged"]["train/loss"]
        results.append((metrics["wa"], metrics["ua"], loss))
        heads.append(load_file(str(exp / "model" / "head.safetensors")))
    assert results[0][:2] == results[1][:2]
    assert results[0][2] == pytest.approx(results[1][2], rel=1e-3)
    for k in heads[0]:
        torch.testing.assert_close(heads[0][k], heads[1][k], rtol=1e-3, atol=1e-4)


def test_release_loading_needs_no_training_code(tiny_release):
    code = ("import sys; from audiocl.hub.release import load_release; m, info = load_release(sys.argv[1]); "
            "assert info.ssl_type == 'wav2vec2' and info.model.encoder_layers == 2 and 'model' in info.raw; "
            "bad = [n for n in sys.modules if n.startswith('audiocl.tasks')]; assert not bad, bad")
    subprocess.run([sys.executable, "-c", code, str(tiny_release)], check=True)


def test_ctc_fbank_front_end_takes_stored_frames_or_audio():
    from audiocl.features.kaldi import fbank_batch
    from audiocl.models.ctc_asr import FbankFrontend

    torch.manual_seed(0)
    wav, lengths = torch.randn(2, 9000) * 0.1, torch.tensor([9000, 6000])
    front = FbankFrontend(out_dim=8, stack=2, dropout=0.0)
    raw, frames = fbank_batch(wav, lengths, FbankConfig())
    with torch.no_grad():
        from_wav, n1 = front(wav, lengths)
        from_frames, n2 = front(raw, frames)
    assert torch.equal(n1, n2)
    torch.testing.assert_close(from_wav, from_frames)


def test_ctc_scratch_fbank_model_trains_on_stage2_features(data_dir, tmp_path):
    import shutil

    from audiocl.cli.main import main

    plain = tmp_path / "plain"
    shutil.copytree(data_dir, plain)
    _extract(data_dir, tmp_path / "fbank")
    common = ["upstream.kind=random", "model.frontend=fbank",
              "model.freeze_finetune_updates=0", "model.mask_channel_length=4", "trainer.max_steps=3",
              "trainer.progress_bar=false", "trainer.num_threads=1", "trainer.log_every_n_steps=1",
              "data.max_batch_seconds=3", "model.layerdrop=0.0"]
    tiny = ["upstream.model=wav2vec2", "upstream.preset=tiny"]
    losses = {}
    for name, d in (("wav", plain), ("scp", data_dir)):
        exp = tmp_path / f"ctc_{name}"
        assert main(["finetune", "--exp-dir", str(exp), f"data.train={d}", *common, *tiny]) == 0
        losses[name] = json.loads((exp / "metrics.json").read_text())["final_mean_last_logged"]["train/loss"]
    assert losses["wav"] == pytest.approx(losses["scp"], rel=1e-3)

    # deliberately different stored values change the training: the batches came from feats.scp
    rng = np.random.default_rng(0)
    fake = {u: rng.standard_normal((60, 80)).astype(np.float32) for u in UTTS}
    kaldiio.save_ark(str(tmp_path / "fbank" / "fake.ark"), fake, scp=str(data_dir / "feats.scp"))
    exp = tmp_path / "ctc_fake"
    assert main(["finetune", "--exp-dir", str(exp), f"data.train={data_dir}", *common, *tiny]) == 0
    fake_loss = json.loads((exp / "metrics.json").read_text())["final_mean_last_logged"]["train/loss"]
    assert fake_loss != pytest.approx(losses["scp"], rel=1e-2)


def test_release_keeps_but_does_not_parse_its_training_sections(tiny_release, tmp_path):
    import shutil

    from omegaconf import OmegaConf

    from audiocl.hub.release import load_release, save_release

    copy = tmp_path / "copy"
    shutil.copytree(tiny_release, copy)
    cfg = OmegaConf.load(copy / "config.yaml")
    cfg.trainer.some_future_option = 3  # a newer trainer knob: training history, not the model
    OmegaConf.save(cfg, copy / "config.yaml")
    model, info = load_release(copy)
    assert info.raw["trainer"]["some_future_option"] == 3
    again, info2 = load_release(save_release(model, info, tmp_path / "again"))
    assert info2.raw == info.raw and info2.model == info.model
    cfg.model.encoder_layers = "two"
    OmegaConf.save(cfg, copy / "config.yaml")
    with pytest.raises(ConfigError, match="encoder_layers"):
        load_release(copy)
