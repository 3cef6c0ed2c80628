"""CTC model and fine-tuning: same architecture for both front-ends, freezing, masks, bad input, end to end."""

from __future__ import annotations

import json

import pytest
import torch

from audiocl.errors import ConfigError
from audiocl.models import CPCConfig, CPCForPretraining, Wav2Vec2Config, Wav2Vec2ForPretraining
from audiocl.models.ctc_asr import CtcModelConfig, build_ctc_model, ctc_loss_skipping_short

from .conftest import TINY_W2V


def _w2v():
    torch.manual_seed(0)
    return Wav2Vec2ForPretraining(Wav2Vec2Config(**TINY_W2V))


def test_fbank_baseline_has_the_same_context_network_and_frame_rate():
    up = _w2v()
    wav, lens = 0.1 * torch.randn(2, 16000), torch.tensor([16000, 9000])
    shapes = {}
    for fe in ("pretrained", "fbank"):
        m = build_ctc_model("wav2vec2", up, 12, CtcModelConfig(frontend=fe, freeze_finetune_updates=0)).eval()
        lp, fl = m(wav, lens)
        shapes[fe] = (tuple(lp.shape), fl.tolist())
        assert m.parameter_counts()["context"] == sum(p.numel() for p in up.wav2vec2.encoder.parameters())
        assert torch.allclose(lp.exp().sum(-1), torch.ones(lp.shape[:2]), atol=1e-4)
    (sp, lp_), (sf_, lf) = shapes["pretrained"], shapes["fbank"]
    assert sp[2] == sf_[2] and abs(sp[1] - sf_[1]) <= 1 and all(abs(a - b) <= 1 for a, b in zip(lp_, lf))


def test_cpc_upstream_is_supported_with_both_front_ends():
    up = CPCForPretraining(CPCConfig())
    for fe in ("pretrained", "fbank"):
        m = build_ctc_model("cpc", up, 9, CtcModelConfig(frontend=fe)).eval()
        lp, fl = m(0.1 * torch.randn(1, 8000), torch.tensor([8000]))
        assert lp.shape[-1] == 9 and int(fl[0]) == lp.shape[1]
    with pytest.raises(ConfigError, match="wav2vec2 and cpc"):
        build_ctc_model("clap", up, 9, CtcModelConfig())


def test_context_frozen_for_first_updates_and_feature_encoder_always():
    up = _w2v()
    m = build_ctc_model("wav2vec2", up, 12, CtcModelConfig(freeze_finetune_updates=5, mask_channel_length=4))
    m.train()
    wav, lens = 0.1 * torch.randn(2, 12000), torch.tensor([12000, 12000])
    targets, tlens = torch.randint(1, 12, (6,)), torch.tensor([3, 3])

    def step():
        m.zero_grad(set_to_none=True)
        lp, fl = m(wav, lens)
        ctc_loss_skipping_short(lp, fl, targets, tlens)[0].backward()

    m.set_num_updates(0)
    step()
    enc = list(up.wav2vec2.encoder.parameters())
    assert all(p.grad is None for p in enc) and m.head.weight.grad is not None
    assert all(p.grad is None for p in up.wav2vec2.feature_extractor.parameters())
    m.set_num_updates(5)
    step()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in enc)
    assert all(p.grad is None for p in up.wav2vec2.feature_extractor.parameters())


def test_finetune_masks_only_in_training():
    up = _w2v()
    x = torch.randn(2, 50, 32)
    m = build_ctc_model("wav2vec2", up, 12, CtcModelConfig(mask_prob=0.65, mask_channel_prob=0.0))
    time_masked = (m.apply_finetune_masks(x, torch.tensor([50, 30])) == m.mask_emb).all(-1)
    assert time_masked[0].any() and time_masked[1].any() and not time_masked[1, 30:].any()
    m = build_ctc_model("wav2vec2", up, 12, CtcModelConfig(mask_prob=0.0, mask_channel_prob=0.5, mask_channel_length=4))
    zeroed = (m.apply_finetune_masks(x, torch.tensor([50, 30])) == 0).all(1)  # (B, C): channel zero at every frame
    assert zeroed.any() and not zeroed.all()
    m.eval()
    wav = 0.1 * torch.randn(1, 8000)
    assert torch.equal(m(wav, torch.tensor([8000]))[0], m(wav, torch.tensor([8000]))[0])


def test_too_short_utterances_are_skipped_and_counted_without_inf():
    lp = torch.randn(3, 10, 6, requires_grad=True)
    targets = torch.tensor([1, 2, 3, 1, 1, 1, 1, 1, 1, 4])
    loss, per, used, counts = ctc_loss_skipping_short(lp.log_softmax(-1), torch.tensor([10, 10, 0]), targets,
                                                      torch.tensor([3, 6, 1]))
    assert used.tolist() == [True, False, False]  # 6 repeated labels need 11 frames; 0 frames fit nothing
    assert counts == {"num_too_short": 2, "num_nonfinite": 0, "num_used": 1}
    assert torch.isfinite(loss)
    loss.backward()
    assert torch.isfinite(lp.grad).all()


@pytest.mark.integration
def test_finetune_decode_score_end_to_end(ctc_data, tiny_release, tmp_path):
    from audiocl.cli.main import main
    from audiocl.tasks.ctc_model_io import load_ctc_model

    train, test = ctc_data
    exp = tmp_path / "exp" / "ctc"
    common = [f"data.train={train}", "trainer.max_steps=3", "trainer.progress_bar=false", "trainer.num_threads=1",
              "trainer.checkpoint_every_n_steps=2", "data.max_batch_seconds=2.5", "model.mask_channel_length=4",
              "model.freeze_finetune_updates=1"]
    assert main(["finetune", "--exp-dir", str(exp), f"upstream.path={tiny_release}", *common]) == 0
    metrics = json.loads((exp / "metrics.json").read_text())
    assert metrics["global_step"] == 3
    assert metrics["empty_transcripts"] == ["e1"]
    assert metrics["too_short_utterances"] == ["s1"] and metrics["too_short_total"] >= 1
    assert metrics["skipped_updates"] == 0  # the too-short utterance never produced a non-finite gradient
    model, tok, cfg = load_ctc_model(exp)
    assert tok.vocab[0] == "<blank>" and cfg.model.freeze_finetune_updates == 1

    # resume is a no-op once finished; the scratch baseline runs with the same architecture
    assert main(["finetune", "--exp-dir", str(exp), f"upstream.path={tiny_release}", *common]) == 0
    scratch = tmp_path / "exp" / "ctc_scratch"
    assert main(["finetune", "--exp-dir", str(scratch), f"upstream.path={tiny_release}", "upstream.init=random",
                 "model.frontend=fbank", *common]) == 0
    m2, _, _ = load_ctc_model(scratch)
    assert m2.parameter_counts()["context"] == model.parameter_counts()["context"]

    # greedy, and beam search with a lexicon + bigram LM from the training text; OOV 'Ö' in the test refs
    dec = exp / "decode_test"
    assert main(["decode", "--model", str(exp), "--data", str(test), "--out", str(dec)]) == 0
    hyp = (dec / "text").read_text().splitlines()
    assert sorted(line.split()[0] for line in hyp) == ["t1", "t2", "t3"]
    assert main(["score", "--ref", str(test), "--hyp", str(dec / "text")]) == 0
    scored = json.loads((dec / "metrics.json").read_text())
    assert scored["wer"]["num_sentences"] == 3 and scored["cer"]["num_ref"] > 0
    beam = exp / "decode_test_beam"
    assert main(["decode", "--model", str(exp), "--data", str(test), "--out", str(beam), "--beam-size", "8",
                 "--lexicon-from", str(train), "--lm-order", "2"]) == 0
    words = {w for line in (beam / "text").read_text().splitlines() for w in line.split()[1:]}
    assert words <= {"HELLO", "WORLD", "GOOD", "MORNING", "THERE", "A", "VERY", "LONG", "TRANSCRIPT", "FOR",
                     "TINY", "CLIP"}
    assert (beam / "lm_2gram.arpa").is_file()
    assert main(["decode", "--model", str(exp), "--data", str(test), "--out", str(beam), "--lm-order", "2"]) == 1

    results = tmp_path / "RESULTS.md"
    assert main(["collect-results", "--exp", str(tmp_path / "exp"), "--results", str(results)]) == 0
    assert "|decode_test|3|" in results.read_text()


def test_ctc_probe_on_frozen_upstream_and_fbank(ctc_data, tiny_release, tmp_path):
    from audiocl.cli.main import main

    train, test = ctc_data
    for kind in ("pretrained", "fbank"):
        out = tmp_path / f"probe_{kind}"
        args = ["ctc-probe", "--train", str(train), "--eval", str(test), "--out", str(out), "--upstream", kind,
                "--upstream-path", str(tiny_release), "--steps", "3", "--num-threads", "1"]
        assert main(args) == 0
        m = json.loads((out / "metrics.json").read_text())
        assert m["train_utts"] == 5 and len(m["layer_weights"]) == (3 if kind == "pretrained" else 1)
        assert m["steps"] == 3 and (out / "checkpoints" / "last.ckpt").is_file()  # trained by the shared runner
        assert (out / "decode_test" / "text").is_file() and "cer" in m["test"]
        assert main(args) == 0  # a finished probe resumes as a no-op: same weights, same scores
        again = json.loads((out / "metrics.json").read_text())
        assert again["layer_weights"] == m["layer_weights"] and again["test"] == m["test"]


def test_reinit_top_layers_resets_exactly_the_top_blocks(tiny_release):
    from audiocl.hub.release import load_release
    from audiocl.tasks.upstream import UpstreamConfig, load_upstream, transformer_blocks

    original, _ = load_release(tiny_release)
    before = [{k: v.clone() for k, v in b.state_dict().items()} for b in transformer_blocks(original)]
    n = len(before)
    model, _, name = load_upstream(UpstreamConfig(path=str(tiny_release), reinit_top_layers=1))
    after = [b.state_dict() for b in transformer_blocks(model)]
    assert name == "wav2vec2" and n >= 2
    for i in range(n - 1):  # kept: bit-identical to the release
        assert all(torch.equal(before[i][k], after[i][k]) for k in before[i])
    weights = [k for k in before[-1] if k.endswith("weight") and before[-1][k].dim() == 2]
    assert weights and all(not torch.equal(before[-1][k], after[-1][k]) for k in weights)
    # the rest of the model (front-end, quantizer, mask embedding) is untouched
    rest_before = {k: v for k, v in original.state_dict().items() if ".layers." not in k}
    rest_after = {k: v for k, v in model.state_dict().items() if ".layers." not in k}
    assert rest_before.keys() == rest_after.keys()
    assert all(torch.equal(rest_before[k], rest_after[k]) for k in rest_before)


def test_reinit_top_layers_rejects_bad_values(tiny_release):
    from audiocl.tasks.upstream import UpstreamConfig, load_upstream

    with pytest.raises(ConfigError, match="1.."):
        load_upstream(UpstreamConfig(path=str(tiny_release), reinit_top_layers=99))
    with pytest.raises(ConfigError, match="needs a pretrained upstream"):
        load_upstream(UpstreamConfig(init="random", reinit_top_layers=1))
