"""CLAP training: the symmetric loss with any objective, hard negatives, bad-pair mining, the runner."""

from __future__ import annotations

import json
import math

import pytest
import torch

import audiocl.losses as L
from audiocl.config import resolve_config
from audiocl.errors import ConfigError
from audiocl.models.clap import CLAPConfig, CLAPModel
from audiocl.nn.audio_cnn import AudioCNNConfig
from audiocl.tasks.clap import CLAPObjectiveConfig, CLAPTrainConfig, build_objective, clap_loss, run_clap_training


def _emb(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(n, d, generator=g), dim=-1)


@pytest.mark.parametrize("name", ["infonce", "dcl", "debiased", "hard_negative", "supcon", "cwcl", "nce", "auc"])
def test_every_objective_trains_both_towers_and_the_scale(name):
    audio = _emb(6, seed=1).requires_grad_()
    text = _emb(6, seed=2).requires_grad_()
    log_scale = torch.tensor(math.log(1 / 0.07), requires_grad=True)
    obj = build_objective(CLAPObjectiveConfig(name=name))
    positives = CLAPObjectiveConfig(name=name).resolved_positives()
    out = clap_loss(obj, audio, text, log_scale.exp(), positives=positives,
                    scene=torch.tensor([0, 0, 1, 1, 2, 2]), text_features=_emb(6, 16, seed=3))
    assert torch.isfinite(out.loss) and out.per_sample.shape == (6,)
    out.loss.backward()
    assert audio.grad.abs().sum() > 0 and text.grad.abs().sum() > 0
    if name not in ("auc", "multi_similarity"):
        assert log_scale.grad is not None and log_scale.grad != 0


def test_symmetric_infonce_equals_clip_cross_entropy():
    audio, text = _emb(5, seed=4), _emb(5, seed=5)
    scale = torch.tensor(20.0)
    out = clap_loss(L.get("infonce"), audio, text, scale)
    logits = scale * audio @ text.T
    ref = (torch.nn.functional.cross_entropy(logits, torch.arange(5))
           + torch.nn.functional.cross_entropy(logits.T, torch.arange(5))) / 2
    assert torch.allclose(out.loss, ref, atol=1e-5)


def test_hard_negatives_compete_only_for_their_own_clip_and_only_audio_to_text():
    audio, text = _emb(4, seed=6), _emb(4, seed=7)
    hard = _emb(2, seed=8)
    obj, scale = L.get("infonce"), torch.tensor(10.0)
    base = clap_loss(obj, audio, text, scale)
    with_hard = clap_loss(obj, audio, text, scale, hard_text=hard, hard_owner=torch.tensor([2, 2]))
    changed = (with_hard.per_sample - base.per_sample).abs() > 1e-7
    assert changed.tolist() == [False, False, True, False]
    # the a2t term of clip 2 grows by exactly the two extra candidates of its softmax
    logits = scale * audio[2] @ torch.cat([text, hard]).T
    a2t = -(torch.log_softmax(logits, 0)[2])
    t2a = -(torch.log_softmax(scale * text[2] @ audio.T, 0)[2])
    assert torch.allclose(with_hard.per_sample[2], (a2t + t2a) / 2, atol=1e-5)


def test_temperature_in_objective_kwargs_is_rejected():
    with pytest.raises(ConfigError, match="logit scale"):
        build_objective(CLAPObjectiveConfig(name="infonce", kwargs={"temperature": 0.1}))


def test_logit_scale_init_clamp_and_weight_decay_groups():
    model = CLAPModel(CLAPConfig(chunk_seconds=1.0, cnn=AudioCNNConfig(channels=[4])))
    assert float(model.logit_scale().detach()) == pytest.approx(1 / 0.07, rel=1e-5)
    with torch.no_grad():
        model.log_logit_scale.fill_(10.0)
    assert float(model.logit_scale().detach()) == pytest.approx(100.0, rel=1e-5)
    model.clamp_logit_scale_()
    assert float(model.log_logit_scale) == pytest.approx(math.log(100.0), rel=1e-6)
    decay, no_decay = model.param_groups(0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert all(names[id(p)].endswith("weight") and p.ndim >= 2 for p in decay["params"])
    nd = {names[id(p)] for p in no_decay["params"]}
    assert "log_logit_scale" in nd and any("bias" in n for n in nd) and any("bn" in n or ".1." in n for n in nd)
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert not any("text" in n and "proj" not in n for n in model.state_dict())  # frozen MiniLM is not stored


def _cfg(train_dir, *extra):
    return resolve_config(CLAPTrainConfig, overrides=[
        f"data.train_dir={train_dir}", "model.chunk_seconds=1.0", "model.cnn.channels=[8,16]",
        "model.embed_dim=32", "model.proj_hidden=32", "data.batch_size=8", "trainer.max_steps=12",
        "trainer.num_threads=1", "trainer.progress_bar=false", "trainer.log_every_n_steps=1",
        "trainer.checkpoint_every_n_steps=5", "schedule.warmup_steps=2", "optim.lr=3e-3", *extra])


def test_training_with_hard_negatives_and_dbpm_resumes_and_evaluates(clap_dir, tmp_path):
    from audiocl.clap import CLAP

    exp = tmp_path / "exp"
    cfg = _cfg(clap_dir, "objective.name=dcl", "objective.hard_negatives=true", "objective.dbpm=true",
               "objective.dbpm_kwargs={warmup_epochs: 1}")
    m = run_clap_training(cfg, exp)
    assert m["global_step"] == 12 and m["skipped_batches"] == 0
    assert list(exp.glob("text_features_*.safetensors"))  # frozen text features cached
    assert (exp / "release" / "model.safetensors").is_file()
    again = run_clap_training(cfg, exp)  # finished run: resumes and does nothing more
    assert again["global_step"] == 12
    metrics = CLAP.from_pretrained(exp / "release").evaluate(clap_dir, tmp_path / "eval")
    assert (tmp_path / "eval" / "similarity.png").is_file()
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["clips"] == 24 and saved["captions"] == 48  # two captions per clip: multi-caption rules
    assert 0 <= saved["retrieval"]["text_to_audio/R@10"] <= 1
    assert set(metrics["zero_shot"]) == {"first"} and metrics["zero_shot"]["first"]["classes"] == 4
    assert metrics["compa"]["order"]["pairs"] == 12


def test_training_learns_on_the_tiny_set(clap_dir, tmp_path):
    """A few dozen updates must separate the four sound kinds better than the untrained model."""
    from audiocl.clap import CLAP
    from audiocl.tasks.clap import init_release

    cfg = _cfg(clap_dir, "trainer.max_steps=60")
    init = init_release(cfg, tmp_path / "untrained")
    run_clap_training(cfg, tmp_path / "trained")
    before = CLAP.from_pretrained(init).evaluate(clap_dir)
    after = CLAP.from_pretrained(tmp_path / "trained" / "release").evaluate(clap_dir)
    assert after["retrieval"]["text_to_audio/mAP@10"] > before["retrieval"]["text_to_audio/mAP@10"] + 0.05


def test_self_supervised_upstream_initialises_the_audio_tower(clap_dir, tmp_path):
    """A wav2vec 2.0 release as the audio tower: its weights are loaded, the CLAP release rebuilds it alone."""
    from audiocl import models
    from audiocl.clap import CLAP
    from audiocl.hub.release import save_release

    tiny = dict(conv_layers=[[16, 10, 5], [16, 3, 2]], encoder_embed_dim=16, encoder_ffn_dim=32, encoder_layers=1,
                encoder_attention_heads=2, conv_pos=8, conv_pos_groups=2, latent_vars=4, latent_groups=2,
                final_dim=8, num_negatives=2)
    torch.manual_seed(0)
    w2v = models.build("wav2vec2", models.make_config("wav2vec2", tiny)).eval()
    save_release(w2v, {"ssl_type": "wav2vec2", "model": tiny}, tmp_path / "w2v")
    cfg = _cfg(clap_dir, f"init_upstream={tmp_path / 'w2v'}", "trainer.max_steps=2")
    from audiocl.tasks.clap import init_upstream_tower

    model = init_upstream_tower(cfg)
    assert cfg.model.audio_tower == "upstream" and cfg.model.upstream_type == "wav2vec2"
    for k, v in w2v.state_dict().items():
        assert torch.equal(model.audio_encoder.upstream.state_dict()[k], v)
    run_clap_training(_cfg(clap_dir, f"init_upstream={tmp_path / 'w2v'}", "trainer.max_steps=2"), tmp_path / "exp")
    clap = CLAP.from_pretrained(tmp_path / "exp" / "release")
    assert clap.model.cfg.audio_tower == "upstream"
    e = clap.get_audio_embedding_from_filelist(sorted((clap_dir / "wav").glob("*.wav"))[:2])
    assert e.shape == (2, 32) and torch.isfinite(torch.as_tensor(e)).all()


def test_same_seed_same_run_and_the_untrained_baseline_is_its_start(clap_dir, tmp_path):
    """Weights are drawn after seeding: two runs of one seed give identical releases; a run whose updates
    change nothing (learning rate 0) keeps exactly the parameters of that seed's untrained baseline, and
    another seed starts elsewhere."""
    from safetensors.torch import load_file

    from audiocl.tasks.clap import init_release

    def weights(path):
        return load_file(str(path / "model.safetensors"))

    a = run_clap_training(_cfg(clap_dir, "trainer.max_steps=4"), tmp_path / "a")
    b = run_clap_training(_cfg(clap_dir, "trainer.max_steps=4"), tmp_path / "b")
    assert a["last_logged_loss"] == b["last_logged_loss"]
    wa, wb = weights(tmp_path / "a" / "release"), weights(tmp_path / "b" / "release")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)

    frozen = _cfg(clap_dir, "trainer.max_steps=2", "optim.lr=0.0")
    run_clap_training(frozen, tmp_path / "lr0")
    base = weights(init_release(frozen, tmp_path / "untrained"))
    kept = weights(tmp_path / "lr0" / "release")
    params = {n for n, _ in CLAPModel(frozen.model).named_parameters()}  # batch-norm statistics do move
    assert params and all(torch.equal(base[k], kept[k]) for k in params)
    other = weights(init_release(_cfg(clap_dir, "trainer.seed=2"), tmp_path / "untrained2"))
    assert any(not torch.equal(base[k], other[k]) for k in params)
